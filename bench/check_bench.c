// bench-libs: pl_inspect pl_engine pl_rules
/* Check bench: µs per `check` of one API Gateway event in-process (parse, decode, scan, map
 * matches) against the default in pack, for ~1 KB, 64 KB, 1 MB and 6 MB events built from the
 * corpus event apiGatewayProxyEvent.json with a grown JSON body; beside the floor (raw hs_scan
 * of the same bytes with the same Vectorscan database) and the original tool's approach (a
 * Python `re` loop over the same patterns, bench/python_re_baseline.py), with the ratios.
 *
 *   check_bench [--quick] [--rule-cost | --leave-one-out] [--host-tuned] [--without ID,ID] [--size KB]
 *               [--dump-view FILE] [SHARED_DIR] [RULES_DIR]
 *
 * The floor is pl_engine_scan over the raw event bytes with the same engine: one hs_scan of
 * its Vectorscan database with a callback that only counts (plus the PCRE2 rules, if any).
 * --rule-cost: the per-rule cost table instead: each in rule compiled alone and timed scanning
 * the view text of the 64 KB event (what a check scans), best of N; the rules that slow the
 * database down come first. --leave-one-out: the in database compiled without each in rule in
 * turn (what a rule costs inside the combined database). --dump-view FILE: write the view
 * text of the 64 KB event (what the in database scans) to FILE, time building it with repeated
 * values skipped (the default) and kept, and exit, for experiments with other tools.
 * --view-only: the view build and the view scan timed alone. Prints one BENCH line per
 * measured row (see bench/run). */
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
    (void)rule, (void)from, (void)to;
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

/* best of `n` wall-clock scans of data with engine e, in µs */
static double s_best_scan(const struct pl_engine *e, struct pl_engine_scratch *s, const char *data,
                          size_t len, int n)
{
    double best = 1e18;
    size_t hits = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t0 = pl_now_ns();
        pl_engine_scan(e, s, data, len, s_count, &hits);
        double us = (double)(pl_now_ns() - t0) / 1000.0;
        if (us < best)
            best = us;
    }
    return best;
}

struct s_cost {
    size_t rule;
    double scan_us, compile_ms;
};

static int s_cost_cmp(const void *a, const void *b)
{
    const struct s_cost *x = a, *y = b;
    return x->scan_us < y->scan_us ? 1 : x->scan_us > y->scan_us ? -1 : 0;
}

/* the per-rule cost table: each in rule alone, scanning the view of the 64 KB event */
static int s_rule_cost(struct pl_ruleset *set, const char *corpus, bool quick)
{
    struct pl_buf ev = PL_BUF_INIT;
    struct pl_inspect_view view;
    pl_inspect_view_init(&view);
    if (s_event(corpus, 65536, &ev) || pl_inspect_json(NULL, ev.data, ev.len, &view)) {
        fprintf(stderr, "check_bench: %s\n", pl_last_error_msg());
        return 2;
    }
    int reps = quick ? 5 : 31;
    pl_engine_set_cache_dir(""); /* time the compiler */
    struct s_cost *cost = calloc(set->count, sizeof(*cost));
    size_t n = 0;
    double sum = 0;
    for (size_t i = 0; i < set->count; i++) {
        enum pl_target t = set->rules[i].target;
        struct pl_ruleset one = {.rules = &set->rules[i], .count = 1, .cap = 1};
        struct pl_engine *e = NULL;
        struct pl_engine_scratch *s = NULL;
        uint64_t t0 = pl_now_ns();
        if (pl_engine_compile(&one, t, &e, NULL) || pl_engine_scratch_new(e, &s)) {
            fprintf(stderr, "check_bench: %s: %s\n", set->rules[i].id, pl_last_error_msg());
            pl_engine_destroy(e);
            continue;
        }
        cost[n].compile_ms = (double)(pl_now_ns() - t0) / 1e6;
        cost[n].rule = i;
        cost[n].scan_us = t == PL_TARGET_IN ? s_best_scan(e, s, view.text.data, view.text.len, reps)
                                            : -1;
        if (t == PL_TARGET_IN)
            sum += cost[n].scan_us;
        n++;
        pl_engine_scratch_destroy(s);
        pl_engine_destroy(e);
    }
    qsort(cost, n, sizeof(*cost), s_cost_cmp);
    struct pl_engine *all = NULL;
    struct pl_engine_scratch *as = NULL;
    double all_ms = 0, all_us = 0;
    uint64_t t0 = pl_now_ns();
    if (!pl_engine_compile(set, PL_TARGET_IN, &all, NULL) && !pl_engine_scratch_new(all, &as)) {
        all_ms = (double)(pl_now_ns() - t0) / 1e6;
        all_us = s_best_scan(all, as, view.text.data, view.text.len, reps);
    }
    printf("per-rule cost: each rule compiled alone (no cache); in rules scan the view of the "
           "64 KB event (%zu bytes, %zu items), best of %d\n\n", view.text.len, view.n_items, reps);
    printf("%-20s %-6s %10s %12s  %s\n", "rule", "target", "scan us", "compile ms", "pattern (start)");
    double compile_sum = 0;
    for (size_t k = 0; k < n; k++) {
        const struct pl_rule *r = &set->rules[cost[k].rule];
        compile_sum += cost[k].compile_ms;
        char scan[32] = "-";
        if (cost[k].scan_us >= 0)
            snprintf(scan, sizeof(scan), "%.1f", cost[k].scan_us);
        printf("%-20s %-6s %10s %12.1f  %.70s\n", r->id, pl_target_name(r->target), scan,
               cost[k].compile_ms, r->pattern);
    }
    printf("\nsum of single in-rule scans %.1f us; all in rules in one database: %.1f us (compile "
           "%.0f ms); sum of single compiles (all targets) %.0f ms\n", sum, all_us, all_ms,
           compile_sum);
    pl_engine_scratch_destroy(as);
    pl_engine_destroy(all);
    free(cost);
    pl_inspect_view_clean_up(&view);
    pl_buf_clean_up(&ev);
    return 0;
}

