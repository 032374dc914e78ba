/* protectlambda rules test: run expectation tables against rules (the default packs and/or
 * the user's), the way libseccomp runs its "tests/NN-*.tests" tables. Each row names a target, the
 * expected verdict, the rule ids expected (or forbidden) and an input; in/out rows go through
 * the same checker as `check`, code rows through the same scanner as `scan`.
 * Table format: docs/rules.md, section "Testing rules". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_load_rules.h"
#include "protectlambda/cli.h"
#include "protectlambda/inspect.h"

#define S_MAX_TABLE (16u << 20)
#define S_MAX_INPUT (16u << 20)
#define S_MAX_IDS 64  /* rule ids in one row's RULES column */
#define S_EXCERPT 100 /* bytes of the input shown for a failing row */

static const char s_usage[] =
    "usage: protectlambda rules test [--rules PATH]... [--rules-db FILE] [--no-default-rules]\n"
    "                                [--verbose] TABLE...\n"
    "\n"
    "Runs expectation tables: each row gives a target, the expected verdict, the rule ids\n"
    "that must (or must not) match, and an input. in/out rows are decided like\n"
    "'protectlambda check', code rows like 'protectlambda scan'. Every failing row is printed\n"
    "with its file:line, the expected and the actual result.\n"
    "\n"
    "  --rules PATH         rule file or directory (classic *_protect.txt or YAML pack);\n"
    "                       repeatable, loaded after the default packs\n"
    "  --rules-db FILE      precompiled rules (protectlambda compile); compiled when stale\n"
    "  --no-default-rules   do not load the default packs (setting rules_dir)\n"
    "  -v, --verbose        also print passing rows\n"
    "\n"
    "Row format (whitespace-separated, '#' comments):\n"
    "  TARGET  VERDICT  RULES  INPUT\n"
    "  TARGET   in | out | code:python|node|java|go|ruby|shell | code\n"
    "  VERDICT  deny | allow | alert (allowed, with at least one match)\n"
    "  RULES    ID[,ID...] that must match, !ID that must not, '-' no match at all, '*' any\n"
    "  INPUT    rest of the line: an event/response (inline JSON, or @FILE relative to the\n"
    "           table), or for code rows one line of source\n"
    "\n"
    "Exit status: 0 every row passed, 1 a row failed, 2 usage, table or rule error.\n";

enum s_verdict { S_ALLOW, S_ALERT, S_DENY };

static const char *const s_verdict_names[] = {"allow", "alert", "deny"};

static const struct {
    const char *lang, *ext;
} s_langs[] = {{"python", "py"}, {"node", "js"}, {"java", "java"},
               {"go", "go"},     {"ruby", "rb"}, {"shell", "sh"}};

struct s_ctx {
    struct pl_cli_rules *r;
    struct pl_checker checkers[2]; /* in, out */
    bool checker_ok[2];
    struct pl_verdict verdict;
    char tmpdir[256];
    bool tmpdir_ok;
    char code_path[320];
    bool verbose;
    size_t rows, passed, failed, errors;
};

/* actual result of one row: verdict and the ids of every rule that matched */
struct s_result {
    enum s_verdict verdict;
    const char **ids;
    size_t n_ids, cap_ids;
};

static int s_result_add(struct s_result *res, const struct pl_rule *rule)
{
    for (size_t i = 0; i < res->n_ids; i++)
        if (!strcmp(res->ids[i], rule->id))
            return 0;
    if (pl_array_reserve((void **)&res->ids, &res->cap_ids, res->n_ids + 1, sizeof(*res->ids)))
        return -1;
    res->ids[res->n_ids++] = rule->id;
    return 0;
}

static bool s_result_has(const struct s_result *res, const char *id, size_t id_len)
{
    for (size_t i = 0; i < res->n_ids; i++)
        if (strlen(res->ids[i]) == id_len && !memcmp(res->ids[i], id, id_len))
            return true;
    return false;
}

static void s_print_ids(FILE *f, const struct s_result *res)
{
    if (!res->n_ids) {
        fputs("-", f);
        return;
    }
    for (size_t i = 0; i < res->n_ids; i++)
        fprintf(f, "%s%s", i ? "," : "", res->ids[i]);
}

/* print at most S_EXCERPT bytes of the input, escaping control bytes */
static void s_print_excerpt(FILE *f, const char *s, size_t len)
{
    size_t n = len > S_EXCERPT ? S_EXCERPT : len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    if (n < len)
        fputs("...", f);
}

