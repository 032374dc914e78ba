/* Engine: compile a target's rules into one Vectorscan database, PCRE2-JIT fallback, scans,
 * streams, locate and allow-lists. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_private.h"
#include "protectlambda/log.h"

/* ---- global state: allocator hooks and PCRE2 contexts ---- */

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static bool s_boot; /* true while the global PCRE2 contexts themselves are allocated */
static pcre2_general_context *s_gctx;
static pcre2_compile_context *s_cctx;
static pcre2_match_context *s_mctx;
static _Thread_local int s_hs_alloc_failed;

static void *s_hs_malloc(size_t n)
{
    void *p = pl_malloc(n);
    if (!p)
        s_hs_alloc_failed = 1;
    return p;
}
static void s_hs_free(void *p)
{
    pl_free(p);
}

static void *s_pcre_malloc(size_t n, void *ud)
{
    (void)ud;
    return s_boot ? malloc(n) : pl_malloc(n);
}
static void s_pcre_free(void *p, void *ud)
{
    (void)ud;
    pl_free(p);
}

static void s_init(void)
{
    hs_set_allocator(s_hs_malloc, s_hs_free);
    s_boot = true;
    s_gctx = pcre2_general_context_create(s_pcre_malloc, s_pcre_free, NULL);
    if (s_gctx) {
        s_cctx = pcre2_compile_context_create(s_gctx);
        s_mctx = pcre2_match_context_create(s_gctx);
    }
    if (s_mctx) {
        pcre2_set_match_limit(s_mctx, PL_ENGINE_PCRE2_MATCH_LIMIT);
        pcre2_set_depth_limit(s_mctx, PL_ENGINE_PCRE2_DEPTH_LIMIT);
        pcre2_set_heap_limit(s_mctx, PL_ENGINE_PCRE2_HEAP_LIMIT_KIB);
    }
    s_boot = false;
}

void pl_engine_global_init(void)
{
    pthread_once(&s_once, s_init);
}

static int s_ready(void)
{
    pl_engine_global_init();
    if (!s_gctx || !s_cctx || !s_mctx)
        return pl_raise(PL_ERR_NOMEM, "cannot set up PCRE2 contexts");
    return 0;
}

static uint32_t s_pcre_opts(unsigned flags)
{
    uint32_t o = 0;
    if (flags & PL_RULE_CASELESS)
        o |= PCRE2_CASELESS;
    if (flags & PL_RULE_DOTALL)
        o |= PCRE2_DOTALL;
    if (flags & PL_RULE_MULTILINE)
        o |= PCRE2_MULTILINE;
    if (flags & PL_RULE_UTF8)
        o |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    return o;
}

/* compile with PCRE2 (+JIT when available); raises on failure */
static pcre2_code *s_pcre_compile(const char *pattern, unsigned flags, const char *what)
{
    int ec = 0;
    PCRE2_SIZE eo = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, s_pcre_opts(flags),
                                   &ec, &eo, s_cctx);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        if (ec == PCRE2_ERROR_NOMEMORY || ec == PCRE2_ERROR_HEAP_FAILED)
            pl_raise(PL_ERR_NOMEM, "out of memory compiling %s", what);
        else
            pl_raise(PL_ERR_ENGINE_COMPILE, "%s '%s' does not compile: %s at offset %zu", what,
                     pattern, (const char *)msg, (size_t)eo);
        return NULL;
    }
    /* JIT is an optimization: without it (no executable memory) the interpreter runs */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* ---- engines ---- */

static const struct pl_rule *s_rule(const struct pl_engine *e, size_t local)
{
    return &e->set->rules[e->rules[local].set_index];
}