/* --dump-view: the view text of the 64 KB event, as the in database scans it */
static int s_dump_view(const char *corpus, const char *path)
{
    struct pl_buf ev = PL_BUF_INIT;
    struct pl_inspect_view view;
    pl_inspect_view_init(&view);
    int rc = 2;
    if (s_event(corpus, 65536, &ev) || pl_inspect_json(NULL, ev.data, ev.len, &view)) {
        fprintf(stderr, "check_bench: %s\n", pl_last_error_msg());
        goto out;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(view.text.data, 1, view.text.len, f) != view.text.len) {
        fprintf(stderr, "check_bench: cannot write %s\n", path);
        if (f)
            fclose(f);
        goto out;
    }
    if (fclose(f)) {
        fprintf(stderr, "check_bench: cannot write %s\n", path);
        goto out;
    }
    printf("view of the 64 KB event: %zu bytes, %zu items -> %s\n", view.text.len, view.n_items,
           path);
    /* and what building it costs, with repeated values skipped (the default) or kept */
    for (int keep = 0; keep < 2; keep++) {
        struct pl_inspect_limits lim;
        pl_inspect_limits_default(&lim);
        lim.keep_repeats = keep;
        double t[2001];
        for (int i = 0; i < 2001; i++) {
            uint64_t t0 = pl_now_ns();
            if (pl_inspect_json(&lim, ev.data, ev.len, &view))
                goto out;
            t[i] = (double)(pl_now_ns() - t0) / 1000.0;
        }
        double med, p99;
        s_stats(t, 2001, &med, &p99);
        printf("building it, repeated values %s: %.1f us median (p99 %.1f), %zu bytes, %zu "
               "items\n", keep ? "kept   " : "skipped", med, p99, view.text.len, view.n_items);
    }
    rc = 0;
out:
    pl_inspect_view_clean_up(&view);
    pl_buf_clean_up(&ev);
    return rc;
}

/* leave-one-out: the in database without each in rule in turn, scanning the view of the 64 KB
 * event; what a rule costs inside the combined database (can differ from its cost alone) */
