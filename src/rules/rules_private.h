/* rules: internals shared by the loaders */
#ifndef PL_RULES_PRIVATE_H
#define PL_RULES_PRIVATE_H

#include "protectlambda/rules.h"

void pl_rule_clean_up(struct pl_rule *r);
/* append; takes ownership of *r (cleaned up on failure too) */
int pl_ruleset_add(struct pl_ruleset *set, struct pl_rule *r);
void pl_strv_free(char **v);
/* a load failed: drop the rules added since index first, keeping the pending error */
void pl_ruleset_roll_back(struct pl_ruleset *set, size_t first);

#endif
