/* The checker and the code scanner against the real engine (Vectorscan + PCRE2). */
#include "harness.h"

#include <sys/stat.h>
#include <unistd.h>

#include "protectlambda/inspect.h"

static const char s_pack[] =
    "rules:\n"
    "  - id: T-CMD\n    target: in\n    pattern: ';\\s*cat\\s+/etc/passwd'\n"
    "    severity: CRITICAL\n    category: command-injection\n"
    "  - id: T-LONG\n    target: in\n    pattern: 'Z{130,}'\n    severity: LOW\n    category: t\n"
    "    action: alert\n"
    "  - id: T-ALLOW\n    target: in\n    pattern: 'token-[a-z]+'\n    severity: HIGH\n"
    "    category: t\n    allow: ['^token-example$']\n"
    "  - id: T-RED\n    target: out\n    pattern: 'sk-[A-Za-z0-9]{20}'\n    severity: HIGH\n"
    "    category: secrets\n    action: redact\n"
    "  - id: T-CODE-PY\n    target: code\n    pattern: 'os\\.system\\('\n    severity: HIGH\n"
    "    category: command-injection\n    languages: [python]\n"
    "  - id: T-CODE-ANY\n    target: code\n    pattern: 'DANGER'\n    severity: MEDIUM\n"
    "    category: t\n    action: alert\n";

struct s_env {
    char dir[64];
    struct pl_ruleset set;
    struct pl_engine *in, *out, *code;
};

