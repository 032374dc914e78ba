/* inspect: helpers shared by the checker and the code scanner */
#ifndef PL_INSPECT_PRIVATE_H
#define PL_INSPECT_PRIVATE_H

#include "protectlambda/inspect.h"

#define PL_EXCERPT_MAX 120

/* excerpt of a match: at most PL_EXCERPT_MAX bytes, never a cut UTF-8 sequence; out-rule
 * matches (secrets) are masked to their first 4 bytes + "***" */
char *pl_inspect_excerpt(const struct pl_rule *rule, const char *s, size_t len);

/* first match of `rule` in s[0..len) whose text is not allow-listed: 1 found, 0 none, -1 error */
int pl_inspect_confirm(const struct pl_engine *e, const struct pl_rule *r, uint32_t rule,
                       const char *s, size_t len, size_t *from, size_t *to);

#endif
