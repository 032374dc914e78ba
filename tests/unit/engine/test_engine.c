/* engine: Vectorscan + PCRE2 fallback, streams, locate/allow, database files, allocation
 * failures */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/engine.h"
#include "protectlambda/log.h"

#define DATA "tests/unit/engine/data"

/* these tests exercise the compiler: no compile cache unless a test sets one */
__attribute__((constructor)) static void s_no_cache(void)
{
    pl_engine_set_cache_dir("");
}

struct hits {
    int n;
    uint32_t rule[64];
    unsigned long long from[64], to[64];
};

static int s_collect(void *ctx, uint32_t rule, unsigned long long from, unsigned long long to)
{
    struct hits *h = ctx;
    if (h->n < 64) {
        h->rule[h->n] = rule;
        h->from[h->n] = from;
        h->to[h->n] = to;
    }
    h->n++;
    return 0;
}

static bool s_hit(const struct hits *h, uint32_t rule)
{
    for (int i = 0; i < h->n && i < 64; i++)
        if (h->rule[i] == rule)
            return true;
    return false;
}

static long s_find(const struct pl_ruleset *set, const char *id)
{
    for (size_t i = 0; i < set->count; i++)
        if (!strcmp(set->rules[i].id, id))
            return (long)i;
    return -1;
}

static int s_scan(const struct pl_engine *e, const char *text, struct hits *h)
{
    struct pl_engine_scratch *s = NULL;
    memset(h, 0, sizeof(*h));
    if (pl_engine_scratch_new(e, &s))
        return -1;
    int rc = pl_engine_scan(e, s, text, strlen(text), s_collect, h);
    pl_engine_scratch_destroy(s);
    return rc;
}

PL_TEST(classic_rule_flags_issue_example)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA "/code_protect.txt", -1));
    struct pl_engine *e = NULL;
    struct pl_buf report = PL_BUF_INIT;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_CODE, &e, &report));
    PL_CHECK_INT(pl_engine_rule_count(e), 2);
    PL_CHECK_INT(pl_engine_fallback_count(e), 0);
    PL_CHECK_INT(report.len, 0);
    struct hits h;
    const char *line = "filetype = subprocess.check_output(command,shell=True).decode(\"utf-8\")";
    PL_CHECK_OK(s_scan(e, line, &h));
    PL_CHECK(s_hit(&h, 0));
    PL_CHECK(!s_hit(&h, 1));
    /* no callback per byte: the trailing `.*` is not scanned (2 '(' after the keyword) */
    PL_CHECK_MSG(h.n <= 2, "%d reports for one line", h.n);
    /* exact offsets come from locate: the whole line (leading and trailing .*) */
    size_t from = 99, to = 0;
    PL_CHECK_INT(pl_engine_locate(e, 0, line, strlen(line), &from, &to), 1);
    PL_CHECK_INT(from, 0);
    PL_CHECK_INT(to, strlen(line));
    PL_CHECK_OK(s_scan(e, "x = eval(data)\nprint('ok')\n", &h));
    PL_CHECK(s_hit(&h, 1));
    PL_CHECK_OK(s_scan(e, "filetype = 'plain text'\n", &h));
    PL_CHECK_INT(h.n, 0);
    pl_buf_clean_up(&report);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

PL_TEST(fallback_to_pcre2)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA "/pack.yaml", -1));
    struct pl_engine *e = NULL;
    struct pl_buf report = PL_BUF_INIT;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, &report));
    PL_CHECK_INT(pl_engine_rule_count(e), 2);
    PL_CHECK_INT(pl_engine_fallback_count(e), 2);
    long br = s_find(&set, "backref-dup-word"), lb = s_find(&set, "lookbehind-passwd");
    PL_CHECK(pl_engine_rule_is_fallback(e, (uint32_t)br));
    PL_CHECK(pl_engine_rule_is_fallback(e, (uint32_t)lb));
    PL_CHECK_MSG(strstr(report.data, "pack.yaml:11: in rule 'backref-dup-word' runs on PCRE2: "
                                     "Vectorscan:"),
                 "report: %s", report.data);
    PL_CHECK(strstr(report.data, "rule 'lookbehind-passwd' runs on PCRE2"));
    struct hits h;
    PL_CHECK_OK(s_scan(e, "say hello hello world", &h));
    PL_CHECK_INT(h.n, 1);
    PL_CHECK_INT(h.rule[0], br);
    PL_CHECK_INT(h.from[0], 4);
    PL_CHECK_INT(h.to[0], 15);
    PL_CHECK_OK(s_scan(e, "file=../../ETC/PASSWD", &h));
    PL_CHECK(s_hit(&h, (uint32_t)lb));
    PL_CHECK_OK(s_scan(e, "file=x/etc/passwd", &h)); /* the lookbehind excludes it */
    PL_CHECK_INT(h.n, 0);
    pl_buf_clean_up(&report);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

/* one multi-compile, one pattern Vectorscan refuses at database build time only */
PL_TEST(mixed_set_falls_back_only_the_bad_rule)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    char path[] = "/tmp/pl_engine_mixed.XXXXXX";
    int fd = mkstemp(path);
    PL_CHECK(fd >= 0);
    const char *txt = "select.+from\n(a|b)\\1\nfoo(?=bar)\nunion\\s+all\n";
    PL_CHECK(write(fd, txt, strlen(txt)) == (ssize_t)strlen(txt));
    close(fd);
    PL_CHECK_OK(pl_rules_load(&set, path, PL_TARGET_IN));
    unlink(path);
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, NULL));
    PL_CHECK_INT(pl_engine_fallback_count(e), 2);
    PL_CHECK(!pl_engine_rule_is_fallback(e, 0));
    PL_CHECK(pl_engine_rule_is_fallback(e, 1));
    PL_CHECK(pl_engine_rule_is_fallback(e, 2));
    PL_CHECK(!pl_engine_rule_is_fallback(e, 3));
    struct hits h;
    PL_CHECK_OK(s_scan(e, "aa foobar union all select x from y", &h));
    PL_CHECK(s_hit(&h, 0) && s_hit(&h, 1) && s_hit(&h, 2) && s_hit(&h, 3));
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

