/* The incident machinery: hot-path correlation and playbook, worker thread for the store,
 * shared correlation, quarantine persistence/polling and the Lambda API. */
#include "protectlambda/incidents.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "protectlambda/log.h"

#define S_RECENT 4096
#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 30000
#define S_QUARANTINE_BODY_ERROR "Function quarantined due to security incident"

struct s_work {
    struct pl_incident inc;
    bool quarantine_new; /* this incident started the quarantine: persist it (and remote) */
    bool terminate_new;  /* this incident started the termination: Lambda API */
    bool need_put;
};

struct s_recent {
    int64_t t;
    int type;
};

struct pl_incidents {
    const struct pl_config *cfg;
    pl_incidents_clock_fn clock;
    void *clock_ctx;
    struct pl_store *store; /* the worker's after pl_incidents_new returns */
    struct pl_sinks *sinks;
    struct s_recent *recent;
    struct s_work *inq;  /* hot path -> worker */
    struct s_work *pend; /* worker: waiting to be stored, in order */
    int64_t retention_s;
    long poll_ms;
    size_t recent_n, recent_head;
    size_t cap, head, n; /* inq */
    size_t phead, pn;    /* pend */
    uint64_t submit_seq, done_seq;
    uint64_t next_try_ns, backoff_ms, next_poll_ns;
    uint64_t id_seed, id_counter;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_idle;
    struct pl_playbook pb;
    struct pl_correlation corr;
    struct pl_lambda_api api;
    struct pl_quarantine q;
    struct pl_incidents_stats st;
    unsigned q_unpersisted; /* quarantines decided here, not yet in the store */
    int drop_logged, store_fail_logged, corr_fail_logged, poll_fail_logged;
    char function[128], version[32];
    bool dry_run;
    bool persistent; /* a store other processes can see (sqlite file, dynamodb) */
    bool quarantine_remote, terminate_remote;
    bool terminating;
    bool busy, stop, flushing;
    bool started;
};

static int64_t s_now(struct pl_incidents *x)
{
    return x->clock ? x->clock(x->clock_ctx) : pl_wall_ms();
}

const char *pl_incidents_function_name(const struct pl_config *cfg)
{
    const char *f = cfg ? pl_config_str(cfg, PL_CFG_FUNCTION_NAME) : NULL;
    if (f && *f)
        return f;
    f = getenv("AWS_LAMBDA_FUNCTION_NAME");
    if (f && *f)
        return f;
    return "local";
}

const char *pl_incidents_function(const struct pl_incidents *x)
{
    return x->function;
}
struct pl_sinks *pl_incidents_sinks(struct pl_incidents *x)
{
    return x->sinks;
}

static uint64_t s_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- hot path ---- */

static bool s_rule_matches(const struct pl_correlation_rule *r, int type)
{
    if (type == PL_EV_QUARANTINED_INVOCATION)
        return false; /* answers of a quarantine are not new security events */
    return !r->types || (r->types & (1ull << type));
}

/* count this sandbox's recent events of the rule's types within its window (mu held) */
static unsigned s_local_count(struct pl_incidents *x, const struct pl_correlation_rule *r,
                              int64_t now)
{
    unsigned n = 0;
    for (size_t i = 0; i < x->recent_n; i++) {
        const struct s_recent *e = &x->recent[(x->recent_head + S_RECENT - 1 - i) % S_RECENT];
        if (e->t <= now - r->window_ms || e->t > now)
            continue;
        if (s_rule_matches(r, e->type))
            n++;
    }
    return n;
}

static void s_fill(struct pl_incidents *x, struct pl_incident *inc, const struct pl_event *ev,
                   int64_t now)
{
    memset(inc, 0, sizeof(*inc));
    uint64_t r = s_mix(x->id_seed ^ ++x->id_counter);
    snprintf(inc->id, sizeof(inc->id), "inc-%013lld-%012llx", (long long)now,
             (unsigned long long)(r & 0xffffffffffffull));
    inc->time_ms = now;
    snprintf(inc->function, sizeof(inc->function), "%s", x->function);
    snprintf(inc->version, sizeof(inc->version), "%s", x->version);
    inc->type = ev->type;
    inc->severity = ev->severity;
    inc->level = ev->severity;
    PL_EVENT_SET(inc, source, ev->source);
    PL_EVENT_SET(inc, request_id, ev->request_id);
    PL_EVENT_SET(inc, rule, ev->rule);
    PL_EVENT_SET(inc, path, ev->path);
    PL_EVENT_SET(inc, detail, ev->detail);
    inc->expires_s = now / 1000 + x->retention_s;
}

