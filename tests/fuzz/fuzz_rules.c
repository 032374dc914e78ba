/* Rule loaders and engine: arbitrary bytes, read as a YAML pack and as a classic file, give a
 * ruleset or a "name:line: reason" error; a ruleset that loads compiles (small ones, to keep
 * Vectorscan compile time bounded) and scans the input itself. Loading with defer_check then
 * pl_ruleset_check ends exactly as loading without it (same rules, or the same pattern error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protectlambda/engine.h"

static int s_noop(void *ctx, uint32_t r, unsigned long long f, unsigned long long t)
{
    (void)ctx, (void)r, (void)f, (void)t;
    return 0;
}

/* the same text with defer_check: the same outcome once pl_ruleset_check has run (a syntax
 * error or duplicate id, which deferral cannot move past, may come first: then only the
 * deferred load may fail, with a non-pattern error) */
static void s_deferred(const char *name, const uint8_t *data, size_t size, int eager_rc,
                       int eager_code, const char *eager_msg, size_t eager_count)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    set.defer_check = true;
    int rc = pl_rules_load_text(&set, name, (const char *)data, size, -1);
    int code = pl_last_error();
    if (rc == 0) {
        rc = pl_ruleset_check(&set, -1, PL_RULE_CHECK_ALL);
        code = pl_last_error();
    }
    if (code == PL_ERR_NOMEM || eager_code == PL_ERR_NOMEM) {
        pl_ruleset_clean_up(&set);
        return;
    }
    if (rc != eager_rc)
        abort();
    if (rc == 0 && set.count != eager_count)
        abort();
    if (rc != 0 && code == PL_ERR_RULES_PATTERN &&
        (eager_code != PL_ERR_RULES_PATTERN || strcmp(pl_last_error_msg(), eager_msg)))
        abort(); /* a pattern error: the very one the eager load raised */
    pl_ruleset_clean_up(&set);
}

static void s_try(const char *name, const uint8_t *data, size_t size)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    int eager_rc = pl_rules_load_text(&set, name, (const char *)data, size, -1);
    int eager_code = eager_rc ? pl_last_error() : 0;
    static char msg[1200];
    snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
    s_deferred(name, data, size, eager_rc, eager_code, msg, set.count);
    if (eager_rc != 0) {
        if (strncmp(msg, name, strlen(name)) != 0 && eager_code != PL_ERR_NOMEM)
            abort(); /* every error names the file */
        if (set.count != 0)
            abort(); /* a failed load adds nothing */
        pl_ruleset_clean_up(&set);
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < set.count; i++)
        total += strlen(set.rules[i].pattern) + (strchr(set.rules[i].pattern, '{') ? 1000 : 0);
    if (set.count <= 8 && total <= 256) {
        for (int t = 0; t < PL_TARGET_COUNT; t++) {
            struct pl_engine *e = NULL;
            struct pl_engine_scratch *s = NULL;
            if (pl_engine_compile(&set, (enum pl_target)t, &e, NULL) == 0 &&
                pl_engine_scratch_new(e, &s) == 0) {
                pl_engine_scan(e, s, (const char *)data, size, s_noop, NULL);
                for (size_t i = 0; i < set.count; i++) {
                    size_t f, to;
                    if (set.rules[i].target == (enum pl_target)t &&
                        pl_engine_locate(e, (uint32_t)i, (const char *)data, size, &f, &to) == 1 &&
                        (f > to || to > size))
                        abort();
                }
            }
            pl_engine_scratch_destroy(s);
            pl_engine_destroy(e);
        }
    }
    pl_ruleset_clean_up(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_engine_set_cache_dir(""); /* compile every time: no files written */
    s_try("fuzz.yaml", data, size);
    s_try("in_protect.txt", data, size);
    return 0;
}
