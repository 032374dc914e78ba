/* protectlambda report: a security report from the incident store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_incidents.h"
#include "protectlambda/cli.h"
#include "protectlambda/incidents.h"

static void s_help(void)
{
    printf("usage: protectlambda report [--since DURATION|TIME] [--format text|json|html]\n"
           "                            [-o FILE] [--all] [store options]\n\n"
           "Summarises the incidents in the store: period, totals, events by severity and by\n"
           "type, the 10 most recent, correlated incidents, top rules, the quarantine state and\n"
           "recommendations. The HTML report is one self-contained file (inline SVG charts).\n\n"
           "options:\n"
           "  --since S            30m, 24h (default), 7d, or a UTC time 2026-11-22[T08:00:00Z]\n"
           "  --format F           text (default), json or html\n"
           "  -o, --output FILE    write to FILE instead of standard output\n"
           "  --all                every function in the store (sqlite only; the default when no\n"
           "                       function is named by --function, function_name or\n"
           "                       AWS_LAMBDA_FUNCTION_NAME)\n" PL_CLI_STORE_OPTIONS_HELP
           "\nexit status: 0 report written, 2 error\n");
}

static int s_report_main(int argc, char **argv)
{
    struct pl_cli_store_args sa = {0};
    const char *since = "24h", *format = "text", *output = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        int r = pl_cli_store_arg("report", argc, argv, &i, &sa);
        if (r < 0)
            return 2;
        if (r)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_help();
            return 0;
        }
        if (!strcmp(a, "--all")) {
            all = true;
            continue;
        }
        const char **slot = !strcmp(a, "--since")                          ? &since
                            : !strcmp(a, "--format")                       ? &format
                            : (!strcmp(a, "-o") || !strcmp(a, "--output")) ? &output
                                                                           : NULL;
        if (!slot)
            return pl_cli_usage_error("report", "unknown option '%s'", a);
        if (i + 1 >= argc)
            return pl_cli_usage_error("report", "%s needs a value", a);
        *slot = argv[++i];
    }
    struct pl_report_options ro = {0};
    if (!strcmp(format, "text"))
        ro.format = PL_REPORT_TEXT;
    else if (!strcmp(format, "json"))
        ro.format = PL_REPORT_JSON;
    else if (!strcmp(format, "html"))
        ro.format = PL_REPORT_HTML;
    else
        return pl_cli_usage_error("report", "--format must be text, json or html, not '%s'",
                                  format);
    ro.now_ms = pl_wall_ms();
    if (pl_report_parse_since(since, ro.now_ms, &ro.since_ms))
        return pl_cli_usage_error("report", "--since: %s", pl_last_error_msg());

    struct pl_config cfg;
    if (pl_cli_store_config(&sa, &cfg))
        return pl_cli_error("report");
    int ret = 2;
    struct pl_store *st = NULL;
    struct pl_buf out = PL_BUF_INIT;
    /* one function when named (--function, function_name, AWS_LAMBDA_FUNCTION_NAME); else every
     * function in a SQLite store (DynamoDB is keyed by function: it needs a name) */
    const char *named = pl_config_str(&cfg, PL_CFG_FUNCTION_NAME);
    const char *env_fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    if (!all && !*named && !(env_fn && *env_fn))
        all = pl_config_int(&cfg, PL_CFG_STORE) != PL_STORE_DYNAMODB;
    ro.function = all ? NULL : pl_incidents_function_name(&cfg);
    if (pl_cli_store_open(&cfg, false, &st) || pl_report_build(st, &ro, &out)) {
        ret = pl_cli_error("report");
        goto out;
    }
    if (output) {
        if (pl_write_file_atomic(output, out.data, out.len, 0644)) {
            ret = pl_cli_error("report");
            goto out;
        }
    } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout)) {
        fprintf(stderr, "protectlambda report: cannot write the report\n");
        goto out;
    }
    ret = 0;
out:
    pl_buf_clean_up(&out);
    pl_store_close(st);
    pl_config_clean_up(&cfg);
    return ret;
}

PL_CLI_COMMAND(report, "report", "security report from the incident store (text, json, html)",
               s_report_main)