int pl_engine_new_empty(const struct pl_ruleset *set, enum pl_target target, unsigned options,
                        struct pl_engine **out)
{
    if (s_ready())
        return -1;
    if ((unsigned)target >= PL_TARGET_COUNT)
        return pl_raise(PL_ERR_INVALID_ARG, "bad target");
    struct pl_engine *e = pl_calloc(1, sizeof(*e));
    if (!e)
        return -1;
    e->set = set;
    e->target = target;
    e->options = options;
    size_t n = pl_ruleset_count(set, target);
    if (n > UINT32_MAX / 2) {
        pl_free(e);
        return pl_raise(PL_ERR_LIMIT, "too many rules");
    }
    if (n) {
        e->rules = pl_calloc(n, sizeof(*e->rules));
        if (!e->rules)
            goto fail;
    }
    for (size_t i = 0; i < set->count; i++) {
        if (set->rules[i].target != target)
            continue;
        struct s_engine_rule *r = &e->rules[e->n++];
        r->set_index = (uint32_t)i;
        size_t na = 0;
        for (char **a = set->rules[i].allow; a && *a; a++)
            na++;
        if (na) {
            r->allow = pl_calloc(na, sizeof(*r->allow)); // NOLINT(bugprone-sizeof-expression): array of pointers
            if (!r->allow)
                goto fail;
            r->n_allow = na;
        }
    }
    *out = e;
    return 0;
fail:
    pl_engine_destroy(e);
    return -1;
}

void pl_engine_destroy(struct pl_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        struct s_engine_rule *r = &e->rules[i];
        pl_free(r->reason); // NOLINT(clang-analyzer-core.NullDereference): rules has n entries
        pcre2_code_free(r->re);
        for (size_t k = 0; k < r->n_allow; k++)
            pcre2_code_free(r->allow[k]);
        pl_free(r->allow);
    }
    pl_free(e->rules);
    pl_free(e->fb);
    if (e->block)
        hs_free_database(e->block);
    if (e->stream)
        hs_free_database(e->stream);
    pl_free(e);
}

void pl_engine_destroy_all(struct pl_engine *engines[PL_TARGET_COUNT])
{
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        pl_engine_destroy(engines[t]);
        engines[t] = NULL;
    }
}

size_t pl_engine_rule_count(const struct pl_engine *e)
{
    return e ? e->n : 0;
}
size_t pl_engine_fallback_count(const struct pl_engine *e)
{
    return e ? e->n_fb : 0;
}
enum pl_target pl_engine_target(const struct pl_engine *e)
{
    return e->target;
}

static long s_local(const struct pl_engine *e, uint32_t set_index)
{
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (e->rules[mid].set_index == set_index)
            return (long)mid;
        if (e->rules[mid].set_index < set_index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

bool pl_engine_rule_is_fallback(const struct pl_engine *e, uint32_t rule_index)
{
    long l = e ? s_local(e, rule_index) : -1;
    return l >= 0 && e->rules[l].fallback;
}

int pl_engine_set_fallback(struct pl_engine *e, size_t local, const char *reason)
{
    struct s_engine_rule *r = &e->rules[local];
    const struct pl_rule *rule = s_rule(e, local);
    if (!r->re) {
        r->re = s_pcre_compile(rule->pattern, rule->flags, "pattern");
        if (!r->re)
            return -1;
    }
    if (reason && !r->reason && !(r->reason = pl_strdup(reason)))
        return -1;
    r->fallback = true;
    return 0;
}

int pl_engine_index_fallbacks(struct pl_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++)
        n += e->rules[i].fallback;
    pl_free(e->fb);
    e->fb = NULL;
    e->n_fb = 0;
    if (!n)
        return 0;
    e->fb = pl_malloc(n * sizeof(*e->fb));
    if (!e->fb)
        return -1;
    for (size_t i = 0; i < e->n; i++)
        if (e->rules[i].fallback)
            e->fb[e->n_fb++] = (uint32_t)i;
    return 0;
}

/* ---- compile ---- */

#ifndef PL_ENGINE_RUNTIME_ONLY

/* Is p[i] escaped by an odd run of backslashes? */
static bool s_escaped(const char *p, size_t i)
{
    size_t k = 0;
    while (k < i && p[i - 1 - k] == '\\')
        k++;
    return k & 1;
}

/* leading/trailing `.*` can only be stripped when the pattern has no literal (\Q) or
 * extended-mode ((?x)) regions, where `.*` would not mean "any run" */
static bool s_strip_safe(const char *p)
{
    if (strstr(p, "\\Q"))
        return false;
    for (const char *q = strstr(p, "(?"); q; q = strstr(q + 2, "(?")) {
        for (const char *c = q + 2; *c && *c != ')' && *c != ':'; c++) {
            if (*c == 'x')
                return false;
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '-' || *c == '^'))
                break;
        }
    }
    return true;
}

