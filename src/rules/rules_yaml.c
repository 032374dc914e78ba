/* rules: YAML rule packs (libyaml document API). Format: docs/rules.md.
 * Every error names the file and the line of the offending node. */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "rules_private.h"

#define S_MAX_PACK (16u * 1024u * 1024u)
#define S_MAX_RULES 100000u
#define S_MAX_LIST 4096u

struct s_ctx {
    yaml_document_t *doc;
    const char *path;
};

static unsigned s_line(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}

static const char *s_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int s_err(const struct s_ctx *c, const yaml_node_t *n, int code, const char *fmt, ...)
    PL_PRINTF(4, 5);
static int s_err(const struct s_ctx *c, const yaml_node_t *n, int code, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return pl_raise(code, "%s:%u: %s", c->path, n ? s_line(n) : 0, msg);
}

/* a sequence of scalars (or one scalar) into a NULL-terminated vector */
static int s_strv(const struct s_ctx *c, const yaml_node_t *key, const yaml_node_t *v, char ***out)
{
    const char *k = s_scalar(key);
    if (*out)
        return s_err(c, key, PL_ERR_RULES_SYNTAX, "duplicate key '%s'", k);
    size_t n = 0;
    yaml_node_item_t *items = NULL;
    if (v->type == YAML_SCALAR_NODE) {
        n = 1;
    } else if (v->type == YAML_SEQUENCE_NODE) {
        items = v->data.sequence.items.start;
        n = (size_t)(v->data.sequence.items.top - items);
    } else {
        return s_err(c, v, PL_ERR_RULES_SYNTAX, "'%s' must be a list of strings", k);
    }
    if (n > S_MAX_LIST)
        return s_err(c, v, PL_ERR_LIMIT, "'%s' has more than %u items", k, S_MAX_LIST);
    char **vec = pl_calloc(n + 1, sizeof(char *));
    if (!vec)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = items ? yaml_document_get_node(c->doc, items[i]) : v;
        const char *s = s_scalar(it);
        if (!s || !*s) {
            pl_strv_free(vec);
            return s_err(c, it ? it : v, PL_ERR_RULES_SYNTAX,
                         "'%s' items must be non-empty strings", k);
        }
        if (!(vec[i] = pl_strdup(s))) {
            pl_strv_free(vec);
            return -1;
        }
    }
    *out = vec;
    return 0;
}

static int s_str(const struct s_ctx *c, const yaml_node_t *key, const yaml_node_t *v, char **out)
{
    const char *k = s_scalar(key);
    if (*out)
        return s_err(c, key, PL_ERR_RULES_SYNTAX, "duplicate key '%s'", k);
    const char *s = s_scalar(v);
    if (!s)
        return s_err(c, v, PL_ERR_RULES_SYNTAX, "'%s' must be a string", k);
    if (!*s)
        return s_err(c, v, PL_ERR_RULES_SYNTAX, "'%s' must not be empty", k);
    *out = pl_strdup(s);
    return *out ? 0 : -1;
}

enum {
    S_F_ID = 1 << 0,
    S_F_TARGET = 1 << 1,
    S_F_PATTERN = 1 << 2,
    S_F_FLAGS = 1 << 3,
    S_F_SEVERITY = 1 << 4,
    S_F_CATEGORY = 1 << 5,
    S_F_ACTION = 1 << 6,
};