int pl_incidents_report(struct pl_incidents *x, const struct pl_event *ev,
                        struct pl_incident_result *res)
{
    struct pl_incident_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if ((unsigned)ev->type >= PL_EV_COUNT || (unsigned)ev->severity >= PL_SEV_COUNT)
        return pl_raise(PL_ERR_INVALID_ARG, "event with an unknown type or severity");
    struct s_work w;
    pthread_mutex_lock(&x->mu);
    int64_t now = s_now(x);
    s_fill(x, &w.inc, ev, now);
    w.quarantine_new = w.terminate_new = false;
    w.need_put = true;
    /* correlation over this sandbox's recent events, this one included */
    x->recent[x->recent_head] = (struct s_recent){now, (int)ev->type};
    x->recent_head = (x->recent_head + 1) % S_RECENT;
    if (x->recent_n < S_RECENT)
        x->recent_n++;
    for (size_t i = 0; i < x->corr.n; i++) {
        const struct pl_correlation_rule *r = &x->corr.rules[i];
        if (!s_rule_matches(r, ev->type) || r->level <= w.inc.level)
            continue;
        if (s_local_count(x, r, now) >= r->count) {
            w.inc.level = r->level;
            snprintf(w.inc.correlation, sizeof(w.inc.correlation), "%s", r->name);
        }
    }
    if (w.inc.correlation[0])
        x->st.escalated++;
    unsigned actions = pl_playbook_actions(&x->pb, ev->type, w.inc.level);
    pl_actions_format(actions, w.inc.actions, sizeof(w.inc.actions));
    if (!x->dry_run) {
        if ((actions & PL_PB_QUARANTINE) && !x->q.active) {
            x->q.active = true;
            x->q.time_ms = now;
            snprintf(x->q.reason, sizeof(x->q.reason), "%s", pl_event_type_name(ev->type));
            snprintf(x->q.incident_id, sizeof(x->q.incident_id), "%s", w.inc.id);
            x->q_unpersisted++;
            w.quarantine_new = true;
        }
        if ((actions & PL_PB_TERMINATE) && !x->terminating) {
            x->terminating = true;
            w.terminate_new = true;
        }
        res->deny = (actions & (PL_PB_BLOCK | PL_PB_QUARANTINE | PL_PB_TERMINATE)) != 0;
        res->terminate = x->terminating && (actions & PL_PB_TERMINATE);
    }
    x->st.reported++;
    bool dropped = false;
    /* the bound covers both the incidents not yet seen by the worker and those waiting for
     * the store (DynamoDB down): past it, the new incident is not stored (counted, logged once) */
    if (x->n + x->pn >= x->cap) {
        dropped = true;
        x->st.store_dropped++;
        if (w.quarantine_new)
            x->q_unpersisted--; /* stays in memory only */
    } else {
        x->inq[(x->head + x->n) % x->cap] = w;
        x->n++;
        x->submit_seq++;
        pthread_cond_signal(&x->cv_work);
    }
    pthread_mutex_unlock(&x->mu);
    if (dropped)
        pl_log_once(x->drop_logged, PL_LOG_WARN, "incidents",
                    "incidents queue full (%zu): incident %s is not stored; further drops are "
                    "counted, not logged",
                    x->cap, w.inc.id);
    memcpy(res->id, w.inc.id, sizeof(res->id));
    res->level = w.inc.level;
    res->actions = actions;
    snprintf(res->correlation, sizeof(res->correlation), "%s", w.inc.correlation);
    pl_sinks_submit(x->sinks, &w.inc,
                    ((actions & PL_PB_ALERT) ? PL_SINKS_ALERT : 0u) |
                        ((actions & PL_PB_MONITOR) ? PL_SINKS_DETAIL : 0u),
                    w.inc.correlation[0] ? "correlated" : (x->dry_run ? "dry run" : NULL));
    pl_error_clear();
    return 0;
}

