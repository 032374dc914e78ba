/* Rules: loading rule sources into a ruleset.
 *  - classic files: code_protect.txt / in_protect.txt / out_protect.txt, one regex a line,
 *    '#' comments and blank lines ignored; the rule's id is its pattern; action deny,
 *    severity HIGH, category "classic".
 *  - native packs (YAML): see docs/rules.md.
 * Errors name the file and line: "rules/in.yaml:14: pattern 'x(' does not compile: missing )". */
#ifndef PROTECTLAMBDA_RULES_H
#define PROTECTLAMBDA_RULES_H

#include "protectlambda/event.h"

enum pl_target { PL_TARGET_CODE, PL_TARGET_IN, PL_TARGET_OUT, PL_TARGET_COUNT };
enum pl_action { PL_ACTION_DENY, PL_ACTION_ALERT, PL_ACTION_REDACT };

/* pattern flags (map onto Vectorscan/PCRE2 flags) */
#define PL_RULE_CASELESS   0x01u
#define PL_RULE_DOTALL     0x02u
#define PL_RULE_MULTILINE  0x04u
#define PL_RULE_UTF8       0x08u

struct pl_rule {
    char *id;
    enum pl_target target;
    char *pattern;
    unsigned flags;
    enum pl_severity severity;
    char *category;           /* e.g. "command-injection" */
    enum pl_action action;
    char *message;            /* may be NULL */
    char **languages;         /* code rules: "python", "node", ... (NULL-terminated; NULL = any) */
    char **paths;             /* code rules: path globs (NULL-terminated; NULL = any) */
    char **allow;             /* allow-list regexes: a match whose text matches one is ignored */
    char *source;             /* file the rule came from */
    unsigned line;            /* line in that file */
    bool classic;             /* from a *_protect.txt file */
};

struct pl_ruleset {
    struct pl_rule *rules;
    size_t count;
    size_t cap;
};

const char *pl_target_name(enum pl_target t);          /* "code", "in", "out" */
int pl_target_parse(const char *s, enum pl_target *out);
const char *pl_action_name(enum pl_action a);
int pl_action_parse(const char *s, enum pl_action *out);

int pl_ruleset_init(struct pl_ruleset *set);
void pl_ruleset_clean_up(struct pl_ruleset *set);
/* Load a file or directory. A directory loads every *.yaml / *.yml pack and every
 * {code,in,out}_protect.txt in it (sorted, not recursive). A .txt file's target comes from its
 * name (code_protect.txt, in_protect.txt, out_protect.txt) or from `target` when
 * target_hint >= 0. Patterns are validated (they must compile with Vectorscan or PCRE2). */
int pl_rules_load(struct pl_ruleset *set, const char *path, int target_hint);
int pl_rules_load_classic(struct pl_ruleset *set, const char *path, enum pl_target target);
int pl_rules_load_yaml(struct pl_ruleset *set, const char *path);
/* duplicate ids across the set are an error naming both places */
int pl_ruleset_validate(const struct pl_ruleset *set);
/* stable 64-bit hash of everything the engine compiles from (ids, patterns, flags, targets) */
uint64_t pl_ruleset_hash(const struct pl_ruleset *set);
/* number of rules of a target */
size_t pl_ruleset_count(const struct pl_ruleset *set, enum pl_target t);

/* glob matching used for rule paths and scan skips ('*', '?', '**' across '/') */
bool pl_glob_match(const char *glob, const char *path);

#endif
