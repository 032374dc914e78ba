/* protectlambda scan: scan source code with the code rules; text, JSON or SARIF 2.1.0.
 * See docs/cli/scan.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_load_rules.h"
#include "protectlambda/cli.h"
#include "protectlambda/inspect.h"
#include "protectlambda/log.h"

static const char s_usage[] =
    "usage: protectlambda scan [--rules PATH]... [--rules-db FILE] [--no-default-rules]\n"
    "                          [--skip GLOB]... [--format text|json|sarif] DIR|FILE...\n"
    "\n"
    "Scans source code with the code rules: directories recursively (symlinks followed, loops\n"
    "cut), binaries (a NUL byte in the first 8 KB) and dependency folders skipped. Rules with\n"
    "languages or path globs apply only to matching files. One finding per rule and line.\n"
    "\n"
    "  --rules PATH         extra rule file or directory (code_protect.txt or YAML pack);\n"
    "                       repeatable\n"
    "  --rules-db FILE      precompiled rules (protectlambda compile); compiled when stale\n"
    "  --no-default-rules   do not load the default packs (rules_dir)\n"
    "  --skip GLOB          skip files/directories matching GLOB (repeatable; replaces the\n"
    "                       setting scan_skip: node_modules,site-packages,*.dist-info,\n"
    "                       __pycache__,.git)\n"
    "  --format FORMAT      text (default), json (one object), sarif (SARIF 2.1.0)\n"
    "\n"
    "Exit status: 0 no finding of a deny-action rule, 1 such findings, 2 usage or rule error.\n";

static char *const s_no_skip[] = {NULL};

static const char *s_level(enum pl_severity s)
{
    return s >= PL_SEV_HIGH ? "error" : s == PL_SEV_MEDIUM ? "warning" : "note";
}

static const char *s_security_severity(enum pl_severity s)
{
    switch (s) {
    case PL_SEV_CRITICAL: return "9.5";
    case PL_SEV_HIGH: return "8.0";
    case PL_SEV_MEDIUM: return "5.5";
    case PL_SEV_LOW: return "3.0";
    default: return "1.0";
    }
}

/* SARIF artifact URI: a relative reference with unreserved characters kept and others
 * percent-encoded; absolute paths become file:// URIs */
static int s_uri(struct pl_buf *o, const char *path)
{
    if (path[0] == '.' && path[1] == '/')
        path += 2;
    if (path[0] == '/' && pl_buf_append_str(o, "file://"))
        return -1;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        unsigned c = *p;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("-._~/!$&'()*+,;=:@", (int)c);
        if (keep ? pl_buf_append_char(o, (char)c) : pl_buf_appendf(o, "%%%02X", c))
            return -1;
    }
    return 0;
}