/* The core Vectorscan scans: the pattern without leading and trailing `.*` (or `.*?`).
 * A match exists exactly when a match of the core exists, and a trailing `.*` would
 * otherwise report every byte to the end of the line. */
static char *s_core(const char *p)
{
    size_t start = 0, end = strlen(p);
    if (s_strip_safe(p)) {
        for (;;) {
            if (end - start >= 3 && p[start] == '.' && p[start + 1] == '*' && p[start + 2] == '?') {
                start += 3;
            } else if (end - start >= 2 && p[start] == '.' && p[start + 1] == '*' &&
                       !(end - start > 2 && (p[start + 2] == '+' || p[start + 2] == '{'))) {
                start += 2;
            } else {
                break;
            }
        }
        for (;;) {
            size_t e2 = end;
            if (e2 - start >= 3 && p[e2 - 1] == '?' && p[e2 - 2] == '*' && p[e2 - 3] == '.')
                e2 -= 3;
            else if (e2 - start >= 2 && p[e2 - 1] == '*' && p[e2 - 2] == '.')
                e2 -= 2;
            else
                break;
            /* the '.' must be a real dot: not escaped, not the argument of \c */
            if (s_escaped(p, e2))
                break;
            if (e2 >= 2 && p[e2 - 1] == 'c' && s_escaped(p, e2 - 1))
                break;
            if (e2 >= 1 && p[e2 - 1] == '|')
                break; /* `a|.*`: the core would change meaning */
            end = e2;
        }
        if (start < end && p[start] == '|')
            start = 0; /* `.*|a`: keep as written */
        if (start >= end) {
            start = 0;
            end = strlen(p);
        }
    }
    return pl_strndup(p + start, end - start);
}

static unsigned s_hs_flags(unsigned flags, unsigned options)
{
    unsigned f = 0;
    if (flags & PL_RULE_CASELESS)
        f |= HS_FLAG_CASELESS;
    if (flags & PL_RULE_DOTALL)
        f |= HS_FLAG_DOTALL;
    if (flags & PL_RULE_MULTILINE)
        f |= HS_FLAG_MULTILINE;
    if (options & PL_ENGINE_SINGLEMATCH)
        f |= HS_FLAG_SINGLEMATCH;
    return f;
}

static void s_baseline_platform(hs_platform_info_t *plat)
{
    memset(plat, 0, sizeof(*plat));
    plat->tune = HS_TUNE_FAMILY_GENERIC;
    plat->cpu_features = 0; /* no AVX2 / AVX-512: loads on every x86-64 Lambda CPU */
}

/* compile the candidates (not yet PCRE2) into one database; a pattern the multi-compile
 * rejects goes to PCRE2 and the rest is compiled again */