PL_TEST(catastrophic_pattern_is_bounded)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    char path[] = "/tmp/pl_engine_cat.XXXXXX";
    int fd = mkstemp(path);
    PL_CHECK(fd >= 0);
    /* rule 0 runs on Vectorscan (linear time); rule 1 needs PCRE2 (lookbehind) and
     * backtracks exponentially on a's followed by a b */
    const char *txt = "(a+)+$\n^(a|aa)+(?<!c)$\nneedle\n";
    PL_CHECK(write(fd, txt, strlen(txt)) == (ssize_t)strlen(txt));
    close(fd);
    PL_CHECK_OK(pl_rules_load(&set, path, PL_TARGET_IN));
    unlink(path);
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, NULL));
    PL_CHECK(!pl_engine_rule_is_fallback(e, 0));
    PL_CHECK(pl_engine_rule_is_fallback(e, 1));
    size_t n = 100000;
    char *in = malloc(n + 16);
    memset(in, 'a', n);
    memcpy(in + n, "b needle", 9);
    struct pl_engine_scratch *s = NULL;
    PL_CHECK_OK(pl_engine_scratch_new(e, &s));
    struct hits h = {0};
    int rc = pl_engine_scan(e, s, in, n + 8, s_collect, &h);
    /* the scan returned; the PCRE2 rule is undecided: a match-limit error (fail closed) */
    PL_CHECK_INT(rc, -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_ENGINE_MATCH_LIMIT);
    PL_CHECK(strstr(pl_last_error_msg(), "^(a|aa)+(?<!c)$"));
    /* every other rule was still scanned and reported */
    PL_CHECK(s_hit(&h, 2));
    PL_CHECK(!s_hit(&h, 0));
    /* locate is bounded the same way */
    size_t f, t;
    PL_CHECK_INT(pl_engine_locate(e, 1, in, n + 1, &f, &t), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_ENGINE_MATCH_LIMIT);
    free(in);
    pl_engine_scratch_destroy(s);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

static int s_stream_chunks(const struct pl_engine *e, const char *const *chunks, struct hits *h)
{
    struct pl_engine_scratch *s = NULL;
    struct pl_engine_stream *st = NULL;
    memset(h, 0, sizeof(*h));
    if (pl_engine_scratch_new(e, &s) || pl_engine_stream_open(e, &st)) {
        pl_engine_scratch_destroy(s);
        return -1;
    }
    int rc = 0;
    for (int i = 0; chunks[i] && rc == 0; i++)
        rc = pl_engine_stream_scan(st, s, chunks[i], strlen(chunks[i]), s_collect, h);
    if (pl_engine_stream_close(st, s, s_collect, h))
        rc = -1;
    pl_engine_scratch_destroy(s);
    return rc;
}

PL_TEST(stream_match_across_chunks)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA "/pack.yaml", -1));
    struct pl_engine *out = NULL, *in = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_OUT, &out, NULL));
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &in, NULL));
    long key = s_find(&set, "aws-key");
    struct hits h;
    /* out rules: the Vectorscan stream database, the key split over three chunks */
    const char *c1[] = {"{\"body\":\"xx AKIA", "ABCDEFGH", "IJKL1234 yy\"}", NULL};
    PL_CHECK_OK(s_stream_chunks(out, c1, &h));
    PL_CHECK_INT(h.n, 1);
    PL_CHECK_INT(h.rule[0], key);
    PL_CHECK_INT(h.to[0], 32); /* offset from the start of the stream */
    const char *c2[] = {"{\"body\":\"xx AKIA", "abcdefghijkl1234\"}", NULL};
    PL_CHECK_OK(s_stream_chunks(out, c2, &h));
    PL_CHECK_INT(h.n, 0);
    /* in rules have no stream database and both run on PCRE2: buffered, scanned at close */
    long lb = s_find(&set, "lookbehind-passwd");
    const char *c3[] = {"../../et", "c/pas", "swd", NULL};
    PL_CHECK_OK(s_stream_chunks(in, c3, &h));
    PL_CHECK_INT(h.n, 1);
    PL_CHECK_INT(h.rule[0], lb);
    PL_CHECK_INT(h.from[0], 5);
    /* a stream dropped without delivering */
    struct pl_engine_stream *st = NULL;
    PL_CHECK_OK(pl_engine_stream_open(out, &st));
    PL_CHECK_OK(pl_engine_stream_close(st, NULL, NULL, NULL));
    pl_engine_destroy(out);
    pl_engine_destroy(in);
    pl_ruleset_clean_up(&set);
}