static int s_checker(struct s_ctx *c, enum pl_target t, struct pl_checker **out)
{
    int k = t == PL_TARGET_IN ? 0 : 1;
    if (!c->checker_ok[k]) {
        if (pl_checker_init(&c->checkers[k], &c->r->set, c->r->engines[t]))
            return -1;
        c->checker_ok[k] = true;
        pl_cli_checker_configure(&c->checkers[k], &c->r->cfg);
    }
    *out = &c->checkers[k];
    return 0;
}

static int s_run_event(struct s_ctx *c, enum pl_target t, const char *data, size_t len,
                       struct s_result *res)
{
    struct pl_checker *ck;
    if (s_checker(c, t, &ck))
        return -1;
    if (!c->r->engines[t]) { /* no rules of this target: nothing can match */
        res->verdict = S_ALLOW;
        return 0;
    }
    if (pl_checker_check(ck, data, len, &c->verdict))
        return -1;
    for (size_t i = 0; i < c->verdict.n_matches; i++)
        if (s_result_add(res, c->verdict.matches[i].rule))
            return -1;
    res->verdict = c->verdict.deny ? S_DENY : c->verdict.n_matches ? S_ALERT : S_ALLOW;
    return 0;
}

static int s_run_code(struct s_ctx *c, const char *ext, const char *line, size_t len,
                      struct s_result *res)
{
    int ret = -1;
    FILE *f = NULL;
    struct pl_code_scan scan;
    pl_code_scan_init(&scan);
    if (!c->tmpdir_ok) {
        const char *base = getenv("TMPDIR");
        snprintf(c->tmpdir, sizeof(c->tmpdir), "%s/pl-rules-test-XXXXXX",
                 base && *base && strlen(base) < 200 ? base : "/tmp");
        if (!mkdtemp(c->tmpdir)) {
            pl_raise(PL_ERR_IO, "cannot create a temporary directory: %s", strerror(errno));
            goto out;
        }
        c->tmpdir_ok = true;
    }
    if (c->code_path[0])
        unlink(c->code_path);
    snprintf(c->code_path, sizeof(c->code_path), "%s/row.%s", c->tmpdir, ext);
    f = fopen(c->code_path, "wb");
    if (!f || fwrite(line, 1, len, f) != len || fputc('\n', f) == EOF) {
        pl_raise(PL_ERR_IO, "cannot write %s: %s", c->code_path, strerror(errno));
        goto out;
    }
    if (fclose(f)) {
        f = NULL;
        pl_raise(PL_ERR_IO, "cannot write %s: %s", c->code_path, strerror(errno));
        goto out;
    }
    f = NULL;
    res->verdict = S_ALLOW;
    if (!c->r->engines[PL_TARGET_CODE]) {
        ret = 0;
        goto out;
    }
    char *paths[1] = {c->code_path};
    if (pl_code_scan_paths(&c->r->set, c->r->engines[PL_TARGET_CODE], paths, 1, NULL, 0, &scan))
        goto out;
    bool deny = false;
    for (size_t i = 0; i < scan.n; i++) {
        if (s_result_add(res, scan.findings[i].rule))
            goto out;
        deny |= scan.findings[i].rule->action == PL_ACTION_DENY;
    }
    res->verdict = deny ? S_DENY : scan.n ? S_ALERT : S_ALLOW;
    ret = 0;
out:
    if (f)
        fclose(f);
    pl_code_scan_clean_up(&scan);
    return ret;
}

/* next whitespace-separated token of [*p, end) */
static bool s_token(const char **p, const char *end, const char **tok, size_t *len)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t')
        e++;
    *tok = s;
    *len = (size_t)(e - s);
    *p = e;
    return e > s;
}

static bool s_tok_is(const char *tok, size_t len, const char *word)
{
    return strlen(word) == len && !memcmp(tok, word, len);
}

/* "path/to/table.tests" + "events/x.json" -> "path/to/events/x.json" */
static char *s_relative(const char *table, const char *name, size_t name_len)
{
    if (name_len && name[0] == '/')
        return pl_strndup(name, name_len);
    const char *slash = strrchr(table, '/');
    size_t dir_len = slash ? (size_t)(slash - table) + 1 : 0;
    char *p = pl_malloc(dir_len + name_len + 1);
    if (!p)
        return NULL;
    memcpy(p, table, dir_len);
    memcpy(p + dir_len, name, name_len);
    p[dir_len + name_len] = '\0';
    return p;
}

static void s_table_error(struct s_ctx *c, const char *table, unsigned line, const char *msg)
{
    fprintf(stderr, "%s:%u: %s\n", table, line, msg);
    c->errors++;
}

