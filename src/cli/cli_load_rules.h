/* CLI: load rules the way every rules-using command does (pl_rules_load_standard: default
 * packs unless disabled, the setting `rules`, then each --rules PATH; validated), then the
 * engines (from --rules-db when given and usable, else compiled). Used by check, scan and
 * rules test. */
#ifndef PL_CLI_LOAD_RULES_H
#define PL_CLI_LOAD_RULES_H

#include "protectlambda/config.h"
#include "protectlambda/engine.h"

struct pl_cli_rules {
    struct pl_config cfg;
    struct pl_ruleset set;
    struct pl_engine *engines[PL_TARGET_COUNT];
    bool cfg_ok, set_ok;
};

/* target < 0: compile every target; else only that one (ignored with a rules db, which holds
 * all of them). 0 ok, -1 error (pl_last_error). */
int pl_cli_rules_load(struct pl_cli_rules *r, char *const *rules, size_t n_rules,
                      const char *db_path, bool no_defaults, int target);
void pl_cli_rules_clean_up(struct pl_cli_rules *r);

#endif