PL_TEST(locate_and_allow_list)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA "/pack.yaml", -1));
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_OUT, &e, NULL));
    uint32_t key = (uint32_t)s_find(&set, "aws-key");
    const char *doc = "key=AKIAIOSFODNN7EXAMPLE;";
    size_t from = 0, to = 0;
    PL_CHECK_INT(pl_engine_locate(e, key, doc, strlen(doc), &from, &to), 1);
    PL_CHECK_INT(from, 4);
    PL_CHECK_INT(to, 24);
    PL_CHECK_INT(pl_engine_allowed(e, key, doc + from, to - from), 1);
    PL_CHECK_INT(pl_engine_allowed(e, key, "AKIAABCDEFGHIJKL1234", 20), 0);
    PL_CHECK_INT(pl_engine_locate(e, key, "nothing", 7, &from, &to), 0);
    /* a rule of another target is an error, not a silent 0 */
    PL_CHECK_INT(pl_engine_locate(e, (uint32_t)s_find(&set, "py-os-system"), "x", 1, &from, &to),
                 -1);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

PL_TEST(singlematch_option)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA "/in_protect.txt", -1));
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile_ex(&set, PL_TARGET_IN, PL_ENGINE_SINGLEMATCH, &e, NULL));
    struct hits h;
    PL_CHECK_OK(s_scan(e, "union select 1 union select 2 ../../../../", &h));
    PL_CHECK_INT(h.n, 2);
    pl_engine_destroy(e);
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, NULL));
    PL_CHECK_OK(s_scan(e, "union select 1 union select 2 ../../../../", &h));
    PL_CHECK_INT(h.n, 5); /* each end offset: 2 unions, ../../ ending at 36, 39, 42 */
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

static int s_load_all(struct pl_ruleset *set)
{
    if (pl_rules_load(set, DATA, -1))
        return -1;
    return 0;
}

static char s_db[64];

static int s_compile_save(const struct pl_ruleset *set, struct pl_engine *eng[PL_TARGET_COUNT])
{
    snprintf(s_db, sizeof(s_db), "/tmp/pl_engine_db.XXXXXX");
    int fd = mkstemp(s_db);
    if (fd < 0)
        return -1;
    close(fd);
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        if (pl_engine_compile(set, (enum pl_target)t, &eng[t], NULL))
            return -1;
    return pl_engine_db_save(s_db, set, eng);
}

PL_TEST(db_round_trip)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0}, *loaded[PL_TARGET_COUNT] = {0};
    PL_CHECK_OK(s_compile_save(&set, eng));
    PL_CHECK_OK(pl_engine_db_load(s_db, &set, loaded));
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        PL_CHECK(loaded[t]);
        PL_CHECK_INT(pl_engine_rule_count(loaded[t]), pl_engine_rule_count(eng[t]));
        PL_CHECK_INT(pl_engine_fallback_count(loaded[t]), pl_engine_fallback_count(eng[t]));
    }
    struct hits h1, h2;
    const char *line = "filetype = subprocess.check_output(command,shell=True).decode(\"utf-8\")";
    PL_CHECK_OK(s_scan(eng[PL_TARGET_CODE], line, &h1));
    PL_CHECK_OK(s_scan(loaded[PL_TARGET_CODE], line, &h2));
    PL_CHECK(h1.n == h2.n && h1.n > 0 && h1.rule[0] == h2.rule[0]);
    const char *ev = "q=hello hello&f=../../etc/passwd union  select";
    PL_CHECK_OK(s_scan(eng[PL_TARGET_IN], ev, &h1));
    PL_CHECK_OK(s_scan(loaded[PL_TARGET_IN], ev, &h2));
    PL_CHECK_INT(h2.n, h1.n);
    PL_CHECK_INT(h2.n, 4);
    /* streams work on a loaded out engine */
    const char *c1[] = {"xx ASIA", "ABCDEFGHIJKL1234", NULL};
    PL_CHECK_OK(s_stream_chunks(loaded[PL_TARGET_OUT], c1, &h2));
    PL_CHECK_INT(h2.n, 1);
    /* the Lambda-side test loads this database (fixture) */
    const char *bd = getenv("PL_BUILD_DIR");
    if (bd) {
        char p[512];
        snprintf(p, sizeof(p), "%s/engine_fixture.db", bd);
        PL_CHECK_OK(pl_engine_db_save(p, &set, eng));
    }
    pl_engine_destroy_all(eng);
    pl_engine_destroy_all(loaded);
    unlink(s_db);
    pl_ruleset_clean_up(&set);
}

static int s_patch_file(const char *path, long off, const void *bytes, size_t n, long truncate_to)
{
    size_t len;
    char *d = pl_test_read(path, &len);
    if (!d)
        return -1;
    if (off >= 0)
        memcpy(d + off, bytes, n);
    if (truncate_to >= 0)
        len = (size_t)truncate_to;
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, len, f);
    fclose(f);
    free(d);
    return 0;
}

/* rewrite the file's trailing checksum (docs/engine.md) after a patch */
static int s_fix_checksum(const char *path)
{
    size_t len;
    unsigned char *d = (unsigned char *)pl_test_read(path, &len);
    if (!d)
        return -1;
    uint64_t h = 0;
    if (pl_engine_db_file_checksum(d, len - 8, &h)) {
        free(d);
        return -1;
    }
    for (int i = 0; i < 8; i++)
        d[len - 8 + i] = (unsigned char)(h >> (8 * i));
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, len, f);
    fclose(f);
    free(d);
    return 0;
}

