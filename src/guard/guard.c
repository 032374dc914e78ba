/* The guard: rules, cold-start checks, verdicts, deny answers, modes, events.
 * See include/protectlambda/guard.h. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hooks.h"
#include "protectlambda/guard.h"
#include "protectlambda/harden.h"
#include "protectlambda/log.h"
#include "protectlambda/proxy.h"

#define S_COMPONENT "guard"
#define S_MAX_STREAM_HITS 16
#define S_MAX_CODE_HITS 8
#define S_SETS 2
#define S_IDLE_SESSIONS 8

struct pl_guard {
    const struct pl_config *cfg;
    /* the incident store opens (SQLite: open, WAL, schema, fsync: 2-5 ms) beside the rules
     * loading, on its own thread: both are on the cold start's path, neither needs the other */
    pthread_t inc_thread;
    int inc_running; /* the thread exists (read and written by the caller's thread only) */
    int inc_rc;      /* its pl_guard_hook_incidents_init, read after the join */
    bool monitor, fail_open, deny_as_error, deny_on_bound;
    /* two rule sets: [0] the packs (rules_dir + the setting `rules`: what rules.db holds),
     * [1] the function's own *_protect.txt (task root and /opt), compiled at cold start, so a
     * function's own rules never make the precompiled database stale */
    struct pl_ruleset rules[S_SETS];
    struct pl_engine *engines[S_SETS][PL_TARGET_COUNT];
    struct pl_inspect_limits limits;
    char task_root[1024];
    char inc_msg[512]; /* why the store did not open on its thread */

    pthread_mutex_t lock; /* everything below */
    bool deny_all;
    char deny_reason[512];
    /* deny-action code findings (first one per rule), logged on every invocation */
    struct s_code_hit {
        char rule[256], category[64], file[512];
        enum pl_severity severity;
        uint32_t line;
    } code[S_MAX_CODE_HITS];
    size_t n_code;
    bool code_violation;
    char request_id[128]; /* invocation in flight */
    bool http_event, tainted;
    uint64_t invocations, denied;
    bool terminate;

    /* idle sessions kept for the next runtime connection (curl-based runtimes open one per
     * request; a session costs ~1 ms to build: checkers and scratch) */
    struct pl_guard_session *idle[S_IDLE_SESSIONS];
    size_t n_idle;

    void (*terminate_fn)(void *);
    void *terminate_ctx;
    bool terminate_called;

    pthread_mutex_t event_lock; /* serialises the incidents hook */
    char fn_name[128], fn_version[64];
    struct pl_proxy *proxy;
};

struct pl_guard_session {
    struct pl_guard *g;
    struct pl_checker in[S_SETS], out[S_SETS];
    bool in_ok[S_SETS], out_ok[S_SETS];
    struct pl_verdict v, v2;
    struct pl_buf tmp;
    /* streamed response */
    struct pl_engine_stream *st[S_SETS];
    int cur_set; /* set whose stream is being scanned (match callback) */
    char stream_rid[128];
    bool stream_denied;
    uint32_t hits[S_MAX_STREAM_HITS];
    uint8_t hit_set[S_MAX_STREAM_HITS];
    size_t n_hits;
    unsigned long long hit_offset;
    struct pl_buf overlap;
};

/* ---------------------------------------------------------------- helpers */

static bool s_is_dir(const char *p)
{
    struct stat st;
    return p && *p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool s_is_file(const char *p)
{
    struct stat st;
    return p && *p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *s_rule_id(const struct pl_rule *r) { return r && r->id ? r->id : "canary"; }

static void s_field_str(struct pl_buf *b, const char *name, const char *value)
{
    if (b->len)
        pl_buf_append_char(b, ',');
    pl_buf_append_json_cstr(b, name);
    pl_buf_append_char(b, ':');
    pl_buf_append_json_cstr(b, value ? value : "");
}

static void s_field_num(struct pl_buf *b, const char *name, long long v)
{
    if (b->len)
        pl_buf_append_char(b, ',');
    pl_buf_appendf(b, "\"%s\":%lld", name, v);
}

static void s_event_fields(const struct pl_event *ev, struct pl_buf *b)
{
    s_field_str(b, "type", pl_event_type_name(ev->type));
    s_field_str(b, "severity", pl_severity_name(ev->severity));
    s_field_str(b, "source", ev->source);
    if (ev->request_id[0])
        s_field_str(b, "request_id", ev->request_id);
    if (ev->rule[0])
        s_field_str(b, "rule", ev->rule);
    if (ev->path[0])
        s_field_str(b, "path", ev->path);
    if (ev->action[0])
        s_field_str(b, "action", ev->action);
    if (ev->pid)
        s_field_num(b, "pid", ev->pid);
}

/* log the event line (message = detail), ask the incidents hook, apply the decision */
static int s_report(struct pl_guard *g, const struct pl_event *ev, const char *extra,
                    struct pl_guard_decision *out)
{
    struct pl_buf f = PL_BUF_INIT;
    s_event_fields(ev, &f);
    if (extra && *extra) {
        pl_buf_append_char(&f, ',');
        pl_buf_append_str(&f, extra);
    }
    pl_log_fields(PL_LOG_WARN, S_COMPONENT, f.data ? f.data : "", "%s",
                  ev->detail[0] ? ev->detail : pl_event_type_name(ev->type));
    pl_buf_clean_up(&f);

    struct pl_guard_decision d = {.block = !g->monitor && !strcmp(ev->action, "deny")};
    pthread_mutex_lock(&g->event_lock);
    int rc = pl_guard_hook_event(g, ev, &d);
    pthread_mutex_unlock(&g->event_lock);
    if (rc)
        pl_log(PL_LOG_ERROR, S_COMPONENT, "incidents hook failed: %s", pl_last_error_msg());
    if (g->monitor)
        d.block = false;
    pthread_mutex_lock(&g->lock);
    if (d.block && g->request_id[0] &&
        (!ev->request_id[0] || !strcmp(ev->request_id, g->request_id)))
        g->tainted = true;
    if (d.terminate)
        g->terminate = true;
    pthread_mutex_unlock(&g->lock);
    if (out)
        *out = d;
    return 0;
}

int pl_guard_report_event(struct pl_guard *g, const struct pl_event *ev,
                          struct pl_guard_decision *d)
{
    if (!g || !ev)
        return pl_raise(PL_ERR_INVALID_ARG, "no guard or event");
    return s_report(g, ev, NULL, d);
}

static const char *s_mode_action(const struct pl_guard *g, bool deny)
{
    return deny ? (g->monitor ? "log" : "deny") : "log";
}

/* a guard failure (cannot inspect) as an event */
static void s_report_failure(struct pl_guard *g, const char *request_id, const char *what,
                             bool denied)
{
    struct pl_event ev;
    pl_event_init(&ev, PL_EV_GUARD_FAILURE, PL_SEV_HIGH, "guard");
    PL_EVENT_SET(&ev, request_id, request_id);
    PL_EVENT_SET(&ev, action, denied ? "deny" : "allow");
    snprintf(ev.detail, sizeof(ev.detail), "Guard cannot inspect: %s (%s)", what,
             denied ? "denied: fail closed" : (g->monitor ? "monitor mode" : "fail open"));
    s_report(g, &ev, NULL, NULL);
}

/* an inspection step failed (what: the step; the pending error says why): report it; true
 * when that denies (fail closed unless fail=open or monitor mode) */
static bool s_fail_closed(struct pl_guard *g, const char *request_id, const char *what)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "%s: %s", what, pl_last_error_msg());
    bool d = !g->monitor && !g->fail_open;
    s_report_failure(g, request_id, msg, d);
    return d;
}

