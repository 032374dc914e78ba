/* Rules: loading rule sources into a ruleset.
 *  - classic files: code_protect.txt / in_protect.txt / out_protect.txt, one regex a line,
 *    '#' comments and blank lines ignored; the rule's id is its pattern; action deny,
 *    severity HIGH, category "classic".
 *  - native packs (YAML): see docs/rules.md.
 * Errors name the file and line: "rules/in.yaml:14: pattern 'x(' does not compile: missing )". */
#ifndef PROTECTLAMBDA_RULES_H
#define PROTECTLAMBDA_RULES_H

#include "protectlambda/config.h"
#include "protectlambda/event.h"

enum pl_target { PL_TARGET_CODE, PL_TARGET_IN, PL_TARGET_OUT, PL_TARGET_COUNT };
enum pl_action { PL_ACTION_DENY, PL_ACTION_ALERT, PL_ACTION_REDACT };

/* pattern flags (map onto Vectorscan/PCRE2 flags) */
#define PL_RULE_CASELESS 0x01u
#define PL_RULE_DOTALL 0x02u
#define PL_RULE_MULTILINE 0x04u
#define PL_RULE_UTF8 0x08u

struct pl_rule {
    char *id;
    enum pl_target target;
    char *pattern;
    unsigned flags;
    enum pl_severity severity;
    char *category; /* e.g. "command-injection" */
    enum pl_action action;
    char *message;         /* may be NULL */
    char **languages;      /* code rules: "python", "node", ... (NULL-terminated; NULL = any) */
    char **paths;          /* code rules: path globs (NULL-terminated; NULL = any) */
    char **allow;          /* allow-list regexes: a match whose text matches one is ignored */
    char *source;          /* file the rule came from */
    unsigned line;         /* line in that file */
    unsigned pattern_line; /* line of the pattern (its errors name it) */
    unsigned allow_line;   /* line of the allow list (its errors name it) */
    bool classic;          /* from a *_protect.txt file */
    bool unchecked;        /* patterns not validated yet (loaded with defer_check) */
};

struct pl_ruleset {
    struct pl_rule *rules;
    size_t count;
    size_t cap;
    /* Loaders leave the rules' patterns (and allow patterns) unvalidated (rule.unchecked)
     * instead of compiling each with PCRE2 at load: for rules that a precompiled database
     * matching them (pl_engine_db_load) was built from, where validating again is wasted
     * CPU. Every engine built from the set validates its unchecked rules first, with the
     * errors the loader would have raised (pl_ruleset_check): a bad pattern still fails,
     * only later. Set after pl_ruleset_init; commands that exist to validate rules leave it
     * false. */
    bool defer_check;
};

const char *pl_target_name(enum pl_target t); /* "code", "in", "out" */
int pl_target_parse(const char *s, enum pl_target *out);
const char *pl_action_name(enum pl_action a);
int pl_action_parse(const char *s, enum pl_action *out);

int pl_ruleset_init(struct pl_ruleset *set);
void pl_ruleset_clean_up(struct pl_ruleset *set);
/* Load a file or directory. A directory loads every *.yaml / *.yml pack and every
 * {code,in,out}_protect.txt in it (sorted, not recursive). A .txt file's target comes from its
 * name (code_protect.txt, in_protect.txt, out_protect.txt) or from `target` when
 * target_hint >= 0. Patterns are validated (they must compile with Vectorscan or PCRE2),
 * unless set->defer_check (then pl_ruleset_check does it). */
int pl_rules_load(struct pl_ruleset *set, const char *path, int target_hint);
int pl_rules_load_classic(struct pl_ruleset *set, const char *path, enum pl_target target);
int pl_rules_load_yaml(struct pl_ruleset *set, const char *path);
/* the same from text in memory; `name` stands for the file in errors and decides the kind
 * (*.yaml / *.yml: a pack; else classic, target from the name or target_hint >= 0) */
int pl_rules_load_text(struct pl_ruleset *set, const char *name, const char *text, size_t len,
                       int target_hint);
