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
 * all of them). With a rules db, patterns are validated only when it cannot be used (the
 * ruleset's defer_check: a database compiled from these rules stands for their validation)
 * unless check_all. 0 ok, -1 error (pl_last_error). */
int pl_cli_rules_load(struct pl_cli_rules *r, char *const *rules, size_t n_rules,
                      const char *db_path, bool no_defaults, int target, bool check_all);
void pl_cli_rules_clean_up(struct pl_cli_rules *r);

/* The rule options those commands share: --rules PATH (repeatable), --rules-db FILE,
 * --no-default-rules. Zero-initialise; the paths point into argv. */
struct pl_cli_rule_opts {
    char **rules;
    size_t n_rules, cap_rules;
    const char *db;
    bool no_defaults;
    bool check_all; /* validate every pattern at load even with a rules db (rules test) */
};

/* argv[*i] is looked at: a rule option is consumed with its value (*i advanced). Returns 1
 * consumed, 0 not a rule option, -1 error, already printed as "protectlambda <cmd>: ..."
 * (the command exits 2). */
int pl_cli_rule_opt(struct pl_cli_rule_opts *o, const char *cmd, int argc, char **argv, int *i);
/* pl_cli_rules_load with the parsed options */
int pl_cli_rules_load_opts(struct pl_cli_rules *r, const struct pl_cli_rule_opts *o, int target);
void pl_cli_rule_opts_clean_up(struct pl_cli_rule_opts *o);

struct pl_checker;
/* the checker's bounds and on_bound from the settings (max_depth, max_keys, max_decoded,
 * decode_rounds, on_bound) */
void pl_cli_checker_configure(struct pl_checker *ck, const struct pl_config *cfg);

#endif
