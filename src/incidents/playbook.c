/* Playbooks (type x threat level -> actions) and correlation rules, with their config keys. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protectlambda/incidents.h"

#define S_EXPLICIT_NONE 0x80000000u

static const struct {
    const char *name;
    unsigned bit;
} s_actions[] = {
    {"terminate", PL_PB_TERMINATE}, {"quarantine", PL_PB_QUARANTINE}, {"block", PL_PB_BLOCK},
    {"monitor", PL_PB_MONITOR},     {"alert", PL_PB_ALERT},
};

int pl_actions_parse(const char *text, unsigned *out)
{
    unsigned bits = 0;
    bool any = false;
    const char *p = text;
    *out = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '+')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t' && *e != '+')
            e++;
        size_t n = (size_t)(e - p);
        bool found = false;
        if (n == 4 && !strncasecmp(p, "none", 4)) {
            found = true;
        } else {
            for (size_t i = 0; i < PL_ARRAY_LEN(s_actions); i++) {
                if (strlen(s_actions[i].name) == n && !strncasecmp(p, s_actions[i].name, n)) {
                    bits |= s_actions[i].bit;
                    found = true;
                }
            }
        }
        if (!found)
            return pl_raise(PL_ERR_CONFIG,
                            "unknown action '%.*s' (monitor, alert, block, quarantine, terminate, "
                            "none)",
                            (int)(n > 40 ? 40 : n), p);
        any = true;
        p = e;
    }
    if (!any)
        return pl_raise(PL_ERR_CONFIG, "no action given (use 'none' for no action)");
    *out = bits;
    return 0;
}

void pl_actions_format(unsigned actions, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < PL_ARRAY_LEN(s_actions); i++) {
        if (!(actions & s_actions[i].bit))
            continue;
        int n = snprintf(out + len, outlen - len, "%s%s", len ? "," : "", s_actions[i].name);
        if (n < 0 || (size_t)n >= outlen - len)
            return;
        len += (size_t)n;
    }
}

void pl_playbook_defaults(struct pl_playbook *pb)
{
    memset(pb, 0, sizeof(*pb));
    const unsigned qa = PL_PB_QUARANTINE | PL_PB_ALERT;
    const unsigned ta = PL_PB_TERMINATE | PL_PB_ALERT;
    pb->actions[PL_EV_CODE_INJECTION][PL_SEV_HIGH] = qa;
    pb->actions[PL_EV_CODE_INJECTION][PL_SEV_CRITICAL] = ta;
    pb->actions[PL_EV_COMMAND_INJECTION][PL_SEV_HIGH] = qa;
    pb->actions[PL_EV_COMMAND_INJECTION][PL_SEV_CRITICAL] = ta;
    pb->actions[PL_EV_PATH_TRAVERSAL_ATTEMPT][PL_SEV_MEDIUM] = PL_PB_MONITOR | PL_PB_ALERT;
    pb->actions[PL_EV_PATH_TRAVERSAL_ATTEMPT][PL_SEV_HIGH] = qa;
    pb->actions[PL_EV_RUNTIME_INTEGRITY_VIOLATION][PL_SEV_CRITICAL] = ta;
    pb->actions[PL_EV_RESOURCE_LIMIT_EXCEEDED][PL_SEV_HIGH] = qa;
}

unsigned pl_playbook_actions(const struct pl_playbook *pb, enum pl_event_type t,
                             enum pl_severity level)
{
    if ((unsigned)t >= PL_EV_COUNT || (unsigned)level >= PL_SEV_COUNT)
        return PL_PB_MONITOR;
    unsigned a = pb->actions[t][level];
    if (a == S_EXPLICIT_NONE)
        return 0;
    return a ? a : PL_PB_MONITOR;
}

/* "playbook.<TYPE>.<LEVEL>": TYPE may be "*" (every type) and LEVEL "*" (every level) */
int pl_playbook_load(struct pl_playbook *pb, const struct pl_config *cfg)
{
    for (size_t i = 0; i < cfg->n_extra; i++) {
        const struct pl_config_extra *x = &cfg->extra[i];
        const char *where = x->where ? x->where : "config";
        if (strncmp(x->key, "playbook.", 9) != 0)
            continue;
        char key[160];
        snprintf(key, sizeof(key), "%s", x->key + 9);
        char *dot = strrchr(key, '.');
        if (!dot || dot == key || !dot[1])
            return pl_raise(PL_ERR_CONFIG,
                            "%s: '%s': expected playbook.<EVENT_TYPE>.<LEVEL> = actions", where,
                            x->key);
        *dot = '\0';
        const char *tname = key, *lname = dot + 1;
        enum pl_event_type t = 0;
        enum pl_severity l = 0;
        bool all_t = !strcmp(tname, "*"), all_l = !strcmp(lname, "*");
        if (!all_t && pl_event_type_parse(tname, &t)) {
            char names[1200];
            size_t n = 0;
            for (int k = 0; k < PL_EV_COUNT && n < sizeof(names); k++)
                n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", k ? ", " : "",
                                      pl_event_type_name((enum pl_event_type)k));
            return pl_raise(PL_ERR_CONFIG, "%s: %s: unknown event type '%s' (one of %s, or *)",
                            where, x->key, tname, names);
        }
        if (!all_l && pl_severity_parse(lname, &l))
            return pl_raise(PL_ERR_CONFIG,
                            "%s: %s: unknown threat level '%s' (INFO, LOW, MEDIUM, HIGH, "
                            "CRITICAL, or *)",
                            where, x->key, lname);
        unsigned a;
        if (pl_actions_parse(x->value, &a)) {
            char why[200];
            snprintf(why, sizeof(why), "%s", pl_last_error_msg());
            return pl_raise(PL_ERR_CONFIG, "%s: %s: %s", where, x->key, why);
        }
        /* an explicit "none" is kept distinct from "no entry" (which means monitor) */
        unsigned stored = a ? a : S_EXPLICIT_NONE;
        for (int ti = 0; ti < PL_EV_COUNT; ti++) {
            if (!all_t && ti != (int)t)
                continue;
            for (int li = 0; li < PL_SEV_COUNT; li++)
                if (all_l || li == (int)l)
                    pb->actions[ti][li] = stored;
        }
    }
    return 0;
}

