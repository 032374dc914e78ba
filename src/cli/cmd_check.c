/* protectlambda check: inspect Lambda events (in) or function responses (out) with the rules
 * of that direction and print one verdict per input. See docs/cli/check.md. */
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "cli_load_rules.h"
#include "protectlambda/cli.h"
#include "protectlambda/inspect.h"
#include "protectlambda/log.h"

#define S_MAX_INPUT (256u << 20)

static const char s_usage[] =
    "usage: protectlambda check --direction in|out [--rules PATH]... [--rules-db FILE]\n"
    "                           [--no-default-rules] [--format text|json] FILE...|-\n"
    "\n"
    "Inspects Lambda events (--direction in) or function responses (--direction out) the way\n"
    "the guard does: every JSON key and string value with its JSON path, and their decoded\n"
    "forms (URL, HTML entities, base64 bodies, JSON nested in strings). '-' reads stdin.\n"
    "\n"
    "  --direction in|out   which rules: in (events) or out (responses)\n"
    "  --rules PATH         extra rule file or directory (classic *_protect.txt or YAML pack);\n"
    "                       repeatable\n"
    "  --rules-db FILE      precompiled rules (protectlambda compile); compiled when stale\n"
    "  --no-default-rules   do not load the default packs (rules_dir)\n"
    "  --format text|json   json: one JSON object per input, one per line (JSON Lines)\n"
    "\n"
    "Bounds come from the settings max_depth, max_keys, max_decoded, decode_rounds and\n"
    "on_bound (see 'protectlambda config --help').\n"
    "Exit status: 0 every input allowed, 1 at least one denied, 2 usage or other error.\n";

static int s_read_stdin(char **data, size_t *len)
{
    struct pl_buf b = PL_BUF_INIT;
    if (pl_cli_read_stdin(&b, S_MAX_INPUT, "stdin")) {
        pl_buf_clean_up(&b);
        return -1;
    }
    *data = pl_buf_steal(&b, len);
    return 0;
}

static int s_print_json(struct pl_buf *o, const char *file, const struct pl_verdict *v,
                        const struct pl_inspect_view *view)
{
    int rc = pl_buf_append_str(o, "{\"file\":") || pl_buf_append_json_cstr(o, file) ||
             pl_buf_appendf(o, ",\"verdict\":\"%s\",\"matches\":[", v->deny ? "deny" : "allow");
    for (size_t i = 0; !rc && i < v->n_matches; i++) {
        const struct pl_match *m = &v->matches[i];
        rc = pl_buf_append_str(o, i ? ",{\"rule\":" : "{\"rule\":") ||
             pl_buf_append_json_cstr(o, m->rule->id) || pl_buf_append_str(o, ",\"category\":") ||
             pl_buf_append_json_cstr(o, m->rule->category) ||
             pl_buf_appendf(o, ",\"severity\":\"%s\",\"action\":\"%s\",\"path\":",
                            pl_severity_name(m->rule->severity), pl_action_name(m->rule->action)) ||
             pl_buf_append_json_cstr(o, m->path) ||
             pl_buf_appendf(o, ",\"decoded\":\"%s\",\"excerpt\":", pl_decoding_name(m->decoding)) ||
             pl_buf_append_json_str(o, m->excerpt, strlen(m->excerpt)) ||
             pl_buf_append_char(o, '}');
    }
    if (!rc)
        rc = pl_buf_appendf(o, "],\"elapsed_us\":%llu,\"http_event\":%s,\"non_json\":%s,"
                               "\"bound_exceeded\":%s",
                            (unsigned long long)v->elapsed_us, view->http_event ? "true" : "false",
                            v->non_json ? "true" : "false", v->bound_exceeded ? "true" : "false");
    if (!rc && v->bound_exceeded)
        rc = pl_buf_append_str(o, ",\"bound\":") ||
             pl_buf_append_json_cstr(o, view->bound_reason[0] ? view->bound_reason : "bound");
    if (!rc)
        rc = pl_buf_append_str(o, "}\n");
    return rc;
}

static int s_print_text(struct pl_buf *o, const char *file, const struct pl_verdict *v,
                        const struct pl_inspect_view *view)
{
    int rc = pl_buf_appendf(o, "%s: %s (%zu match%s, %llu us)", file, v->deny ? "DENY" : "allow",
                            v->n_matches, v->n_matches == 1 ? "" : "es",
                            (unsigned long long)v->elapsed_us);
    if (!rc && v->non_json)
        rc = pl_buf_append_str(o, " [not JSON: scanned raw]");
    if (!rc && v->bound_exceeded)
        rc = pl_buf_appendf(o, " [bound: %s]", view->bound_reason);
    if (!rc)
        rc = pl_buf_append_char(o, '\n');
    for (size_t i = 0; !rc && i < v->n_matches; i++) {
        const struct pl_match *m = &v->matches[i];
        rc = pl_buf_appendf(o, "  %-8s %-6s %s %s", pl_severity_name(m->rule->severity),
                            pl_action_name(m->rule->action), m->rule->id, m->path);
        if (!rc && m->decoding != PL_DEC_NONE)
            rc = pl_buf_appendf(o, " (%s)", pl_decoding_name(m->decoding));
        if (!rc)
            rc = pl_buf_append_str(o, ": ") ||
                 pl_buf_append_json_str(o, m->excerpt, strlen(m->excerpt)) ||
                 pl_buf_append_char(o, '\n');
    }
    return rc;
}

