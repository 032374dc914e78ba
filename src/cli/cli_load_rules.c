#include "cli_load_rules.h"

#include <string.h>

#include "protectlambda/log.h"

int pl_cli_rules_load(struct pl_cli_rules *r, char *const *rules, size_t n_rules,
                      const char *db_path, bool no_defaults, int target)
{
    memset(r, 0, sizeof(*r));
    if (pl_config_load_standard(&r->cfg))
        return -1;
    r->cfg_ok = true;
    if (pl_ruleset_init(&r->set))
        return -1;
    r->set_ok = true;
    /* the one shared order (defaults, setting `rules`, --rules): a database compiled by
     * `protectlambda compile` with the same options matches */
    if (pl_rules_load_standard(&r->set, &r->cfg, (const char *const *)rules, n_rules,
                               no_defaults))
        return -1;
    if (pl_ruleset_validate(&r->set))
        return -1;
    if (db_path && *db_path)
        return pl_engine_load_or_compile(db_path, &r->set, r->engines, NULL);
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        if (target >= 0 && t != target)
            continue;
        if (pl_engine_compile(&r->set, (enum pl_target)t, &r->engines[t], NULL))
            return -1;
    }
    return 0;
}

void pl_cli_rules_clean_up(struct pl_cli_rules *r)
{
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        if (r->engines[t])
            pl_engine_destroy(r->engines[t]);
    if (r->set_ok)
        pl_ruleset_clean_up(&r->set);
    if (r->cfg_ok)
        pl_config_clean_up(&r->cfg);
    memset(r, 0, sizeof(*r));
}
