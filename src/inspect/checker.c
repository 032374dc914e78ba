/* The checker: view → one engine scan → matches mapped back to items → allow-lists → verdict.
 *
 * The scan callback only records (rule, item) pairs (no allocation per match beyond an
 * amortized array, consecutive duplicates dropped with a per-rule "last item" table). After
 * the scan each pair is confirmed inside its own item with pl_engine_locate (which also gives
 * the excerpt and drops matches that only spanned the '\n' between items), allow-listed
 * matches are skipped (the next match in the item is tried), and at most one match is kept
 * per (rule, path). */
#include "inspect_private.h"

#include <stdio.h>
#include <string.h>

#define S_MAX_HITS 65536u     /* (rule, item) pairs recorded per check */
#define S_MAX_MATCHES 1024u   /* matches reported per verdict */
#define S_MAX_LOCATE 32       /* allow-listed matches skipped per item before giving up */
#define S_EXCERPT_MAX PL_EXCERPT_MAX

struct s_hit {
    uint32_t rule;
    uint32_t item;
};

/* per-checker bookkeeping, allocated on the first check and reused */
struct pl_checker_state {
    struct pl_checker *c;
    struct s_hit *hits;
    size_t n_hits, cap_hits;
    uint32_t *last_item;      /* per rule: 1 + last item recorded */
    size_t n_rules;
    bool overflow;
    bool nomem;
};
#define s_scan_ctx pl_checker_state

void pl_verdict_init(struct pl_verdict *v) { memset(v, 0, sizeof(*v)); }

void pl_verdict_reset(struct pl_verdict *v)
{
    for (size_t i = 0; i < v->n_matches; i++) {
        pl_free(v->matches[i].path);
        pl_free(v->matches[i].excerpt);
    }
    v->n_matches = 0;
    v->deny = v->bound_exceeded = v->non_json = v->redact = false;
    v->elapsed_us = 0;
}

void pl_verdict_clean_up(struct pl_verdict *v)
{
    pl_verdict_reset(v);
    pl_free(v->matches);
    memset(v, 0, sizeof(*v));
}