/* each damaged database gives its own error, and load_or_compile still gives engines */
static int s_expect_load_error(const struct pl_ruleset *set, int code)
{
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    int rc = pl_engine_db_load(s_db, set, eng);
    if (rc != -1 || pl_last_error() != code || eng[0] || eng[1] || eng[2]) {
        fprintf(stderr, "  load: rc=%d code=%d (%s), want %d\n", rc, pl_last_error(),
                pl_last_error_msg(), code);
        pl_engine_destroy_all(eng);
        return 0;
    }
    if (pl_engine_load_or_compile(s_db, set, eng, NULL) != 0 || !eng[PL_TARGET_CODE]) {
        pl_engine_destroy_all(eng);
        return 0;
    }
    struct hits h;
    int ok = s_scan(eng[PL_TARGET_CODE], "os.system('x')", &h) == 0 && h.n > 0;
    pl_engine_destroy_all(eng);
    return ok;
}

PL_TEST(db_stale_corrupt_incompatible)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    PL_CHECK_OK(s_compile_save(&set, eng));
    pl_engine_destroy_all(eng);
    int logfd = dup(2);
    pl_log_set_fd(open("/dev/null", O_WRONLY)); /* the expected warn lines */
    size_t len;
    char *orig = pl_test_read(s_db, &len);
    PL_CHECK(orig && len > 200);

    /* stale: the rules changed since the database was compiled */
    struct pl_ruleset more;
    pl_ruleset_init(&more);
    PL_CHECK_OK(s_load_all(&more));
    PL_CHECK_OK(pl_rules_load(&more, DATA "/in_protect.txt", PL_TARGET_OUT));
    PL_CHECK(s_expect_load_error(&more, PL_ERR_ENGINE_DB_STALE));
    pl_ruleset_clean_up(&more);

    /* corrupt: truncated, flipped bytes, not a database */
    PL_CHECK_OK(s_patch_file(s_db, -1, NULL, 0, (long)len / 2));
    PL_CHECK(s_expect_load_error(&set, PL_ERR_ENGINE_DB_CORRUPT));
    PL_CHECK_OK(s_patch_file(s_db, -1, NULL, 0, 50));
    PL_CHECK(s_expect_load_error(&set, PL_ERR_ENGINE_DB_CORRUPT));
    PL_CHECK_OK(pl_write_file_atomic(s_db, orig, len, 0644));
    PL_CHECK_OK(s_patch_file(s_db, (long)len - 40, "\xff\x00\xff", 3, -1));
    PL_CHECK(s_expect_load_error(&set, PL_ERR_ENGINE_DB_CORRUPT));
    PL_CHECK_OK(pl_write_file_atomic(s_db, "hello world", 11, 0644));
    PL_CHECK(s_expect_load_error(&set, PL_ERR_ENGINE_DB_CORRUPT));

    /* incompatible: the Vectorscan version field of the header */
    PL_CHECK_OK(pl_write_file_atomic(s_db, orig, len, 0644));
    PL_CHECK_OK(s_patch_file(s_db, 16, "0.0.1", 6, -1));
    PL_CHECK(s_expect_load_error(&set, PL_ERR_ENGINE_DB_INCOMPATIBLE));
    /* incompatible: Vectorscan's own version in the serialized code database (checksum
     * recomputed so that only Vectorscan can tell): header 104 + section 16 + length 8, the
     * version is the second u32 of hs's header */
    PL_CHECK_OK(pl_write_file_atomic(s_db, orig, len, 0644));
    PL_CHECK_OK(s_patch_file(s_db, 104 + 16 + 8 + 4, "\x01\x00\x00\x01", 4, -1));
    PL_CHECK_OK(s_fix_checksum(s_db));
    PL_CHECK(s_expect_load_error(&set, PL_ERR_ENGINE_DB_INCOMPATIBLE));

    /* a missing file: NOT_FOUND, and load_or_compile compiles */
    unlink(s_db);
    PL_CHECK(s_expect_load_error(&set, PL_ERR_NOT_FOUND));
    pl_log_set_fd(logfd);
    free(orig);
    pl_ruleset_clean_up(&set);
}

PL_TEST(alloc_failure_across_compile_and_load)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    PL_CHECK_OK(s_compile_save(&set, eng));
    pl_engine_destroy_all(eng);
    int done_compile = 0, done_load = 0;
    for (long n = 0; n < 5000 && !(done_compile && done_load); n++) {
        long live = pl_test_live_allocations();
        struct pl_engine *e[PL_TARGET_COUNT] = {0};
        if (!done_compile) {
            pl_test_fail_alloc_after(n);
            int rc = 0;
            for (int t = 0; t < PL_TARGET_COUNT && rc == 0; t++)
                rc = pl_engine_compile(&set, (enum pl_target)t, &e[t], NULL);
            struct pl_engine_scratch *s = NULL;
            if (rc == 0)
                rc = pl_engine_scratch_new(e[PL_TARGET_IN], &s);
            struct hits h = {0};
            if (rc == 0)
                rc = pl_engine_scan(e[PL_TARGET_IN], s, "x ../../etc/passwd", 18, s_collect, &h);
            pl_test_fail_alloc_after(-1);
            if (rc == 0) {
                done_compile = 1;
                PL_CHECK_INT(h.n, 2);
            } else {
                PL_CHECK_MSG(pl_last_error() == PL_ERR_NOMEM, "n=%ld: %s", n, pl_last_error_msg());
            }
            pl_engine_scratch_destroy(s);
            pl_engine_destroy_all(e);
        }
        if (!done_load) {
            pl_test_fail_alloc_after(n);
            int rc = pl_engine_db_load(s_db, &set, e);
            pl_test_fail_alloc_after(-1);
            if (rc == 0)
                done_load = 1;
            else
                PL_CHECK_MSG(pl_last_error() == PL_ERR_NOMEM, "load n=%ld: %s", n,
                             pl_last_error_msg());
            pl_engine_destroy_all(e);
        }
        PL_CHECK_MSG(pl_test_live_allocations() == live, "leak after n=%ld", n);
    }
    PL_CHECK(done_compile && done_load);
    unlink(s_db);
    pl_ruleset_clean_up(&set);
}