static int s_rule(const struct s_ctx *c, struct pl_ruleset *set, const yaml_node_t *rn)
{
    struct pl_rule r = {0};
    unsigned seen = 0;
    const yaml_node_t *pattern_node = NULL, *languages_node = NULL, *paths_node = NULL;
    const yaml_node_t *allow_node = NULL;
    if (rn->type != YAML_MAPPING_NODE)
        return s_err(c, rn, PL_ERR_RULES_SYNTAX, "a rule must be a mapping (id, target, ...)");
    r.line = s_line(rn);
    r.severity = PL_SEV_HIGH;
    r.action = PL_ACTION_DENY;
    for (yaml_node_pair_t *p = rn->data.mapping.pairs.start; p < rn->data.mapping.pairs.top; p++) {
        const yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
        const yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
        const char *k = s_scalar(kn);
        if (!k || !vn) {
            s_err(c, kn ? kn : rn, PL_ERR_RULES_SYNTAX, "rule keys must be strings");
            goto fail;
        }
        int rc = 0;
        if (!strcmp(k, "id")) {
            rc = s_str(c, kn, vn, &r.id);
            seen |= S_F_ID;
        } else if (!strcmp(k, "pattern")) {
            rc = s_str(c, kn, vn, &r.pattern);
            pattern_node = vn;
            seen |= S_F_PATTERN;
        } else if (!strcmp(k, "category")) {
            rc = s_str(c, kn, vn, &r.category);
            seen |= S_F_CATEGORY;
        } else if (!strcmp(k, "message")) {
            rc = s_str(c, kn, vn, &r.message);
        } else if (!strcmp(k, "target") || !strcmp(k, "severity") || !strcmp(k, "action")) {
            unsigned bit = k[0] == 't' ? S_F_TARGET : k[0] == 's' ? S_F_SEVERITY : S_F_ACTION;
            const char *s = s_scalar(vn);
            if (seen & bit) {
                rc = s_err(c, kn, PL_ERR_RULES_SYNTAX, "duplicate key '%s'", k);
            } else if (!s) {
                rc = s_err(c, vn, PL_ERR_RULES_SYNTAX, "'%s' must be a string", k);
            } else if (bit == S_F_TARGET) {
                if (pl_target_parse(s, &r.target))
                    rc = s_err(c, vn, PL_ERR_RULES_SYNTAX,
                               "bad target '%s' (expected code, in or out)", s);
            } else if (bit == S_F_SEVERITY) {
                if (pl_severity_parse(s, &r.severity) || r.severity == PL_SEV_INFO)
                    rc = s_err(c, vn, PL_ERR_RULES_SYNTAX,
                               "bad severity '%s' (expected LOW, MEDIUM, HIGH or CRITICAL)", s);
            } else if (pl_action_parse(s, &r.action)) {
                rc = s_err(c, vn, PL_ERR_RULES_SYNTAX,
                           "bad action '%s' (expected deny, alert or redact)", s);
            }
            seen |= bit;
        } else if (!strcmp(k, "flags")) {
            char **fl = NULL;
            if (seen & S_F_FLAGS) {
                rc = s_err(c, kn, PL_ERR_RULES_SYNTAX, "duplicate key 'flags'");
            } else if ((rc = s_strv(c, kn, vn, &fl)) == 0) {
                for (size_t i = 0; fl[i]; i++) { // NOLINT(clang-analyzer-core.NullDereference): s_strv sets fl on success
                    unsigned f;
                    if (pl_rule_flag_parse(fl[i], &f)) {
                        rc = s_err(c, vn, PL_ERR_RULES_SYNTAX,
                                   "bad flag '%s' (expected caseless, dotall, multiline, utf8)",
                                   fl[i]);
                        break;
                    }
                    r.flags |= f;
                }
            }
            pl_strv_free(fl);
            seen |= S_F_FLAGS;
        } else if (!strcmp(k, "languages")) {
            rc = s_strv(c, kn, vn, &r.languages);
            languages_node = vn;
        } else if (!strcmp(k, "paths")) {
            rc = s_strv(c, kn, vn, &r.paths);
            paths_node = vn;
        } else if (!strcmp(k, "allow")) {
            rc = s_strv(c, kn, vn, &r.allow);
            allow_node = vn;
        } else {
            rc = s_err(c, kn, PL_ERR_RULES_SYNTAX,
                       "unknown key '%s' (expected id, target, pattern, flags, severity, "
                       "category, action, message, languages, paths, allow)",
                       k);
        }
        if (rc)
            goto fail;
    }
    static const struct {
        unsigned bit;
        const char *name;
    } required[] = {{S_F_ID, "id"},
                    {S_F_TARGET, "target"},
                    {S_F_PATTERN, "pattern"},
                    {S_F_SEVERITY, "severity"},
                    {S_F_CATEGORY, "category"}};
    for (size_t i = 0; i < PL_ARRAY_LEN(required); i++) {
        if (!(seen & required[i].bit)) {
            if (r.id)
                s_err(c, rn, PL_ERR_RULES_SYNTAX, "rule '%s': missing field '%s'", r.id,
                      required[i].name);
            else
                s_err(c, rn, PL_ERR_RULES_SYNTAX, "rule: missing field '%s'", required[i].name);
            goto fail;
        }
    }
    if (languages_node) {
        if (r.target != PL_TARGET_CODE) {
            s_err(c, languages_node, PL_ERR_RULES_SYNTAX,
                  "rule '%s': 'languages' applies to code rules only", r.id);
            goto fail;
        }
        for (size_t i = 0; r.languages[i]; i++) {
            if (!pl_language_valid(r.languages[i])) {
                s_err(c, languages_node, PL_ERR_RULES_SYNTAX,
                      "rule '%s': bad language '%s' (expected python, node, java, go, ruby, "
                      "shell)",
                      r.id, r.languages[i]);
                goto fail;
            }
        }
    }
    if (paths_node && r.target != PL_TARGET_CODE) {
        s_err(c, paths_node, PL_ERR_RULES_SYNTAX, "rule '%s': 'paths' applies to code rules only",
              r.id);
        goto fail;
    }
    r.pattern_line = pattern_node ? s_line(pattern_node) : r.line;
    r.allow_line = allow_node ? s_line(allow_node) : 0;
    r.unchecked = set->defer_check;
    if (!(r.source = pl_strdup(c->path)))
        goto fail;
    /* the pattern's errors name its line, the allow patterns' the list's (pl_rule_check) */
    if (!r.unchecked && pl_rule_check(&r, PL_RULE_CHECK_ALL))
        goto fail;
    return pl_ruleset_add(set, &r);
fail:
    pl_rule_clean_up(&r);
    return -1;
}