bool pl_incidents_quarantined(struct pl_incidents *x, struct pl_quarantine *q)
{
    pthread_mutex_lock(&x->mu);
    bool a = x->q.active;
    if (q && a)
        *q = x->q;
    else if (q)
        q->active = false;
    pthread_mutex_unlock(&x->mu);
    return a;
}

bool pl_incidents_quarantine_body(struct pl_incidents *x, struct pl_buf *body)
{
    struct pl_quarantine q;
    if (!pl_incidents_quarantined(x, &q))
        return false;
    char ts[40];
    pl_format_time(q.time_ms, ts, sizeof(ts));
    int rc = pl_buf_append_str(body, "{\"error\":\"" S_QUARANTINE_BODY_ERROR "\","
                                     "\"quarantine_reason\":");
    rc |= pl_buf_append_json_cstr(body, q.reason);
    rc |= pl_buf_append_str(body, ",\"quarantine_timestamp\":");
    rc |= pl_buf_append_json_cstr(body, ts);
    rc |= pl_buf_append_str(body, ",\"incident_id\":");
    rc |= pl_buf_append_json_cstr(body, q.incident_id);
    rc |= pl_buf_append_char(body, '}');
    return rc == 0;
}

void pl_incidents_note_quarantined_invocation(struct pl_incidents *x, const char *request_id)
{
    struct pl_incident inc;
    struct pl_event ev;
    pl_event_init(&ev, PL_EV_QUARANTINED_INVOCATION, PL_SEV_INFO, "incidents");
    PL_EVENT_SET(&ev, request_id, request_id ? request_id : "");
    PL_EVENT_SET(&ev, action, "deny");
    pthread_mutex_lock(&x->mu);
    int64_t now = s_now(x);
    s_fill(x, &inc, &ev, now);
    snprintf(inc.detail, sizeof(inc.detail), "answered 503: quarantined since incident %s (%s)",
             x->q.incident_id, x->q.reason);
    pthread_mutex_unlock(&x->mu);
    snprintf(inc.actions, sizeof(inc.actions), "block");
    pl_sinks_submit(x->sinks, &inc, 0, "quarantined invocation");
}

bool pl_incidents_terminating(struct pl_incidents *x)
{
    pthread_mutex_lock(&x->mu);
    bool t = x->terminating;
    pthread_mutex_unlock(&x->mu);
    return t;
}

/* ---- worker ---- */

static void s_count_lambda(struct pl_incidents *x, bool failure)
{
    pthread_mutex_lock(&x->mu);
    if (failure)
        x->st.lambda_failures++;
    else
        x->st.lambda_calls++;
    pthread_mutex_unlock(&x->mu);
}

static void s_remote_quarantine(struct pl_incidents *x, const struct pl_incident *inc)
{
    char ts[40];
    pl_format_time(inc->time_ms, ts, sizeof(ts));
    s_count_lambda(x, false);
    if (pl_lambda_quarantine(&x->api, x->function, pl_event_type_name(inc->type), ts) == 0) {
        pl_log(PL_LOG_WARN, "incidents",
               "function %s quarantined through the Lambda API (QUARANTINE_MODE added to its "
               "environment), incident %s",
               x->function, inc->id);
    } else {
        s_count_lambda(x, true);
        pl_log(PL_LOG_ERROR, "incidents", "remote quarantine of %s failed: %s", x->function,
               pl_last_error_msg());
    }
}

static void s_remote_terminate(struct pl_incidents *x, const struct pl_incident *inc)
{
    s_count_lambda(x, false);
    if (pl_lambda_put_concurrency(&x->api, x->function, 0) == 0) {
        pl_log(PL_LOG_ERROR, "incidents",
               "function %s terminated: reserved concurrency set to 0 (PutFunctionConcurrency), "
               "incident %s",
               x->function, inc->id);
    } else {
        s_count_lambda(x, true);
        pl_log(PL_LOG_ERROR, "incidents", "terminate of %s: PutFunctionConcurrency failed: %s",
               x->function, pl_last_error_msg());
    }
}

static bool s_store_backing_off(struct pl_incidents *x)
{
    return x->backoff_ms && pl_now_ns() < x->next_try_ns;
}