/* one engine shared by threads, one scratch each (cloned); locate compiles lazily while
 * the threads race on it */
struct s_thr {
    const struct pl_engine *e;
    struct pl_engine_scratch *s;
    uint32_t rule;
    int ok;
};

static void *s_thread(void *p)
{
    struct s_thr *t = p;
    const char *ev = "q=hello hello&f=../../etc/passwd union  select";
    t->ok = 1;
    for (int i = 0; i < 200; i++) {
        struct hits h = {0};
        size_t f, to;
        if (pl_engine_scan(t->e, t->s, ev, strlen(ev), s_collect, &h) || h.n != 4 ||
            pl_engine_locate(t->e, t->rule, ev, strlen(ev), &f, &to) != 1 || f != 16)
            t->ok = 0;
    }
    return NULL;
}

PL_TEST(threads_share_an_engine)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, NULL));
    struct pl_engine_scratch *s0 = NULL;
    PL_CHECK_OK(pl_engine_scratch_new(e, &s0));
    struct s_thr t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct s_thr){e, NULL, (uint32_t)s_find(&set, "\\.\\./\\.\\./"), 0};
        PL_CHECK_OK(pl_engine_scratch_clone(s0, &t[i].s));
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, s_thread, &t[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        PL_CHECK(t[i].ok);
        pl_engine_scratch_destroy(t[i].s);
    }
    pl_engine_scratch_destroy(s0);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

/* the Vectorscan core (leading/trailing .* stripped) decides exactly like PCRE2 on the
 * whole pattern: differential check over tricky patterns and inputs */
PL_TEST(core_stripping_keeps_semantics)
{
    static const char *const pats[] = {
        ".*(call|system).*\\(.*",
        "ab\\.*",
        ".*?xy.*?",
        ".*a1|b1.*",
        "x\\\\.*",
        "q\\c.*",
        "(?i).*Zz.*",
        "(?x) m m .*",
        "\\Q.*\\E.*k",
        ".*$x",
    };
    static const char *const inputs[] = {
        "os.system('x')",
        "system only",
        "ab",
        "a.b",
        "xy",
        "yx",
        "b1",
        "1a",
        "x\\",
        "x",
        "qn",
        "q",
        "zZ",
        "mm",
        "m m",
        ".*k",
        "k",
        "$x",
        "",
        "call\n(",
    };
    char path[] = "/tmp/pl_engine_core.XXXXXX";
    int fd = mkstemp(path);
    PL_CHECK(fd >= 0);
    for (size_t i = 0; i < PL_ARRAY_LEN(pats); i++) {
        PL_CHECK(write(fd, pats[i], strlen(pats[i])) > 0);
        PL_CHECK(write(fd, "\n", 1) == 1);
    }
    close(fd);
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, path, PL_TARGET_IN));
    unlink(path);
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, NULL));
    for (size_t k = 0; k < PL_ARRAY_LEN(inputs); k++) {
        struct hits h;
        PL_CHECK_OK(s_scan(e, inputs[k], &h));
        for (uint32_t r = 0; r < set.count; r++) {
            size_t f, t;
            int want = pl_engine_locate(e, r, inputs[k], strlen(inputs[k]), &f, &t);
            PL_CHECK(want >= 0);
            PL_CHECK_MSG(s_hit(&h, r) == (want == 1), "pattern '%s' on '%s': engine %d, PCRE2 %d",
                         set.rules[r].pattern, inputs[k], s_hit(&h, r), want);
        }
    }
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

PL_TEST(empty_target_matches_nothing)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA "/code_protect.txt", -1));
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_OUT, &e, NULL));
    PL_CHECK_INT(pl_engine_rule_count(e), 0);
    struct hits h;
    PL_CHECK_OK(s_scan(e, "os.system(x)", &h));
    PL_CHECK_INT(h.n, 0);
    const char *c[] = {"os.sys", "tem(x)", NULL};
    PL_CHECK_OK(s_stream_chunks(e, c, &h));
    PL_CHECK_INT(h.n, 0);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

static const char *s_write_tmp(const char *dir, const char *name, const char *text)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return p;
}

#define S_GOOD_PACK                                                                                \
    "rules:\n  - id: g-in\n    target: in\n    pattern: 'union\\s+select'\n"                       \
    "    severity: HIGH\n    category: c\n"                                                        \
    "  - id: g-out\n    target: out\n    pattern: 'AKIA[0-9A-Z]{16}'\n"                            \
    "    severity: HIGH\n    category: c\n    allow: ['EXAMPLE$']\n"

/* defer_check: every compile validates the rules it takes first, with the loader's error;
 * a rule of another target is not compiled (nor matched) by that engine */