int pl_rules_load_yaml(struct pl_ruleset *set, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (pl_read_file(path, &data, &len, S_MAX_PACK))
        return -1;
    int rc = pl_rules_load_yaml_text(set, path, data, len);
    pl_free(data);
    return rc;
}

int pl_rules_load_yaml_text(struct pl_ruleset *set, const char *path, const char *data, size_t len)
{
    size_t first = set->count;
    int ret = -1;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool parser_ok = false, doc_ok = false;
    struct s_ctx c = {&doc, path};

    if (len > S_MAX_PACK) {
        pl_raise(PL_ERR_LIMIT, "%s: larger than %u bytes", path, S_MAX_PACK);
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        pl_raise(PL_ERR_NOMEM, "%s: cannot initialize the YAML parser", path);
        goto out;
    }
    parser_ok = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        pl_raise(PL_ERR_RULES_SYNTAX, "%s:%zu: YAML error: %s%s%s", path,
                 parser.problem_mark.line + 1, parser.problem ? parser.problem : "parse error",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        goto out;
    }
    doc_ok = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) { /* empty file: an empty pack */
        ret = 0;
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        s_err(&c, root, PL_ERR_RULES_SYNTAX, "a rule pack is a mapping with a 'rules:' list");
        goto out;
    }
    const yaml_node_t *rules = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        const yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        const char *k = s_scalar(kn);
        if (!k || !vn) {
            s_err(&c, kn ? kn : root, PL_ERR_RULES_SYNTAX, "keys must be strings");
            goto out;
        }
        if (!strcmp(k, "rules")) {
            if (rules) {
                s_err(&c, kn, PL_ERR_RULES_SYNTAX, "duplicate key 'rules'");
                goto out;
            }
            rules = vn;
        } else if (!strcmp(k, "name") || !strcmp(k, "description") || !strcmp(k, "version")) {
            if (!s_scalar(vn)) {
                s_err(&c, vn, PL_ERR_RULES_SYNTAX, "'%s' must be a string", k);
                goto out;
            }
        } else {
            s_err(&c, kn, PL_ERR_RULES_SYNTAX,
                  "unknown key '%s' (expected rules, name, description, version)", k);
            goto out;
        }
    }
    if (!rules) {
        s_err(&c, root, PL_ERR_RULES_SYNTAX, "missing field 'rules'");
        goto out;
    }
    if (rules->type == YAML_SCALAR_NODE && !*s_scalar(rules)) {
        ret = 0; /* "rules:" with nothing: an empty pack */
        goto out;
    }
    if (rules->type != YAML_SEQUENCE_NODE) {
        s_err(&c, rules, PL_ERR_RULES_SYNTAX, "'rules' must be a list of rules");
        goto out;
    }
    size_t n = (size_t)(rules->data.sequence.items.top - rules->data.sequence.items.start);
    if (n > S_MAX_RULES) {
        s_err(&c, rules, PL_ERR_LIMIT, "more than %u rules in one pack", S_MAX_RULES);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *rn = yaml_document_get_node(&doc, rules->data.sequence.items.start[i]);
        if (!rn || s_rule(&c, set, rn))
            goto out;
    }
    ret = 0;
out:
    if (ret) {
        pl_ruleset_roll_back(set, first);
    }
    if (doc_ok)
        yaml_document_delete(&doc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    return ret;
}
