// bench-libs: pl_inspect pl_engine pl_rules
/* Check bench: µs per `check` of one API Gateway event in-process (parse, decode, scan, map
 * matches) against the default in pack, for ~1 KB, 64 KB and 1 MB events built from the corpus
 * event apiGatewayProxyEvent.json with a grown JSON body; beside the floor (raw hs_scan of the
 * same bytes with the same Vectorscan database) and the original tool's approach (a Python
 * `re` loop over the same patterns, bench/python_re_baseline.py), with the ratios.
 *   check_bench [SHARED_DIR] [RULES_DIR]
 * The floor is pl_engine_scan over the raw event bytes with the same engine: one hs_scan of
 * its Vectorscan database with a callback that only counts (plus the PCRE2 rules, if any). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protectlambda/inspect.h"
#include "protectlambda/json.h"

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_stats(double *v, int n, double *median, double *p99)
{
    qsort(v, (size_t)n, sizeof(*v), s_cmp);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    int k = (int)((double)n * 0.99);
    *p99 = v[k < n ? k : n - 1];
}

static int s_count(void *ctx, uint32_t rule, unsigned long long from, unsigned long long to)
{
    (*(size_t *)ctx)++;
    return 0;
}

/* a benign JSON body of about `size` bytes: a product list, as an API would receive */
static void s_body(struct pl_buf *b, size_t size)
{
    pl_buf_append_str(b, "{\"order\":\"A-1001\",\"items\":[");
    for (int i = 0; b->len + 200 < size; i++)
        pl_buf_appendf(b, "%s{\"id\":%d,\"name\":\"widget %d\",\"qty\":%d,\"note\":\"Please deliver "
                          "before noon; leave at the front desk if nobody answers.\"}",
                       i ? "," : "", i, i, i % 7 + 1);
    pl_buf_append_str(b, "],\"currency\":\"EUR\"}");
}

/* the corpus event with its body replaced by a body of about `size` bytes; for the small
 * event the multi-value copies of headers and query are dropped */
static int s_event1(const char *corpus, size_t size, size_t body_size, struct pl_buf *out)
{
    size_t len;
    char *data = NULL;
    if (pl_read_file(corpus, &data, &len, 1 << 20))
        return -1;
    struct pl_json *root = NULL;
    if (pl_json_parse(data, len, NULL, &root)) {
        pl_free(data);
        return -1;
    }
    struct pl_buf body = PL_BUF_INIT;
    s_body(&body, body_size);
    struct pl_json **pp = &root->child;
    while (*pp) {
        struct pl_json *m = *pp;
        if (size < 4096 && (!strcmp(m->key, "multiValueHeaders") ||
                            !strcmp(m->key, "multiValueQueryStringParameters"))) {
            *pp = m->next; /* unlink (the arena still owns it) */
            continue;
        }
        if (!strcmp(m->key, "body") && size >= 4096) {
            m->type = PL_JSON_STRING;
            m->str = body.data;
            m->len = body.len;
        }
        pp = &m->next;
    }
    int rc = pl_json_write(out, root);
    pl_json_destroy(root);
    pl_buf_clean_up(&body);
    pl_free(data);
    return rc;
}

/* build once, then once more with the body scaled so the whole event is about `size` bytes
 * (escaping the body's quotes makes it longer than its text) */
static int s_event(const char *corpus, size_t size, struct pl_buf *out)
{
    if (s_event1(corpus, size, size, out))
        return -1;
    if (size < 4096 || out->len <= size)
        return 0;
    size_t body = (size_t)((double)size * (double)size / (double)out->len);
    pl_buf_reset(out);
    return s_event1(corpus, size, body, out);
}