static int s_check_main(int argc, char **argv)
{
    const char *direction = NULL, *format = "text";
    struct pl_cli_rule_opts ro = {0};
    char **inputs = NULL;
    size_t n_inputs = 0, cap_i = 0;
    int status = 2;
    struct pl_cli_rules r;
    bool loaded = false, checker_ok = false;
    struct pl_checker checker;
    struct pl_verdict verdict;
    struct pl_buf out = PL_BUF_INIT;
    pl_verdict_init(&verdict);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(s_usage, stdout);
            status = 0;
            goto out;
        }
        int ro_rc = pl_cli_rule_opt(&ro, "check", argc, argv, &i);
        if (ro_rc < 0)
            goto out; /* status 2, message printed */
        if (ro_rc)
            continue;
        if (!strcmp(a, "--direction") || !strcmp(a, "--format")) {
            if (i + 1 >= argc) {
                status = pl_cli_usage_error("check", "%s needs a value", a);
                goto out;
            }
            const char *val = argv[++i];
            if (!strcmp(a, "--direction"))
                direction = val;
            else
                format = val;
        } else if (a[0] == '-' && a[1] != '\0') {
            status = pl_cli_usage_error("check", "unknown option '%s'", a);
            goto out;
        } else {
            if (pl_array_reserve((void **)&inputs, &cap_i, n_inputs + 1, sizeof(*inputs)))
                goto error;
            inputs[n_inputs++] = (char *)a;
        }
    }
    if (!direction || (strcmp(direction, "in") && strcmp(direction, "out"))) {
        status = pl_cli_usage_error("check", "--direction in|out is required");
        goto out;
    }
    if (strcmp(format, "text") && strcmp(format, "json")) {
        status = pl_cli_usage_error("check", "--format must be text or json");
        goto out;
    }
    if (!n_inputs) {
        status = pl_cli_usage_error("check", "no input (give FILE... or - for stdin)");
        goto out;
    }
    enum pl_target target = !strcmp(direction, "in") ? PL_TARGET_IN : PL_TARGET_OUT;
    loaded = true;
    if (pl_cli_rules_load_opts(&r, &ro, (int)target))
        goto error;
    if (pl_checker_init(&checker, &r.set, r.engines[target]))
        goto error;
    checker_ok = true;
    pl_cli_checker_configure(&checker, &r.cfg);

    bool json = !strcmp(format, "json"), any_deny = false, any_error = false;
    for (size_t i = 0; i < n_inputs; i++) {
        const char *name = inputs[i];
        char *data = NULL;
        size_t len = 0;
        int rc = strcmp(name, "-") ? pl_read_file(name, &data, &len, S_MAX_INPUT)
                                   : s_read_stdin(&data, &len);
        if (rc) {
            fprintf(stderr, "protectlambda check: %s\n", pl_last_error_msg());
            any_error = true;
            continue;
        }
        rc = pl_checker_check(&checker, data, len, &verdict);
        pl_free(data);
        if (rc) {
            fprintf(stderr, "protectlambda check: %s: %s\n", name, pl_last_error_msg());
            any_error = true;
            continue;
        }
        if (verdict.non_json)
            pl_log(PL_LOG_INFO, "check", "%s is not JSON: scanned as raw bytes", name);
        if (verdict.bound_exceeded)
            pl_log(PL_LOG_WARN, "check", "%s: inspection bound exceeded (%s): %s", name,
                   checker.view.bound_reason, verdict.deny ? "denied" : "allowed (on_bound=allow)");
        pl_buf_reset(&out);
        if ((json ? s_print_json : s_print_text)(&out, name, &verdict, &checker.view))
            goto error;
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
        any_deny |= verdict.deny;
    }
    status = any_error ? 2 : any_deny ? 1 : 0;
    goto out;
error:
    status = pl_cli_error("check");
out:
    pl_buf_clean_up(&out);
    pl_verdict_clean_up(&verdict);
    if (checker_ok)
        pl_checker_clean_up(&checker);
    if (loaded)
        pl_cli_rules_clean_up(&r);
    pl_cli_rule_opts_clean_up(&ro);
    pl_free(inputs);
    return status;
}

PL_CLI_COMMAND(check, "check", "inspect Lambda events (in) or responses (out) with the rules",
               s_check_main)