static int s_leave_one_out(struct pl_ruleset *set, const char *corpus, bool quick)
{
    struct pl_buf ev = PL_BUF_INIT;
    struct pl_inspect_view view;
    pl_inspect_view_init(&view);
    if (s_event(corpus, 65536, &ev) || pl_inspect_json(NULL, ev.data, ev.len, &view)) {
        fprintf(stderr, "check_bench: %s\n", pl_last_error_msg());
        return 2;
    }
    int reps = quick ? 9 : 31;
    pl_engine_set_cache_dir(""); /* do not fill the cache with one-off databases */
    struct pl_engine *all = NULL;
    struct pl_engine_scratch *as = NULL;
    if (pl_engine_compile(set, PL_TARGET_IN, &all, NULL) || pl_engine_scratch_new(all, &as)) {
        fprintf(stderr, "check_bench: %s\n", pl_last_error_msg());
        return 2;
    }
    double full = s_best_scan(all, as, view.text.data, view.text.len, reps);
    printf("leave-one-out: the in database without one rule, scanning the view of the 64 KB event "
           "(%zu bytes), best of %d; all in rules: %.1f us\n\n%-20s %10s %10s\n", view.text.len,
           reps, full, "without", "scan us", "saves us");
    for (size_t i = 0; i < set->count; i++) {
        if (set->rules[i].target != PL_TARGET_IN)
            continue;
        struct pl_rule tmp = set->rules[i];
        set->rules[i].target = PL_TARGET_CODE; /* out of the in database for this compile */
        struct pl_engine *e = NULL;
        struct pl_engine_scratch *s = NULL;
        if (!pl_engine_compile(set, PL_TARGET_IN, &e, NULL) && !pl_engine_scratch_new(e, &s)) {
            double us = s_best_scan(e, s, view.text.data, view.text.len, reps);
            printf("%-20s %10.1f %10.1f\n", tmp.id, us, full - us);
            fflush(stdout);
        }
        pl_engine_scratch_destroy(s);
        pl_engine_destroy(e);
        set->rules[i].target = tmp.target;
    }
    pl_engine_scratch_destroy(as);
    pl_engine_destroy(all);
    pl_inspect_view_clean_up(&view);
    pl_buf_clean_up(&ev);
    return 0;
}

/* --view-only: the view build (pl_inspect_json into the checker's warm view) and the scan of
 * the view text, each timed alone, alternating so both see the same load */
static int s_view_only(struct pl_checker *c, const struct pl_engine *eng,
                       struct pl_engine_scratch *s, const char *name, const struct pl_buf *ev,
                       int n)
{
    struct pl_inspect_view *v = &c->view;
    double *bt = malloc(sizeof(double) * (size_t)n), *st = malloc(sizeof(double) * (size_t)n);
    double bmed, bp99, smed, sp99, bbest = 1e18;
    size_t hits = 0;
    for (int i = 0; i < n / 10 + 1; i++)
        if (pl_inspect_json(&c->limits, ev->data, ev->len, v))
            return -1;
    for (int i = 0; i < n; i++) {
        uint64_t t0 = pl_now_ns();
        pl_inspect_json(&c->limits, ev->data, ev->len, v);
        uint64_t t1 = pl_now_ns();
        pl_engine_scan(eng, s, v->text.data, v->text.len, s_count, &hits);
        uint64_t t2 = pl_now_ns();
        bt[i] = (double)(t1 - t0) / 1000.0;
        st[i] = (double)(t2 - t1) / 1000.0;
        if (bt[i] < bbest)
            bbest = bt[i];
    }
    s_stats(bt, n, &bmed, &bp99);
    s_stats(st, n, &smed, &sp99);
    printf("%-7s %9zu bytes -> view %zu bytes, %zu items | view build med %.1f us (best %.1f, "
           "p99 %.1f) | view scan med %.1f us (p99 %.1f)\n", name, ev->len, v->text.len,
           v->n_items, bmed, bbest, bp99, smed, sp99);
    free(bt);
    free(st);
    return 0;
}

static void s_bench_line(const char *row, const char *input, double pl, double p99, double base,
                         double base_p99, const char *base_name, double ratio, const char *target)
{
    printf("BENCH {\"row\":\"%s\",\"input\":\"%s\",\"unit\":\"us\",\"protectlambda\":%.1f,"
           "\"p99\":%.1f,\"baseline\":%.1f,", row, input, pl, p99, base);
    if (base_p99 >= 0)
        printf("\"baseline_p99\":%.1f,", base_p99);
    printf("\"baseline_name\":\"%s\",\"ratio\":%.2f,\"target\":\"%s\"}\n", base_name, ratio, target);
}

