/* protectlambda emulate: serve a function, protected, on the invoke URL of the Lambda runtime
 * interface emulator until SIGINT/SIGTERM. See docs/cli/emulate.md. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli_emulator.h"
#include "protectlambda/cli.h"
#include "protectlambda/log.h"

static const char s_usage[] =
    "usage: protectlambda emulate [--port PORT] --function DIR --handler H [--runtime CMD]\n"
    "                             [--unprotected | --layer DIR] [options]\n"
    "\n"
    "Serves the function like the Lambda runtime interface emulator (RIE) until SIGINT or\n"
    "SIGTERM, protected by default (guard extension + exec wrapper, as with the layer; or the\n"
    "built layer itself with --layer DIR):\n"
    "  curl -XPOST localhost:PORT/2015-03-31/functions/function/invocations -d @event.json\n"
    "The answer is the function's response as is; a function error answers the error JSON with\n"
    "the header X-Amz-Function-Error: Unhandled. GET /_protectlambda/emulator/stats answers the\n"
    "emulator's ledger (invocations, answers, double answers, ...). Only 127.0.0.1 is bound.\n"
    "\n"
    "  --port PORT           invoke URL port on 127.0.0.1 (default 9000; 0 = any free port,\n"
    "                        printed in the 'listening' log line)\n" PL_CLI_EMU_OPTIONS_HELP "\n"
    "Exit status: 0 after a clean stop, 2 usage or setup error.\n";

static int s_emulate_main(int argc, char **argv)
{
    struct pl_cli_emu c;
    memset(&c, 0, sizeof(c));
    c.cmd = "emulate";
    c.port = 9000;
    int rc = 2;
    struct pl_emulator *emu = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(s_usage, stdout);
            return 0;
        }
        int r = pl_cli_emu_option(&c, argc, argv, &i);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if (!strcmp(argv[i], "--port")) {
            char *end;
            if (i + 1 >= argc)
                return pl_cli_usage_error("emulate", "--port needs a value");
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 0 || p > 65535)
                return pl_cli_usage_error("emulate", "--port must be 0..65535");
            c.port = (int)p;
        } else {
            return pl_cli_usage_error("emulate", "unknown option '%s'", argv[i]);
        }
    }
    if (pl_cli_emu_prepare(&c))
        goto out;
    /* SIGINT/SIGTERM are taken with sigwait: block them before any thread starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uint16_t bound = 0;
    if (pl_emulator_new(&c.opts, &emu) ||
        pl_emulator_listen_invoke(emu, (uint16_t)c.port, &bound) || pl_emulator_start(emu)) {
        rc = pl_cli_error("emulate");
        goto out;
    }
    char fields[160];
    snprintf(fields, sizeof(fields), "\"port\":%u,\"runtime_api\":\"%s\",\"protected\":%s",
             (unsigned)bound, pl_emulator_address(emu), c.unprotected ? "false" : "true");
    pl_log_fields(PL_LOG_INFO, "emulate", fields,
                  "listening on http://127.0.0.1:%u/2015-03-31/functions/function/invocations",
                  (unsigned)bound);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    pl_log(PL_LOG_INFO, "emulate", "stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
    pl_emulator_shutdown(emu);
    struct pl_emulator_stats st;
    struct pl_buf b = PL_BUF_INIT;
    pl_emulator_get_stats(emu, &st);
    if (pl_emulator_stats_json(&st, &b) == 0) {
        /* the ledger as log fields: strip the braces of the JSON object */
        b.data[b.len - 1] = '\0';
        pl_log_fields(PL_LOG_INFO, "emulate", b.data + 1, "stopped");
    }
    pl_buf_clean_up(&b);
    rc = 0;
out:
    pl_emulator_destroy(emu);
    pl_cli_emu_clean_up(&c);
    return rc;
}

PL_CLI_COMMAND(emulate, "emulate", "serve a function on the RIE invoke URL, protected",
               s_emulate_main)