PL_TEST(deferred_check_before_compile)
{
    char dir[] = "/tmp/pl_engine_defer.XXXXXX";
    PL_CHECK(mkdtemp(dir));
    const char *bad = s_write_tmp(dir, "bad.yaml",
                                  S_GOOD_PACK "  - id: b\n    target: code\n    severity: LOW\n"
                                              "    category: c\n    pattern: 'x('\n");
    struct pl_ruleset eager, set;
    pl_ruleset_init(&eager);
    pl_ruleset_init(&set);
    PL_CHECK_INT(pl_rules_load(&eager, bad, -1), -1);
    char want[600];
    snprintf(want, sizeof(want), "%s", pl_last_error_msg());
    PL_CHECK(strstr(want, "bad.yaml:17: pattern 'x(' does not compile"));
    set.defer_check = true;
    PL_CHECK_OK(pl_rules_load(&set, bad, -1));
    struct pl_engine *e = NULL;
    PL_CHECK_INT(pl_engine_compile(&set, PL_TARGET_CODE, &e, NULL), -1);
    PL_CHECK(!e);
    PL_CHECK_INT(pl_last_error(), PL_ERR_RULES_PATTERN);
    PL_CHECK_STR(pl_last_error_msg(), want);
    /* the compile cache does not bypass it */
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/cache", dir);
    pl_engine_set_cache_dir(sub);
    PL_CHECK_INT(pl_engine_compile_ex(&set, PL_TARGET_CODE, 0, &e, NULL), -1);
    PL_CHECK_STR(pl_last_error_msg(), want);
    pl_engine_set_cache_dir("");
    /* the in engine holds only the in rules: it compiles, and never sees the code rule */
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, NULL));
    PL_CHECK_INT(pl_engine_rule_count(e), 1);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&eager);
    pl_ruleset_clean_up(&set);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    PL_CHECK(system(cmd) == 0);
}

/* defer_check with a rules database: a matching database stands for the validation of the
 * patterns (none is compiled with PCRE2 to check it); without a usable database (missing,
 * stale) a bad pattern fails with its file:line; allow patterns, which the database does not
 * hold, are validated either way */
PL_TEST(deferred_check_and_database)
{
    char dir[] = "/tmp/pl_engine_defer.XXXXXX";
    PL_CHECK(mkdtemp(dir));
    char db[300];
    snprintf(db, sizeof(db), "%s/rules.db", dir);
    int logfd = dup(2);
    pl_log_set_fd(open("/dev/null", O_WRONLY)); /* the expected "database not used" lines */
    /* 'a*' and the allow pattern 'b?' match the empty string: the loader refuses them. A
     * database is made from them here by marking the rule checked by hand (no command can:
     * compiling validates) */
    const char *pack = s_write_tmp(dir, "p.yaml",
                                   S_GOOD_PACK "  - id: empty\n    target: in\n    severity: LOW\n"
                                               "    category: c\n    pattern: 'a*'\n"
                                               "    allow: ['b?']\n");
    struct pl_ruleset set, lazy;
    pl_ruleset_init(&set);
    pl_ruleset_init(&lazy);
    set.defer_check = lazy.defer_check = true;
    PL_CHECK_OK(pl_rules_load(&set, pack, -1));
    for (size_t i = 0; i < set.count; i++)
        set.rules[i].unchecked = false;
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        PL_CHECK_OK(pl_engine_compile(&set, (enum pl_target)t, &eng[t], NULL));
    PL_CHECK_OK(pl_engine_db_save(db, &set, eng));
    pl_engine_destroy_all(eng);

    /* the same rules, deferred: the matching database loads; validating 'a*' or 'b?' (same
     * allow patterns as compiled: the database records their hash) would fail */
    PL_CHECK_OK(pl_rules_load(&lazy, pack, -1));
    PL_CHECK(lazy.rules[lazy.count - 1].unchecked);
    PL_CHECK_OK(pl_engine_db_load(db, &lazy, eng));
    PL_CHECK_INT(pl_engine_rule_count(eng[PL_TARGET_IN]), 2);
    pl_engine_destroy_all(eng);
    PL_CHECK_OK(pl_engine_load_or_compile(db, &lazy, eng, NULL));
    pl_engine_destroy_all(eng);

    /* missing database: compiled, and the bad pattern fails with its file:line */
    char want[600];
    snprintf(want, sizeof(want),
             "%s:17: pattern 'a*' does not compile: it matches the empty string", pack);
    char missing[320];
    snprintf(missing, sizeof(missing), "%s/none.db", dir);
    PL_CHECK_INT(pl_engine_load_or_compile(missing, &lazy, eng, NULL), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_RULES_PATTERN);
    PL_CHECK_MSG(strstr(pl_last_error_msg(), want), "%s", pl_last_error_msg());
    PL_CHECK(!eng[0] && !eng[1] && !eng[2]);
    PL_CHECK_INT(pl_engine_load_or_compile(NULL, &lazy, eng, NULL), -1);
    PL_CHECK(strstr(pl_last_error_msg(), want));
    /* stale database (one more rule): the same */
    PL_CHECK_OK(pl_rules_load(&lazy, DATA "/in_protect.txt", -1));
    PL_CHECK_INT(pl_engine_db_load(db, &lazy, eng), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_ENGINE_DB_STALE);
    PL_CHECK_INT(pl_engine_load_or_compile(db, &lazy, eng, NULL), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_RULES_PATTERN);
    PL_CHECK(strstr(pl_last_error_msg(), want));
    PL_CHECK(!eng[0] && !eng[1] && !eng[2]);
    pl_ruleset_clean_up(&lazy);

    /* an allow pattern changed since the database was compiled (allow lists are not in the
     * ruleset hash): the database matches, the bad allow pattern still fails, with no
     * fallback to compiling */
    struct pl_ruleset good;
    pl_ruleset_init(&good);
    const char *gp = s_write_tmp(dir, "g.yaml", S_GOOD_PACK);
    PL_CHECK_OK(pl_rules_load(&good, gp, -1));
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        PL_CHECK_OK(pl_engine_compile(&good, (enum pl_target)t, &eng[t], NULL));
    PL_CHECK_OK(pl_engine_db_save(db, &good, eng));
    pl_engine_destroy_all(eng);
    pl_ruleset_clean_up(&good);
    pl_ruleset_init(&good);
    good.defer_check = true;
    char text[600];
    snprintf(text, sizeof(text), "%s", S_GOOD_PACK);
    char *ex = strstr(text, "EXAMPLE$");
    PL_CHECK(ex);
    memcpy(ex, "EXAMPLE(", 8);
    gp = s_write_tmp(dir, "g.yaml", text);
    PL_CHECK_OK(pl_rules_load(&good, gp, -1));
    snprintf(want, sizeof(want), "%s:12: allow pattern 'EXAMPLE(' does not compile", gp);
    PL_CHECK_INT(pl_engine_db_load(db, &good, eng), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_RULES_PATTERN);
    PL_CHECK_MSG(strstr(pl_last_error_msg(), want), "%s", pl_last_error_msg());
    PL_CHECK_INT(pl_engine_load_or_compile(db, &good, eng, NULL), -1);
    PL_CHECK(strstr(pl_last_error_msg(), want));
    PL_CHECK(!eng[0] && !eng[1] && !eng[2]);
    pl_ruleset_clean_up(&good);

    pl_log_set_fd(logfd);
    pl_ruleset_clean_up(&set);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    PL_CHECK(system(cmd) == 0);
}