static int s_compile_db(struct pl_engine *e, char **cores, unsigned mode, hs_database_t **db,
                        bool fallback_on_error)
{
    int ret = -1;
    const char **exprs = pl_calloc(e->n ? e->n : 1, sizeof(*exprs));
    unsigned *flags = pl_calloc(e->n ? e->n : 1, sizeof(*flags));
    unsigned *ids = pl_calloc(e->n ? e->n : 1, sizeof(*ids));
    hs_platform_info_t plat;
    s_baseline_platform(&plat);
#ifndef PL_ENGINE_RUNTIME_ONLY
    if ((e->options & PL_ENGINE_HOST_TUNED) && hs_populate_platform(&plat) == HS_SUCCESS)
        /* this CPU, but no AVX-512: the scan code in use never is (hs_select.c) */
        plat.cpu_features &= ~(unsigned long long)(HS_CPU_FEATURES_AVX512 |
                                                   HS_CPU_FEATURES_AVX512VBMI);
#endif
    const hs_platform_info_t *platp = &plat;
    *db = NULL;
    if (!exprs || !flags || !ids)
        goto out;
    for (size_t attempt = 0; attempt <= e->n; attempt++) {
        unsigned count = 0;
        for (size_t i = 0; i < e->n; i++) {
            if (e->rules[i].fallback)
                continue;
            exprs[count] = cores[i];
            flags[count] = s_hs_flags(s_rule(e, i)->flags, e->options);
            ids[count] = (unsigned)i;
            count++;
        }
        if (count == 0) {
            ret = 0;
            goto out;
        }
        hs_compile_error_t *err = NULL;
        s_hs_alloc_failed = 0;
        hs_error_t rc = hs_compile_ext_multi(exprs, flags, ids, NULL, count, mode, platp, db, &err);
        if (rc == HS_SUCCESS) {
            ret = 0;
            goto out;
        }
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err && err->message ? err->message : "unknown error");
        int where = err ? err->expression : -1;
        if (err)
            hs_free_compile_error(err);
        *db = NULL;
        if (s_hs_alloc_failed || strstr(msg, "allocate")) {
            pl_raise(PL_ERR_NOMEM, "out of memory compiling the %s rules",
                     pl_target_name(e->target));
            goto out;
        }
        if (!fallback_on_error) {
            pl_raise(PL_ERR_ENGINE_COMPILE, "Vectorscan: %s", msg);
            goto out;
        }
        char reason[600];
        if (where >= 0 && (unsigned)where < count) {
            snprintf(reason, sizeof(reason), "Vectorscan: %s", msg);
            if (pl_engine_set_fallback(e, ids[where], reason))
                goto out;
            continue;
        }
        /* an error of the whole set (e.g. a resource limit): every rule to PCRE2, still
         * protected, slower */
        snprintf(reason, sizeof(reason), "Vectorscan could not build the database: %s", msg);
        for (unsigned k = 0; k < count; k++)
            if (pl_engine_set_fallback(e, ids[k], reason))
                goto out;
    }
    ret = 0;
out:
    pl_free(exprs);
    pl_free(flags);
    pl_free(ids);
    return ret;
}

static int s_compile_vectorscan(struct pl_engine *e)
{
    int ret = -1;
    char **cores = pl_calloc(e->n ? e->n : 1, sizeof(*cores));
    if (!cores)
        return -1;
    for (size_t i = 0; i < e->n; i++) {
        const struct pl_rule *r = s_rule(e, i);
        if (r->flags & PL_RULE_UTF8) {
            /* Vectorscan's UTF-8 mode is undefined on invalid UTF-8, which attackers send */
            if (pl_engine_set_fallback(e, i,
                                       "utf8 rules run on PCRE2 (input may be invalid "
                                       "UTF-8)"))
                goto out;
            continue;
        }
        if (!(cores[i] = s_core(r->pattern)))
            goto out;
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *err = NULL;
        s_hs_alloc_failed = 0;
        if (hs_expression_info(cores[i], s_hs_flags(r->flags, e->options), &info, &err) !=
            HS_SUCCESS) {
            char reason[600];
            snprintf(reason, sizeof(reason), "Vectorscan: %s",
                     err && err->message ? err->message : "unknown error");
            if (err)
                hs_free_compile_error(err);
            if (s_hs_alloc_failed) {
                pl_raise(PL_ERR_NOMEM, "out of memory checking rule '%s'", r->id);
                goto out;
            }
            if (pl_engine_set_fallback(e, i, reason))
                goto out;
            continue;
        }
        s_hs_free(info);
    }
    if (s_compile_db(e, cores, HS_MODE_BLOCK, &e->block, true))
        goto out;
    if (e->target == PL_TARGET_OUT && e->block) {
        /* responses are also scanned as streams; a stream database that cannot be built
         * leaves streams buffering (still correct) */
        if (s_compile_db(e, cores, HS_MODE_STREAM, &e->stream, false)) {
            if (pl_last_error() == PL_ERR_NOMEM)
                goto out;
            pl_log(PL_LOG_WARN, "engine",
                   "no stream database for the out rules (%s): "
                   "streams are buffered",
                   pl_last_error_msg());
            e->stream = NULL;
        }
    }
    ret = 0;
out:
    for (size_t i = 0; i < e->n; i++)
        pl_free(cores[i]);
    pl_free(cores);
    return ret;
}
#endif

