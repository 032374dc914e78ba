#include "protectlambda/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

#define S_ENV_PREFIX "PROTECTLAMBDA_"
/* prefixes of config-file keys with a dynamic suffix, kept verbatim in cfg->extra */
static const char *const s_extra_prefixes[] = {"playbook.", "correlation."};

/* environment variable names are derived from the keys once */
static char s_env_names[PL_CFG_COUNT][64];

static struct pl_setting_def s_defs[PL_CFG_COUNT] = {
#define PL_SETTING(id, key, type, def, min, max, choices, help)                               \
    {key, s_env_names[PL_CFG_##id], PL_SET_##type, def, min, max, choices, help},
#include "protectlambda/settings.def"
#undef PL_SETTING
};

static void s_init_env_names(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < PL_CFG_COUNT; i++) {
        char *o = s_env_names[i];
        size_t n = snprintf(o, sizeof(s_env_names[i]), "%s", S_ENV_PREFIX);
        for (const char *k = s_defs[i].key; *k && n + 1 < sizeof(s_env_names[i]); k++)
            o[n++] = (*k == '.' || *k == '-') ? '_' : (char)toupper((unsigned char)*k);
        o[n] = '\0';
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

const struct pl_setting_def *pl_setting_def(enum pl_setting_id id)
{
    s_init_env_names();
    return (unsigned)id < PL_CFG_COUNT ? &s_defs[id] : NULL;
}

int pl_setting_find(const char *key, enum pl_setting_id *out)
{
    for (int i = 0; i < PL_CFG_COUNT; i++) {
        if (!strcmp(s_defs[i].key, key)) {
            *out = (enum pl_setting_id)i;
            return 0;
        }
    }
    return pl_raise(PL_ERR_CONFIG, "unknown setting '%s'", key);
}

static void s_value_free(struct pl_config_value *v)
{
    pl_free(v->str);
    if (v->list) {
        for (size_t i = 0; i < v->n_list; i++)
            pl_free(v->list[i]);
        pl_free(v->list);
    }
    memset(v, 0, sizeof(*v));
}

static char *s_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int s_parse_size(const char *text, int64_t *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno || v < 0)
        return -1;
    int64_t mult = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': mult = 1024; break;
        case 'm': mult = 1024 * 1024; break;
        case 'g': mult = 1024LL * 1024 * 1024; break;
        default: return -1;
        }
        end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -1;
    }
    if (v > INT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

/* parse text for setting id into v (does not touch cfg on error) */
static int s_parse(enum pl_setting_id id, const char *text, struct pl_config_value *v)
{
    const struct pl_setting_def *d = &s_defs[id];
    memset(v, 0, sizeof(*v));
    switch (d->type) {
    case PL_SET_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes") ||
            !strcasecmp(text, "on"))
            v->num = 1;
        else if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no") ||
                 !strcasecmp(text, "off"))
            v->num = 0;
        else
            return pl_raise(PL_ERR_CONFIG, "%s: '%s' is not a boolean (true or false)", d->key,
                            text);
        v->str = pl_strdup(v->num ? "true" : "false");
        break;
    case PL_SET_INT:
    case PL_SET_SIZE: {
        int64_t n;
        if (d->type == PL_SET_INT) {
            errno = 0;
            char *end;
            long long ll = strtoll(text, &end, 10);
            if (end == text || *end || errno)
                return pl_raise(PL_ERR_CONFIG, "%s: '%s' is not an integer", d->key, text);
            n = ll;
        } else if (s_parse_size(text, &n)) {
            return pl_raise(PL_ERR_CONFIG, "%s: '%s' is not a size (e.g. 512k, 6m, 1g)", d->key,
                            text);
        }
        if (n < d->min || n > d->max)
            return pl_raise(PL_ERR_CONFIG, "%s: %s is out of range (%lld..%lld)", d->key, text,
                            (long long)d->min, (long long)d->max);
        v->num = n;
        v->str = pl_strdup(text);
        break;
    }
    case PL_SET_ENUM: {
        const char *c = d->choices;
        int idx = 0;
        size_t tl = strlen(text);
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            if (cl == tl && !strncasecmp(c, text, cl)) {
                v->num = idx;
                v->str = pl_strndup(c, cl);
                goto done;
            }
            idx++;
            c = bar ? bar + 1 : NULL;
        }
        return pl_raise(PL_ERR_CONFIG, "%s: '%s' is not one of %s", d->key, text, d->choices);
    }
    case PL_SET_STRING:
        v->str = pl_strdup(text);
        break;
    case PL_SET_LIST: {
        v->str = pl_strdup(text);
        if (!v->str)
            return -1;
        size_t n = 0, cap = 0;
        char **list = NULL;
        const char *p = text;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            char *item = pl_strndup(p, l);
            if (!item || pl_array_reserve((void **)&list, &cap, n + 2, sizeof(char *))) {
                pl_free(item);
                for (size_t i = 0; i < n; i++)
                    pl_free(list[i]);
                pl_free(list);
                pl_free(v->str);
                v->str = NULL;
                return -1;
            }
            char *t = s_trim(item);
            if (*t) {
                memmove(item, t, strlen(t) + 1);
                list[n++] = item;
                list[n] = NULL;
            } else {
                pl_free(item);
            }
            p = comma ? comma + 1 : p + l;
        }
        v->list = list;
        v->n_list = n;
        break;
    }
    }