/* a database that is not a regular file (a pipe: cannot be mapped) is read instead */
PL_TEST(db_load_from_a_pipe)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    PL_CHECK_OK(s_compile_save(&set, eng));
    pl_engine_destroy_all(eng);
    size_t len;
    char *d = pl_test_read(s_db, &len);
    PL_CHECK(d);
    int fds[2];
    PL_CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    PL_CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        for (size_t off = 0; off < len;) {
            ssize_t w = write(fds[1], d + off, len - off);
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[0]);
    int rc = pl_engine_db_load(path, &set, eng);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    PL_CHECK_MSG(rc == 0, "%s", pl_last_error_msg());
    PL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct hits h;
    PL_CHECK_OK(s_scan(eng[PL_TARGET_CODE], "os.system('x')", &h));
    PL_CHECK(h.n > 0);
    pl_engine_destroy_all(eng);
    free(d);
    unlink(s_db);
    pl_ruleset_clean_up(&set);
}

/* damage anywhere in the file: an error, never a crash or a half-loaded engine */
PL_TEST(db_flipped_bytes_everywhere)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    PL_CHECK_OK(s_compile_save(&set, eng));
    pl_engine_destroy_all(eng);
    size_t len;
    char *orig = pl_test_read(s_db, &len);
    PL_CHECK(orig);
    size_t step = len / 300 + 1;
    for (size_t off = 0; off < len; off += step) {
        orig[off] ^= 0x5a;
        PL_CHECK_OK(pl_write_file_atomic(s_db, orig, len, 0644));
        orig[off] ^= 0x5a;
        int rc = pl_engine_db_load(s_db, &set, eng);
        int code = pl_last_error();
        PL_CHECK_MSG(
            rc == -1 && (code == PL_ERR_ENGINE_DB_CORRUPT || code == PL_ERR_ENGINE_DB_INCOMPATIBLE),
            "flip at %zu: rc=%d %s", off, rc, pl_last_error_msg());
        PL_CHECK(!eng[0] && !eng[1] && !eng[2]);
    }
    free(orig);
    unlink(s_db);
    pl_ruleset_clean_up(&set);
}

/* CRC32C (Castagnoli, reflected), as Vectorscan computes it: initial value 0, no final xor */
static uint32_t s_crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

static uint32_t s_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* offsets of the serialized Vectorscan databases in a database file (format 4) */
static size_t s_blobs(const unsigned char *d, size_t len, size_t *off, size_t *n, size_t max)
{
    size_t pos = 104, k = 0;
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        uint32_t n_fb = s_u32(d + pos + 12);
        pos += 16;
        for (uint32_t i = 0; i < n_fb; i++)
            pos += 8 + s_u32(d + pos + 4);
        for (int b = 0; b < 2; b++) {
            size_t sz = (size_t)s_u32(d + pos) | (size_t)s_u32(d + pos + 4) << 32;
            pos += 8;
            if (sz && k < max) {
                off[k] = pos;
                n[k++] = sz;
            }
            pos += sz;
        }
    }
    return pos + 8 == len ? k : 0;
}

/* The file checksum leaves out exactly the bytes Vectorscan's CRC32C covers (this pins the
 * layout of hs_serialize_database that engine_db.c relies on: a 32-byte header whose CRC
 * covers the L bytes after it), and every other byte of the file is under one of the two */