/* one row; returns -1 only on internal errors (memory), table errors are counted */
static int s_row(struct s_ctx *c, const char *table, unsigned lineno, const char *line, size_t len)
{
    int ret = -1;
    const char *p = line, *end = line + len;
    const char *t_tok, *v_tok, *r_tok;
    size_t t_len, v_len, r_len;
    char *file_path = NULL, *file_data = NULL;
    struct s_result res = {0};

    if (!s_token(&p, end, &t_tok, &t_len) || !s_token(&p, end, &v_tok, &v_len) ||
        !s_token(&p, end, &r_tok, &r_len)) {
        s_table_error(c, table, lineno, "a row needs TARGET VERDICT RULES INPUT");
        return 0;
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *input = p;
    size_t input_len = (size_t)(end - p);
    while (input_len && (input[input_len - 1] == ' ' || input[input_len - 1] == '\t'))
        input_len--;
    if (!input_len) {
        s_table_error(c, table, lineno, "missing INPUT");
        return 0;
    }

    enum pl_target target;
    const char *ext = NULL;
    if (s_tok_is(t_tok, t_len, "in")) {
        target = PL_TARGET_IN;
    } else if (s_tok_is(t_tok, t_len, "out")) {
        target = PL_TARGET_OUT;
    } else if (s_tok_is(t_tok, t_len, "code")) {
        target = PL_TARGET_CODE;
        ext = "txt";
    } else if (t_len > 5 && !memcmp(t_tok, "code:", 5)) {
        target = PL_TARGET_CODE;
        for (size_t i = 0; i < PL_ARRAY_LEN(s_langs); i++)
            if (s_tok_is(t_tok + 5, t_len - 5, s_langs[i].lang))
                ext = s_langs[i].ext;
        if (!ext) {
            s_table_error(c, table, lineno,
                          "bad language (expected python, node, java, go, ruby or shell)");
            return 0;
        }
    } else {
        s_table_error(c, table, lineno, "bad TARGET (expected in, out, code or code:LANGUAGE)");
        return 0;
    }

    enum s_verdict expected;
    if (s_tok_is(v_tok, v_len, "deny"))
        expected = S_DENY;
    else if (s_tok_is(v_tok, v_len, "allow"))
        expected = S_ALLOW;
    else if (s_tok_is(v_tok, v_len, "alert"))
        expected = S_ALERT;
    else {
        s_table_error(c, table, lineno, "bad VERDICT (expected deny, allow or alert)");
        return 0;
    }

    /* RULES column: validate ids against the loaded rules so a typo is an error, not a pass */
    bool want_none = s_tok_is(r_tok, r_len, "-"), any = s_tok_is(r_tok, r_len, "*");
    if (!want_none && !any) {
        size_t n = 0;
        for (const char *s = r_tok; s < r_tok + r_len;) {
            const char *comma = memchr(s, ',', (size_t)(r_tok + r_len - s));
            const char *e = comma ? comma : r_tok + r_len;
            const char *id = *s == '!' ? s + 1 : s;
            size_t id_len = (size_t)(e - id);
            bool known = false;
            for (size_t i = 0; i < c->r->set.count && !known; i++)
                known = strlen(c->r->set.rules[i].id) == id_len &&
                        !memcmp(c->r->set.rules[i].id, id, id_len);
            if (!id_len || !known || ++n > S_MAX_IDS) {
                char msg[200];
                snprintf(msg, sizeof(msg), "unknown rule id '%.*s' in RULES", (int)id_len, id);
                s_table_error(c, table, lineno, msg);
                return 0;
            }
            s = comma ? comma + 1 : e;
        }
    }

    const char *data = input;
    size_t data_len = input_len;
    if (target != PL_TARGET_CODE && input[0] == '@') {
        if (!(file_path = s_relative(table, input + 1, input_len - 1)))
            goto out;
        if (pl_read_file(file_path, &file_data, &data_len, S_MAX_INPUT)) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
            s_table_error(c, table, lineno, msg);
            ret = 0;
            goto out;
        }
        data = file_data;
    }

    int rc = target == PL_TARGET_CODE ? s_run_code(c, ext, data, data_len, &res)
                                      : s_run_event(c, target, data, data_len, &res);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot run the row: %s", pl_last_error_msg());
        s_table_error(c, table, lineno, msg);
        ret = 0;
        goto out;
    }

    bool pass = expected == S_DENY    ? res.verdict == S_DENY
                : expected == S_ALERT ? res.verdict == S_ALERT
                                      : res.verdict != S_DENY;
    if (want_none)
        pass = pass && res.n_ids == 0;
    for (const char *s = r_tok; pass && !want_none && !any && s < r_tok + r_len;) {
        const char *comma = memchr(s, ',', (size_t)(r_tok + r_len - s));
        const char *e = comma ? comma : r_tok + r_len;
        if (*s == '!')
            pass = !s_result_has(&res, s + 1, (size_t)(e - s - 1));
        else
            pass = s_result_has(&res, s, (size_t)(e - s));
        s = comma ? comma + 1 : e;
    }
    c->rows++;
    if (pass)
        c->passed++;
    else
        c->failed++;
    if (!pass || c->verbose) {
        FILE *f = stdout;
        fprintf(f, "%s:%u: %s: expected %s %.*s, got %s ", table, lineno, pass ? "ok" : "FAIL",
                s_verdict_names[expected], (int)r_len, r_tok, s_verdict_names[res.verdict]);
        s_print_ids(f, &res);
        fputs("\n    input: ", f);
        s_print_excerpt(f, input, input_len);
        fputc('\n', f);
    }
    ret = 0;