int pl_rules_load_yaml_text(struct pl_ruleset *set, const char *name, const char *text, size_t len);
/* duplicate ids across the set are an error naming both places */
int pl_ruleset_validate(const struct pl_ruleset *set);
/* what pl_ruleset_check validates */
#define PL_RULE_CHECK_PATTERN 0x01u /* the rule's pattern */
#define PL_RULE_CHECK_ALLOW 0x02u   /* its allow patterns */
#define PL_RULE_CHECK_ALL (PL_RULE_CHECK_PATTERN | PL_RULE_CHECK_ALLOW)
/* Validate the unchecked rules (rule.unchecked, see defer_check) of `target` (< 0: every
 * target), in order, exactly as the loader does without deferral: 0 ok; -1 with the loader's
 * error (PL_ERR_RULES_PATTERN, "rules/in.yaml:14: pattern 'x(' does not compile: ...") for
 * the first bad one. Checked rules are skipped; nothing is modified (call it again after a
 * change). */
int pl_ruleset_check(const struct pl_ruleset *set, int target, unsigned what);
/* validate one rule's pattern and/or allow patterns (loader errors as above) */
int pl_rule_check(const struct pl_rule *r, unsigned what);
/* stable 64-bit hash of everything the engine compiles from (ids, patterns, flags, targets) */
uint64_t pl_ruleset_hash(const struct pl_ruleset *set);
/* stable 64-bit hash of every rule's allow patterns (and the flags they compile with), in
 * order: a rules database records it to stand for their validation too */
uint64_t pl_ruleset_allow_hash(const struct pl_ruleset *set);
/* number of rules of a target */
size_t pl_ruleset_count(const struct pl_ruleset *set, enum pl_target t);

/* glob matching used for rule paths and scan skips ('*', '?', '**' across '/', '[...]').
 * A glob without '/' is matched against the last path component only ("*.py"). */
bool pl_glob_match(const char *glob, const char *path);

/* Check one pattern the way the loader does (PCRE2 compile with the rule's flags; a pattern
 * matching the empty string is refused). 0 ok; -1 with `err` filled ("missing closing
 * parenthesis at offset 2") when it does not compile; -2 out of memory (error raised). */
int pl_rule_pattern_check(const char *pattern, unsigned flags, char *err, size_t errlen);
/* flag names: "caseless", "dotall", "multiline", "utf8" */
int pl_rule_flag_parse(const char *s, unsigned *flag);

/* Languages of code rules: "python", "node", "java", "go", "ruby", "shell". */
bool pl_language_valid(const char *lang);
/* language of a source file from its name (".py" -> "python", ".js/.mjs/.cjs/.ts" -> "node",
 * ".java" -> "java", ".go" -> "go", ".rb" -> "ruby", ".sh/.bash" -> "shell"); NULL unknown */
const char *pl_language_of_path(const char *path);
/* whether a code rule applies to a file: its languages (the file's language must be listed;
 * files of unknown language only get rules without `languages`) and its path globs. */
bool pl_rule_applies_to_path(const struct pl_rule *r, const char *path);

/* ---- default rule packs: ONE place that every command uses ----
 * The directory is the setting rules_dir; when that directory does not exist and rules_dir
 * has its default value, the source tree's rules/ (PL_SOURCE_RULES_DIR, set by CMake) is used
 * (running from a build tree). Returns NULL when rules_dir is set to "" (disabled). */
const char *pl_rules_default_dir(const struct pl_config *cfg);
/* Load the default packs (see above) into `set`: 0 ok (also when disabled), -1 when the
 * directory is missing or a rule is bad (fail closed: no silent "no rules"). */
int pl_rules_load_defaults(struct pl_ruleset *set, const struct pl_config *cfg);
/* What every command loads, in this order (the order is part of the ruleset hash, so a
 * database compiled by `protectlambda compile` matches what a command with the same options
 * loads): the default packs unless no_defaults, then every path of the setting `rules`, then
 * `extra` (--rules PATH..., n_extra of them). */
int pl_rules_load_standard(struct pl_ruleset *set, const struct pl_config *cfg,
                           const char *const *extra, size_t n_extra, bool no_defaults);

#endif
