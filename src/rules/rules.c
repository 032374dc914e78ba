/* Rules: rulesets, classic *_protect.txt files, directory loading, hashing, globs. */
#include "protectlambda/rules.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "rules_private.h"

#define S_MAX_RULE_FILE (16u * 1024u * 1024u)
#define S_MAX_LINE 65536u

static const char *const s_target_names[PL_TARGET_COUNT] = {"code", "in", "out"};
static const char *const s_action_names[] = {"deny", "alert", "redact"};

const char *pl_target_name(enum pl_target t)
{
    return (unsigned)t < PL_TARGET_COUNT ? s_target_names[t] : "?";
}

int pl_target_parse(const char *s, enum pl_target *out)
{
    for (int i = 0; i < PL_TARGET_COUNT; i++) {
        if (s && !strcmp(s, s_target_names[i])) {
            *out = (enum pl_target)i;
            return 0;
        }
    }
    return pl_raise(PL_ERR_INVALID_ARG, "unknown target '%s' (code, in, out)", s ? s : "");
}

const char *pl_action_name(enum pl_action a)
{
    return (unsigned)a < PL_ARRAY_LEN(s_action_names) ? s_action_names[a] : "?";
}

int pl_action_parse(const char *s, enum pl_action *out)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(s_action_names); i++) {
        if (s && !strcmp(s, s_action_names[i])) {
            *out = (enum pl_action)i;
            return 0;
        }
    }
    return pl_raise(PL_ERR_INVALID_ARG, "unknown action '%s' (deny, alert, redact)", s ? s : "");
}

int pl_ruleset_init(struct pl_ruleset *set)
{
    memset(set, 0, sizeof(*set));
    return 0;
}

void pl_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        pl_free(*p);
    pl_free(v);
}

void pl_rule_clean_up(struct pl_rule *r)
{
    pl_free(r->id);
    pl_free(r->pattern);
    pl_free(r->category);
    pl_free(r->message);
    pl_strv_free(r->languages);
    pl_strv_free(r->paths);
    pl_strv_free(r->allow);
    pl_free(r->source);
    memset(r, 0, sizeof(*r));
}

void pl_ruleset_clean_up(struct pl_ruleset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++)
        pl_rule_clean_up(&set->rules[i]);
    pl_free(set->rules);
    memset(set, 0, sizeof(*set));
}

void pl_ruleset_roll_back(struct pl_ruleset *set, size_t first)
{
    int code = pl_last_error();
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
    while (set->count > first)
        pl_rule_clean_up(&set->rules[--set->count]);
    pl_raise(code, "%s", msg);
}

/* takes ownership of *r (cleaned up on failure too) */
int pl_ruleset_add(struct pl_ruleset *set, struct pl_rule *r)
{
    if (pl_array_reserve((void **)&set->rules, &set->cap, set->count + 1, sizeof(*r))) {
        pl_rule_clean_up(r);
        return -1;
    }
    set->rules[set->count++] = *r;
    memset(r, 0, sizeof(*r));
    return 0;
}

size_t pl_ruleset_count(const struct pl_ruleset *set, enum pl_target t)
{
    size_t n = 0;
    for (size_t i = 0; i < set->count; i++)
        n += set->rules[i].target == t;
    return n;
}

/* ---- duplicates ---- */

/* YAML ids are unique across the set; classic rules (id = pattern) are unique per target
 * (the same regex in code_protect.txt and in_protect.txt is normal). */
static bool s_same_key(const struct pl_rule *a, const struct pl_rule *b)
{
    if (strcmp(a->id, b->id))
        return false;
    if (a->classic && b->classic)
        return a->target == b->target;
    return true;
}

struct s_idx {
    uint64_t h;
    size_t i;
};

