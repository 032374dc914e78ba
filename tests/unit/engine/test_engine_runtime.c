/* engine, Lambda-side build (libhs_runtime.a only): every compiled rule runs on PCRE2, and
 * databases made by the full build (unit.engine writes the fixture) load and scan. */
#include <stdlib.h>

#include "harness.h"
#include "protectlambda/engine.h"

#define DATA "tests/unit/engine/data"

static int s_count(void *ctx, uint32_t rule, unsigned long long from, unsigned long long to)
{
    (void)rule, (void)from, (void)to;
    (*(int *)ctx)++;
    return 0;
}

static int s_scan(const struct pl_engine *e, const char *text, int *n)
{
    struct pl_engine_scratch *s = NULL;
    *n = 0;
    if (pl_engine_scratch_new(e, &s))
        return -1;
    int rc = pl_engine_scan(e, s, text, strlen(text), s_count, n);
    pl_engine_scratch_destroy(s);
    return rc;
}

PL_TEST(runtime_compile_uses_pcre2)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA, -1));
    struct pl_engine *e = NULL;
    struct pl_buf report = PL_BUF_INIT;
    PL_CHECK_OK(pl_engine_compile(&set, PL_TARGET_CODE, &e, &report));
    PL_CHECK_INT(pl_engine_fallback_count(e), pl_engine_rule_count(e));
    PL_CHECK(strstr(report.data, "runtime-only build"));
    int n;
    PL_CHECK_OK(s_scan(e, "filetype = subprocess.check_output(command,shell=True)", &n));
    PL_CHECK_INT(n, 1);
    pl_buf_clean_up(&report);
    pl_engine_destroy(e);
    pl_ruleset_clean_up(&set);
}

PL_TEST(runtime_loads_full_build_database)
{
    const char *bd = getenv("PL_BUILD_DIR");
    PL_CHECK_MSG(bd, "PL_BUILD_DIR not set (run through ctest)");
    char path[512];
    snprintf(path, sizeof(path), "%s/engine_fixture.db", bd);
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, DATA, -1));
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    PL_CHECK_OK(pl_engine_db_load(path, &set, eng));
    /* the classic code rules are on Vectorscan in the database */
    PL_CHECK_INT(pl_engine_fallback_count(eng[PL_TARGET_CODE]), 0);
    int n;
    PL_CHECK_OK(s_scan(eng[PL_TARGET_CODE], "x = os.popen(cmd)", &n));
    PL_CHECK_INT(n, 1);
    PL_CHECK_OK(s_scan(eng[PL_TARGET_IN], "a=../../etc/passwd&b=union select", &n));
    PL_CHECK_INT(n, 3);
    pl_engine_destroy_all(eng);
    pl_ruleset_clean_up(&set);
}