int main(int argc, char **argv)
{
    bool quick = false, rule_cost = false, loo = false, view_only = false;
    unsigned options = 0;
    const char *without = NULL, *dump_view = NULL;
    const char *pos[2] = {NULL, NULL};
    size_t npos = 0, only_kb = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--rule-cost"))
            rule_cost = true;
        else if (!strcmp(argv[i], "--leave-one-out"))
            loo = true;
        else if (!strcmp(argv[i], "--view-only"))
            view_only = true; /* time the view build and the view scan alone */
        else if (!strcmp(argv[i], "--host-tuned"))
            options |= PL_ENGINE_HOST_TUNED; /* compiled for this CPU (not what a layer ships) */
        else if (!strcmp(argv[i], "--without") && i + 1 < argc)
            without = argv[++i]; /* rule ids, comma-separated: what the database costs without them */
        else if (!strcmp(argv[i], "--dump-view") && i + 1 < argc)
            dump_view = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            only_kb = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: check_bench [--quick] [--size KB] [--rule-cost | --leave-one-out | "
                   "--view-only] [--host-tuned]\n"
                   "                   [--without ID,ID] [--dump-view FILE] [SHARED_DIR] "
                   "[RULES_DIR]\n"
                   "µs per check of 1 KB / 64 KB / 1 MB / 6 MB API Gateway events against the "
                   "default in pack,\nbeside a raw hs_scan of the same bytes and a Python re "
                   "loop; see the comment at the top of\nbench/check_bench.c and "
                   "docs/performance.md. --dump-view FILE also times building the view.\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "check_bench: unknown option '%s' (--help)\n", argv[i]);
            return 2;
        } else if (npos < 2)
            pos[npos++] = argv[i];
    }
    const char *shared = pos[0] ? pos[0] : getenv("PL_SHARED_DIR") ? getenv("PL_SHARED_DIR")
                                                                  : "../shared";
    const char *rules_dir = pos[1] ? pos[1] : PL_SOURCE_RULES_DIR;
    char corpus[1024], patterns[] = "/tmp/pl-check-bench-patterns-XXXXXX";
    snprintf(corpus, sizeof(corpus), "%s/corpus/events/benign/powertools/apiGatewayProxyEvent.json",
             shared);
    if (dump_view)
        return s_dump_view(corpus, dump_view);
    struct pl_ruleset set;
    struct pl_engine *eng = NULL;
    if (pl_ruleset_init(&set) || pl_rules_load(&set, rules_dir, -1)) {
        fprintf(stderr, "check_bench: %s\n", pl_last_error_msg());
        return 2;
    }
    size_t full_count = set.count;
    if (without) {
        /* move the named rules past the end (freed by clean-up once the count is restored) */
        for (size_t i = 0; i < set.count;) {
            char pat[256];
            snprintf(pat, sizeof(pat), ",%s,", set.rules[i].id);
            char list[1024];
            snprintf(list, sizeof(list), ",%s,", without);
            if (strstr(list, pat)) {
                struct pl_rule tmp = set.rules[i];
                set.rules[i] = set.rules[set.count - 1];
                set.rules[set.count - 1] = tmp;
                set.count--;
            } else {
                i++;
            }
        }
        printf("without %zu rule(s): %s\n", full_count - set.count, without);
    }
    if (rule_cost || loo) {
        int rc = rule_cost ? s_rule_cost(&set, corpus, quick) : s_leave_one_out(&set, corpus, quick);
        set.count = full_count;
        pl_ruleset_clean_up(&set);
        return rc;
    }
    if (pl_engine_compile_ex(&set, PL_TARGET_IN, options, &eng, NULL)) {
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
    printf("check bench%s: default in pack (%zu rules, %zu on PCRE2), event = %s with a grown "
           "JSON body; Vectorscan scan code: %s; medians and p99 of wall-clock time\n\n",
           quick ? " (--quick)" : "", n_in, pl_engine_fallback_count(eng),
           "apiGatewayProxyEvent.json", pl_engine_scan_impl());
    printf("%-7s %9s | %12s %10s | %12s %10s | %7s | %12s %9s\n", "event", "bytes",
           "check med us", "p99 us", "floor med", "p99 us", "ratio", "python re us", "speedup");
    /* iterations: full / quick; Python loop iterations (0 = not run: a single 6 MB run of the
     * Python loop takes minutes) */
    static const struct {
        const char *name, *input;
        size_t size;
        int iters, quick_iters, py_iters, py_quick;
    } sizes[] = {{"1 KB", "apigw 1KB", 1024, 20000, 3000, 200, 20},
                 {"64 KB", "apigw 64KB", 65536, 2000, 300, 5, 1},
                 {"1 MB", "apigw 1MB", 1 << 20, 100, 15, 1, 0},
                 {"6 MB", "apigw 6MB", 6 << 20, 20, 5, 1, 0}};
    struct pl_verdict v;
    pl_verdict_init(&v);
    int status = 0;
    for (size_t k = 0; k < PL_ARRAY_LEN(sizes); k++) {
        if (only_kb && sizes[k].size != only_kb * 1024)
            continue;
        struct pl_buf ev = PL_BUF_INIT;
        if (s_event(corpus, sizes[k].size, &ev)) {
            fprintf(stderr, "check_bench: %s: %s\n", corpus, pl_last_error_msg());
            return 2;
        }
        int n = quick ? sizes[k].quick_iters : sizes[k].iters;
        if (view_only) {
            if (s_view_only(&c, eng, raw, sizes[k].name, &ev, n))
                status = 1;
            pl_buf_clean_up(&ev);
            continue;
        }
        double *t = malloc(sizeof(double) * (size_t)n), med, p99, fmed = 0, fp99 = 0;
        for (int i = 0; i < n / 10 + 1; i++) /* warm up */
            pl_checker_check(&c, ev.data, ev.len, &v);
        if (v.deny) {
            fprintf(stderr, "check_bench: the benign %s event is denied (%zu matches)\n",
                    sizes[k].name, v.n_matches);
            status = 1;
        }
        /* alternate check and floor so both see the same machine load */
        double *ft = malloc(sizeof(double) * (size_t)n);
        size_t hits = 0;
        for (int i = 0; i < n; i++) {
            uint64_t t0 = pl_now_ns();
            pl_checker_check(&c, ev.data, ev.len, &v);
            uint64_t t1 = pl_now_ns();
            pl_engine_scan(eng, raw, ev.data, ev.len, s_count, &hits);
            uint64_t t2 = pl_now_ns();
            t[i] = (double)(t1 - t0) / 1000.0;
            ft[i] = (double)(t2 - t1) / 1000.0;
        }
        s_stats(t, n, &med, &p99);
        s_stats(ft, n, &fmed, &fp99);
        free(t);
        free(ft);
        /* Python re loop over the same patterns and the same bytes */
        int py_iters = quick ? sizes[k].py_quick : sizes[k].py_iters;
        double py = -1;
        char evpath[] = "/tmp/pl-check-bench-event-XXXXXX";
        int efd = py_iters ? mkstemp(evpath) : -1;
        if (efd >= 0 && write(efd, ev.data, ev.len) == (ssize_t)ev.len) {
            char cmd[2048];
            snprintf(cmd, sizeof(cmd), "python3 %s/python_re_baseline.py %s %s %d 2>/dev/null",
                     PL_BENCH_DIR, patterns, evpath, py_iters);
            FILE *p = popen(cmd, "r");
            if (p) {
                if (fscanf(p, "%lf", &py) != 1)
                    py = -1;
                pclose(p);
            }
        }
        if (efd >= 0) {
            close(efd);
            unlink(evpath);
        }
        char pybuf[32] = "n/a", sp[32] = "n/a";
        if (py > 0) {
            snprintf(pybuf, sizeof(pybuf), "%.1f", py);
            snprintf(sp, sizeof(sp), "%.0fx", py / med);
        }
        printf("%-7s %9zu | %12.1f %10.1f | %12.1f %10.1f | %6.2fx | %12s %9s\n", sizes[k].name,
               ev.len, med, p99, fmed, fp99, fmed > 0 ? med / fmed : 0.0, pybuf, sp);
        char target[96];
        snprintf(target, sizeof(target), "<=3x raw scan%s",
                 sizes[k].size == 65536 ? "; <=100us median" : "");
        s_bench_line("check", sizes[k].input, med, p99, fmed, fp99, "raw hs_scan, same bytes+db",
                     fmed > 0 ? med / fmed : 0.0, target);
        if (py > 0)
            s_bench_line("check vs Python re", sizes[k].input, med, p99, py, -1,
                         "Python re loop (ratio = speedup)", py / med, ">=50x faster");
        pl_buf_clean_up(&ev);
    }
    printf("\nratio = check median / hs_scan median (the floor: same bytes, same database, no "
           "parsing or decoding);\nspeedup = python re median / check median (the Python loop "
           "runs %s). Targets: 64 KB check <= 100 us median, <= 3x raw scan, >= 50x faster than "
           "the Python loop.\n", quick ? "for 1 KB and 64 KB only with --quick" :
           "once for 1 MB and 6 MB");
    unlink(patterns);
    pl_verdict_clean_up(&v);
    pl_checker_clean_up(&c);
    pl_engine_scratch_destroy(raw);
    pl_engine_destroy(eng);
    set.count = full_count;
    pl_ruleset_clean_up(&set);
    return status;
}
