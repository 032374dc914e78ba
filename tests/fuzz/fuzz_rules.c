/* Rule loaders and engine: arbitrary bytes, read as a YAML pack and as a classic file, give a
 * ruleset or a "name:line: reason" error; a ruleset that loads compiles (small ones, to keep
 * Vectorscan compile time bounded) and scans the input itself. */
#include <stdlib.h>
#include <string.h>

#include "protectlambda/engine.h"

static int s_noop(void *ctx, uint32_t r, unsigned long long f, unsigned long long t)
{
    (void)ctx, (void)r, (void)f, (void)t;
    return 0;
}

static void s_try(const char *name, const uint8_t *data, size_t size)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    if (pl_rules_load_text(&set, name, (const char *)data, size, -1) != 0) {
        if (strncmp(pl_last_error_msg(), name, strlen(name)) != 0 &&
            pl_last_error() != PL_ERR_NOMEM)
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
