/* protectlambda quarantine: show, set or clear a function's quarantine in the store. */
#include <stdio.h>
#include <string.h>

#include "cli_incidents.h"
#include "protectlambda/cli.h"
#include "protectlambda/incidents.h"

static void s_help(void)
{
    printf(
        "usage: protectlambda quarantine [--status | --clear | --set REASON] [--json]\n"
        "                                [store options]\n\n"
        "A quarantined function's invocations are answered by the guard with status 503 and\n"
        "{\"error\":\"Function quarantined due to security incident\",...} without reaching the\n"
        "handler. Playbooks set the quarantine; this command shows or clears it. Running\n"
        "sandboxes pick a change up within quarantine.poll_ms.\n\n"
        "options:\n"
        "  --status             show the state (default)\n"
        "  --clear              lift the quarantine\n"
        "  --set REASON         quarantine by hand\n"
        "  --json               machine-readable state\n" PL_CLI_STORE_OPTIONS_HELP
        "\nexit status: --status: 0 not quarantined, 1 quarantined; otherwise 0 done; 2 error\n");
}

static int s_quarantine_main(int argc, char **argv)
{
    struct pl_cli_store_args sa = {0};
    enum { STATUS, CLEAR, SET } mode = STATUS;
    int n_modes = 0;
    const char *reason = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        int r = pl_cli_store_arg("quarantine", argc, argv, &i, &sa);
        if (r < 0)
            return 2;
        if (r)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_help();
            return 0;
        } else if (!strcmp(a, "--status")) {
            mode = STATUS, n_modes++;
        } else if (!strcmp(a, "--clear")) {
            mode = CLEAR, n_modes++;
        } else if (!strcmp(a, "--set")) {
            if (i + 1 >= argc)
                return pl_cli_usage_error("quarantine", "--set needs a reason");
            mode = SET, n_modes++, reason = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            return pl_cli_usage_error("quarantine", "unknown option '%s'", a);
        }
    }
    if (n_modes > 1)
        return pl_cli_usage_error("quarantine", "--status, --clear and --set exclude each other");
    struct pl_config cfg;
    if (pl_cli_store_config(&sa, &cfg))
        return pl_cli_error("quarantine");
    int ret = 2;
    struct pl_store *st = NULL;
    const char *fn = pl_incidents_function_name(&cfg);
    if (pl_cli_store_open(&cfg, mode == SET, &st)) {
        ret = pl_cli_error("quarantine");
        goto out;
    }
    struct pl_quarantine q;
    if (mode == CLEAR) {
        if (pl_store_clear_quarantine(st, fn)) {
            ret = pl_cli_error("quarantine");
            goto out;
        }
        printf("quarantine of %s cleared (%s)\n", fn, pl_store_describe(st));
        ret = 0;
        goto out;
    }
    if (mode == SET) {
        memset(&q, 0, sizeof(q));
        q.active = true;
        q.time_ms = pl_wall_ms();
        snprintf(q.reason, sizeof(q.reason), "%s", reason);
        snprintf(q.incident_id, sizeof(q.incident_id), "manual");
        if (pl_store_set_quarantine(st, fn, &q)) {
            ret = pl_cli_error("quarantine");
            goto out;
        }
    }
    if (pl_store_get_quarantine(st, fn, &q)) {
        ret = pl_cli_error("quarantine");
        goto out;
    }
    char ts[40] = "";
    if (q.active)
        pl_format_time(q.time_ms, ts, sizeof(ts));
    if (json) {
        struct pl_buf b = PL_BUF_INIT;
        int rc = pl_buf_append_str(&b, "{\"function\":");
        rc |= pl_buf_append_json_cstr(&b, fn);
        rc |= pl_buf_appendf(&b, ",\"quarantined\":%s", q.active ? "true" : "false");
        if (q.active) {
            rc |= pl_buf_append_str(&b, ",\"quarantine_reason\":");
            rc |= pl_buf_append_json_cstr(&b, q.reason);
            rc |= pl_buf_appendf(&b, ",\"quarantine_timestamp\":\"%s\",\"incident_id\":", ts);
            rc |= pl_buf_append_json_cstr(&b, q.incident_id);
        }
        rc |= pl_buf_append_str(&b, "}\n");
        if (rc == 0)
            fputs(b.data, stdout);
        pl_buf_clean_up(&b);
    } else if (q.active) {
        printf("%s is quarantined since %s: %s (incident %s)\n", fn, ts, q.reason, q.incident_id);
    } else {
        printf("%s is not quarantined\n", fn);
    }
    ret = (mode == STATUS && q.active) ? 1 : 0;
out:
    pl_store_close(st);
    pl_config_clean_up(&cfg);
    return ret;
}

PL_CLI_COMMAND(quarantine, "quarantine", "show, clear or set a function's quarantine",
               s_quarantine_main)