static int s_idx_cmp(const void *a, const void *b)
{
    const struct s_idx *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int pl_ruleset_validate(const struct pl_ruleset *set)
{
    if (set->count < 2)
        return 0;
    struct s_idx *idx = pl_malloc(set->count * sizeof(*idx));
    if (!idx)
        return -1;
    for (size_t i = 0; i < set->count; i++)
        idx[i] = (struct s_idx){pl_hash_fnv1a(set->rules[i].id, strlen(set->rules[i].id), 0), i};
    qsort(idx, set->count, sizeof(*idx), s_idx_cmp);
    int ret = 0;
    for (size_t i = 0; i < set->count && ret == 0; i++) {
        for (size_t j = i + 1; j < set->count && idx[j].h == idx[i].h; j++) {
            const struct pl_rule *a = &set->rules[idx[i].i], *b = &set->rules[idx[j].i];
            if (s_same_key(a, b)) {
                ret = pl_raise(PL_ERR_RULES_SYNTAX,
                               "%s:%u: duplicate rule id '%s' (first defined at %s:%u)",
                               b->source ? b->source : "?", b->line, b->id,
                               a->source ? a->source : "?", a->line);
                break;
            }
        }
    }
    pl_free(idx);
    return ret;
}

/* ---- hash ---- */

static uint64_t s_hash_str(uint64_t h, const char *s)
{
    if (!s)
        return pl_hash_fnv1a("\xff", 1, h);
    h = pl_hash_fnv1a(s, strlen(s), h);
    return pl_hash_fnv1a("", 1, h); /* terminator keeps ("ab","c") != ("a","bc") */
}

static uint64_t s_hash_u32(uint64_t h, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return pl_hash_fnv1a(b, 4, h);
}

uint64_t pl_ruleset_hash(const struct pl_ruleset *set)
{
    uint64_t h = pl_hash_fnv1a("protectlambda-ruleset-v1", 24, 0);
    h = s_hash_u32(h, (uint32_t)set->count);
    for (size_t i = 0; i < set->count; i++) {
        const struct pl_rule *r = &set->rules[i];
        h = s_hash_u32(h, (uint32_t)r->target);
        h = s_hash_u32(h, r->flags);
        h = s_hash_str(h, r->id);
        h = s_hash_str(h, r->pattern);
    }
    return h;
}

uint64_t pl_ruleset_allow_hash(const struct pl_ruleset *set)
{
    uint64_t h = pl_hash_fnv1a("protectlambda-allow-v1", 22, 0);
    h = s_hash_u32(h, (uint32_t)set->count);
    for (size_t i = 0; i < set->count; i++) {
        const struct pl_rule *r = &set->rules[i];
        uint32_t n = 0;
        for (char **a = r->allow; a && *a; a++)
            n++;
        h = s_hash_u32(h, n);
        if (!n)
            continue;
        h = s_hash_u32(h, r->flags); /* the allow patterns compile with the rule's flags */
        for (uint32_t k = 0; k < n; k++)
            h = s_hash_str(h, r->allow[k]);
    }
    return h;
}

/* ---- classic files ---- */

/* parse a classic file's text (modified in place: lines are cut) */
static int s_classic_text(struct pl_ruleset *set, const char *path, char *data, size_t len,
                          enum pl_target target)
{
    size_t first = set->count;
    int ret = -1;
    if ((unsigned)target >= PL_TARGET_COUNT) {
        pl_raise(PL_ERR_INVALID_ARG, "%s: bad target", path);
        goto out;
    }
    if (memchr(data, '\0', len)) {
        pl_raise(PL_ERR_RULES_SYNTAX, "%s: binary file (NUL byte), not a rule file", path);
        goto out;
    }
    unsigned lineno = 0;
    size_t pos = 0;
    /* skip a UTF-8 byte order mark */
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
        pos = 3;
    while (pos < len) {
        lineno++;
        char *line = data + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        line[n] = '\0';
        /* leading/trailing whitespace is not part of the regex in the classic tool's files */
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t') {
            line++;
            n--;
        }
        if (n == 0 || line[0] == '#')
            continue;
        if (n > S_MAX_LINE) {
            pl_raise(PL_ERR_RULES_SYNTAX, "%s:%u: line longer than %u bytes", path, lineno,
                     S_MAX_LINE);
            goto out;
        }
        struct pl_rule r = {0};
        r.id = pl_strdup(line);
        r.pattern = pl_strdup(line);
        r.category = pl_strdup("classic");
        r.source = pl_strdup(path);
        r.target = target;
        r.severity = PL_SEV_HIGH;
        r.action = PL_ACTION_DENY;
        r.line = r.pattern_line = lineno;
        r.classic = true;
        r.unchecked = set->defer_check;
        if (!r.id || !r.pattern || !r.category || !r.source ||
            (!r.unchecked && pl_rule_check(&r, PL_RULE_CHECK_ALL))) {
            pl_rule_clean_up(&r);
            goto out;
        }
        if (pl_ruleset_add(set, &r))
            goto out;
    }
    ret = 0;
out:
    if (ret) {
        pl_ruleset_roll_back(set, first);
    }
    return ret;
}