out:
    pl_free(res.ids);
    pl_free(file_path);
    pl_free(file_data);
    return ret;
}

static int s_table(struct s_ctx *c, const char *table)
{
    char *data = NULL;
    size_t len = 0;
    if (pl_read_file(table, &data, &len, S_MAX_TABLE)) {
        fprintf(stderr, "protectlambda rules test: %s\n", pl_last_error_msg());
        c->errors++;
        return 0;
    }
    int ret = 0;
    unsigned lineno = 0;
    for (size_t off = 0; off < len && ret == 0;) {
        const char *line = data + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t line_len = nl ? (size_t)(nl - line) : len - off;
        off += line_len + (nl ? 1 : 0);
        lineno++;
        if (line_len && line[line_len - 1] == '\r')
            line_len--;
        size_t i = 0;
        while (i < line_len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == line_len || line[i] == '#')
            continue;
        ret = s_row(c, table, lineno, line, line_len);
    }
    pl_free(data);
    return ret;
}

static int s_rules_test_main(int argc, char **argv)
{
    bool loaded = false;
    struct pl_cli_rule_opts ro = {0};
    char **tables = NULL;
    size_t n_tables = 0, cap_t = 0;
    int status = 2;
    struct pl_cli_rules r;
    struct s_ctx c;
    memset(&c, 0, sizeof(c));
    pl_verdict_init(&c.verdict);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(s_usage, stdout);
            status = 0;
            goto out;
        }
        int ro_rc = pl_cli_rule_opt(&ro, "rules test", argc, argv, &i);
        if (ro_rc < 0)
            goto out; /* status 2, message printed */
        if (ro_rc)
            continue;
        if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            c.verbose = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            status = pl_cli_usage_error("rules test", "unknown option '%s'", a);
            goto out;
        } else {
            if (pl_array_reserve((void **)&tables, &cap_t, n_tables + 1, sizeof(*tables)))
                goto error;
            tables[n_tables++] = (char *)a;
        }
    }
    if (!n_tables) {
        status = pl_cli_usage_error("rules test", "no table given (TABLE...)");
        goto out;
    }
    loaded = true;
    ro.check_all = true; /* a command that exists to validate rules: every pattern, db or not */
    if (pl_cli_rules_load_opts(&r, &ro, -1))
        goto error;
    c.r = &r;
    for (size_t i = 0; i < n_tables; i++)
        if (s_table(&c, tables[i]))
            goto error;
    printf("rules test: %zu row%s, %zu passed, %zu failed, %zu table error%s (%zu table%s)\n",
           c.rows, c.rows == 1 ? "" : "s", c.passed, c.failed, c.errors, c.errors == 1 ? "" : "s",
           n_tables, n_tables == 1 ? "" : "s");
    status = c.errors ? 2 : c.failed ? 1 : 0;
    goto out;
error:
    status = pl_cli_error("rules test");
out:
    if (c.code_path[0])
        unlink(c.code_path);
    if (c.tmpdir_ok)
        rmdir(c.tmpdir);
    for (int k = 0; k < 2; k++)
        if (c.checker_ok[k])
            pl_checker_clean_up(&c.checkers[k]);
    pl_verdict_clean_up(&c.verdict);
    if (loaded)
        pl_cli_rules_clean_up(&r);
    pl_cli_rule_opts_clean_up(&ro);
    pl_free(tables);
    return status;
}

PL_CLI_COMMAND(rules_test, "rules test",
               "run rule expectation tables (input, expected verdict, expected rule ids)",
               s_rules_test_main)
