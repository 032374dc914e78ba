/* store = none: incidents kept in memory for this process only (correlation still works inside
 * one sandbox; nothing survives the process). Bounded: the oldest incidents are dropped. */
#include <stdio.h>
#include <string.h>

#include "store_impl.h"

#define S_MAX 1024

struct s_mem {
    struct pl_incident *inc; /* ring of S_MAX */
    size_t n, head;          /* head: index of the oldest when full */
    char q_function[128];
    struct pl_quarantine q;
};

static int s_init(struct pl_store *s)
{
    return 0;
}

static const struct pl_incident *s_at(struct s_mem *m, size_t i)
{
    return &m->inc[(m->head + i) % S_MAX];
}

static int s_put(struct pl_store *s, const struct pl_incident *inc)
{
    struct s_mem *m = s->impl;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(s_at(m, i)->id, inc->id))
            return 0;
    /* keep time order: incidents arrive in order in practice; insert by shifting if not */
    if (m->n < S_MAX) {
        m->inc[(m->head + m->n) % S_MAX] = *inc;
        m->n++;
    } else {
        m->inc[m->head] = *inc;
        m->head = (m->head + 1) % S_MAX;
    }
    return 0;
}

static bool s_match(const struct pl_incident *inc, const char *function)
{
    return !function || !*function || !strcmp(inc->function, function);
}

static int s_count(struct pl_store *s, const char *function, int64_t since_ms, int64_t until_ms,
                   uint64_t type_mask, size_t *count)
{
    struct s_mem *m = s->impl;
    for (size_t i = 0; i < m->n; i++) {
        const struct pl_incident *inc = s_at(m, i);
        if (s_match(inc, function) && inc->time_ms >= since_ms && inc->time_ms <= until_ms &&
            (!type_mask || (type_mask & (1ull << inc->type))))
            (*count)++;
    }
    return 0;
}

static int s_each(struct pl_store *s, const char *function, int64_t since_ms, pl_store_each_fn fn,
                  void *ctx)
{
    struct s_mem *m = s->impl;
    for (size_t i = 0; i < m->n; i++) {
        const struct pl_incident *inc = s_at(m, i);
        if (s_match(inc, function) && inc->time_ms >= since_ms) {
            int r = fn(ctx, inc);
            if (r)
                return r;
        }
    }
    return 0;
}

static int s_get_q(struct pl_store *s, const char *function, struct pl_quarantine *q)
{
    struct s_mem *m = s->impl;
    if (m->q.active && !strcmp(m->q_function, function))
        *q = m->q;
    return 0;
}

static int s_set_q(struct pl_store *s, const char *function, const struct pl_quarantine *q)
{
    struct s_mem *m = s->impl;
    if (m->q.active && !strcmp(m->q_function, function))
        return 0;
    m->q = *q;
    m->q.active = true;
    pl_event_set(m->q_function, sizeof(m->q_function), function);
    return 0;
}

static int s_clear_q(struct pl_store *s, const char *function)
{
    struct s_mem *m = s->impl;
    if (!strcmp(m->q_function, function))
        memset(&m->q, 0, sizeof(m->q));
    return 0;
}

static int s_purge(struct pl_store *s, int64_t now_s, size_t *deleted)
{
    return 0;
}

static void s_close(struct pl_store *s)
{
    struct s_mem *m = s->impl;
    if (m) {
        pl_free(m->inc);
        pl_free(m);
    }
}

static const struct pl_store_ops s_ops = {s_init,  s_put,     s_count, s_each, s_get_q,
                                          s_set_q, s_clear_q, s_purge, s_close};

int pl_store_memory_open(const struct pl_store_options *o, struct pl_store *s)
{
    struct s_mem *m = pl_calloc(1, sizeof(*m));
    if (!m || !(m->inc = pl_calloc(S_MAX, sizeof(*m->inc)))) {
        pl_free(m);
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    }
    s->impl = m;
    s->ops = &s_ops;
    snprintf(s->describe, sizeof(s->describe), "memory");
    return 0;
}