done:
    if (!v->str)
        return -1;
    return 0;
}

int pl_config_set(struct pl_config *cfg, enum pl_setting_id id, const char *text,
                  enum pl_setting_origin origin)
{
    struct pl_config_value v;
    if (s_parse(id, text, &v))
        return -1;
    v.origin = origin;
    s_value_free(&cfg->v[id]);
    cfg->v[id] = v;
    return 0;
}

int pl_config_init(struct pl_config *cfg)
{
    s_init_env_names();
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < PL_CFG_COUNT; i++) {
        if (pl_config_set(cfg, (enum pl_setting_id)i, s_defs[i].def, PL_ORIGIN_DEFAULT)) {
            pl_config_clean_up(cfg);
            return pl_raise(PL_ERR_INTERNAL, "bad default for %s: %s", s_defs[i].key,
                            pl_last_error_msg());
        }
    }
    return 0;
}

void pl_config_clean_up(struct pl_config *cfg)
{
    for (int i = 0; i < PL_CFG_COUNT; i++)
        s_value_free(&cfg->v[i]);
    for (size_t i = 0; i < cfg->n_extra; i++) {
        pl_free(cfg->extra[i].key);
        pl_free(cfg->extra[i].value);
        pl_free(cfg->extra[i].where);
    }
    pl_free(cfg->extra);
    memset(cfg, 0, sizeof(*cfg));
}

static int s_add_extra(struct pl_config *cfg, const char *key, const char *value,
                       const char *where)
{
    for (size_t i = 0; i < cfg->n_extra; i++) {
        if (!strcmp(cfg->extra[i].key, key)) {
            char *nv = pl_strdup(value), *nw = pl_strdup(where);
            if (!nv || !nw) {
                pl_free(nv), pl_free(nw);
                return -1;
            }
            pl_free(cfg->extra[i].value), pl_free(cfg->extra[i].where);
            cfg->extra[i].value = nv, cfg->extra[i].where = nw;
            return 0;
        }
    }
    if (pl_array_reserve((void **)&cfg->extra, &cfg->cap_extra, cfg->n_extra + 1,
                         sizeof(*cfg->extra)))
        return -1;
    struct pl_config_extra *e = &cfg->extra[cfg->n_extra];
    e->key = pl_strdup(key), e->value = pl_strdup(value), e->where = pl_strdup(where);
    if (!e->key || !e->value || !e->where) {
        pl_free(e->key), pl_free(e->value), pl_free(e->where);
        return -1;
    }
    cfg->n_extra++;
    return 0;
}

int pl_config_load_file(struct pl_config *cfg, const char *path)
{
    char *data = NULL;
    size_t len;
    if (pl_read_file(path, &data, &len, 1 << 20))
        return -1;
    int ret = pl_config_load_text(cfg, path, data, len);
    pl_free(data);
    return ret;
}