int pl_engine_fallback_report(const struct pl_engine *e, struct pl_buf *report)
{
    for (size_t k = 0; e && k < e->n_fb; k++) {
        const struct s_engine_rule *r = &e->rules[e->fb[k]];
        const struct pl_rule *rule = s_rule(e, e->fb[k]);
        if (pl_buf_appendf(report, "%s:%u: %s rule '%s' runs on PCRE2: %s\n",
                           rule->source ? rule->source : "?", rule->line, pl_target_name(e->target),
                           rule->id, r->reason ? r->reason : "fallback"))
            return -1;
    }
    return 0;
}

int pl_engine_compile_ex(const struct pl_ruleset *set, enum pl_target target, unsigned options,
                         struct pl_engine **out, struct pl_buf *report)
{
    struct pl_engine *e = NULL;
    /* the one way to an engine from rules (the cache included) besides a database that
     * matches them: rules loaded with defer_check are validated here, before any compile,
     * with the loader's errors */
    if ((unsigned)target < PL_TARGET_COUNT && pl_ruleset_check(set, (int)target, PL_RULE_CHECK_ALL))
        return -1;
#ifndef PL_ENGINE_RUNTIME_ONLY
    if (pl_ruleset_count(set, target) > 0) {
        int hit = pl_engine_cache_load(set, target, options, &e);
        if (hit < 0)
            return -1;
        if (hit) {
            if (report && pl_engine_fallback_report(e, report))
                goto fail;
            *out = e;
            return 0;
        }
    }
#endif
    if (pl_engine_new_empty(set, target, options, &e))
        return -1;
#ifdef PL_ENGINE_RUNTIME_ONLY
    for (size_t i = 0; i < e->n; i++)
        if (pl_engine_set_fallback(e, i, "runtime-only build: no Vectorscan compiler"))
            goto fail;
#else
    if (s_compile_vectorscan(e))
        goto fail;
#endif
    if (pl_engine_index_fallbacks(e))
        goto fail;
#ifndef PL_ENGINE_RUNTIME_ONLY
    if (e->n > 0)
        pl_engine_cache_store(e);
#endif
    if (report && pl_engine_fallback_report(e, report))
        goto fail;
    *out = e;
    return 0;
fail:
    pl_engine_destroy(e);
    return -1;
}

int pl_engine_compile(const struct pl_ruleset *set, enum pl_target target, struct pl_engine **out,
                      struct pl_buf *report)
{
    return pl_engine_compile_ex(set, target, 0, out, report);
}

/* ---- scratch ---- */

struct pl_engine_scratch {
    const struct pl_engine *e;
    hs_scratch_t *hs;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
};

void pl_engine_scratch_destroy(struct pl_engine_scratch *s)
{
    if (!s)
        return;
    if (s->hs)
        hs_free_scratch(s->hs);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit);
    pl_free(s);
}

static int s_scratch_pcre(struct pl_engine_scratch *s)
{
    s->md = pcre2_match_data_create(1, s_gctx);
    s->mctx = pcre2_match_context_copy(s_mctx);
    s->jit = pcre2_jit_stack_create((size_t)32 * 1024, (size_t)1024 * 1024, s_gctx);
    if (!s->md || !s->mctx)
        return pl_raise(PL_ERR_NOMEM, "out of memory allocating scratch");
    if (s->jit)
        pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
    return 0;
}