static int s_sarif(struct pl_buf *o, const struct pl_ruleset *set, const struct pl_code_scan *s)
{
    /* rules that have findings, in first-seen order; ruleIndex refers to them */
    uint32_t *idx = pl_calloc(set->count + 1, sizeof(*idx)); /* 1 + index in driver.rules */
    uint32_t *order = pl_calloc(set->count + 1, sizeof(*order));
    uint32_t n_order = 0;
    int rc = -1;
    if (!idx || !order)
        goto out;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t r = s->findings[i].rule_index;
        if (!idx[r]) {
            order[n_order++] = r;
            idx[r] = n_order;
        }
    }
    if (pl_buf_append_str(o, "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\","
                             "\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{"
                             "\"name\":\"protectlambda\",\"version\":\"" PL_VERSION "\","
                             "\"semanticVersion\":\"" PL_VERSION "\",\"rules\":["))
        goto out;
    for (uint32_t k = 0; k < n_order; k++) {
        const struct pl_rule *r = &set->rules[order[k]];
        const char *desc = r->message && *r->message ? r->message : r->pattern;
        if (pl_buf_append_str(o, k ? ",{\"id\":" : "{\"id\":") ||
            pl_buf_append_json_cstr(o, r->id) ||
            pl_buf_append_str(o, ",\"shortDescription\":{\"text\":") ||
            pl_buf_append_json_cstr(o, desc) ||
            pl_buf_append_str(o, "},\"fullDescription\":{\"text\":") ||
            pl_buf_append_json_cstr(o, r->pattern) ||
            pl_buf_appendf(o, "},\"defaultConfiguration\":{\"level\":\"%s\"},"
                              "\"properties\":{\"security-severity\":\"%s\",\"severity\":\"%s\","
                              "\"action\":\"%s\",\"category\":",
                           s_level(r->severity), s_security_severity(r->severity),
                           pl_severity_name(r->severity), pl_action_name(r->action)) ||
            pl_buf_append_json_cstr(o, r->category ? r->category : "") ||
            pl_buf_append_str(o, ",\"tags\":[\"security\",") ||
            pl_buf_append_json_cstr(o, r->category ? r->category : "code") ||
            pl_buf_append_str(o, "]}}"))
            goto out;
    }
    if (pl_buf_append_str(o, "]}},\"columnKind\":\"unicodeCodePoints\",\"results\":["))
        goto out;
    for (size_t i = 0; i < s->n; i++) {
        const struct pl_code_finding *f = &s->findings[i];
        const struct pl_rule *r = f->rule;
        const char *msg = r->message && *r->message ? r->message : "code rule violation";
        if (pl_buf_append_str(o, i ? ",{\"ruleId\":" : "{\"ruleId\":") ||
            pl_buf_append_json_cstr(o, r->id) ||
            pl_buf_appendf(o, ",\"ruleIndex\":%u,\"level\":\"%s\",\"message\":{\"text\":",
                           idx[f->rule_index] - 1, s_level(r->severity)) ||
            pl_buf_append_json_cstr(o, msg) ||
            pl_buf_append_str(o, "},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":"
                                 "{\"uri\":\"") ||
            s_uri(o, f->file) ||
            pl_buf_appendf(o, "\"},\"region\":{\"startLine\":%u,\"startColumn\":%u,"
                              "\"snippet\":{\"text\":",
                           f->line, f->column) ||
            pl_buf_append_json_str(o, f->excerpt, strlen(f->excerpt)) ||
            pl_buf_append_str(o, "}}}}]}"))
            goto out;
    }
    rc = pl_buf_append_str(o, "]}]}\n");
out:
    pl_free(idx);
    pl_free(order);
    return rc;
}

static int s_json(struct pl_buf *o, const struct pl_code_scan *s)
{
    if (pl_buf_append_str(o, "{\"findings\":["))
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        const struct pl_code_finding *f = &s->findings[i];
        const struct pl_rule *r = f->rule;
        if (pl_buf_append_str(o, i ? ",{\"file\":" : "{\"file\":") ||
            pl_buf_append_json_cstr(o, f->file) ||
            pl_buf_appendf(o, ",\"line\":%u,\"column\":%u,\"rule\":", f->line, f->column) ||
            pl_buf_append_json_cstr(o, r->id) ||
            pl_buf_appendf(o, ",\"severity\":\"%s\",\"action\":\"%s\",\"category\":",
                           pl_severity_name(r->severity), pl_action_name(r->action)) ||
            pl_buf_append_json_cstr(o, r->category) || pl_buf_append_str(o, ",\"message\":") ||
            pl_buf_append_json_cstr(o, r->message) || pl_buf_append_str(o, ",\"match\":") ||
            pl_buf_append_json_str(o, f->excerpt, strlen(f->excerpt)) ||
            pl_buf_append_char(o, '}'))
            return -1;
    }
    return pl_buf_appendf(o,
                          "],\"files_scanned\":%zu,\"files_skipped\":%zu,\"bytes_scanned\":%zu,"
                          "\"dependencies_skipped\":%zu,\"comment_matches\":%zu}\n",
                          s->files_scanned, s->files_skipped, s->bytes_scanned, s->deps_skipped,
                          s->comment_matches);
}