/* a payload past an inspection bound: report it; true when on_bound=deny denies it. With a
 * reason: "<what> past an inspection bound: <reason>", else what is the whole message. */
static bool s_bound_denies(struct pl_guard *g, const char *request_id, const char *what,
                           const char *reason)
{
    char msg[200];
    if (reason)
        snprintf(msg, sizeof(msg), "%s past an inspection bound: %s", what, reason);
    else
        snprintf(msg, sizeof(msg), "%s", what);
    bool d = !g->monitor && g->deny_on_bound;
    s_report_failure(g, request_id, msg, d);
    return d;
}

/* one rule match of the in / out / code rules → log line + event; returns the decision */
static struct pl_guard_decision s_report_match(struct pl_guard *g, enum pl_target t,
                                               const char *request_id, const struct pl_match *m)
{
    static const char *const what[] = {"Code", "In", "Out"};
    static const enum pl_event_type types[] = {PL_EV_CODE_RULE_VIOLATION,
                                               PL_EV_IN_RULE_VIOLATION,
                                               PL_EV_OUT_RULE_VIOLATION};
    const struct pl_rule *r = m->rule;
    enum pl_action act = r ? r->action : PL_ACTION_DENY;
    struct pl_event ev;
    pl_event_init(&ev, types[t], r ? r->severity : PL_SEV_HIGH, "guard");
    PL_EVENT_SET(&ev, request_id, request_id);
    PL_EVENT_SET(&ev, rule, s_rule_id(r));
    PL_EVENT_SET(&ev, path, m->path);
    const char *action = act == PL_ACTION_DENY ? s_mode_action(g, true)
                         : act == PL_ACTION_REDACT ? (g->monitor ? "log" : "redact")
                                                   : "log";
    PL_EVENT_SET(&ev, action, action);
    snprintf(ev.detail, sizeof(ev.detail), "%s Rule violation for %s", what[t], s_rule_id(r));
    struct pl_buf x = PL_BUF_INIT;
    s_field_str(&x, "category", r && r->category ? r->category : "canary");
    s_field_str(&x, "decoding", pl_decoding_name(m->decoding));
    if (r && r->message)
        s_field_str(&x, "rule_message", r->message);
    /* the matched text of an out rule may be the secret itself: never logged */
    if (t != PL_TARGET_OUT && m->excerpt)
        s_field_str(&x, "excerpt", m->excerpt);
    s_field_str(&x, "mode", g->monitor ? "monitor" : "block");
    struct pl_guard_decision d;
    s_report(g, &ev, x.data, &d);
    pl_buf_clean_up(&x);
    return d;
}

/* ---------------------------------------------------------------- lifecycle */

int pl_guard_new(const struct pl_config *cfg, struct pl_guard **out)
{
    *out = NULL;
    struct pl_guard *g = pl_calloc(1, sizeof(*g));
    if (!g)
        return -1;
    g->cfg = cfg;
    g->monitor = !strcmp(pl_config_str(cfg, PL_CFG_MODE), "monitor");
    g->fail_open = !strcmp(pl_config_str(cfg, PL_CFG_FAIL), "open");
    g->deny_as_error = pl_config_bool(cfg, PL_CFG_DENY_AS_ERROR);
    g->deny_on_bound = !strcmp(pl_config_str(cfg, PL_CFG_ON_BOUND), "deny");
    pl_inspect_limits_default(&g->limits);
    g->limits.max_depth = (uint32_t)pl_config_int(cfg, PL_CFG_MAX_DEPTH);
    g->limits.max_items = (uint64_t)pl_config_int(cfg, PL_CFG_MAX_KEYS);
    g->limits.max_decoded = (uint64_t)pl_config_int(cfg, PL_CFG_MAX_DECODED);
    g->limits.decode_rounds = (uint32_t)pl_config_int(cfg, PL_CFG_DECODE_ROUNDS);
    const char *tr = pl_config_str(cfg, PL_CFG_TASK_ROOT);
    if (!*tr)
        tr = getenv("LAMBDA_TASK_ROOT");
    snprintf(g->task_root, sizeof(g->task_root), "%s", tr ? tr : "");
    const char *fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    const char *fv = getenv("AWS_LAMBDA_FUNCTION_VERSION");
    snprintf(g->fn_name, sizeof(g->fn_name), "%s", fn ? fn : "");
    snprintf(g->fn_version, sizeof(g->fn_version), "%s", fv ? fv : "");
    if (pl_ruleset_init(&g->rules[0]) || pl_ruleset_init(&g->rules[1])) {
        pl_ruleset_clean_up(&g->rules[0]);
        pl_free(g);
        return -1;
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->event_lock, NULL);
    /* before any thread that may load libcurl (the incidents store) */
    pl_guard_hook_integrity_early(g);
    *out = g;
    return 0;
}

void pl_guard_destroy(struct pl_guard *g)
{
    if (!g)
        return;
    if (g->inc_running) {
        pthread_join(g->inc_thread, NULL);
        g->inc_running = 0;
    }
    pl_guard_stop(g);
    pl_guard_hook_integrity_release(g);
    for (size_t i = 0; i < g->n_idle; i++)
        pl_guard_session_destroy(g->idle[i]);
    g->n_idle = 0;
    for (int k = 0; k < S_SETS; k++) {
        for (int t = 0; t < PL_TARGET_COUNT; t++)
            pl_engine_destroy(g->engines[k][t]);
        pl_ruleset_clean_up(&g->rules[k]);
    }
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->event_lock);
    pl_free(g);
}

void pl_guard_deny_all(struct pl_guard *g, const char *reason)
{
    pthread_mutex_lock(&g->lock);
    bool first = !g->deny_all;
    g->deny_all = true;
    if (first)
        snprintf(g->deny_reason, sizeof(g->deny_reason), "%s", reason ? reason : "guard failure");
    pthread_mutex_unlock(&g->lock);
    if (first)
        pl_log(PL_LOG_ERROR, S_COMPONENT, "%s: %s", reason ? reason : "guard failure",
               g->monitor ? "monitor mode: invocations are logged, not denied"
                          : "denying every invocation");
}

bool pl_guard_denying_all(struct pl_guard *g)
{
    pthread_mutex_lock(&g->lock);
    bool r = g->deny_all;
    pthread_mutex_unlock(&g->lock);
    return r;
}

static int s_load_classic(struct pl_guard *g, const char *dir)
{
    static const char *const names[PL_TARGET_COUNT] = {"code_protect.txt", "in_protect.txt",
                                                       "out_protect.txt"};
    if (!s_is_dir(dir))
        return 0;
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", dir, names[t]);
        if (!s_is_file(path))
            continue;
        if (pl_rules_load_classic(&g->rules[1], path, (enum pl_target)t))
            return -1;
        pl_log(PL_LOG_DEBUG, S_COMPONENT, "loaded %s", path);
    }
    return 0;
}