int pl_engine_scratch_new(const struct pl_engine *e, struct pl_engine_scratch **out)
{
    if (s_ready())
        return -1;
    struct pl_engine_scratch *s = pl_calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->e = e;
    hs_error_t rc = HS_SUCCESS;
    if (e->block)
        rc = hs_alloc_scratch(e->block, &s->hs);
    if (rc == HS_SUCCESS && e->stream)
        rc = hs_alloc_scratch(e->stream, &s->hs);
    if (rc != HS_SUCCESS) {
        pl_raise(rc == HS_NOMEM ? PL_ERR_NOMEM : PL_ERR_ENGINE_SCAN,
                 "cannot allocate Vectorscan scratch (error %d)", rc);
        goto fail;
    }
    if (s_scratch_pcre(s))
        goto fail;
    *out = s;
    return 0;
fail:
    pl_engine_scratch_destroy(s);
    return -1;
}

int pl_engine_scratch_clone(const struct pl_engine_scratch *src, struct pl_engine_scratch **out)
{
    if (s_ready())
        return -1;
    struct pl_engine_scratch *s = pl_calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->e = src->e;
    if (src->hs) {
        hs_error_t rc = hs_clone_scratch(src->hs, &s->hs);
        if (rc != HS_SUCCESS) {
            pl_raise(rc == HS_NOMEM ? PL_ERR_NOMEM : PL_ERR_ENGINE_SCAN,
                     "cannot clone Vectorscan scratch (error %d)", rc);
            goto fail;
        }
    }
    if (s_scratch_pcre(s))
        goto fail;
    *out = s;
    return 0;
fail:
    pl_engine_scratch_destroy(s);
    return -1;
}

/* ---- scanning ---- */

struct s_cb {
    const struct pl_engine *e;
    pl_engine_match_fn fn;
    void *ctx;
};

static int s_on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                      void *p)
{
    (void)from;
    (void)flags;
    struct s_cb *cb = p;
    return cb->fn(cb->ctx, cb->e->rules[id].set_index, PL_ENGINE_NO_OFFSET, to);
}

static bool s_is_limit(int rc)
{
    return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
           rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
}

/* run the PCRE2 rules over data; 1 = callback stopped, 0 = done, -1 = error (limit) */
static int s_scan_fallbacks(const struct pl_engine *e, struct pl_engine_scratch *s,
                            const char *data, size_t len, pl_engine_match_fn fn, void *ctx)
{
    long limit_rule = -1;
    int other_rc = 0;
    for (size_t k = 0; k < e->n_fb; k++) {
        const struct s_engine_rule *r = &e->rules[e->fb[k]];
        int rc = pcre2_match(r->re, (PCRE2_SPTR)data, len, 0, 0, s->md, s->mctx);
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
            if (fn(ctx, r->set_index, ov[0], ov[1]))
                return 1;
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            if (limit_rule < 0)
                limit_rule = (long)e->fb[k];
            if (!s_is_limit(rc) && !other_rc)
                other_rc = rc;
        }
    }
    if (limit_rule >= 0) {
        const struct pl_rule *rule = s_rule(e, (size_t)limit_rule);
        if (other_rc) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(other_rc, msg, sizeof(msg));
            return pl_raise(PL_ERR_ENGINE_MATCH_LIMIT,
                            "rule '%s' could not be decided: PCRE2: %s (fail closed)", rule->id,
                            (const char *)msg);
        }
        return pl_raise(PL_ERR_ENGINE_MATCH_LIMIT,
                        "rule '%s' hit the PCRE2 match limit on %zu bytes (fail closed)", rule->id,
                        len);
    }
    return 0;
}

static int s_check_scratch(const struct pl_engine *e, const struct pl_engine_scratch *s)
{
    if (!e || !s || s->e != e)
        return pl_raise(PL_ERR_INVALID_ARG, "scratch was not made for this engine");
    return 0;
}

static int s_noop_match(void *ctx, uint32_t r, unsigned long long f, unsigned long long t)
{
    (void)ctx, (void)r, (void)f, (void)t;
    return 0;
}