static void s_store_failed(struct pl_incidents *x, const char *what)
{
    x->backoff_ms = x->backoff_ms ? x->backoff_ms * 2 : S_BACKOFF_MIN_MS;
    if (x->backoff_ms > S_BACKOFF_MAX_MS)
        x->backoff_ms = S_BACKOFF_MAX_MS;
    x->next_try_ns = pl_now_ns() + x->backoff_ms * 1000000ull;
    pthread_mutex_lock(&x->mu);
    x->st.store_failures++;
    pthread_mutex_unlock(&x->mu);
    pl_log_once(x->store_fail_logged, PL_LOG_ERROR, "incidents",
                "store %s: %s failed: %s; incidents are kept (up to %zu) and retried with backoff",
                pl_store_describe(x->store), what, pl_last_error_msg(), x->cap);
}

static void s_store_ok(struct pl_incidents *x)
{
    if (x->backoff_ms && x->store_fail_logged)
        pl_log(PL_LOG_INFO, "incidents", "store %s reachable again", pl_store_describe(x->store));
    x->backoff_ms = 0;
    x->store_fail_logged = 0;
}

/* shared correlation: the store's window counts (every sandbox) */
static void s_shared_correlation(struct pl_incidents *x, struct s_work *w)
{
    if (!x->persistent || s_store_backing_off(x))
        return;
    struct pl_incident *inc = &w->inc;
    enum pl_severity before = inc->level;
    for (size_t i = 0; i < x->corr.n; i++) {
        const struct pl_correlation_rule *r = &x->corr.rules[i];
        if (!s_rule_matches(r, inc->type) || r->level <= inc->level)
            continue;
        size_t n = 0;
        uint64_t mask = r->types ? r->types : ~(1ull << PL_EV_QUARANTINED_INVOCATION);
        if (pl_store_count(x->store, x->function, inc->time_ms - r->window_ms + 1, inc->time_ms,
                           mask, &n)) {
            pl_log_once(x->corr_fail_logged, PL_LOG_WARN, "incidents",
                        "shared correlation unavailable (%s): this sandbox's events only",
                        pl_last_error_msg());
            return;
        }
        if (n + 1 >= r->count) { /* +1: this incident, not stored yet */
            inc->level = r->level;
            snprintf(inc->correlation, sizeof(inc->correlation), "%s", r->name);
        }
    }
    if (inc->level == before)
        return;
    /* escalated across sandboxes: add what the playbook says for the new level */
    unsigned old_actions = pl_playbook_actions(&x->pb, inc->type, before);
    unsigned now_actions = pl_playbook_actions(&x->pb, inc->type, inc->level);
    unsigned added = now_actions & ~old_actions;
    pl_actions_format(old_actions | now_actions, inc->actions, sizeof(inc->actions));
    pthread_mutex_lock(&x->mu);
    x->st.escalated++;
    if (!x->dry_run) {
        if ((added & PL_PB_QUARANTINE) && !x->q.active) {
            x->q.active = true;
            x->q.time_ms = inc->time_ms;
            snprintf(x->q.reason, sizeof(x->q.reason), "%s", pl_event_type_name(inc->type));
            snprintf(x->q.incident_id, sizeof(x->q.incident_id), "%s", inc->id);
            x->q_unpersisted++;
            w->quarantine_new = true;
        }
        if ((added & PL_PB_TERMINATE) && !x->terminating) {
            x->terminating = true;
            w->terminate_new = true;
        }
    }
    pthread_mutex_unlock(&x->mu);
    pl_sinks_submit(x->sinks, inc,
                    ((added & PL_PB_ALERT) ? PL_SINKS_ALERT : 0u) |
                        ((now_actions & PL_PB_MONITOR) ? PL_SINKS_DETAIL : 0u),
                    "escalated across sandboxes");
}

