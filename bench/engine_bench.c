// bench-libs: pl_engine pl_rules
/* Engine bench: loading a rules database vs compiling the rules, for the default packs and a
 * generated 1,000-rule pack (plus a scan of 64 KB against it, raw throughput). Prints medians,
 * the ratios, and one BENCH line per row (bench/run).
 *   engine_bench [--quick] [RULES] [RUNS]     (defaults: 1000 rules, 5 compile runs; --quick:
 *                                               1 compile run) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protectlambda/engine.h"

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), s_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* rule shapes seen in real packs: literals with context, alternations, classes, bounded
 * repeats; spread over the three targets */
static void s_write_pack(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    static const char *const targets[] = {"code", "in", "out"};
    static const char *const shapes[] = {
        "\\bfunc%d_[a-z]+\\s*\\(",
        "(?:select|update|delete)\\s+tbl%d\\b",
        "token%d=[A-Za-z0-9]{16,40}",
        "/path%d/(?:\\.\\./)+",
        "\\$\\{jndi:[a-z]+%d://",
        "(?:eval|exec)%d\\s*\\([^)]{0,64}\\)",
        "key%d[-_]?id\\s*[:=]\\s*\"?[A-Z0-9]{20}",
        "<script[^>]*>%d",
    };
    fprintf(f, "name: generated bench pack\nrules:\n");
    for (int i = 0; i < n; i++) {
        char pat[256];
        snprintf(pat, sizeof(pat), shapes[i % 8], i);
        fprintf(f,
                "  - id: bench-%d\n    target: %s\n    pattern: '%s'\n    severity: HIGH\n"
                "    category: bench\n%s",
                i, targets[i % 3], pat, i % 5 == 0 ? "    flags: [caseless]\n" : "");
    }
    fclose(f);
}