int pl_config_load_text(struct pl_config *cfg, const char *path, const char *text, size_t len)
{
    char *data = pl_strndup(text, len);
    if (!data)
        return -1;
    int ret = 0;
    unsigned lineno = 0;
    char *save = NULL;
    for (char *line = data; line && ret == 0; line = save) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        if (strlen(line) != (size_t)((nl ? nl : data + len) - line)) {
            ret = pl_raise(PL_ERR_CONFIG, "%s:%u: NUL byte in line", path, lineno);
            break;
        }
        char *t = s_trim(line);
        if (!*t || *t == '#')
            continue;
        char *eq = strchr(t, '=');
        if (!eq) {
            ret = pl_raise(PL_ERR_CONFIG, "%s:%u: expected 'key = value'", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = s_trim(t), *val = s_trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') ||
                        (val[0] == '\'' && val[vl - 1] == '\''))) {
            val[vl - 1] = '\0';
            val++;
        }
        char where[512];
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        bool extra = false;
        for (size_t i = 0; i < PL_ARRAY_LEN(s_extra_prefixes); i++)
            if (!strncmp(key, s_extra_prefixes[i], strlen(s_extra_prefixes[i])))
                extra = true;
        if (extra) {
            ret = s_add_extra(cfg, key, val, where);
            continue;
        }
        enum pl_setting_id id;
        if (pl_setting_find(key, &id)) {
            ret = pl_raise(PL_ERR_CONFIG, "%s: unknown setting '%s' (see protectlambda config --help)",
                           where, key);
            break;
        }
        if (pl_config_set(cfg, id, val, PL_ORIGIN_FILE)) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
            ret = pl_raise(PL_ERR_CONFIG, "%s: %s", where, msg);
        }
    }
    pl_free(data);
    return ret;
}

int pl_config_load_env(struct pl_config *cfg, char *const *envp)
{
    s_init_env_names();
    if (!envp)
        envp = environ;
    for (int i = 0; i < PL_CFG_COUNT; i++) {
        size_t nl = strlen(s_defs[i].env);
        for (char *const *e = envp; *e; e++) {
            if (strncmp(*e, s_defs[i].env, nl) || (*e)[nl] != '=')
                continue;
            if (pl_config_set(cfg, (enum pl_setting_id)i, *e + nl + 1, PL_ORIGIN_ENV)) {
                char msg[1024];
                snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
                return pl_raise(PL_ERR_CONFIG, "environment %s: %s", s_defs[i].env, msg);
            }
        }
    }
    return 0;
}

int pl_config_load_standard(struct pl_config *cfg)
{
    if (pl_config_init(cfg))
        return -1;
    const char *file = getenv("PROTECTLAMBDA_CONFIG");
    if (file && *file && pl_config_load_file(cfg, file))
        goto fail;
    if (pl_config_load_env(cfg, NULL))
        goto fail;
    return 0;
fail:
    pl_config_clean_up(cfg);
    return -1;
}

const char *pl_config_str(const struct pl_config *cfg, enum pl_setting_id id)
{
    return cfg->v[id].str ? cfg->v[id].str : "";
}

int64_t pl_config_int(const struct pl_config *cfg, enum pl_setting_id id) { return cfg->v[id].num; }

bool pl_config_bool(const struct pl_config *cfg, enum pl_setting_id id) { return cfg->v[id].num != 0; }

char *const *pl_config_list(const struct pl_config *cfg, enum pl_setting_id id, size_t *n)
{
    if (n)
        *n = cfg->v[id].n_list;
    static char *const empty[] = {NULL};
    return cfg->v[id].list ? cfg->v[id].list : empty;
}

const char *pl_config_extra(const struct pl_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_extra; i++)
        if (!strcmp(cfg->extra[i].key, key))
            return cfg->extra[i].value;
    return NULL;
}

int pl_config_help(struct pl_buf *out, bool markdown)
{
    s_init_env_names();
    static const char *const tnames[] = {"bool", "int", "size", "string", "enum", "list"};
    int rc = 0;
    if (markdown)
        rc |= pl_buf_append_str(out, "| key | environment | type | default | description |\n"
                                     "|---|---|---|---|---|\n");
    for (int i = 0; i < PL_CFG_COUNT; i++) {
        const struct pl_setting_def *d = &s_defs[i];
        char type[96];
        if (d->type == PL_SET_ENUM)
            snprintf(type, sizeof(type), "%s", d->choices);
        else if (d->type == PL_SET_INT || d->type == PL_SET_SIZE)
            snprintf(type, sizeof(type), "%s %lld..%lld", tnames[d->type], (long long)d->min,
                     (long long)d->max);
        else
            snprintf(type, sizeof(type), "%s", tnames[d->type]);
        if (markdown)
            rc |= pl_buf_appendf(out, "| `%s` | `%s` | %s | `%s` | %s |\n", d->key, d->env, type,
                                 d->def, d->help);
        else
            rc |= pl_buf_appendf(out, "  %-22s %s\n      %s (default: %s)\n      %s\n", d->key,
                                 d->env, type, *d->def ? d->def : "empty", d->help);
    }
    return rc ? -1 : 0;
}