/* ---- correlation ---- */

static uint64_t s_injection_types(void)
{
    return (1ull << PL_EV_CODE_INJECTION) | (1ull << PL_EV_COMMAND_INJECTION);
}

void pl_correlation_defaults(struct pl_correlation *c)
{
    memset(c, 0, sizeof(*c));
    struct pl_correlation_rule *r = &c->rules[c->n++];
    snprintf(r->name, sizeof(r->name), "injection");
    r->types = s_injection_types();
    r->count = 3;
    r->window_ms = 300000;
    r->level = PL_SEV_CRITICAL;
    r = &c->rules[c->n++];
    snprintf(r->name, sizeof(r->name), "rapid");
    r->types = 0;
    r->count = 10;
    r->window_ms = 60000;
    r->level = PL_SEV_HIGH;
}

/* "300", "300s", "5m", "1h" -> ms */
static int s_parse_seconds(const char *v, int64_t *ms)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || n <= 0)
        return -1;
    int64_t mult = 1000;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mult = 60000, end++;
    else if (*end == 'h')
        mult = 3600000, end++;
    while (*end == ' ')
        end++;
    if (*end || n > 30LL * 24 * 3600)
        return -1;
    *ms = (int64_t)n * mult;
    return 0;
}

static struct pl_correlation_rule *s_rule(struct pl_correlation *c, const char *name, size_t len,
                                          bool *created)
{
    *created = false;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->rules[i].name) == len && !strncmp(c->rules[i].name, name, len))
            return &c->rules[i];
    if (c->n == PL_CORRELATION_MAX || len >= sizeof(c->rules[0].name))
        return NULL;
    struct pl_correlation_rule *r = &c->rules[c->n++];
    memset(r, 0, sizeof(*r));
    memcpy(r->name, name, len);
    r->name[len] = '\0';
    r->level = PL_SEV_COUNT; /* unset: checked below */
    *created = true;
    return r;
}