/* store what is pending, in order; stop at the first failure (backoff) */
static void s_persist_pending(struct pl_incidents *x, bool ignore_backoff)
{
    while (x->pn) {
        if (!ignore_backoff && s_store_backing_off(x))
            return;
        struct s_work *w = &x->pend[x->phead];
        if (w->quarantine_new) {
            struct pl_quarantine q;
            pthread_mutex_lock(&x->mu);
            q = x->q;
            pthread_mutex_unlock(&x->mu);
            if (!q.active || strcmp(q.incident_id, w->inc.id) != 0) {
                /* cleared meanwhile: store this incident's quarantine anyway as decided */
                memset(&q, 0, sizeof(q));
                q.active = true;
                q.time_ms = w->inc.time_ms;
                snprintf(q.reason, sizeof(q.reason), "%s", pl_event_type_name(w->inc.type));
                snprintf(q.incident_id, sizeof(q.incident_id), "%s", w->inc.id);
            }
            if (pl_store_set_quarantine(x->store, x->function, &q)) {
                s_store_failed(x, "writing the quarantine");
                return;
            }
            pthread_mutex_lock(&x->mu);
            w->quarantine_new = false;
            x->q_unpersisted--;
            pthread_mutex_unlock(&x->mu);
        }
        if (w->need_put) {
            if (pl_store_put(x->store, &w->inc)) {
                s_store_failed(x, "writing an incident");
                return;
            }
            w->need_put = false;
        }
        s_store_ok(x);
        pthread_mutex_lock(&x->mu);
        x->st.stored++;
        x->phead = (x->phead + 1) % x->cap;
        if (!--x->pn)
            x->phead = 0; /* empty: start over at slot 0 (as the inq) */
        pthread_mutex_unlock(&x->mu);
    }
}

static void s_poll_quarantine(struct pl_incidents *x)
{
    uint64_t now = pl_now_ns();
    if (now < x->next_poll_ns)
        return;
    x->next_poll_ns = now + (uint64_t)x->poll_ms * 1000000ull;
    if (!x->persistent || s_store_backing_off(x))
        return;
    struct pl_quarantine q;
    if (pl_store_get_quarantine(x->store, x->function, &q)) {
        pl_log_once(x->poll_fail_logged, PL_LOG_WARN, "incidents",
                    "cannot read the quarantine state: %s", pl_last_error_msg());
        return;
    }
    pthread_mutex_lock(&x->mu);
    if (x->q_unpersisted == 0 && !x->dry_run) {
        if (q.active && !x->q.active) {
            x->q = q;
            pl_log(
                PL_LOG_WARN, "incidents",
                "function %s is quarantined (set by another sandbox or the CLI): %s, incident %s",
                x->function, q.reason, q.incident_id);
        } else if (!q.active && x->q.active) {
            memset(&x->q, 0, sizeof(x->q));
            pl_log(PL_LOG_WARN, "incidents", "quarantine of %s cleared", x->function);
        }
    }
    pthread_mutex_unlock(&x->mu);
}

static void *s_worker(void *arg)
{
    struct pl_incidents *x = arg;
    struct s_work w;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        if (!x->n && !x->stop) {
            /* sleep until work arrives, a store retry or a quarantine poll is due (a spurious
             * wake-up only costs one idle pass) */
            uint64_t now = pl_now_ns(), wake = x->next_poll_ns;
            if (x->pn && x->next_try_ns < wake)
                wake = x->next_try_ns;
            if (x->flushing && x->pn)
                wake = now + 50 * 1000000ull;
            if (wake <= now)
                goto awake;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t d = wake - now;
            if (d > 60000000000ull)
                d = 60000000000ull;
            ts.tv_sec += (time_t)(d / 1000000000ull);
            ts.tv_nsec += (long)(d % 1000000000ull);
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&x->cv_work, &x->mu, &ts);
        }
    awake:
        if (x->stop && !x->flushing)
            break;
        bool have = false;
        if (x->n) {
            if (x->pn == x->cap) {
                /* pending is full (store down): the oldest waiting incident is given up */
                x->st.store_dropped++;
                x->phead = (x->phead + 1) % x->cap;
                x->pn--;
                pl_log_once(x->drop_logged, PL_LOG_WARN, "incidents",
                            "store unavailable and %zu incidents waiting: dropping the oldest; "
                            "further drops are counted, not logged",
                            x->cap);
            }
            w = x->inq[x->head];
            x->head = (x->head + 1) % x->cap;
            if (!--x->n)
                x->head = 0; /* empty: start over at slot 0, so a quiet queue touches only its
                              * first pages (RSS: docs/performance.md) */
            have = true;
        }
        x->busy = true;
        bool flushing = x->flushing;
        pthread_mutex_unlock(&x->mu);
        if (have) {
            s_shared_correlation(x, &w);
            if (w.quarantine_new && x->quarantine_remote)
                s_remote_quarantine(x, &w.inc);
            if (w.terminate_new && x->terminate_remote)
                s_remote_terminate(x, &w.inc);
            pthread_mutex_lock(&x->mu);
            x->pend[(x->phead + x->pn) % x->cap] = w;
            x->pn++;
            pthread_mutex_unlock(&x->mu);
        }
        s_persist_pending(x, flushing);
        s_poll_quarantine(x);
        pthread_mutex_lock(&x->mu);
        x->busy = false;
        if (have)
            x->done_seq++;
        pthread_cond_broadcast(&x->cv_idle);
        if (x->stop && (!x->flushing || (!x->n && !x->pn)))
            break;
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* ---- lifecycle ---- */