int pl_engine_scan(const struct pl_engine *e, struct pl_engine_scratch *s, const char *data,
                   size_t len, pl_engine_match_fn fn, void *ctx)
{
    if (s_check_scratch(e, s))
        return -1;
    if (!fn)
        fn = s_noop_match;
    if (len > UINT_MAX)
        return pl_raise(PL_ERR_LIMIT, "scan of %zu bytes: larger than 4 GiB", len);
    if (!data)
        data = "";
    if (e->block) {
        struct s_cb cb = {e, fn, ctx};
        hs_error_t rc = hs_scan(e->block, data, (unsigned)len, 0, s->hs, s_on_match, &cb);
        if (rc == HS_SCAN_TERMINATED)
            return 0;
        if (rc != HS_SUCCESS)
            return pl_raise(PL_ERR_ENGINE_SCAN, "Vectorscan scan failed (error %d)", rc);
    }
    int rc = s_scan_fallbacks(e, s, data, len, fn, ctx);
    return rc < 0 ? -1 : 0;
}

/* ---- streams ---- */

struct pl_engine_stream {
    const struct pl_engine *e;
    hs_stream_t *hs;
    struct pl_buf buf;
    bool buffering;  /* keep the bytes for PCRE2 rules */
    bool buffer_all; /* no stream database: every rule runs over the buffer at close */
    bool overflow;
    bool stopped;
    unsigned long long total;
};

int pl_engine_stream_open(const struct pl_engine *e, struct pl_engine_stream **out)
{
    if (s_ready())
        return -1;
    struct pl_engine_stream *st = pl_calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->e = e;
    pl_buf_init(&st->buf);
    if (e->stream) {
        hs_error_t rc = hs_open_stream(e->stream, 0, &st->hs);
        if (rc != HS_SUCCESS) {
            pl_free(st);
            return pl_raise(rc == HS_NOMEM ? PL_ERR_NOMEM : PL_ERR_ENGINE_SCAN,
                            "cannot open a Vectorscan stream (error %d)", rc);
        }
        st->buffering = e->n_fb > 0;
    } else {
        st->buffer_all = st->buffering = e->n > 0;
    }
    *out = st;
    return 0;
}

int pl_engine_stream_scan(struct pl_engine_stream *st, struct pl_engine_scratch *s,
                          const char *data, size_t len, pl_engine_match_fn fn, void *ctx)
{
    if (s_check_scratch(st->e, s))
        return -1;
    if (!fn)
        fn = s_noop_match;
    if (st->stopped || len == 0)
        return 0;
    if (len > UINT_MAX)
        return pl_raise(PL_ERR_LIMIT, "stream chunk of %zu bytes: larger than 4 GiB", len);
    if (st->buffering && !st->overflow) {
        size_t room = PL_ENGINE_STREAM_BUFFER_MAX - st->buf.len;
        size_t take = len < room ? len : room;
        if (take && pl_buf_append(&st->buf, data, take))
            return -1;
        if (take < len)
            st->overflow = true;
    }
    st->total += len;
    if (st->hs) {
        struct s_cb cb = {st->e, fn, ctx};
        hs_error_t rc = hs_scan_stream(st->hs, data, (unsigned)len, 0, s->hs, s_on_match, &cb);
        if (rc == HS_SCAN_TERMINATED) {
            st->stopped = true;
            return 0;
        }
        if (rc != HS_SUCCESS)
            return pl_raise(PL_ERR_ENGINE_SCAN, "Vectorscan stream scan failed (error %d)", rc);
    }
    return 0;
}