static void *s_incidents_init_main(void *arg)
{
    struct pl_guard *g = arg;
    g->inc_rc = pl_guard_hook_incidents_init(g);
    if (g->inc_rc)
        snprintf(g->inc_msg, sizeof(g->inc_msg), "%s", pl_last_error_msg());
    return NULL;
}

void pl_guard_incidents_begin(struct pl_guard *g)
{
    if (!g->inc_running && pthread_create(&g->inc_thread, NULL, s_incidents_init_main, g) == 0)
        g->inc_running = 1;
    /* the manifests' hashing too: nothing it needs comes from the rules */
    pl_guard_hook_integrity_begin(g);
}

/* wait for the store opened beside the rules; it is opened here instead when that did not
 * start (or failed: tried again, and the error reported as before) */
static void s_incidents_join(struct pl_guard *g)
{
    if (g->inc_running) {
        pthread_join(g->inc_thread, NULL);
        g->inc_running = 0;
        if (g->inc_rc == 0)
            return;
        pl_log(PL_LOG_WARN, S_COMPONENT, "incidents init failed (retrying): %s", g->inc_msg);
    }
    if (pl_guard_hook_incidents_init(g))
        pl_log(PL_LOG_ERROR, S_COMPONENT, "incidents init failed: %s", pl_last_error_msg());
}

int pl_guard_load_rules(struct pl_guard *g)
{
    const struct pl_config *cfg = g->cfg;
    struct pl_buf report = PL_BUF_INIT;
    uint64_t t0 = pl_now_ns();
    const char *dir = pl_config_str(cfg, PL_CFG_RULES_DIR);
    /* the packs' patterns are validated only when rules.db cannot stand for it (it was
     * compiled from them): the PCRE2 compile of every pattern is off the cold start then;
     * a bad pattern still fails the load when the database is stale or missing */
    g->rules[0].defer_check = *pl_config_str(cfg, PL_CFG_RULES_DB) != '\0';
    if (*dir) {
        if (s_is_dir(dir)) {
            if (pl_rules_load(&g->rules[0], dir, -1))
                goto fail;
        } else if (cfg->v[PL_CFG_RULES_DIR].origin == PL_ORIGIN_DEFAULT) {
            pl_log(PL_LOG_WARN, S_COMPONENT, "default rule packs not found at %s", dir);
        } else {
            pl_raise(PL_ERR_NOT_FOUND, "rules_dir %s: not a directory", dir);
            goto fail;
        }
    }
    if (s_load_classic(g, g->task_root))
        goto fail;
    const char *layers = pl_config_str(cfg, PL_CFG_LAYERS_ROOT);
    if (*layers && strcmp(g->task_root, layers) && s_load_classic(g, layers))
        goto fail;
    size_t n;
    char *const *extra = pl_config_list(cfg, PL_CFG_RULES, &n);
    for (size_t i = 0; i < n; i++) {
        if (!*extra[i])
            continue;
        if (pl_rules_load(&g->rules[0], extra[i], -1))
            goto fail;
    }
    if (pl_ruleset_validate(&g->rules[0]) || pl_ruleset_validate(&g->rules[1]))
        goto fail;
    if (pl_engine_load_or_compile(pl_config_str(cfg, PL_CFG_RULES_DB), &g->rules[0],
                                  g->engines[0], &report))
        goto fail;
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        if (pl_ruleset_count(&g->rules[1], (enum pl_target)t) &&
            pl_engine_compile(&g->rules[1], (enum pl_target)t, &g->engines[1][t], &report))
            goto fail;
    if (report.len)
        pl_log(PL_LOG_DEBUG, S_COMPONENT, "engine: %s", report.data);
    pl_buf_clean_up(&report);
    pl_log(PL_LOG_DEBUG, S_COMPONENT,
           "rules loaded: packs %zu code, %zu in, %zu out; function's own %zu code, %zu in, "
           "%zu out; Vectorscan scan code %s; in %llu us",
           pl_ruleset_count(&g->rules[0], PL_TARGET_CODE),
           pl_ruleset_count(&g->rules[0], PL_TARGET_IN),
           pl_ruleset_count(&g->rules[0], PL_TARGET_OUT),
           pl_ruleset_count(&g->rules[1], PL_TARGET_CODE),
           pl_ruleset_count(&g->rules[1], PL_TARGET_IN),
           pl_ruleset_count(&g->rules[1], PL_TARGET_OUT),
           pl_engine_scan_impl(),
           (unsigned long long)((pl_now_ns() - t0) / 1000));
    return 0;
fail:;
    if (g->inc_running) /* the store opening beside: the failure below is an incident too */
        s_incidents_join(g);
    char msg[600];
    snprintf(msg, sizeof(msg), "rules failed to load: %s", pl_last_error_msg());
    pl_buf_clean_up(&report);
    for (int k = 0; k < S_SETS; k++)
        for (int t = 0; t < PL_TARGET_COUNT; t++) {
            pl_engine_destroy(g->engines[k][t]);
            g->engines[k][t] = NULL;
        }
    struct pl_event ev;
    pl_event_init(&ev, PL_EV_GUARD_FAILURE, PL_SEV_CRITICAL, "guard");
    PL_EVENT_SET(&ev, action, g->monitor ? "log" : "deny");
    PL_EVENT_SET(&ev, detail, msg);
    s_report(g, &ev, NULL, NULL);
    pl_guard_deny_all(g, msg);
    return pl_raise(PL_ERR_GUARD, "%s", msg);
}

/* scan the task root with the code rules of one set */
static int s_code_scan_set(struct pl_guard *g, int k, char *const *skips, size_t n_skips)
{
    const struct pl_engine *e = g->engines[k][PL_TARGET_CODE];
    if (!e)
        return 0;
    struct pl_code_scan scan;
    pl_code_scan_init(&scan);
    char *root = g->task_root;
    uint64_t t0 = pl_now_ns();
    int rc = pl_code_scan_paths(&g->rules[k], e, &root, 1, skips, n_skips, &scan);
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof(msg), "code scan of %.200s failed: %.300s", g->task_root,
                 pl_last_error_msg());
        pl_code_scan_clean_up(&scan);
        s_report_failure(g, "", msg, !g->fail_open && !g->monitor);
        if (!g->fail_open)
            pl_guard_deny_all(g, msg);
        return -1;
    }
    for (size_t i = 0; i < scan.n; i++) {
        const struct pl_code_finding *f = &scan.findings[i];
        struct pl_match m = {.rule_index = f->rule_index, .rule = f->rule, .path = f->file,
                             .decoding = PL_DEC_NONE, .excerpt = f->excerpt,
                             .line = f->line, .column = f->column};
        char where[1100];
        snprintf(where, sizeof(where), "%s:%u", f->file, f->line);
        m.path = where;
        s_report_match(g, PL_TARGET_CODE, "", &m);
        if (f->rule && f->rule->action == PL_ACTION_DENY) {
            pthread_mutex_lock(&g->lock);
            bool seen = false;
            for (size_t k = 0; k < g->n_code; k++)
                if (!strcmp(g->code[k].rule, s_rule_id(f->rule)))
                    seen = true;
            if (!seen && g->n_code < S_MAX_CODE_HITS) {
                struct s_code_hit *h = &g->code[g->n_code++];
                snprintf(h->rule, sizeof(h->rule), "%s", s_rule_id(f->rule));
                snprintf(h->category, sizeof(h->category), "%s",
                         f->rule->category ? f->rule->category : "");
                snprintf(h->file, sizeof(h->file), "%s", f->file);
                h->line = f->line;
                h->severity = f->rule->severity;
            }
            g->code_violation = true;
            pthread_mutex_unlock(&g->lock);
        }
    }
    pl_log(PL_LOG_DEBUG, S_COMPONENT, "code scan: %zu files, %zu findings in %llu us",
           scan.files_scanned, scan.n, (unsigned long long)((pl_now_ns() - t0) / 1000));
    pl_code_scan_clean_up(&scan);
    return 0;
}