int pl_rules_load_classic(struct pl_ruleset *set, const char *path, enum pl_target target)
{
    char *data = NULL;
    size_t len = 0;
    if (pl_read_file(path, &data, &len, S_MAX_RULE_FILE))
        return -1;
    int rc = s_classic_text(set, path, data, len, target);
    pl_free(data);
    return rc;
}

/* ---- files and directories ---- */

static bool s_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int s_classic_target(const char *path, enum pl_target *t)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    static const char *const names[PL_TARGET_COUNT] = {"code_protect.txt", "in_protect.txt",
                                                       "out_protect.txt"};
    for (int i = 0; i < PL_TARGET_COUNT; i++) {
        if (!strcmp(base, names[i])) {
            *t = (enum pl_target)i;
            return 0;
        }
    }
    return -1;
}

static bool s_is_yaml(const char *name)
{
    return s_ends_with(name, ".yaml") || s_ends_with(name, ".yml");
}

static int s_load_file(struct pl_ruleset *set, const char *path, int target_hint)
{
    if (s_is_yaml(path))
        return pl_rules_load_yaml(set, path);
    enum pl_target t;
    if (target_hint >= 0 && target_hint < PL_TARGET_COUNT)
        return pl_rules_load_classic(set, path, (enum pl_target)target_hint);
    if (s_classic_target(path, &t) == 0)
        return pl_rules_load_classic(set, path, t);
    return pl_raise(PL_ERR_RULES_SYNTAX,
                    "%s: cannot tell the rules' target from the file name (expected *.yaml, "
                    "*.yml, code_protect.txt, in_protect.txt or out_protect.txt)",
                    path);
}

int pl_rules_load_text(struct pl_ruleset *set, const char *name, const char *text, size_t len,
                       int target_hint)
{
    enum pl_target t;
    if (len > S_MAX_RULE_FILE)
        return pl_raise(PL_ERR_LIMIT, "%s: larger than %u bytes", name, S_MAX_RULE_FILE);
    size_t first = set->count;
    int rc;
    if (s_is_yaml(name)) {
        rc = pl_rules_load_yaml_text(set, name, text, len);
    } else {
        if (target_hint >= 0 && target_hint < PL_TARGET_COUNT)
            t = (enum pl_target)target_hint;
        else if (s_classic_target(name, &t))
            return pl_raise(PL_ERR_RULES_SYNTAX,
                            "%s: cannot tell the rules' target from the "
                            "name",
                            name);
        char *copy = pl_strndup(text, len);
        if (!copy)
            return -1;
        rc = s_classic_text(set, name, copy, len, t);
        pl_free(copy);
    }
    if (rc == 0)
        rc = pl_ruleset_validate(set);
    if (rc) {
        pl_ruleset_roll_back(set, first);
    }
    return rc;
}