/* compile every target of `set` `runs` times (no cache), save, load `lruns` times: medians */
static int s_load_vs_compile(const struct pl_ruleset *set, const char *db, int runs, int lruns,
                             double *compile_ms, double *load_ms, double *load_p99)
{
    double *compile = calloc((size_t)runs, sizeof(double));
    double *load = calloc((size_t)lruns, sizeof(double));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    int rc = -1;
    for (int r = 0; r < runs; r++) {
        pl_engine_destroy_all(eng);
        uint64_t t0 = pl_now_ns();
        for (int t = 0; t < PL_TARGET_COUNT; t++)
            if (pl_engine_compile(set, (enum pl_target)t, &eng[t], NULL))
                goto out;
        compile[r] = (double)(pl_now_ns() - t0) / 1e6;
    }
    if (pl_engine_db_save(db, set, eng))
        goto out;
    for (int r = 0; r < lruns; r++) {
        struct pl_engine *l[PL_TARGET_COUNT] = {0};
        uint64_t t0 = pl_now_ns();
        if (pl_engine_db_load(db, set, l))
            goto out;
        load[r] = (double)(pl_now_ns() - t0) / 1e6;
        pl_engine_destroy_all(l);
    }
    *compile_ms = s_median(compile, runs);
    *load_ms = s_median(load, lruns); /* sorted now */
    *load_p99 = load[(int)((double)lruns * 0.99) < lruns ? (int)((double)lruns * 0.99) : lruns - 1];
    rc = 0;
out:
    pl_engine_destroy_all(eng);
    free(compile);
    free(load);
    return rc;
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (quick) {
        argc--;
        argv++;
    }
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int runs = argc > 2 ? atoi(argv[2]) : quick ? 1 : 5;
    if (n < 1 || runs < 1)
        return 2;
    pl_engine_set_cache_dir(""); /* measure the compiler, not the compile cache */
    char dir[] = "/tmp/pl_engine_bench.XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    char pack[128], db[128];
    snprintf(pack, sizeof(pack), "%s/bench.yaml", dir);
    snprintf(db, sizeof(db), "%s/bench.db", dir);
    s_write_pack(pack, n);

    struct pl_ruleset set;
    pl_ruleset_init(&set);
    uint64_t t0 = pl_now_ns();
    if (pl_rules_load(&set, pack, -1)) {
        fprintf(stderr, "%s\n", pl_last_error_msg());
        return 2;
    }
    double load_rules_ms = (double)(pl_now_ns() - t0) / 1e6;

    double *compile = calloc((size_t)runs, sizeof(double));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    size_t fb = 0;
    for (int r = 0; r < runs; r++) {
        pl_engine_destroy_all(eng);
        t0 = pl_now_ns();
        for (int t = 0; t < PL_TARGET_COUNT; t++) {
            if (pl_engine_compile(&set, (enum pl_target)t, &eng[t], NULL)) {
                fprintf(stderr, "%s\n", pl_last_error_msg());
                return 2;
            }
        }
        compile[r] = (double)(pl_now_ns() - t0) / 1e6;
    }
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        fb += pl_engine_fallback_count(eng[t]);
    if (pl_engine_db_save(db, &set, eng)) {
        fprintf(stderr, "%s\n", pl_last_error_msg());
        return 2;
    }
    int lruns = runs * 10;
    double *load = calloc((size_t)lruns, sizeof(double));
    for (int r = 0; r < lruns; r++) {
        struct pl_engine *l[PL_TARGET_COUNT] = {0};
        t0 = pl_now_ns();
        if (pl_engine_db_load(db, &set, l)) {
            fprintf(stderr, "%s\n", pl_last_error_msg());
            return 2;
        }
        load[r] = (double)(pl_now_ns() - t0) / 1e6;
        pl_engine_destroy_all(l);
    }

    /* raw scan throughput of the in database over 64 KB of event-like text */
    size_t len = 64 * 1024;
    char *buf = malloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = "{\"queryStringParameters\":{\"q\":\"hello world 12345\"},\"body\":null}"[i % 64];
    struct pl_engine_scratch *s = NULL;
    pl_engine_scratch_new(eng[PL_TARGET_IN], &s);
    double scan[51];
    for (int r = 0; r < 51; r++) {
        t0 = pl_now_ns();
        pl_engine_scan(eng[PL_TARGET_IN], s, buf, len, NULL, NULL);
        scan[r] = (double)(pl_now_ns() - t0) / 1e3;
    }

    /* the same in rules tuned for this CPU (not savable): what baseline tuning costs */
    struct pl_engine *host = NULL;
    struct pl_engine_scratch *hs = NULL;
    double hscan[51];
    if (pl_engine_compile_ex(&set, PL_TARGET_IN, PL_ENGINE_HOST_TUNED, &host, NULL) ||
        pl_engine_scratch_new(host, &hs)) {
        fprintf(stderr, "%s\n", pl_last_error_msg());
        return 2;
    }
    for (int r = 0; r < 51; r++) {
        t0 = pl_now_ns();
        pl_engine_scan(host, hs, buf, len, NULL, NULL);
        hscan[r] = (double)(pl_now_ns() - t0) / 1e3;
    }
    pl_engine_scratch_destroy(hs);
    pl_engine_destroy(host);

    double mc = s_median(compile, runs), ml = s_median(load, lruns);
    printf("engine bench: %d generated rules (%zu code, %zu in, %zu out; %zu on PCRE2)\n", n,
           pl_ruleset_count(&set, PL_TARGET_CODE), pl_ruleset_count(&set, PL_TARGET_IN),
           pl_ruleset_count(&set, PL_TARGET_OUT), fb);
    printf("  load rule pack (YAML, validate)  %10.2f ms\n", load_rules_ms);
    printf("  compile all targets   (median of %2d) %10.2f ms\n", runs, mc);
    printf("  load database         (median of %2d) %10.3f ms\n", lruns, ml);
    printf("  load vs compile: %.0fx faster\n", mc / (ml > 0 ? ml : 1e-9));
    printf("  scan 64 KB, %zu in rules (median of 51) %8.1f us (%.0f MB/s)\n",
           pl_engine_rule_count(eng[PL_TARGET_IN]), s_median(scan, 51),
           (double)len / s_median(scan, 51));
    printf("  same, host-tuned database             %8.1f us (baseline/host = %.2f)\n",
           s_median(hscan, 51), s_median(scan, 51) / s_median(hscan, 51));

    printf("BENCH {\"row\":\"rules db load vs compile\",\"input\":\"%d-rule pack\",\"unit\":"
           "\"ms\",\"protectlambda\":%.3f,\"baseline\":%.1f,\"baseline_name\":\"compile (all "
           "targets)\",\"ratio\":%.5f,\"target\":\"load <=2ms\"}\n", n, ml, mc, ml / mc);

    /* the default packs, as a function ships them (protectlambda compile -> rules.db) */
    struct pl_ruleset def;
    pl_ruleset_init(&def);
    double dc = 0, dl = 0, dp = 0;
    if (pl_rules_load(&def, PL_SOURCE_RULES_DIR, -1) ||
        s_load_vs_compile(&def, db, quick ? 1 : 3, quick ? 20 : 100, &dc, &dl, &dp)) {
        fprintf(stderr, "engine_bench: default packs: %s\n", pl_last_error_msg());
        return 2;
    }
    printf("default packs (%zu rules: %zu code, %zu in, %zu out)\n", def.count,
           pl_ruleset_count(&def, PL_TARGET_CODE), pl_ruleset_count(&def, PL_TARGET_IN),
           pl_ruleset_count(&def, PL_TARGET_OUT));
    printf("  compile all targets   (median of %2d) %10.2f ms\n", quick ? 1 : 3, dc);
    printf("  load database         (median of %2d) %10.3f ms (p99 %.3f ms)\n", quick ? 20 : 100, dl,
           dp);
    printf("BENCH {\"row\":\"rules db load vs compile\",\"input\":\"default packs (%zu rules)\","
           "\"unit\":\"ms\",\"protectlambda\":%.3f,\"p99\":%.3f,\"baseline\":%.1f,\"baseline_name\":"
           "\"compile (all targets)\",\"ratio\":%.5f,\"target\":\"load <=2ms\"}\n", def.count, dl,
           dp, dc, dl / dc);
    pl_ruleset_clean_up(&def);

    pl_engine_scratch_destroy(s);
    free(buf);
    free(compile);
    free(load);
    pl_engine_destroy_all(eng);
    pl_ruleset_clean_up(&set);
    unlink(pack);
    unlink(db);
    rmdir(dir);
    return 0;
}