int pl_incidents_new(const struct pl_incidents_options *o, struct pl_incidents **out)
{
    *out = NULL;
    const struct pl_config *cfg = o->cfg;
    struct pl_incidents *x = pl_calloc(1, sizeof(*x));
    if (!x)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    x->cfg = cfg;
    x->clock = o->clock;
    x->clock_ctx = o->clock_ctx;
    x->dry_run = o->dry_run;
    snprintf(x->function, sizeof(x->function), "%s",
             o->function && *o->function ? o->function : pl_incidents_function_name(cfg));
    const char *ver = o->version;
    if (!ver || !*ver)
        ver = getenv("AWS_LAMBDA_FUNCTION_VERSION");
    snprintf(x->version, sizeof(x->version), "%s", ver && *ver ? ver : "$LATEST");
    pl_playbook_defaults(&x->pb);
    pl_correlation_defaults(&x->corr);
    if (pl_playbook_load(&x->pb, cfg) || pl_correlation_load(&x->corr, cfg))
        goto fail;
    x->retention_s = pl_config_int(cfg, PL_CFG_RETENTION_DAYS) * 86400;
    x->quarantine_remote = pl_config_bool(cfg, PL_CFG_QUARANTINE_REMOTE);
    x->terminate_remote = pl_config_bool(cfg, PL_CFG_TERMINATE_REMOTE);
    x->poll_ms = (long)pl_config_int(cfg, PL_CFG_QUARANTINE_POLL_MS);
    pl_lambda_api_init(&x->api, cfg);
    x->cap = (size_t)pl_config_int(cfg, PL_CFG_INCIDENTS_QUEUE);
    x->recent = pl_calloc(S_RECENT, sizeof(*x->recent));
    x->inq = pl_calloc(x->cap, sizeof(*x->inq));
    x->pend = pl_calloc(x->cap, sizeof(*x->pend));
    if (!x->recent || !x->inq || !x->pend) {
        pl_raise(PL_ERR_NOMEM, "out of memory (incidents queue of %zu)", x->cap);
        goto fail;
    }
    if (getrandom(&x->id_seed, sizeof(x->id_seed), GRND_NONBLOCK) != sizeof(x->id_seed))
        x->id_seed = pl_now_ns() ^ ((uint64_t)getpid() << 32);

    struct pl_store_options so;
    pl_store_options_from_config(&so, cfg);
    /* a new sandbox's SQLite store is made by its first incident, not at cold start */
    so.lazy_create = true;
    if (pl_store_open(&so, &x->store)) {
        pl_log(PL_LOG_ERROR, "incidents",
               "cannot open the incident store (%s): incidents are kept in memory only",
               pl_last_error_msg());
        so.kind = PL_STORE_NONE;
        if (pl_store_open(&so, &x->store))
            goto fail;
    }
    x->persistent = pl_store_kind(x->store) != PL_STORE_NONE;
    if (x->persistent) {
        /* a new sandbox honours an existing quarantine before its first invocation */
        if (pl_store_get_quarantine(x->store, x->function, &x->q))
            pl_log(PL_LOG_WARN, "incidents", "cannot read the quarantine state yet: %s",
                   pl_last_error_msg());
        else if (x->q.active && !x->dry_run)
            pl_log(PL_LOG_WARN, "incidents",
                   "function %s is quarantined (%s, incident %s): invocations are answered 503",
                   x->function, x->q.reason, x->q.incident_id);
        if (x->dry_run)
            memset(&x->q, 0, sizeof(x->q));
        size_t purged = 0;
        if (pl_store_purge(x->store, s_now(x) / 1000, &purged) == 0 && purged)
            pl_log(PL_LOG_INFO, "incidents", "%zu incidents past retention deleted", purged);
        pl_error_clear();
    }
    x->next_poll_ns = pl_now_ns() + (uint64_t)x->poll_ms * 1000000ull;

    struct pl_sinks_options sko;
    pl_sinks_options_from_config(&sko, cfg);
    if (o->emf_fd)
        sko.emf_fd = o->emf_fd;
    if (pl_sinks_new(&sko, &x->sinks))
        goto fail;

    pthread_mutex_init(&x->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cv_work, &ca);
    pthread_cond_init(&x->cv_idle, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&x->thread, NULL, s_worker, x);
    if (rc) {
        pl_raise(PL_ERR_INTERNAL, "incidents: cannot start the worker: %s", strerror(rc));
        pthread_mutex_destroy(&x->mu);
        pthread_cond_destroy(&x->cv_work);
        pthread_cond_destroy(&x->cv_idle);
        goto fail;
    }
    x->started = true;
    *out = x;
    return 0;
fail:
    pl_sinks_destroy(x->sinks);
    pl_store_close(x->store);
    pl_free(x->recent);
    pl_free(x->inq);
    pl_free(x->pend);
    pl_free(x);
    return -1;
}