static int s_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int s_load_dir(struct pl_ruleset *set, const char *dir, int target_hint)
{
    DIR *d = opendir(dir);
    if (!d)
        return pl_raise(errno == ENOENT ? PL_ERR_NOT_FOUND : PL_ERR_IO, "%s: %s", dir,
                        strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int ret = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.')
            continue;
        if (!s_is_yaml(nm) && !s_ends_with(nm, "_protect.txt"))
            continue;
        if (n >= 100000) {
            pl_raise(PL_ERR_LIMIT, "%s: too many rule files", dir);
            goto out;
        }
        if (pl_array_reserve((void **)&names, &cap, n + 1, sizeof(*names)))
            goto out;
        size_t dl = strlen(dir), fl = strlen(nm);
        char *p = pl_malloc(dl + fl + 2);
        if (!p)
            goto out;
        memcpy(p, dir, dl);
        size_t k = dl;
        if (k == 0 || p[k - 1] != '/')
            p[k++] = '/';
        memcpy(p + k, nm, fl + 1);
        names[n++] = p;
    }
    if (n)
        qsort(names, n, sizeof(*names), s_str_cmp);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && !S_ISREG(st.st_mode))
            continue;
        if (s_load_file(set, names[i], target_hint))
            goto out;
    }
    ret = 0;
out:
    for (size_t i = 0; i < n; i++)
        pl_free(names[i]);
    pl_free(names);
    closedir(d);
    return ret;
}

int pl_rules_load(struct pl_ruleset *set, const char *path, int target_hint)
{
    struct stat st;
    if (!path || !*path)
        return pl_raise(PL_ERR_INVALID_ARG, "empty rules path");
    if (stat(path, &st) < 0)
        return pl_raise(errno == ENOENT ? PL_ERR_NOT_FOUND : PL_ERR_IO, "%s: %s", path,
                        strerror(errno));
    size_t first = set->count;
    int rc = S_ISDIR(st.st_mode) ? s_load_dir(set, path, target_hint)
                                 : s_load_file(set, path, target_hint);
    if (rc == 0)
        rc = pl_ruleset_validate(set);
    if (rc) {
        pl_ruleset_roll_back(set, first);
    }
    return rc;
}

/* ---- defaults ---- */