static int s_code_scan(struct pl_guard *g)
{
    if (!pl_config_bool(g->cfg, PL_CFG_CODE_SCAN) || !g->task_root[0] ||
        (!g->engines[0][PL_TARGET_CODE] && !g->engines[1][PL_TARGET_CODE]))
        return 0;
    if (!s_is_dir(g->task_root)) {
        pl_log(PL_LOG_WARN, S_COMPONENT, "task root %s is not a directory: code not scanned",
               g->task_root);
        return 0;
    }
    /* the rule files themselves are not code */
    size_t n_skip;
    char *const *skip = pl_config_list(g->cfg, PL_CFG_SCAN_SKIP, &n_skip);
    char *skips[n_skip + 4];
    for (size_t i = 0; i < n_skip; i++)
        skips[i] = skip[i];
    skips[n_skip] = (char *)"code_protect.txt";
    skips[n_skip + 1] = (char *)"in_protect.txt";
    skips[n_skip + 2] = (char *)"out_protect.txt";
    skips[n_skip + 3] = NULL;
    /* the function's own rules first: their lines lead the per-invocation log */
    if (s_code_scan_set(g, 1, skips, n_skip + 3) || s_code_scan_set(g, 0, skips, n_skip + 3))
        return -1;
    if (g->code_violation) {
        char msg[800];
        snprintf(msg, sizeof(msg), "code rule violations in %.400s (%zu rule%s)", g->task_root,
                 g->n_code, g->n_code == 1 ? "" : "s");
        pl_guard_deny_all(g, msg);
    }
    return 0;
}

int pl_guard_cold_start(struct pl_guard *g)
{
    uint64_t t[5];
    t[0] = pl_now_ns();
    s_incidents_join(g);
    t[1] = pl_now_ns();
    s_code_scan(g);
    t[2] = pl_now_ns();
    if (pl_guard_hook_cold_start_integrity(g)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "integrity check failed: %s", pl_last_error_msg());
        s_report_failure(g, "", msg, !g->fail_open && !g->monitor);
        if (!g->fail_open)
            pl_guard_deny_all(g, msg);
    }
    t[3] = pl_now_ns();
    if (pl_guard_hook_monitor_start(g))
        pl_log(PL_LOG_ERROR, S_COMPONENT, "monitor listener failed to start: %s",
               pl_last_error_msg());
    t[4] = pl_now_ns();
    /* where the extension's start goes (it delays the runtime's start in Lambda) */
    pl_log(PL_LOG_DEBUG, S_COMPONENT,
           "cold start: incidents %llu us, code scan %llu us, integrity %llu us, monitor %llu us",
           (unsigned long long)((t[1] - t[0]) / 1000), (unsigned long long)((t[2] - t[1]) / 1000),
           (unsigned long long)((t[3] - t[2]) / 1000), (unsigned long long)((t[4] - t[3]) / 1000));
    return 0;
}

void pl_guard_shutdown(struct pl_guard *g, const char *reason)
{
    pl_guard_hook_shutdown(g);
    uint64_t inv, den;
    pl_guard_stats(g, &inv, &den);
    char f[400];
    int n = snprintf(f, sizeof(f), "\"invocations\":%llu,\"denied\":%llu",
                     (unsigned long long)inv, (unsigned long long)den);
    if (g->proxy && n > 0 && (size_t)n < sizeof(f)) {
        /* the guard's own time on the invocations' path (docs/performance.md) */
        struct pl_proxy_stats st;
        pl_proxy_stats(g->proxy, &st);
        if (st.event.count || st.response.count)
            snprintf(f + n, sizeof(f) - (size_t)n,
                     ",\"proxy_event_us_p50\":%.2f,\"proxy_event_us_p99\":%.2f"
                     ",\"proxy_response_us_p50\":%.2f,\"proxy_response_us_p99\":%.2f",
                     st.event.p50_us, st.event.p99_us, st.response.p50_us, st.response.p99_us);
    }
    pl_log_fields(PL_LOG_INFO, S_COMPONENT, f, "protectlambda shutting down (%s)",
                  reason ? reason : "shutdown");
}

/* ---------------------------------------------------------------- accessors */

const struct pl_config *pl_guard_config(const struct pl_guard *g) { return g->cfg; }
const struct pl_ruleset *pl_guard_ruleset(const struct pl_guard *g) { return &g->rules[0]; }
const struct pl_engine *pl_guard_engine(const struct pl_guard *g, enum pl_target t)
{
    return (unsigned)t < PL_TARGET_COUNT ? g->engines[0][t] : NULL;
}
bool pl_guard_monitor_mode(const struct pl_guard *g) { return g->monitor; }
const char *pl_guard_function_name(const struct pl_guard *g) { return g->fn_name; }
const char *pl_guard_function_version(const struct pl_guard *g) { return g->fn_version; }

void pl_guard_request_id(struct pl_guard *g, char *buf, size_t len)
{
    pthread_mutex_lock(&g->lock);
    snprintf(buf, len, "%s", g->request_id);
    pthread_mutex_unlock(&g->lock);
}

void pl_guard_stats(struct pl_guard *g, uint64_t *invocations, uint64_t *denied)
{
    pthread_mutex_lock(&g->lock);
    if (invocations)
        *invocations = g->invocations;
    if (denied)
        *denied = g->denied;
    pthread_mutex_unlock(&g->lock);
}

bool pl_guard_terminate_requested(struct pl_guard *g)
{
    pthread_mutex_lock(&g->lock);
    bool r = g->terminate;
    pthread_mutex_unlock(&g->lock);
    return r;
}

/* ---------------------------------------------------------------- sessions */

int pl_guard_session_new(struct pl_guard *g, struct pl_guard_session **out)
{
    *out = NULL;
    struct pl_guard_session *s = pl_calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->g = g;
    pl_verdict_init(&s->v);
    pl_verdict_init(&s->v2);
    pl_buf_init(&s->tmp);
    pl_buf_init(&s->overlap);
    for (int k = 0; k < S_SETS; k++) {
        struct pl_checker *cs[2] = {&s->in[k], &s->out[k]};
        bool *oks[2] = {&s->in_ok[k], &s->out_ok[k]};
        enum pl_target ts[2] = {PL_TARGET_IN, PL_TARGET_OUT};
        for (int i = 0; i < 2; i++) {
            if (!g->engines[k][ts[i]])
                continue;
            if (pl_checker_init(cs[i], &g->rules[k], g->engines[k][ts[i]])) {
                pl_guard_session_destroy(s);
                return -1;
            }
            cs[i]->limits = g->limits;
            cs[i]->deny_on_bound = g->deny_on_bound;
            *oks[i] = true;
        }
    }
    *out = s;
    return 0;
}