int main(int argc, char **argv)
{
    const char *shared = argc > 1 ? argv[1] : (getenv("PL_SHARED_DIR") ? getenv("PL_SHARED_DIR")
                                                                       : "../shared");
    const char *rules_dir = argc > 2 ? argv[2] : PL_SOURCE_RULES_DIR;
    char corpus[1024], patterns[] = "/tmp/pl-check-bench-patterns-XXXXXX";
    snprintf(corpus, sizeof(corpus), "%s/corpus/events/benign/powertools/apiGatewayProxyEvent.json",
             shared);
    struct pl_ruleset set;
    struct pl_engine *eng = NULL;
    if (pl_ruleset_init(&set) || pl_rules_load(&set, rules_dir, -1) ||
        pl_engine_compile(&set, PL_TARGET_IN, &eng, NULL)) {
        fprintf(stderr, "check_bench: %s\n", pl_last_error_msg());
        return 2;
    }
    /* the same patterns for the Python baseline: "flags<TAB>pattern" lines */
    int pfd = mkstemp(patterns);
    FILE *pf = pfd >= 0 ? fdopen(pfd, "w") : NULL;
    if (!pf)
        return 2;
    size_t n_in = 0;
    for (size_t i = 0; i < set.count; i++) {
        if (set.rules[i].target != PL_TARGET_IN)
            continue;
        fprintf(pf, "%u\t%s\n", set.rules[i].flags, set.rules[i].pattern);
        n_in++;
    }
    fclose(pf);
    struct pl_engine_scratch *raw = NULL;
    if (pl_engine_scratch_new(eng, &raw))
        return 2;
    struct pl_checker c;
    if (pl_checker_init(&c, &set, eng)) {
        fprintf(stderr, "check_bench: %s\n", pl_last_error_msg());
        return 2;
    }
    printf("check bench: default in pack (%zu rules, %zu on PCRE2), event = %s with a grown "
           "JSON body\n\n",
           n_in, pl_engine_fallback_count(eng), "apiGatewayProxyEvent.json");
    printf("%-7s %9s | %12s %10s | %12s %10s | %7s | %12s %9s\n", "event", "bytes",
           "check med us", "p99 us", "floor med", "p99 us", "ratio", "python re us", "speedup");
    static const struct {
        const char *name;
        size_t size;
        int iters, py_iters;
    } sizes[] = {{"1 KB", 1024, 20000, 200}, {"64 KB", 65536, 2000, 5}, {"1 MB", 1 << 20, 100, 1}};
    struct pl_verdict v;
    pl_verdict_init(&v);
    int status = 0;
    for (size_t k = 0; k < PL_ARRAY_LEN(sizes); k++) {
        struct pl_buf ev = PL_BUF_INIT;
        if (s_event(corpus, sizes[k].size, &ev)) {
            fprintf(stderr, "check_bench: %s: %s\n", corpus, pl_last_error_msg());
            return 2;
        }
        int n = sizes[k].iters;
        double *t = malloc(sizeof(double) * (size_t)n), med, p99, fmed = 0, fp99 = 0;
        for (int i = 0; i < n / 10 + 1; i++) /* warm up */
            pl_checker_check(&c, ev.data, ev.len, &v);
        if (v.deny) {
            fprintf(stderr, "check_bench: the benign %s event is denied (%zu matches)\n",
                    sizes[k].name, v.n_matches);
            status = 1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t t0 = pl_now_ns();
            pl_checker_check(&c, ev.data, ev.len, &v);
            t[i] = (double)(pl_now_ns() - t0) / 1000.0;
        }
        s_stats(t, n, &med, &p99);
        size_t hits = 0;
        for (int i = 0; i < n; i++) {
            uint64_t t0 = pl_now_ns();
            pl_engine_scan(eng, raw, ev.data, ev.len, s_count, &hits);
            t[i] = (double)(pl_now_ns() - t0) / 1000.0;
        }
        s_stats(t, n, &fmed, &fp99);
        free(t);
        /* Python re loop over the same patterns and the same bytes */
        char evpath[] = "/tmp/pl-check-bench-event-XXXXXX";
        int efd = mkstemp(evpath);
        double py = -1;
        if (efd >= 0 && write(efd, ev.data, ev.len) == (ssize_t)ev.len) {
            char cmd[2048];
            snprintf(cmd, sizeof(cmd), "python3 %s/python_re_baseline.py %s %s %d",
                     PL_BENCH_DIR, patterns, evpath, sizes[k].py_iters);
            FILE *p = popen(cmd, "r");
            if (p) {
                if (fscanf(p, "%lf", &py) != 1)
                    py = -1;
                pclose(p);
            }
        }
        if (efd >= 0)
            close(efd);
        unlink(evpath);
        char pybuf[32] = "n/a", sp[32] = "n/a";
        if (py > 0) {
            snprintf(pybuf, sizeof(pybuf), "%.1f", py);
            snprintf(sp, sizeof(sp), "%.0fx", py / med);
        }
        printf("%-7s %9zu | %12.1f %10.1f | %12.1f %10.1f | %6.2fx | %12s %9s\n", sizes[k].name,
               ev.len, med, p99, fmed, fp99, fmed > 0 ? med / fmed : 0.0, pybuf, sp);
        pl_buf_clean_up(&ev);
    }
    printf("\nratio = check median / hs_scan median (the floor: same bytes, same database, no "
           "parsing or decoding);\nspeedup = python re median / check median. Targets: 64 KB "
           "check <= 100 us median, >= 50x faster than the Python loop.\n");
    unlink(patterns);
    pl_verdict_clean_up(&v);
    pl_checker_clean_up(&c);
    pl_engine_scratch_destroy(raw);
    pl_engine_destroy(eng);
    pl_ruleset_clean_up(&set);
    return status;
}