int pl_engine_stream_close(struct pl_engine_stream *st, struct pl_engine_scratch *s,
                           pl_engine_match_fn fn, void *ctx)
{
    if (!st)
        return 0;
    int ret = 0;
    const struct pl_engine *e = st->e;
    bool deliver = fn && !st->stopped;
    if (deliver && s_check_scratch(e, s)) {
        deliver = false;
        ret = -1;
    }
    if (st->hs) {
        struct s_cb cb = {e, fn, ctx};
        hs_error_t rc = deliver ? hs_close_stream(st->hs, s->hs, s_on_match, &cb)
                                : hs_close_stream(st->hs, NULL, NULL, NULL);
        if (rc == HS_SCAN_TERMINATED)
            deliver = false;
        else if (rc != HS_SUCCESS && ret == 0)
            ret = pl_raise(PL_ERR_ENGINE_SCAN, "Vectorscan stream close failed (error %d)", rc);
    }
    if (deliver && ret == 0 && st->buffering) {
        int rc = st->buffer_all ? pl_engine_scan(e, s, st->buf.data, st->buf.len, fn, ctx)
                                : s_scan_fallbacks(e, s, st->buf.data, st->buf.len, fn, ctx);
        if (rc < 0)
            ret = -1;
        else if (st->overflow)
            ret = pl_raise(PL_ERR_ENGINE_MATCH_LIMIT,
                           "stream of %llu bytes: its PCRE2 rules saw only the first %zu bytes "
                           "(fail closed)",
                           st->total, PL_ENGINE_STREAM_BUFFER_MAX);
    }
    pl_buf_clean_up(&st->buf);
    pl_free(st);
    return ret;
}

/* ---- locate and allow-lists ---- */

/* the PCRE2 form of a pattern, compiled on first use; thread-safe */
static pcre2_code *s_lazy(pcre2_code **slot, const char *pattern, unsigned flags, const char *what)
{
    pcre2_code *re = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (re)
        return re;
    re = s_pcre_compile(pattern, flags, what);
    if (!re)
        return NULL;
    pcre2_code *expected = NULL;
    if (!__atomic_compare_exchange_n(slot, &expected, re, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        pcre2_code_free(re);
        re = expected;
    }
    return re;
}

/* 1 match, 0 none, -1 error */
static int s_match_once(const pcre2_code *re, const char *data, size_t len, size_t *from,
                        size_t *to, const char *id)
{
    pcre2_match_data *md = pcre2_match_data_create(1, s_gctx);
    if (!md)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    int rc = pcre2_match(re, (PCRE2_SPTR)(data ? data : ""), len, 0, 0, md, s_mctx);
    int ret;
    if (rc >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (from)
            *from = ov[0];
        if (to)
            *to = ov[1];
        ret = 1;
    } else if (rc == PCRE2_ERROR_NOMATCH) {
        ret = 0;
    } else {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        ret = pl_raise(PL_ERR_ENGINE_MATCH_LIMIT, "rule '%s' could not be decided: PCRE2: %s", id,
                       (const char *)msg);
    }
    pcre2_match_data_free(md);
    return ret;
}

int pl_engine_locate(const struct pl_engine *e, uint32_t rule_index, const char *data, size_t len,
                     size_t *from, size_t *to)
{
    if (s_ready())
        return -1;
    long l = e ? s_local(e, rule_index) : -1;
    if (l < 0)
        return pl_raise(PL_ERR_INVALID_ARG, "rule %u is not in this engine", rule_index);
    struct s_engine_rule *r = &((struct pl_engine *)e)->rules[l];
    const struct pl_rule *rule = s_rule(e, (size_t)l);
    pcre2_code *re = s_lazy(&r->re, rule->pattern, rule->flags, "pattern");
    if (!re)
        return -1;
    return s_match_once(re, data, len, from, to, rule->id);
}

int pl_engine_allowed(const struct pl_engine *e, uint32_t rule_index, const char *text, size_t len)
{
    if (s_ready())
        return -1;
    long l = e ? s_local(e, rule_index) : -1;
    if (l < 0)
        return pl_raise(PL_ERR_INVALID_ARG, "rule %u is not in this engine", rule_index);
    struct s_engine_rule *r = &((struct pl_engine *)e)->rules[l];
    const struct pl_rule *rule = s_rule(e, (size_t)l);
    for (size_t k = 0; k < r->n_allow; k++) {
        pcre2_code *re = s_lazy(&r->allow[k], rule->allow[k], rule->flags, "allow pattern");
        if (!re)
            return -1;
        int rc = s_match_once(re, text, len, NULL, NULL, rule->id);
        if (rc != 0)
            return rc;
    }
    return 0;
}