void pl_guard_session_destroy(struct pl_guard_session *s)
{
    if (!s)
        return;
    for (int k = 0; k < S_SETS; k++) {
        if (s->st[k])
            pl_engine_stream_close(s->st[k], s->out[k].scratch, NULL, NULL);
        s->st[k] = NULL;
        if (s->in_ok[k])
            pl_checker_clean_up(&s->in[k]);
        if (s->out_ok[k])
            pl_checker_clean_up(&s->out[k]);
    }
    pl_verdict_clean_up(&s->v);
    pl_verdict_clean_up(&s->v2);
    pl_buf_clean_up(&s->tmp);
    pl_buf_clean_up(&s->overlap);
    pl_free(s);
}

/* ---------------------------------------------------------------- deny answers */

enum s_answer_kind { S_ANSWER_RESPONSE, S_ANSWER_ERROR };

static void s_build_answer(struct pl_guard *g, bool http, int status, const char *text,
                           bool as_error, struct pl_proxy_answer *a)
{
    pl_proxy_answer_reset(a);
    if (!text || !*text)
        text = pl_config_str(g->cfg, PL_CFG_DENY_BODY);
    struct pl_buf *b = &a->body;
    if (as_error || g->deny_as_error) {
        a->as_error = true;
        snprintf(a->error_type, sizeof(a->error_type), "SecurityViolation");
        pl_buf_append_str(b, "{\"errorMessage\":");
        pl_buf_append_json_cstr(b, text);
        pl_buf_append_str(b, ",\"errorType\":\"SecurityViolation\"}");
    } else if (http) {
        /* a hook's JSON body (quarantine) is the HTTP body as is; plain text is wrapped */
        struct pl_buf inner = PL_BUF_INIT;
        if (text[0] == '{') {
            pl_buf_append_str(&inner, text);
        } else {
            pl_buf_append_str(&inner, "{\"message\":");
            pl_buf_append_json_cstr(&inner, text);
            pl_buf_append_char(&inner, '}');
        }
        pl_buf_appendf(b, "{\"statusCode\":%d,\"headers\":{\"Content-Type\":\"application/json\"},"
                          "\"body\":",
                       status ? status : 403);
        pl_buf_append_json_str(b, inner.data ? inner.data : "", inner.len);
        pl_buf_append_char(b, '}');
        pl_buf_clean_up(&inner);
    } else if (text[0] == '{') {
        pl_buf_append_str(b, text); /* a hook's JSON answer */
    } else {
        pl_buf_append_json_cstr(b, text);
    }
}

/* is this an HTTP-trigger event? (when the in checker did not already tell) */
static bool s_http_event(struct pl_guard *g, const char *data, size_t len)
{
    if (!data)
        return false;
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    bool r = pl_inspect_json(&g->limits, data, len, &v) == 0 && v.http_event;
    pl_inspect_view_clean_up(&v);
    return r;
}

/* ---------------------------------------------------------------- events (in) */

enum pl_proxy_verdict pl_guard_check_event(struct pl_guard_session *s, const char *request_id,
                                           const char *data, size_t len,
                                           struct pl_proxy_answer *answer)
{
    struct pl_guard *g = s->g;
    pthread_mutex_lock(&g->lock);
    pl_strlcpy(g->request_id, request_id, sizeof(g->request_id));
    g->http_event = false;
    g->tainted = false;
    g->invocations++;
    bool deny_all = g->deny_all, code_violation = g->code_violation;
    char reason[512];
    if (deny_all) /* only then: this runs before every event is forwarded */
        pl_strlcpy(reason, g->deny_reason, sizeof(reason));
    pthread_mutex_unlock(&g->lock);

    bool deny = false, http = false, http_known = false;
    int status = 0;
    const char *body = NULL;
    struct pl_guard_deny qd = {0};

    if (!data)
        deny = s_bound_denies(g, request_id,
                              "event not read whole (over max_body, or upstream cut it)", NULL);
    if (pl_guard_hook_invocation_start(g, request_id, &qd))
        pl_log(PL_LOG_ERROR, S_COMPONENT, "invocation hook failed: %s", pl_last_error_msg());
    if (qd.deny) {
        char f[400] = "";
        struct pl_buf x = PL_BUF_INIT;
        s_field_str(&x, "request_id", request_id);
        s_field_str(&x, "action", g->monitor ? "log" : "deny");
        pl_log_fields(PL_LOG_WARN, S_COMPONENT, x.data, "Invocation denied: %s",
                      qd.reason[0] ? qd.reason : "quarantined");
        pl_buf_clean_up(&x);
        (void)f;
        if (!g->monitor) {
            deny = true;
            status = qd.status ? qd.status : 503;
            body = qd.body;
        }
    }
    if (deny_all) {
        struct pl_buf x = PL_BUF_INIT;
        if (code_violation) {
            /* the original tool's line, once per violated code rule, on every invocation */
            pthread_mutex_lock(&g->lock);
            size_t n = g->n_code;
            struct s_code_hit hits[S_MAX_CODE_HITS];
            memcpy(hits, g->code, n * sizeof(hits[0]));
            pthread_mutex_unlock(&g->lock);
            for (size_t k = 0; k < n; k++) {
                pl_buf_reset(&x);
                s_field_str(&x, "request_id", request_id);
                s_field_str(&x, "rule", hits[k].rule);
                s_field_str(&x, "category", hits[k].category);
                s_field_str(&x, "severity", pl_severity_name(hits[k].severity));
                s_field_str(&x, "file", hits[k].file);
                s_field_num(&x, "line", hits[k].line);
                s_field_str(&x, "action", g->monitor ? "log" : "deny");
                s_field_str(&x, "mode", g->monitor ? "monitor" : "block");
                pl_log_fields(PL_LOG_WARN, S_COMPONENT, x.data, "Code Rule violation for %s",
                              hits[k].rule);
            }
        } else {
            s_field_str(&x, "request_id", request_id);
            s_field_str(&x, "action", g->monitor ? "log" : "deny");
            s_field_str(&x, "mode", g->monitor ? "monitor" : "block");
            pl_log_fields(PL_LOG_WARN, S_COMPONENT, x.data, "Invocation denied: %s", reason);
        }
        pl_buf_clean_up(&x);
        if (!g->monitor)
            deny = true;
    }
    for (int k = 0; k < S_SETS; k++) {
        if (deny || !data || !s->in_ok[k])
            continue;
        if (pl_checker_check(&s->in[k], data, len, &s->v)) {
            deny = s_fail_closed(g, request_id, "in inspection failed");
        } else {
            http = http || s->in[k].view.http_event;
            http_known = true;
            if (s->v.bound_exceeded &&
                s_bound_denies(g, request_id, "event", s->in[k].view.bound_reason))
                deny = true;
            for (size_t i = 0; i < s->v.n_matches; i++) {
                const struct pl_match *m = &s->v.matches[i];
                struct pl_guard_decision d = s_report_match(g, PL_TARGET_IN, request_id, m);
                /* a playbook can add a block, never take a deny rule's away */
                if (d.block || !m->rule || m->rule->action == PL_ACTION_DENY)
                    deny = true;
            }
        }
    }
    if (g->monitor)
        deny = false;
    if (pl_log_get_level() <= PL_LOG_DEBUG)
        pl_log(PL_LOG_DEBUG, S_COMPONENT, "event %s: %zu bytes, %s in %llu us", request_id, len,
               deny ? "denied" : "passed", (unsigned long long)s->v.elapsed_us);
    if (!deny) {
        /* the response of an HTTP-trigger event, if denied, gets the HTTP deny answer too */
        if (http) {
            pthread_mutex_lock(&g->lock);
            if (!strcmp(g->request_id, request_id))
                g->http_event = true;
            pthread_mutex_unlock(&g->lock);
        }
        return PL_PROXY_PASS;
    }
    if (!http_known)
        http = s_http_event(g, data, len);
    pthread_mutex_lock(&g->lock);
    g->http_event = http;
    g->denied++;
    pthread_mutex_unlock(&g->lock);
    s_build_answer(g, http, status, body, false, answer);
    return PL_PROXY_DENY;
}