static int s_setup(struct s_env *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/pl-test-checker-XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    char path[128];
    snprintf(path, sizeof(path), "%s/pack.yaml", e->dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(s_pack, f);
    fclose(f);
    if (pl_ruleset_init(&e->set) || pl_rules_load(&e->set, path, -1))
        return -1;
    unlink(path);
    if (pl_engine_compile(&e->set, PL_TARGET_IN, &e->in, NULL) ||
        pl_engine_compile(&e->set, PL_TARGET_OUT, &e->out, NULL) ||
        pl_engine_compile(&e->set, PL_TARGET_CODE, &e->code, NULL))
        return -1;
    return 0;
}

static void s_teardown(struct s_env *e)
{
    pl_engine_destroy(e->in);
    pl_engine_destroy(e->out);
    pl_engine_destroy(e->code);
    pl_ruleset_clean_up(&e->set);
    rmdir(e->dir);
}

static const struct pl_match *s_match(const struct pl_verdict *v, const char *rule)
{
    for (size_t i = 0; i < v->n_matches; i++)
        if (!strcmp(v->matches[i].rule->id, rule))
            return &v->matches[i];
    return NULL;
}

static size_t s_count(const struct pl_verdict *v, const char *rule)
{
    size_t n = 0;
    for (size_t i = 0; i < v->n_matches; i++)
        n += !strcmp(v->matches[i].rule->id, rule);
    return n;
}

PL_TEST(checker_verdicts)
{
    struct s_env e;
    PL_CHECK_OK(s_setup(&e));
    struct pl_checker c;
    struct pl_verdict v;
    pl_verdict_init(&v);
    PL_CHECK_OK(pl_checker_init(&c, &e.set, e.in));
    const char *ev = "{\"httpMethod\":\"GET\",\"requestContext\":{},\"queryStringParameters\":"
                     "{\"q\":\"a%3B%20cat%20%2Fetc%2Fpasswd\",\"r\":\"; cat /etc/passwd; cat /etc/passwd\"},"
                     "\"headers\":{\"t\":\"token-example\",\"u\":\"token-example token-real\"}}";
    int rc = pl_checker_check(&c, ev, strlen(ev), &v);
    const struct pl_match *m = s_match(&v, "T-CMD");
    int ok = rc == 0 && v.deny && !v.redact && !v.bound_exceeded && c.view.http_event;
    ok = ok && m && !strcmp(m->path, "$.queryStringParameters.q") && m->decoding == PL_DEC_URL &&
         !strcmp(m->excerpt, "; cat /etc/passwd");
    /* one match per (rule, path): the two occurrences in r are one match */
    ok = ok && s_count(&v, "T-CMD") == 2;
    /* allow-list: the example token is ignored, the real one after it is reported */
    const struct pl_match *a = s_match(&v, "T-ALLOW");
    ok = ok && s_count(&v, "T-ALLOW") == 1 && a && !strcmp(a->path, "$.headers.u") &&
         !strcmp(a->excerpt, "token-real");
    /* the view is reused: a second check gives the same verdict */
    size_t n = v.n_matches;
    ok = ok && pl_checker_check(&c, ev, strlen(ev), &v) == 0 && v.n_matches == n && v.deny;
    /* benign */
    ok = ok && pl_checker_check(&c, "{\"a\":\"hello\"}", 13, &v) == 0 && !v.deny && !v.n_matches;
    pl_verdict_clean_up(&v);
    pl_checker_clean_up(&c);
    s_teardown(&e);
    PL_CHECK(ok);
}

PL_TEST(checker_excerpt_bounded_and_alert)
{
    struct s_env e;
    PL_CHECK_OK(s_setup(&e));
    struct pl_checker c;
    struct pl_verdict v;
    pl_verdict_init(&v);
    PL_CHECK_OK(pl_checker_init(&c, &e.set, e.in));
    char ev[1200];
    int n = snprintf(ev, sizeof(ev), "{\"z\":\"");
    memset(ev + n, 'Z', 1000);
    snprintf(ev + n + 1000, sizeof(ev) - (size_t)n - 1000, "\"}");
    int rc = pl_checker_check(&c, ev, strlen(ev), &v);
    const struct pl_match *m = s_match(&v, "T-LONG");
    int ok = rc == 0 && m && strlen(m->excerpt) == 120 && !v.deny;
    pl_verdict_clean_up(&v);
    pl_checker_clean_up(&c);
    s_teardown(&e);
    PL_CHECK(ok);
}

PL_TEST(checker_out_redact_masked)
{
    struct s_env e;
    PL_CHECK_OK(s_setup(&e));
    struct pl_checker c;
    struct pl_verdict v;
    pl_verdict_init(&v);
    PL_CHECK_OK(pl_checker_init(&c, &e.set, e.out));
    const char *resp = "{\"statusCode\":200,\"body\":\"{\\\"k\\\":\\\"sk-ABCDEFGHIJKLMNOPQRST\\\"}\"}";
    int rc = pl_checker_check(&c, resp, strlen(resp), &v);
    const struct pl_match *m = s_match(&v, "T-RED");
    int ok = rc == 0 && v.redact && !v.deny && m && !strcmp(m->excerpt, "sk-A***");
    pl_verdict_clean_up(&v);
    pl_checker_clean_up(&c);
    s_teardown(&e);
    PL_CHECK(ok);
}

PL_TEST(checker_bounds)
{
    struct s_env e;
    PL_CHECK_OK(s_setup(&e));
    struct pl_checker c;
    struct pl_verdict v;
    pl_verdict_init(&v);
    PL_CHECK_OK(pl_checker_init(&c, &e.set, e.in));
    /* the inspected part is still checked; past a bound the verdict is deny by default */
    c.limits.max_items = 4;
    const char *ev = "{\"a\":\"b\",\"c\":\"d\",\"e\":\"; cat /etc/passwd\"}";
    int rc = pl_checker_check(&c, ev, strlen(ev), &v);
    int ok = rc == 0 && v.bound_exceeded && v.deny && !s_match(&v, "T-CMD");
    c.deny_on_bound = false;
    ok = ok && pl_checker_check(&c, ev, strlen(ev), &v) == 0 && !v.deny && v.bound_exceeded;
    c.limits.max_items = 100;
    ok = ok && pl_checker_check(&c, ev, strlen(ev), &v) == 0 && v.deny && !v.bound_exceeded;
    pl_verdict_clean_up(&v);
    pl_checker_clean_up(&c);
    s_teardown(&e);
    PL_CHECK(ok);
}

PL_TEST(checker_alloc_failures)
{
    struct s_env e;
    PL_CHECK_OK(s_setup(&e));
    const char *ev = "{\"isBase64Encoded\":true,\"body\":\"eyJ4IjoiOyBjYXQgL2V0Yy9wYXNzd2QifQ==\","
                     "\"h\":{\"u\":\"token-real\"}}";
    int done = 0;
    for (long n = 0; n < 200 && !done; n++) {
        struct pl_checker c;
        struct pl_verdict v;
        pl_verdict_init(&v);
        if (pl_checker_init(&c, &e.set, e.in))
            break;
        pl_test_fail_alloc_after(n);
        int rc = pl_checker_check(&c, ev, strlen(ev), &v);
        pl_test_fail_alloc_after(-1);
        if (rc == 0) {
            done = 1;
            if (!(v.deny && s_match(&v, "T-CMD") && s_match(&v, "T-ALLOW")))
                fprintf(stderr, "  n=%ld deny=%d matches=%zu\n", n, v.deny, v.n_matches);
            PL_CHECK(v.deny && s_match(&v, "T-CMD") && s_match(&v, "T-ALLOW"));
        }
        pl_verdict_clean_up(&v);
        pl_checker_clean_up(&c);
    }
    s_teardown(&e);
    PL_CHECK(done);
}

static void s_put(const char *dir, const char *rel, const char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

PL_TEST(code_scan_paths)
{
    struct s_env e;
    PL_CHECK_OK(s_setup(&e));
    char root[96];
    snprintf(root, sizeof(root), "%s/app", e.dir);
    mkdir(root, 0755);
    s_put(root, "h.py", "import os\nos.system(x) # DANGER\nos.system(y); os.system(z)\n", 58);
    s_put(root, "run", "#!/usr/bin/env python3\nos.system(x)\n", 36);
    s_put(root, "x.js", "os.system(x)\n", 13);
    s_put(root, "bin.dat", "os.system(\0)\n", 13);
    s_put(root, "node_modules/m.py", "os.system(x)\n", 13);
    char link[128];
    snprintf(link, sizeof(link), "%s/loop", root);
    PL_CHECK(symlink(".", link) == 0);
    struct pl_code_scan s;
    pl_code_scan_init(&s);
    char *paths[] = {root};
    int rc = pl_code_scan_paths(&e.set, e.code, paths, 1, NULL, 0, &s);
    int ok = rc == 0;
    size_t py = 0, any = 0;
    for (size_t i = 0; ok && i < s.n; i++) {
        const struct pl_code_finding *f = &s.findings[i];
        if (!strcmp(f->rule->id, "T-CODE-PY")) {
            py++;
            ok &= (strstr(f->file, "/h.py") && (f->line == 2 || f->line == 3) && f->column == 1) ||
                  (strstr(f->file, "/run") && f->line == 2);
            ok &= !strcmp(f->excerpt, "os.system(");
        } else {
            any++;
            ok &= strstr(f->file, "/h.py") && f->line == 2 && f->column == 16;
        }
    }
    /* h.py: lines 2 and 3 (one per line), run (shebang python): line 2; not x.js, bin.dat,
     * node_modules, nor twice through the symlink loop */
    ok = ok && py == 3 && any == 1 && s.files_skipped >= 1;
    if (!ok)
        for (size_t i = 0; i < s.n; i++)
            fprintf(stderr, "  %s:%u:%u %s\n", s.findings[i].file, s.findings[i].line,
                    s.findings[i].column, s.findings[i].rule->id);
    pl_code_scan_clean_up(&s);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    PL_CHECK(system(cmd) == 0);
    s_teardown(&e);
    PL_CHECK(ok);
}

PL_TEST(code_language)
{
    PL_CHECK_STR(pl_code_language("a/b.py", NULL, 0), "python");
    PL_CHECK_STR(pl_code_language("x.mjs", NULL, 0), "node");
    PL_CHECK_STR(pl_code_language("x.tsx", NULL, 0), "node");
    PL_CHECK_STR(pl_code_language("X.java", NULL, 0), "java");
    PL_CHECK_STR(pl_code_language("m.go", NULL, 0), "go");
    PL_CHECK_STR(pl_code_language("r.rb", NULL, 0), "ruby");
    PL_CHECK_STR(pl_code_language("s.bash", NULL, 0), "shell");
    PL_CHECK_STR(pl_code_language("bootstrap", NULL, 0), "shell");
    PL_CHECK_STR(pl_code_language("tool", "#!/usr/bin/env node\n", 20), "node");
    PL_CHECK_STR(pl_code_language("tool", "#!/bin/bash -e\n", 15), "shell");
    PL_CHECK_STR(pl_code_language("tool", "#!/usr/bin/python3\n", 19), "python");
    PL_CHECK(pl_code_language("README", "hello", 5) == NULL);
}
