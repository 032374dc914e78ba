/* Settings: one typed, range-checked table (settings.def), read from defaults, an optional
 * config file (`key = value` lines, `#` comments) and PROTECTLAMBDA_* environment variables. */
#ifndef PROTECTLAMBDA_CONFIG_H
#define PROTECTLAMBDA_CONFIG_H

#include "protectlambda/buf.h"

enum pl_setting_type { PL_SET_BOOL, PL_SET_INT, PL_SET_SIZE, PL_SET_STRING, PL_SET_ENUM, PL_SET_LIST };

enum pl_setting_id {
#define PL_SETTING(id, key, type, def, min, max, choices, help) PL_CFG_##id,
#include "protectlambda/settings.def"
#undef PL_SETTING
    PL_CFG_COUNT
};

struct pl_setting_def {
    const char *key;
    const char *env; /* PROTECTLAMBDA_... */
    enum pl_setting_type type;
    const char *def;
    int64_t min, max;
    const char *choices;
    const char *help;
};

enum pl_setting_origin { PL_ORIGIN_DEFAULT, PL_ORIGIN_FILE, PL_ORIGIN_ENV, PL_ORIGIN_CLI };

struct pl_config_value {
    char *str;      /* canonical text (STRING, ENUM, LIST joined with ',') */
    int64_t num;    /* BOOL 0/1, INT, SIZE, ENUM index */
    char **list;    /* LIST items (NULL-terminated) */
    size_t n_list;
    enum pl_setting_origin origin;
};

/* extra keys with a dynamic suffix, e.g. "playbook.COMMAND_INJECTION.HIGH = quarantine,alert" */
struct pl_config_extra {
    char *key;
    char *value;
    char *where; /* "file:line" */
};

struct pl_config {
    struct pl_config_value v[PL_CFG_COUNT];
    struct pl_config_extra *extra;
    size_t n_extra, cap_extra;
};

const struct pl_setting_def *pl_setting_def(enum pl_setting_id id);
int pl_setting_find(const char *key, enum pl_setting_id *out);

int pl_config_init(struct pl_config *cfg); /* all defaults */
void pl_config_clean_up(struct pl_config *cfg);
/* config file: errors are "path:line: reason". Keys with a prefix listed in
 * PL_CONFIG_EXTRA_PREFIXES ("playbook.", "correlation.") are kept in cfg->extra. */
int pl_config_load_file(struct pl_config *cfg, const char *path);
/* the same from text in memory; `path` names it in errors */
int pl_config_load_text(struct pl_config *cfg, const char *path, const char *text, size_t len);
/* environment (envp NULL = environ); bad values are errors naming the variable */
int pl_config_load_env(struct pl_config *cfg, char *const *envp);
/* set one value from text (CLI flags); origin recorded */
int pl_config_set(struct pl_config *cfg, enum pl_setting_id id, const char *text,
                  enum pl_setting_origin origin);
/* defaults, then PROTECTLAMBDA_CONFIG file if set, then environment */
int pl_config_load_standard(struct pl_config *cfg);

const char *pl_config_str(const struct pl_config *cfg, enum pl_setting_id id);
int64_t pl_config_int(const struct pl_config *cfg, enum pl_setting_id id);
bool pl_config_bool(const struct pl_config *cfg, enum pl_setting_id id);
char *const *pl_config_list(const struct pl_config *cfg, enum pl_setting_id id, size_t *n);
/* value of an extra key or NULL */
const char *pl_config_extra(const struct pl_config *cfg, const char *key);

/* help text of every setting (for --help and docs/configuration.md) */
int pl_config_help(struct pl_buf *out, bool markdown);

#endif