/* ---------------------------------------------------------------- responses (out) */

/* replace every match of the redact rules in data by the marker */
static int s_redact(struct pl_guard_session *s, const char *data, size_t len,
                    struct pl_buf *out)
{
    static const char marker[] = "[REDACTED]";
    const struct pl_engine *e = s->g->engines[0][PL_TARGET_OUT]; /* s->v is set 0's verdict */
    pl_buf_reset(out);
    if (pl_buf_append(out, data, len))
        return -1;
    for (size_t i = 0; i < s->v.n_matches; i++) {
        const struct pl_match *m = &s->v.matches[i];
        if (!m->rule || m->rule->action != PL_ACTION_REDACT || !e)
            continue;
        size_t pos = 0;
        for (int guard = 0; guard < 100000 && pos <= out->len; guard++) {
            size_t from, to;
            int r = pl_engine_locate(e, m->rule_index, out->data + pos, out->len - pos, &from,
                                     &to);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            from += pos, to += pos;
            if (to <= from) { /* empty match: step over */
                pos = to + 1;
                continue;
            }
            pl_buf_reset(&s->tmp);
            if (pl_buf_append(&s->tmp, out->data, from) ||
                pl_buf_append(&s->tmp, marker, sizeof(marker) - 1) ||
                pl_buf_append(&s->tmp, out->data + to, out->len - to))
                return -1;
            pos = from + sizeof(marker) - 1;
            pl_buf_reset(out);
            if (pl_buf_append(out, s->tmp.data, s->tmp.len))
                return -1;
        }
    }
    return 0;
}

static void s_current(struct pl_guard *g, const char *request_id, bool *http, bool *tainted)
{
    pthread_mutex_lock(&g->lock);
    bool same = request_id && *request_id && !strcmp(request_id, g->request_id);
    *http = same && g->http_event;
    *tainted = same && g->tainted;
    pthread_mutex_unlock(&g->lock);
}

enum pl_proxy_verdict pl_guard_check_out(struct pl_guard_session *s, enum pl_proxy_kind kind,
                                         const char *request_id, const char *data, size_t len,
                                         struct pl_buf *rewritten,
                                         struct pl_proxy_answer *answer)
{
    struct pl_guard *g = s->g;
    bool http, tainted, deny = false, redact = false;
    pl_guard_monitor_drain(); /* events of this invocation first: they may block it */
    s_current(g, request_id, &http, &tainted);
    if (tainted && !g->monitor) {
        struct pl_buf x = PL_BUF_INIT;
        s_field_str(&x, "request_id", request_id);
        s_field_str(&x, "action", "deny");
        pl_log_fields(PL_LOG_WARN, S_COMPONENT, x.data,
                      "Response denied: a security event blocked this invocation");
        pl_buf_clean_up(&x);
        deny = true;
    }
    if (!deny && !data)
        deny = s_bound_denies(g, request_id, "response larger than max_body", NULL);
    /* the function's own rules, then the packs and the canaries hook: s->v ends up holding
     * set 0's verdict, the one redaction works from */
    for (int k = S_SETS - 1; k >= 0 && !deny && data; k--) {
        pl_verdict_reset(&s->v);
        int rc = s->out_ok[k] ? pl_checker_check(&s->out[k], data, len, &s->v) : 0;
        if (rc == 0 && k == 0)
            rc = pl_guard_hook_out_check(g, data, len, &s->v);
        if (rc) {
            deny = s_fail_closed(g, request_id, "out inspection failed");
            break;
        }
        if (s->v.bound_exceeded && s_bound_denies(g, request_id, "response",
                                                  s->out_ok[k] ? s->out[k].view.bound_reason : ""))
            deny = true;
        for (size_t i = 0; i < s->v.n_matches; i++) {
            const struct pl_match *m = &s->v.matches[i];
            struct pl_guard_decision d = s_report_match(g, PL_TARGET_OUT, request_id, m);
            if (d.block || !m->rule || m->rule->action == PL_ACTION_DENY)
                deny = true;
            if (m->rule && m->rule->action == PL_ACTION_REDACT)
                redact = true;
        }
    }
    if (g->monitor)
        return PL_PROXY_PASS;
    if (!deny && redact) {
        /* redact, then check the result again: anything left (or a failure) denies */
        bool ok = s_redact(s, data, len, rewritten) == 0;
        for (int k = 0; k < S_SETS && ok; k++) {
            if (!s->out_ok[k])
                continue;
            pl_verdict_reset(&s->v2);
            ok = pl_checker_check(&s->out[k], rewritten->data, rewritten->len, &s->v2) == 0 &&
                 !s->v2.deny && !s->v2.redact && s->v2.n_matches == 0;
        }
        if (ok) {
            struct pl_buf x = PL_BUF_INIT;
            s_field_str(&x, "request_id", request_id);
            s_field_str(&x, "action", "redact");
            pl_log_fields(PL_LOG_INFO, S_COMPONENT, x.data, "Response redacted");
            pl_buf_clean_up(&x);
            return PL_PROXY_REWRITE;
        }
        deny = true;
    }
    if (!deny)
        return PL_PROXY_PASS;
    pthread_mutex_lock(&g->lock);
    g->denied++;
    pthread_mutex_unlock(&g->lock);
    s_build_answer(g, http, 0, NULL, kind != PL_PROXY_RESPONSE, answer);
    return PL_PROXY_DENY;
}

/* ---------------------------------------------------------------- streamed responses */