PL_TEST(db_checksum_covers_what_vectorscan_does_not)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    PL_CHECK_OK(s_compile_save(&set, eng));
    pl_engine_destroy_all(eng);
    size_t len;
    unsigned char *d = (unsigned char *)pl_test_read(s_db, &len);
    PL_CHECK(d);
    size_t off[8], n[8];
    size_t nb = s_blobs(d, len, off, n, 8);
    PL_CHECK(nb >= 3); /* code, in, out block databases; out's stream database */
    uint64_t sum0, sum;
    PL_CHECK_OK(pl_engine_db_file_checksum(d, len - 8, &sum0));
    PL_CHECK(sum0 == ((uint64_t)s_u32(d + len - 8) | (uint64_t)s_u32(d + len - 4) << 32));
    for (size_t b = 0; b < nb; b++) {
        const unsigned char *h = d + off[b];
        uint32_t code = s_u32(h + 8);
        PL_CHECK(code > 0 && 32 + code <= n[b]);
        PL_CHECK_MSG(s_crc32c(h + 32, code) == s_u32(h + 20),
                     "database %zu: CRC32C of bytes 32..%u is not its header's", b, 32 + code);
        size_t probes[] = {off[b] + 28,            /* a reserved word of hs's header */
                           off[b] + 32,            /* first byte of the bytecode */
                           off[b] + 32 + code / 2, /* the middle */
                           off[b] + 31 + code,     /* its last byte */
                           off[b] + n[b] - 1};     /* the zero padding after it */
        for (size_t i = 0; i < PL_ARRAY_LEN(probes); i++) {
            size_t at = probes[i];
            bool bytecode = at >= off[b] + 32 && at < off[b] + 32 + code;
            d[at] ^= 0x5a;
            PL_CHECK_OK(pl_engine_db_file_checksum(d, len - 8, &sum));
            /* bytecode: left to Vectorscan; anything else: the file checksum */
            PL_CHECK_MSG((sum == sum0) == bytecode, "database %zu, byte %zu", b, at);
            PL_CHECK_OK(pl_write_file_atomic(s_db, d, len, 0644));
            d[at] ^= 0x5a;
            int rc = pl_engine_db_load(s_db, &set, eng);
            PL_CHECK_MSG(rc == -1 && pl_last_error() == PL_ERR_ENGINE_DB_CORRUPT &&
                             strstr(pl_last_error_msg(),
                                    bytecode ? "Vectorscan database at byte" : "checksum mismatch"),
                         "database %zu, byte %zu: %s", b, at, pl_last_error_msg());
            PL_CHECK(!eng[0] && !eng[1] && !eng[2]);
        }
    }
    /* undamaged: loads */
    PL_CHECK_OK(pl_write_file_atomic(s_db, d, len, 0644));
    PL_CHECK_OK(pl_engine_db_load(s_db, &set, eng));
    pl_engine_destroy_all(eng);
    free(d);
    unlink(s_db);
    pl_ruleset_clean_up(&set);
}

PL_TEST(compile_cache)
{
    char dir[] = "/tmp/pl_engine_cache.XXXXXX";
    PL_CHECK(mkdtemp(dir));
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/cache", dir);
    pl_engine_set_cache_dir(sub);
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(s_load_all(&set));
    struct pl_engine *a = NULL, *b = NULL;
    struct pl_buf ra = PL_BUF_INIT, rb = PL_BUF_INIT;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &a, &ra));
    PL_CHECK(!pl_engine_from_cache(a));
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &b, &rb));
    PL_CHECK(pl_engine_from_cache(b));
    /* same rules on PCRE2, same reasons, same matches */
    PL_CHECK_STR(rb.data, ra.data);
    struct hits h1, h2;
    const char *ev = "q=hello hello&f=../../etc/passwd union  select";
    PL_CHECK_OK(s_scan(a, ev, &h1));
    PL_CHECK_OK(s_scan(b, ev, &h2));
    PL_CHECK_INT(h2.n, h1.n);
    pl_engine_destroy(b);
    b = NULL;
    /* other options are another entry */
    PL_CHECK_OK(pl_engine_compile_ex(&set, PL_TARGET_IN, PL_ENGINE_SINGLEMATCH, &b, NULL));
    PL_CHECK(!pl_engine_from_cache(b));
    pl_engine_destroy(b);
    b = NULL;
    /* damaged entries are compiled again (and rewritten) */
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "for f in %s/in-*.hsdb; do printf 'garbage' > \"$f\"; done", sub);
    PL_CHECK(system(cmd) == 0);
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &b, NULL));
    PL_CHECK(!pl_engine_from_cache(b));
    PL_CHECK_OK(s_scan(b, ev, &h2));
    PL_CHECK_INT(h2.n, h1.n);
    pl_engine_destroy(b);
    b = NULL;
    /* a directory others can write is not trusted */
    PL_CHECK(chmod(sub, 0777) == 0);
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &b, NULL));
    PL_CHECK(!pl_engine_from_cache(b));
    pl_engine_destroy(b);
    pl_engine_set_cache_dir("");
    pl_engine_destroy(a);
    pl_buf_clean_up(&ra);
    pl_buf_clean_up(&rb);
    pl_ruleset_clean_up(&set);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    PL_CHECK(system(cmd) == 0);
}

/* past the stream buffer, the PCRE2 rules cannot see everything: fail closed at close */
PL_TEST(stream_buffer_cap_fails_closed)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA "/pack.yaml", -1));
    struct pl_engine *e = NULL;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_IN, &e, NULL));
    struct pl_engine_scratch *s = NULL;
    struct pl_engine_stream *st = NULL;
    PL_CHECK_OK(pl_engine_scratch_new(e, &s));
    PL_CHECK_OK(pl_engine_stream_open(e, &st));
    size_t chunk = 1024 * 1024;
    char *buf = malloc(chunk);
    memset(buf, 'x', chunk);
    struct hits h = {0};
    int rc = 0;
    for (size_t sent = 0; sent <= PL_ENGINE_STREAM_BUFFER_MAX && rc == 0; sent += chunk)
        rc = pl_engine_stream_scan(st, s, buf, chunk, s_collect, &h);
    PL_CHECK_INT(rc, 0);
    PL_CHECK_INT(pl_engine_stream_close(st, s, s_collect, &h), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_ENGINE_MATCH_LIMIT);
    PL_CHECK_INT(h.n, 0);
    free(buf);
    pl_engine_scratch_destroy(s);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}