int pl_correlation_load(struct pl_correlation *c, const struct pl_config *cfg)
{
    char where_new[PL_CORRELATION_MAX][160];
    bool is_new[PL_CORRELATION_MAX] = {false};
    bool disabled[PL_CORRELATION_MAX] = {false};
    for (size_t i = 0; i < cfg->n_extra; i++) {
        const struct pl_config_extra *x = &cfg->extra[i];
        const char *where = x->where ? x->where : "config";
        if (strncmp(x->key, "correlation.", 12) != 0)
            continue;
        const char *name = x->key + 12;
        const char *dot = strrchr(name, '.');
        if (!dot || dot == name)
            return pl_raise(PL_ERR_CONFIG,
                            "%s: '%s': expected correlation.<name>.<count|window|types|level|"
                            "enabled> = value",
                            where, x->key);
        for (const char *p = name; p < dot; p++)
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
                return pl_raise(PL_ERR_CONFIG, "%s: %s: rule names are letters, digits, _ and -",
                                where, x->key);
        const char *field = dot + 1;
        bool created;
        struct pl_correlation_rule *r = s_rule(c, name, (size_t)(dot - name), &created);
        if (!r)
            return pl_raise(PL_ERR_CONFIG,
                            "%s: %s: too many correlation rules (at most %d) or "
                            "name too long",
                            where, x->key, PL_CORRELATION_MAX);
        size_t idx = (size_t)(r - c->rules);
        if (created) {
            is_new[idx] = true;
            snprintf(where_new[idx], sizeof(where_new[idx]), "%s", where);
        }
        const char *v = x->value;
        if (!strcmp(field, "count")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 1 || n > 100000)
                return pl_raise(PL_ERR_CONFIG, "%s: %s: '%s' is not a count (1..100000)", where,
                                x->key, v);
            r->count = (unsigned)n;
        } else if (!strcmp(field, "window")) {
            if (s_parse_seconds(v, &r->window_ms))
                return pl_raise(PL_ERR_CONFIG,
                                "%s: %s: '%s' is not a window (seconds, or 30s, 5m, 1h; at most "
                                "30 days)",
                                where, x->key, v);
        } else if (!strcmp(field, "level")) {
            if (pl_severity_parse(v, &r->level))
                return pl_raise(PL_ERR_CONFIG,
                                "%s: %s: unknown threat level '%s' (INFO, LOW, MEDIUM, HIGH, "
                                "CRITICAL)",
                                where, x->key, v);
        } else if (!strcmp(field, "types")) {
            uint64_t mask = 0;
            if (strcasecmp(v, "any") != 0 && strcmp(v, "*") != 0) {
                char buf[1024];
                snprintf(buf, sizeof(buf), "%s", v);
                char *save = NULL;
                for (char *tok = strtok_r(buf, ", ", &save); tok;
                     tok = strtok_r(NULL, ", ", &save)) {
                    enum pl_event_type t;
                    if (pl_event_type_parse(tok, &t))
                        return pl_raise(PL_ERR_CONFIG, "%s: %s: unknown event type '%s'", where,
                                        x->key, tok);
                    mask |= 1ull << t;
                }
                if (!mask)
                    return pl_raise(PL_ERR_CONFIG, "%s: %s: no event type given (or 'any')", where,
                                    x->key);
            }
            r->types = mask;
        } else if (!strcmp(field, "enabled")) {
            if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") ||
                !strcasecmp(v, "off"))
                disabled[idx] = true;
            else if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") ||
                     !strcasecmp(v, "on"))
                disabled[idx] = false;
            else
                return pl_raise(PL_ERR_CONFIG, "%s: %s: '%s' is not true or false", where, x->key,
                                v);
        } else {
            return pl_raise(PL_ERR_CONFIG,
                            "%s: %s: unknown field '%s' (count, window, types, level, enabled)",
                            where, x->key, field);
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        struct pl_correlation_rule *r = &c->rules[i];
        if (is_new[i] && !disabled[i] && (!r->count || !r->window_ms || r->level == PL_SEV_COUNT))
            return pl_raise(PL_ERR_CONFIG,
                            "%s: correlation rule '%s' needs count, window and level", where_new[i],
                            r->name);
    }
    /* drop disabled rules */
    size_t o = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!disabled[i])
            c->rules[o++] = c->rules[i];
    c->n = o;
    return 0;
}