/* out-rule matches are masked so a verdict never carries a secret value */
char *pl_inspect_excerpt(const struct pl_rule *rule, const char *s, size_t len)
{
    if (rule && rule->target == PL_TARGET_OUT) {
        size_t keep = len < 4 ? len : 4;
        char *e = pl_malloc(keep + 4);
        if (!e)
            return NULL;
        memcpy(e, s, keep);
        memcpy(e + keep, "***", 4);
        return e;
    }
    if (len > S_EXCERPT_MAX) {
        len = S_EXCERPT_MAX;
        /* do not cut a UTF-8 sequence in half */
        while (len > S_EXCERPT_MAX - 3 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    return pl_strndup(s, len);
}

int pl_checker_init(struct pl_checker *c, const struct pl_ruleset *set,
                    const struct pl_engine *engine)
{
    memset(c, 0, sizeof(*c));
    c->set = set;
    c->engine = engine;
    pl_inspect_limits_default(&c->limits);
    c->deny_on_bound = true;
    pl_inspect_view_init(&c->view);
    if (engine && pl_engine_scratch_new(engine, &c->scratch))
        return -1;
    return 0;
}

void pl_checker_clean_up(struct pl_checker *c)
{
    if (c->scratch)
        pl_engine_scratch_destroy(c->scratch);
    if (c->state) {
        pl_free(c->state->hits);
        pl_free(c->state->last_item);
        pl_free(c->state);
    }
    pl_inspect_view_clean_up(&c->view);
    memset(c, 0, sizeof(*c));
}

static int s_on_match(void *ctx, uint32_t rule, unsigned long long from, unsigned long long to)
{
    struct s_scan_ctx *sc = ctx;
    const struct pl_inspect_view *v = &sc->c->view;
    if (rule >= sc->n_rules)
        return 0;
    size_t pos = to ? (size_t)to - 1 : 0;
    const struct pl_inspect_item *it = pl_inspect_item_at(v, pos);
    if (!it)
        return 0;
    uint32_t idx = (uint32_t)(it - v->items);
    if (sc->last_item[rule] == idx + 1)
        return 0;
    sc->last_item[rule] = idx + 1;
    if (sc->n_hits >= S_MAX_HITS) {
        sc->overflow = true;
        return 0;
    }
    if (sc->n_hits == sc->cap_hits &&
        pl_array_reserve((void **)&sc->hits, &sc->cap_hits, sc->n_hits + 1, sizeof(*sc->hits))) {
        sc->nomem = true;
        return 1; /* out of memory: stop, the check fails */
    }
    sc->hits[sc->n_hits++] = (struct s_hit){rule, idx};
    return 0;
}

static bool s_already(const struct pl_verdict *out, uint32_t rule, const char *path)
{
    for (size_t i = 0; i < out->n_matches; i++)
        if (out->matches[i].rule_index == rule && !strcmp(out->matches[i].path, path))
            return true;
    return false;
}

int pl_inspect_confirm(const struct pl_engine *e, const struct pl_rule *r, uint32_t rule,
                       const char *s, size_t len, size_t *from, size_t *to)
{
    size_t pos = 0;
    for (int i = 0; i < S_MAX_LOCATE && pos <= len; i++) {
        size_t f, t;
        int rc = pl_engine_locate(e, rule, s + pos, len - pos, &f, &t);
        if (rc < 0 && pl_last_error() == PL_ERR_ENGINE_MATCH_LIMIT) {
            /* undecided: fail closed, report it as a match at the position reached */
            *from = pos;
            *to = len - pos > PL_EXCERPT_MAX ? pos + PL_EXCERPT_MAX : len;
            return 1;
        }
        if (rc <= 0)
            return rc;
        if (!r->allow || !r->allow[0] || pl_engine_allowed(e, rule, s + pos + f, t - f) != 1) {
            *from = pos + f;
            *to = pos + t;
            return 1;
        }
        pos += t > f ? t : f + 1;
    }
    return 0;
}

int pl_checker_check(struct pl_checker *c, const char *data, size_t len, struct pl_verdict *out)
{
    int rc = -1;
    uint64_t t0 = pl_now_ns();
    pl_verdict_reset(out);
    if (!c->engine || !c->scratch || !c->set)
        return pl_raise(PL_ERR_INVALID_ARG, "checker has no engine");
    if (!c->state && !(c->state = pl_calloc(1, sizeof(*c->state))))
        goto out;
    struct pl_checker_state *sc = c->state;
    sc->c = c;
    sc->n_hits = 0;
    sc->overflow = false;
    sc->nomem = false;
    if (sc->n_rules < c->set->count || !sc->last_item) {
        pl_free(sc->last_item);
        sc->n_rules = 0;
        sc->last_item = pl_calloc(c->set->count ? c->set->count : 1, sizeof(*sc->last_item));
        if (!sc->last_item)
            goto out;
    }
    sc->n_rules = c->set->count;
    memset(sc->last_item, 0, sc->n_rules * sizeof(*sc->last_item));
    if (pl_inspect_json(&c->limits, data, len, &c->view))
        goto out;
    struct pl_inspect_view *v = &c->view;
    out->non_json = v->non_json;
    out->bound_exceeded = v->bound_exceeded;
    if (v->text.len &&
        pl_engine_scan(c->engine, c->scratch, v->text.data, v->text.len, s_on_match, sc)) {
        if (pl_last_error() != PL_ERR_ENGINE_MATCH_LIMIT)
            goto out;
        /* a PCRE2 rule could not be decided: fail closed like a bound (the other rules
         * were scanned and reported) */
        out->bound_exceeded = true;
        if (!v->bound_exceeded) {
            v->bound_exceeded = true;
            snprintf(v->bound_reason, sizeof(v->bound_reason), "%s", pl_last_error_msg());
        }
    }
    if (sc->nomem) {
        pl_raise(PL_ERR_NOMEM, "out of memory recording matches");
        goto out;
    }
    if (sc->overflow)
        out->bound_exceeded = true;
    for (size_t i = 0; i < sc->n_hits; i++) {
        const struct s_hit *h = &sc->hits[i];
        const struct pl_rule *r = &c->set->rules[h->rule];
        const struct pl_inspect_item *it = &v->items[h->item];
        const char *path = v->paths.data + it->path_off;
        if (s_already(out, h->rule, path))
            continue;
        if (out->n_matches >= S_MAX_MATCHES) {
            out->bound_exceeded = true;
            if (r->action != PL_ACTION_DENY || out->deny)
                continue;
        }
        const char *s = v->text.data + it->off;
        size_t f = 0, t = 0;
        int found = pl_inspect_confirm(c->engine, r, h->rule, s, it->len, &f, &t);
        if (found < 0)
            goto out;
        if (!found && it->kind == PL_ITEM_VALUE && h->item > 0) {
            /* A rule may name the value it catches ("aws_secret_access_key" then the key): in
             * the view a member is its key item, '\n', its value item. Confirm over that pair,
             * and keep the match only when it reaches into the value. */
            const struct pl_inspect_item *k = &v->items[h->item - 1];
            if (k->kind == PL_ITEM_KEY && k->off + k->len + 1 == it->off &&
                !strcmp(v->paths.data + k->path_off, path)) {
                const char *ks = v->text.data + k->off;
                size_t kf = 0, kt = 0;
                found = pl_inspect_confirm(c->engine, r, h->rule, ks, k->len + 1 + it->len, &kf,
                                           &kt);
                if (found < 0)
                    goto out;
                if (found && kt > k->len + 1) {
                    s = ks;
                    f = kf, t = kt;
                } else {
                    found = 0;
                }
            }
        }
        if (!found)
            continue; /* spanned items, or allow-listed */
        if (out->n_matches == out->cap_matches &&
            pl_array_reserve((void **)&out->matches, &out->cap_matches, out->n_matches + 1,
                             sizeof(*out->matches)))
            goto out;
        struct pl_match *m = &out->matches[out->n_matches];
        memset(m, 0, sizeof(*m));
        m->rule_index = h->rule;
        m->rule = r;
        m->decoding = (enum pl_decoding)it->decoding;
        m->path = pl_strdup(path);
        m->excerpt = pl_inspect_excerpt(r, s + f, t - f);
        if (!m->path || !m->excerpt) {
            pl_free(m->path);
            pl_free(m->excerpt);
            goto out;
        }
        out->n_matches++;
        if (r->action == PL_ACTION_DENY)
            out->deny = true;
        else if (r->action == PL_ACTION_REDACT)
            out->redact = true;
    }
    if (out->bound_exceeded && c->deny_on_bound)
        out->deny = true;
    rc = 0;
out:
    out->elapsed_us = (pl_now_ns() - t0) / 1000;
    return rc;
}
