#include "cli_load_rules.h"

#include <string.h>

#include "protectlambda/cli.h"
#include "protectlambda/inspect.h"
#include "protectlambda/log.h"

int pl_cli_rules_load(struct pl_cli_rules *r, char *const *rules, size_t n_rules,
                      const char *db_path, bool no_defaults, int target, bool check_all)
{
    memset(r, 0, sizeof(*r));
    if (pl_config_load_standard(&r->cfg))
        return -1;
    r->cfg_ok = true;
    if (pl_ruleset_init(&r->set))
        return -1;
    r->set_ok = true;
    r->set.defer_check = db_path && *db_path && !check_all;
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

int pl_cli_rule_opt(struct pl_cli_rule_opts *o, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--no-default-rules")) {
        o->no_defaults = true;
        return 1;
    }
    if (strcmp(a, "--rules") && strcmp(a, "--rules-db"))
        return 0;
    if (*i + 1 >= argc) {
        pl_cli_usage_error(cmd, "%s needs a value", a);
        return -1;
    }
    char *val = argv[++*i];
    if (!strcmp(a, "--rules-db")) {
        o->db = val;
        return 1;
    }
    if (pl_array_reserve((void **)&o->rules, &o->cap_rules, o->n_rules + 1, sizeof(*o->rules))) {
        pl_cli_error(cmd);
        return -1;
    }
    o->rules[o->n_rules++] = val;
    return 1;
}

int pl_cli_rules_load_opts(struct pl_cli_rules *r, const struct pl_cli_rule_opts *o, int target)
{
    return pl_cli_rules_load(r, o->rules, o->n_rules, o->db, o->no_defaults, target, o->check_all);
}

void pl_cli_rule_opts_clean_up(struct pl_cli_rule_opts *o)
{
    pl_free(o->rules);
    memset(o, 0, sizeof(*o));
}

void pl_cli_checker_configure(struct pl_checker *ck, const struct pl_config *cfg)
{
    ck->limits.max_depth = (uint32_t)pl_config_int(cfg, PL_CFG_MAX_DEPTH);
    ck->limits.max_items = (uint64_t)pl_config_int(cfg, PL_CFG_MAX_KEYS);
    ck->limits.max_decoded = (uint64_t)pl_config_int(cfg, PL_CFG_MAX_DECODED);
    ck->limits.decode_rounds = (uint32_t)pl_config_int(cfg, PL_CFG_DECODE_ROUNDS);
    ck->deny_on_bound = !strcmp(pl_config_str(cfg, PL_CFG_ON_BOUND), "deny");
}