static int s_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = pl_now_ns();
    if (now >= deadline_ns)
        return -1;
    uint64_t d = deadline_ns - now;
    ts.tv_sec += (time_t)(d / 1000000000ull);
    ts.tv_nsec += (long)(d % 1000000000ull);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
    return 0;
}

int pl_incidents_flush(struct pl_incidents *x, long deadline_ms)
{
    uint64_t deadline = pl_now_ns() + (uint64_t)(deadline_ms > 0 ? deadline_ms : 0) * 1000000ull;
    int ret = 0;
    pthread_mutex_lock(&x->mu);
    uint64_t target = x->submit_seq;
    x->flushing = true;
    pthread_cond_signal(&x->cv_work);
    while (x->done_seq < target || x->pn || x->busy) {
        if (s_wait_until(&x->cv_idle, &x->mu, deadline)) {
            ret = -1;
            break;
        }
    }
    size_t left = x->n + x->pn;
    x->flushing = false;
    pthread_mutex_unlock(&x->mu);
    /* the sinks get what is left of the deadline */
    uint64_t now = pl_now_ns();
    long left_ms = now < deadline ? (long)((deadline - now) / 1000000) : 0;
    int sret = pl_sinks_flush(x->sinks, left_ms);
    if (ret)
        return pl_raise(PL_ERR_LIMIT, "incidents flush: %zu incidents not stored within %ld ms",
                        left, deadline_ms);
    return sret;
}

void pl_incidents_get_stats(struct pl_incidents *x, struct pl_incidents_stats *st)
{
    pthread_mutex_lock(&x->mu);
    *st = x->st;
    st->store_pending = x->n + x->pn;
    pthread_mutex_unlock(&x->mu);
}

void pl_incidents_destroy(struct pl_incidents *x)
{
    if (!x)
        return;
    if (x->started) {
        pthread_mutex_lock(&x->mu);
        x->stop = true;
        x->flushing = false;
        pthread_cond_broadcast(&x->cv_work);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->thread, NULL);
        if (x->n + x->pn)
            pl_log(PL_LOG_WARN, "incidents", "%zu incidents not stored at exit", x->n + x->pn);
        pthread_mutex_destroy(&x->mu);
        pthread_cond_destroy(&x->cv_work);
        pthread_cond_destroy(&x->cv_idle);
    }
    pl_sinks_destroy(x->sinks);
    pl_store_close(x->store);
    pl_free(x->recent);
    pl_free(x->inq);
    pl_free(x->pend);
    pl_free(x);
}