static int s_text(struct pl_buf *o, const struct pl_code_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct pl_code_finding *f = &s->findings[i];
        const struct pl_rule *r = f->rule;
        if (pl_buf_appendf(o, "%s:%u:%u: %s %s: ", f->file, f->line, f->column,
                           pl_severity_name(r->severity), r->id) ||
            (r->message && pl_buf_appendf(o, "%s: ", r->message)) ||
            pl_buf_append_json_str(o, f->excerpt, strlen(f->excerpt)) ||
            pl_buf_append_char(o, '\n'))
            return -1;
    }
    return pl_buf_appendf(o,
                          "%zu finding%s in %zu file%s (%zu skipped; %zu installed package%s "
                          "beside the code skipped; %zu match%s on comment lines ignored)\n",
                          s->n, s->n == 1 ? "" : "s", s->files_scanned,
                          s->files_scanned == 1 ? "" : "s", s->files_skipped, s->deps_skipped,
                          s->deps_skipped == 1 ? "" : "s", s->comment_matches,
                          s->comment_matches == 1 ? "" : "es");
}

static int s_scan_main(int argc, char **argv)
{
    const char *format = "text";
    bool user_skip = false;
    struct pl_cli_rule_opts ro = {0};
    char **paths = NULL, **skips = NULL;
    size_t n_paths = 0, n_skips = 0, cap_p = 0, cap_s = 0;
    int status = 2;
    struct pl_cli_rules r;
    bool loaded = false;
    struct pl_code_scan scan;
    struct pl_buf out = PL_BUF_INIT;
    pl_code_scan_init(&scan);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(s_usage, stdout);
            status = 0;
            goto out;
        }
        int ro_rc = pl_cli_rule_opt(&ro, "scan", argc, argv, &i);
        if (ro_rc < 0)
            goto out; /* status 2, message printed */
        if (ro_rc)
            continue;
        if (!strcmp(a, "--format") || !strcmp(a, "--skip")) {
            if (i + 1 >= argc) {
                status = pl_cli_usage_error("scan", "%s needs a value", a);
                goto out;
            }
            char *val = argv[++i];
            if (!strcmp(a, "--format")) {
                format = val;
            } else {
                user_skip = true;
                if (pl_array_reserve((void **)&skips, &cap_s, n_skips + 1, sizeof(*skips)))
                    goto error;
                skips[n_skips++] = val;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            status = pl_cli_usage_error("scan", "unknown option '%s'", a);
            goto out;
        } else {
            if (pl_array_reserve((void **)&paths, &cap_p, n_paths + 1, sizeof(*paths)))
                goto error;
            paths[n_paths++] = (char *)a;
        }
    }
    if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "sarif")) {
        status = pl_cli_usage_error("scan", "--format must be text, json or sarif");
        goto out;
    }
    if (!n_paths) {
        status = pl_cli_usage_error("scan", "no DIR or FILE to scan");
        goto out;
    }
    loaded = true;
    if (pl_cli_rules_load_opts(&r, &ro, PL_TARGET_CODE))
        goto error;
    char *const *skip_list = skips;
    size_t n_skip_list = n_skips;
    if (!user_skip)
        skip_list = pl_config_list(&r.cfg, PL_CFG_SCAN_SKIP, &n_skip_list);
    if (pl_code_scan_paths(&r.set, r.engines[PL_TARGET_CODE], paths, n_paths,
                           skip_list ? skip_list : s_no_skip, n_skip_list, &scan))
        goto error;
    int rc = !strcmp(format, "sarif") ? s_sarif(&out, &r.set, &scan)
             : !strcmp(format, "json") ? s_json(&out, &scan)
                                       : s_text(&out, &scan);
    if (rc)
        goto error;
    fwrite(out.data, 1, out.len, stdout);
    status = 0;
    for (size_t i = 0; i < scan.n; i++)
        if (scan.findings[i].rule->action == PL_ACTION_DENY)
            status = 1;
    goto out;
error:
    status = pl_cli_error("scan");
out:
    pl_buf_clean_up(&out);
    pl_code_scan_clean_up(&scan);
    if (loaded)
        pl_cli_rules_clean_up(&r);
    pl_cli_rule_opts_clean_up(&ro);
    pl_free(paths);
    pl_free(skips);
    return status;
}

PL_CLI_COMMAND(scan, "scan", "scan source code with the code rules (text, JSON, SARIF)",
               s_scan_main)
