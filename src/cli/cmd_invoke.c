/* protectlambda invoke: run a function locally, protected (the guard as an external extension
 * and the exec wrapper, as in Lambda), on one or more events; print each response on its own
 * line. See docs/cli/invoke.md. */
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "cli_emulator.h"
#include "protectlambda/cli.h"
#include "protectlambda/log.h"

static const char s_usage[] =
    "usage: protectlambda invoke --function DIR --handler H [--runtime CMD] [--event FILE|-]...\n"
    "                            [--unprotected | --layer DIR] [options]\n"
    "\n"
    "Runs the function in a local Lambda emulator (Runtime API + Extensions API), protected by\n"
    "default: `protectlambda extension` starts as an external extension and the runtime runs\n"
    "through `protectlambda wrap --`, exactly as with the layer in Lambda; --layer DIR runs a\n"
    "built layer itself instead (its extension, wrapper, binaries, rules.db and manifest).\n"
    "Each event is one invocation, in order; each response is printed on stdout on its own\n"
    "line (a function error prints the error JSON). The function's own output and all logs go\n"
    "to stderr.\n"
    "\n"
    "  --event FILE|-        event file ('-' = stdin); repeatable; default: one event {}\n"
    "  --stats               print the emulator's ledger (JSON) on stderr at the "
    "end\n" PL_CLI_EMU_OPTIONS_HELP "\n"
    "Exit status: 0 every invocation returned a response (a response written by the guard\n"
    "for a denied invocation is a response too), 1 at least one ended in a function error,\n"
    "timeout, crash or init error, 2 usage or setup error.\n";

static int s_read_event(const char *path, struct pl_buf *out, size_t cap)
{
    if (strcmp(path, "-")) {
        char *data = NULL;
        size_t len = 0;
        if (pl_read_file(path, &data, &len, cap))
            return -1;
        int rc = pl_buf_append(out, data, len);
        pl_free(data);
        return rc;
    }
    return pl_cli_read_stdin(out, cap, "stdin event");
}

static int s_invoke_main(int argc, char **argv)
{
    struct pl_cli_emu c;
    memset(&c, 0, sizeof(c));
    c.cmd = "invoke";
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
        if (!strcmp(argv[i], "--event")) {
            if (i + 1 >= argc)
                return pl_cli_usage_error("invoke", "--event needs a file or -");
            if (c.n_events >= PL_CLI_EMU_MAX_LIST)
                return pl_cli_usage_error("invoke", "too many --event options");
            c.events[c.n_events++] = argv[++i];
        } else if (!strcmp(argv[i], "--stats")) {
            c.stats = true;
        } else {
            return pl_cli_usage_error("invoke", "unknown option '%s'", argv[i]);
        }
    }
    if (pl_cli_emu_prepare(&c))
        goto out;
    if (pl_emulator_new(&c.opts, &emu) || pl_emulator_start(emu)) {
        rc = pl_cli_error("invoke");
        goto out;
    }
    rc = 0;
    size_t n = c.n_events ? c.n_events : 1;
    for (size_t i = 0; i < n; i++) {
        struct pl_buf ev = PL_BUF_INIT;
        if (c.n_events == 0) {
            (void)pl_buf_append_str(&ev, "{}");
        } else if (s_read_event(c.events[i], &ev, 6 * 1024 * 1024)) {
            fprintf(stderr, "protectlambda invoke: %s: %s\n", c.events[i], pl_last_error_msg());
            pl_buf_clean_up(&ev);
            rc = 2;
            break;
        }
        struct pl_emulator_result res;
        pl_emulator_result_init(&res);
        if (pl_emulator_invoke(emu, ev.data, ev.len, NULL, &res)) {
            rc = pl_cli_error("invoke");
            pl_emulator_result_clean_up(&res);
            pl_buf_clean_up(&ev);
            break;
        }
        fwrite(res.body.data, 1, res.body.len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        if (c.verbose)
            pl_log(PL_LOG_INFO, "invoke", "request %s: %s%s%s (%.3f ms)", res.request_id,
                   pl_emulator_outcome_name(res.outcome), res.error_type[0] ? " " : "",
                   res.error_type, (double)res.duration_ns / 1e6);
        if (res.outcome != PL_EMU_RESPONSE && rc == 0)
            rc = 1;
        bool fatal = res.outcome == PL_EMU_INIT_ERROR || res.outcome == PL_EMU_STOPPED;
        pl_emulator_result_clean_up(&res);
        pl_buf_clean_up(&ev);
        if (fatal)
            break; /* init failed: every further event would fail the same way */
    }
    pl_emulator_shutdown(emu);
    if (c.stats) {
        struct pl_emulator_stats st;
        struct pl_buf b = PL_BUF_INIT;
        pl_emulator_get_stats(emu, &st);
        if (pl_emulator_stats_json(&st, &b) == 0)
            fprintf(stderr, "%s\n", b.data);
        pl_buf_clean_up(&b);
    }
out:
    pl_emulator_destroy(emu);
    pl_cli_emu_clean_up(&c);
    return rc;
}

PL_CLI_COMMAND(invoke, "invoke", "run a function locally, protected, on events; print responses",
               s_invoke_main)