static int s_stream_match(void *ctx, uint32_t rule_index, unsigned long long from,
                          unsigned long long to)
{
    struct pl_guard_session *s = ctx;
    for (size_t i = 0; i < s->n_hits; i++)
        if (s->hits[i] == rule_index && s->hit_set[i] == s->cur_set)
            return 0;
    if (s->n_hits < S_MAX_STREAM_HITS) {
        s->hit_set[s->n_hits] = (uint8_t)s->cur_set;
        s->hits[s->n_hits++] = rule_index;
        s->hit_offset = to;
    }
    return 0;
}

/* report the new stream hits; true when one denies */
static bool s_stream_hits(struct pl_guard_session *s, size_t first)
{
    struct pl_guard *g = s->g;
    bool deny = false;
    for (size_t i = first; i < s->n_hits; i++) {
        const struct pl_ruleset *set = &g->rules[s->hit_set[i]];
        if (s->hits[i] >= set->count)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "$stream@%llu", s->hit_offset);
        struct pl_match m = {.rule_index = s->hits[i], .rule = &set->rules[s->hits[i]],
                             .path = path, .decoding = PL_DEC_RAW};
        struct pl_guard_decision d = s_report_match(g, PL_TARGET_OUT, s->stream_rid, &m);
        /* a redact rule cannot rewrite bytes already streamed: it denies */
        if (d.block || m.rule->action == PL_ACTION_DENY || m.rule->action == PL_ACTION_REDACT)
            deny = true;
    }
    return deny;
}

static void s_stream_close_all(struct pl_guard_session *s)
{
    for (int k = 0; k < S_SETS; k++)
        if (s->st[k]) {
            pl_engine_stream_close(s->st[k], s->out[k].scratch, NULL, NULL);
            s->st[k] = NULL;
        }
}

int pl_guard_stream_begin(struct pl_guard_session *s, const char *request_id)
{
    struct pl_guard *g = s->g;
    bool http, tainted;
    pl_guard_monitor_drain();
    s_current(g, request_id, &http, &tainted);
    snprintf(s->stream_rid, sizeof(s->stream_rid), "%s", request_id);
    s->stream_denied = false;
    s->n_hits = 0;
    pl_buf_reset(&s->overlap);
    s_stream_close_all(s);
    if (tainted && !g->monitor) {
        s->stream_denied = true;
        return -1;
    }
    for (int k = 0; k < S_SETS; k++) {
        if (!s->out_ok[k] || pl_engine_stream_open(g->engines[k][PL_TARGET_OUT], &s->st[k]) == 0)
            continue;
        s->st[k] = NULL;
        if (s_fail_closed(g, request_id, "cannot open a stream scan")) {
            s->stream_denied = true;
            return -1;
        }
    }
    return 0;
}

enum pl_proxy_verdict pl_guard_stream_chunk(struct pl_guard_session *s, const char *data,
                                            size_t len)
{
    struct pl_guard *g = s->g;
    if (s->stream_denied)
        return PL_PROXY_DENY;
    size_t first = s->n_hits;
    bool fail = false;
    for (int k = 0; k < S_SETS && !fail; k++) {
        s->cur_set = k;
        if (s->st[k] &&
            pl_engine_stream_scan(s->st[k], s->out[k].scratch, data, len, s_stream_match, s))
            fail = true;
    }
    /* canaries: window = tail of the previous chunk + this chunk */
    if (!fail) {
        size_t ov = s->overlap.len;
        if (pl_buf_append(&s->overlap, data, len)) {
            fail = true;
        } else {
            pl_verdict_reset(&s->v);
            if (pl_guard_hook_out_stream_check(g, s->overlap.data, s->overlap.len, ov, &s->v))
                fail = true;
            else
                for (size_t i = 0; i < s->v.n_matches; i++) {
                    const struct pl_match *m = &s->v.matches[i];
                    struct pl_guard_decision d =
                        s_report_match(g, PL_TARGET_OUT, s->stream_rid, m);
                    if (d.block || !m->rule || m->rule->action == PL_ACTION_DENY)
                        s->stream_denied = true;
                }
            if (s->overlap.len > PL_GUARD_STREAM_OVERLAP) {
                size_t keep = PL_GUARD_STREAM_OVERLAP;
                memmove(s->overlap.data, s->overlap.data + s->overlap.len - keep, keep);
                s->overlap.len = keep;
            }
        }
    }
    if (fail && s_fail_closed(g, s->stream_rid, "stream inspection failed"))
        s->stream_denied = true;
    if (s_stream_hits(s, first))
        s->stream_denied = true;
    if (g->monitor)
        s->stream_denied = false;
    return s->stream_denied ? PL_PROXY_DENY : PL_PROXY_PASS;
}

enum pl_proxy_verdict pl_guard_stream_end(struct pl_guard_session *s,
                                          struct pl_proxy_answer *answer)
{
    struct pl_guard *g = s->g;
    size_t first = s->n_hits;
    for (int k = 0; k < S_SETS; k++) {
        if (!s->st[k])
            continue;
        s->cur_set = k;
        int rc = pl_engine_stream_close(s->st[k], s->out[k].scratch,
                                        s->stream_denied ? NULL : s_stream_match, s);
        s->st[k] = NULL;
        if (rc && !s->stream_denied && !g->monitor && !g->fail_open)
            s->stream_denied = true;
    }
    if (!s->stream_denied && s_stream_hits(s, first) && !g->monitor)
        s->stream_denied = true;
    if (!s->stream_denied)
        return PL_PROXY_PASS;
    pthread_mutex_lock(&g->lock);
    g->denied++;
    pthread_mutex_unlock(&g->lock);
    s_build_answer(g, false, 0, NULL, true, answer);
    return PL_PROXY_DENY;
}

void pl_guard_invocation_end(struct pl_guard_session *s, const char *request_id)
{
    struct pl_guard *g = s->g;
    pthread_mutex_lock(&g->lock);
    if (request_id && !strcmp(request_id, g->request_id)) {
        g->request_id[0] = '\0';
        g->tainted = false;
    }
    void (*fn)(void *) = NULL;
    if (g->terminate && g->terminate_fn && !g->terminate_called) {
        g->terminate_called = true;
        fn = g->terminate_fn;
    }
    void *ctx = g->terminate_ctx;
    pthread_mutex_unlock(&g->lock);
    if (fn)
        fn(ctx);
}

void pl_guard_on_terminate(struct pl_guard *g, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&g->lock);
    g->terminate_fn = fn;
    g->terminate_ctx = ctx;
    pthread_mutex_unlock(&g->lock);
}

/* ---------------------------------------------------------------- serving */

static int s_cb_open(void *ctx, void **session)
{
    struct pl_guard *g = ctx;
    pthread_mutex_lock(&g->lock);
    struct pl_guard_session *s = g->n_idle ? g->idle[--g->n_idle] : NULL;
    pthread_mutex_unlock(&g->lock);
    if (s) {
        *session = s;
        return 0;
    }
    uint64_t t0 = pl_now_ns();
    int rc = pl_guard_session_new(g, (struct pl_guard_session **)session);
    pl_log(PL_LOG_DEBUG, S_COMPONENT, "runtime connection: new session in %llu us",
           (unsigned long long)((pl_now_ns() - t0) / 1000));
    return rc;
}