const char *pl_rules_default_dir(const struct pl_config *cfg)
{
    const char *dir = pl_config_str(cfg, PL_CFG_RULES_DIR);
    if (!dir || !*dir)
        return NULL;
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
#ifdef PL_SOURCE_RULES_DIR
    if (cfg->v[PL_CFG_RULES_DIR].origin == PL_ORIGIN_DEFAULT &&
        stat(PL_SOURCE_RULES_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return PL_SOURCE_RULES_DIR;
#endif
    return dir;
}

int pl_rules_load_defaults(struct pl_ruleset *set, const struct pl_config *cfg)
{
    const char *dir = pl_rules_default_dir(cfg);
    if (!dir)
        return 0;
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return pl_raise(PL_ERR_NOT_FOUND,
                        "default rules directory %s not found (set rules_dir, or "
                        "PROTECTLAMBDA_RULES_DIR=\"\" to run without the default packs)",
                        dir);
    return pl_rules_load(set, dir, -1);
}

int pl_rules_load_standard(struct pl_ruleset *set, const struct pl_config *cfg,
                           const char *const *extra, size_t n_extra, bool no_defaults)
{
    if (!no_defaults && pl_rules_load_defaults(set, cfg))
        return -1;
    size_t n = 0;
    char *const *list = pl_config_list(cfg, PL_CFG_RULES, &n);
    for (size_t i = 0; list && i < n; i++)
        if (list[i] && *list[i] && pl_rules_load(set, list[i], -1))
            return -1;
    for (size_t i = 0; i < n_extra; i++)
        if (pl_rules_load(set, extra[i], -1))
            return -1;
    return 0;
}

/* ---- globs ---- */

static bool s_class_match(const char **gp, char c)
{
    const char *g = *gp + 1; /* after '[' */
    bool neg = false, ok = false;
    if (*g == '!' || *g == '^') {
        neg = true;
        g++;
    }
    bool first = true;
    while (*g && (*g != ']' || first)) {
        first = false;
        char lo = *g, hi = lo;
        if (g[1] == '-' && g[2] && g[2] != ']') {
            hi = g[2];
            g += 3;
        } else {
            g++;
        }
        if (c >= lo && c <= hi)
            ok = true;
    }
    if (*g != ']') /* unterminated: treat '[' literally */
        return false;
    *gp = g + 1;
    return ok != neg;
}

static bool s_glob(const char *g, const char *s, int depth)
{
    if (depth > 64)
        return false;
    while (*g) {
        if (g[0] == '*' && g[1] == '*') {
            g += 2;
            if (*g == '/') {
                /* '**' + '/': zero or more whole directories */
                g++;
                if (s_glob(g, s, depth + 1))
                    return true;
                for (const char *p = s; *p; p++)
                    if (*p == '/' && s_glob(g, p + 1, depth + 1))
                        return true;
                return false;
            }
            /* '**' elsewhere: any run of characters, '/' included */
            for (const char *p = s;; p++) {
                if (s_glob(g, p, depth + 1))
                    return true;
                if (!*p)
                    return false;
            }
        }
        if (*g == '*') {
            g++;
            for (const char *p = s;; p++) {
                if (s_glob(g, p, depth + 1))
                    return true;
                if (!*p || *p == '/')
                    return false;
            }
        }
        if (!*s)
            return false;
        if (*g == '?') {
            if (*s == '/')
                return false;
            g++;
            s++;
            continue;
        }
        if (*g == '[') {
            const char *g2 = g;
            if (strchr(g + 1, ']')) {
                if (*s == '/' || !s_class_match(&g2, *s))
                    return false;
                g = g2;
                s++;
                continue;
            }
        }
        if (*g == '\\' && g[1])
            g++;
        if (*g != *s)
            return false;
        g++;
        s++;
    }
    return *s == '\0';
}

bool pl_glob_match(const char *glob, const char *path)
{
    if (!glob || !path)
        return false;
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    if (!strchr(glob, '/')) {
        const char *base = strrchr(path, '/');
        if (base && base[1])
            path = base + 1;
    }
    return s_glob(glob, path, 0);
}

/* ---- languages ---- */

static const char *const s_langs[] = {"python", "node", "java", "go", "ruby", "shell"};

bool pl_language_valid(const char *lang)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(s_langs); i++)
        if (lang && !strcmp(lang, s_langs[i]))
            return true;
    return false;
}

const char *pl_language_of_path(const char *path)
{
    static const struct {
        const char *ext, *lang;
    } map[] = {{".py", "python"}, {".pyw", "python"}, {".js", "node"},   {".mjs", "node"},
               {".cjs", "node"},  {".ts", "node"},    {".mts", "node"},  {".cts", "node"},
               {".jsx", "node"},  {".tsx", "node"},   {".java", "java"}, {".kt", "java"},
               {".go", "go"},     {".rb", "ruby"},    {".sh", "shell"},  {".bash", "shell"}};
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot) {
        if (!strcmp(base, "bootstrap"))
            return "shell"; /* custom runtime bootstrap scripts */
        return NULL;
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(map); i++)
        if (!strcasecmp(dot, map[i].ext))
            return map[i].lang;
    return NULL;
}

bool pl_rule_applies_to_path(const struct pl_rule *r, const char *path)
{
    if (r->languages && r->languages[0]) {
        const char *lang = pl_language_of_path(path);
        if (!lang)
            return false;
        bool ok = false;
        for (char **l = r->languages; *l && !ok; l++)
            ok = !strcmp(*l, lang);
        if (!ok)
            return false;
    }
    if (r->paths && r->paths[0]) {
        for (char **g = r->paths; *g; g++)
            if (pl_glob_match(*g, path))
                return true;
        return false;
    }
    return true;
}