static void s_cb_close(void *session)
{
    struct pl_guard_session *s = session;
    struct pl_guard *g = s->g;
    for (int k = 0; k < S_SETS; k++)
        if (s->st[k]) {
            pl_engine_stream_close(s->st[k], s->out[k].scratch, NULL, NULL);
            s->st[k] = NULL;
        }
    pthread_mutex_lock(&g->lock);
    bool kept = g->n_idle < S_IDLE_SESSIONS;
    if (kept)
        g->idle[g->n_idle++] = s;
    pthread_mutex_unlock(&g->lock);
    if (!kept)
        pl_guard_session_destroy(s);
}
static enum pl_proxy_verdict s_cb_event(void *session, const char *rid, const char *data,
                                        size_t len, struct pl_proxy_answer *a)
{
    return pl_guard_check_event(session, rid, data, len, a);
}
static enum pl_proxy_verdict s_cb_out(void *session, enum pl_proxy_kind kind, const char *rid,
                                      const char *data, size_t len, struct pl_buf *rw,
                                      struct pl_proxy_answer *a)
{
    return pl_guard_check_out(session, kind, rid, data, len, rw, a);
}
static int s_cb_sbegin(void *session, const char *rid)
{
    return pl_guard_stream_begin(session, rid);
}
static enum pl_proxy_verdict s_cb_schunk(void *session, const char *d, size_t n)
{
    return pl_guard_stream_chunk(session, d, n);
}
static enum pl_proxy_verdict s_cb_send(void *session, struct pl_proxy_answer *a)
{
    return pl_guard_stream_end(session, a);
}
static void s_cb_end(void *session, const char *rid) { pl_guard_invocation_end(session, rid); }

/* the CPU the runtime (or some of its threads: *who names them, for the log) runs on, by the
 * wrapper's choice from the same mask, memory size and settings; -1 when not co-located. (The
 * wrapper also leaves the library's scopes out for a static runtime; the CPU is the same.) */
static int s_runtime_cpu(const struct pl_config *cfg, const struct pl_cpu_info *ci,
                         const char **who, char *why, size_t why_len)
{
    enum pl_colocate_scope scope;
    int cpu = pl_colocate_choose(pl_config_str(cfg, PL_CFG_COLOCATE), ci,
                                 getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                                 pl_config_bool(cfg, PL_CFG_MONITOR), &scope, why, why_len);
    *who = scope == PL_COLOCATE_HANDOFF ? "the runtime's hand-off threads"
           : scope == PL_COLOCATE_MAIN  ? "the runtime's main thread"
                                        : "runtime";
    return cpu;
}

/* the sandbox's CPUs as the runtime sees them, read before the guard took its own threads off
 * the runtime's CPU (after that, this thread's mask is no longer the sandbox's) */
static struct {
    bool read;
    struct pl_cpu_info ci;
} s_sandbox_cpus;

static void s_sandbox_cpu_info(struct pl_cpu_info *ci)
{
    if (s_sandbox_cpus.read)
        *ci = s_sandbox_cpus.ci;
    else
        pl_cpu_info_read(ci);
}

void pl_guard_keep_off_runtime_cpu(const struct pl_config *cfg)
{
    struct pl_cpu_info ci;
    s_sandbox_cpu_info(&ci);
    s_sandbox_cpus.ci = ci;
    s_sandbox_cpus.read = true;
    const char *who;
    char why[600];
    int cpu = s_runtime_cpu(cfg, &ci, &who, why, sizeof(why));
    if (cpu < 0)
        return;
    int r = pl_cpu_avoid_self(cpu);
    if (r < 0)
        pl_log(PL_LOG_WARN, S_COMPONENT, "colocate: %s", pl_last_error_msg());
    else if (r > 0)
        pl_log(PL_LOG_DEBUG, S_COMPONENT,
               "colocate: the guard's own threads off CPU %d (%s's)", cpu, who);
}

/* The proxy's CPU (setting colocate; the wrapper makes the same choice for the runtime, from
 * the same mask and memory size: pl_colocate_choose) and its poll budget: the spin_us setting,
 * off when polling would take the function's own CPU (fewer than 2 usable, or co-located) */
static void s_cpu_options(const struct pl_config *cfg, struct pl_proxy_options *opt)
{
    struct pl_cpu_info ci;
    s_sandbox_cpu_info(&ci);
    char why[600];
    const char *who;
    int cpu = s_runtime_cpu(cfg, &ci, &who, why, sizeof(why));
    if (cpu >= 0) {
        opt->pin = true;
        opt->pin_cpu = cpu;
        pl_log(PL_LOG_INFO, S_COMPONENT, "colocate: proxy and %s on CPU %d (%s)", who, cpu,
               why);
    } else {
        pl_log(PL_LOG_DEBUG, S_COMPONENT, "colocate: not (%s)", why);
    }
    long long us = pl_config_int(cfg, PL_CFG_SPIN_US);
    double cpus = pl_cpu_share(&ci, NULL); /* the mask, capped by a cgroup quota */
    if (us <= 0) {
        opt->spin_us = 0;
    } else if (cpus < 2 || opt->pin) {
        pl_log(PL_LOG_DEBUG, S_COMPONENT, "spin_us off: %.2f usable CPU(s)%s", cpus,
               opt->pin ? ", co-located" : "");
        opt->spin_us = 0;
    } else {
        opt->spin_us = (unsigned)us;
    }
}

static int s_serve(struct pl_guard *g, const char *upstream, int port, int listen_fd)
{
    struct pl_proxy_callbacks cb = {.ctx = g,
                                    .session_open = s_cb_open,
                                    .session_close = s_cb_close,
                                    .on_event = s_cb_event,
                                    .on_out = s_cb_out,
                                    .stream_begin = s_cb_sbegin,
                                    .stream_chunk = s_cb_schunk,
                                    .stream_end = s_cb_send,
                                    .invocation_end = s_cb_end};
    struct pl_proxy_options opt = {
        .upstream = upstream,
        .port = (uint16_t)port,
        .listen_fd = listen_fd,
        .max_body = (size_t)pl_config_int(g->cfg, PL_CFG_MAX_BODY),
        .stream_holdback = (size_t)pl_config_int(g->cfg, PL_CFG_STREAM_HOLDBACK)};
    s_cpu_options(g->cfg, &opt);
    /* one session ready before the runtime's first connection (cold start) */
    struct pl_guard_session *warm = NULL;
    if (g->n_idle < S_IDLE_SESSIONS && pl_guard_session_new(g, &warm) == 0) {
        pthread_mutex_lock(&g->lock);
        g->idle[g->n_idle++] = warm;
        pthread_mutex_unlock(&g->lock);
    }
    return pl_proxy_start(&opt, &cb, &g->proxy);
}

int pl_guard_serve(struct pl_guard *g, const char *upstream, int port)
{
    return s_serve(g, upstream, port, -1);
}

int pl_guard_serve_fd(struct pl_guard *g, const char *upstream, int listen_fd)
{
    return s_serve(g, upstream, 0, listen_fd);
}

int pl_guard_port(const struct pl_guard *g) { return g->proxy ? pl_proxy_port(g->proxy) : 0; }

void pl_guard_stop(struct pl_guard *g)
{
    if (g && g->proxy) {
        pl_proxy_stop(g->proxy);
        g->proxy = NULL;
    }
}
