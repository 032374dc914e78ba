/* Guard: the protectlambda Lambda extension's brain. It loads the rules, runs the cold-start
 * checks (code scan, integrity), decides on every event and response the Runtime API proxy
 * hands it (in rules, out rules, redaction, deny answers, modes), and turns every violation into
 * a security event (pl_guard_report_event) for the incident machinery.
 *
 * Threads: one pl_guard is shared by every proxy connection thread; each thread uses its own
 * pl_guard_session (checkers and scratch). pl_guard_report_event, pl_guard_deny_all and the
 * accessors are thread-safe.
 *
 * Fail closed: when rules cannot load, the guard is put in "deny all" state (block mode): every
 * invocation is answered with the deny answer and logged; it never lets an invocation through
 * unprotected unless `fail = open` or `mode = monitor`. */
#ifndef PROTECTLAMBDA_GUARD_H
#define PROTECTLAMBDA_GUARD_H

#include "protectlambda/config.h"
#include "protectlambda/event.h"
#include "protectlambda/inspect.h"
#include "protectlambda/proxy.h"

struct pl_guard;
struct pl_guard_session;

/* ---- editable environment of the runtime the wrapper execs ---- */
struct pl_exec_env {
    char **vars; /* "NAME=value", NULL-terminated; owned */
    size_t n, cap;
};
/* copy envp (NULL = environ) */
int pl_exec_env_init(struct pl_exec_env *env, char *const *envp);
void pl_exec_env_clean_up(struct pl_exec_env *env);
/* value of NAME or NULL */
const char *pl_exec_env_get(const struct pl_exec_env *env, const char *name);
/* set (replace) NAME=value */
int pl_exec_env_set(struct pl_exec_env *env, const char *name, const char *value);
/* remove NAME (no error when absent) */
int pl_exec_env_unset(struct pl_exec_env *env, const char *name);

/* ---- what hooks hand back ---- */
/* answer of pl_guard_hook_event: what to do about one security event. The guard pre-fills
 * it with its default (block = mode is block and the event's action is "deny"). */
struct pl_guard_decision {
    bool block;      /* deny the invocation in flight (if any) */
    bool quarantine; /* the incidents part keeps later invocations out (invocation_start hook) */
    bool terminate;  /* end the execution environment after answering (extension exit/error) */
};

/* answer of pl_guard_hook_invocation_start: deny the invocation before the handler sees it */
struct pl_guard_deny {
    bool deny;
    int status;       /* HTTP status for HTTP-trigger events (e.g. 503 for quarantine); 0 = 403 */
    char reason[128]; /* logged: "quarantined: incident 42" */
    char body[512];   /* answer body text; empty = deny_body setting */
};

/* ---- lifecycle (the extension command drives it) ---- */
/* cfg is copied by reference: keep it alive as long as the guard. */
int pl_guard_new(const struct pl_config *cfg, struct pl_guard **out);
void pl_guard_destroy(struct pl_guard *g);
/* Optional, before pl_guard_load_rules: open the incident store on a thread of its own while
 * the rules load (both are on the cold start's path). pl_guard_cold_start (or a failing
 * pl_guard_load_rules) waits for it; without this call the store opens in
 * pl_guard_cold_start, as before. */
void pl_guard_incidents_begin(struct pl_guard *g);
/* Load the default packs (rules_dir), the function's own *_protect.txt from the task root and
 * the layer (/opt), PROTECTLAMBDA_RULES, and compile or load the database. On failure the
 * guard goes into deny-all (fail closed) and -1 is returned; the guard still serves. */
int pl_guard_load_rules(struct pl_guard *g);
/* Cold-start checks: code scan of the task root, then the integrity, incidents and monitor
 * hooks. A code violation (block mode) puts the guard in deny-all. */
int pl_guard_cold_start(struct pl_guard *g);
/* SHUTDOWN: call the shutdown hook (flush) and log the final line */
void pl_guard_shutdown(struct pl_guard *g, const char *reason);

/* ---- accessors ---- */
const struct pl_config *pl_guard_config(const struct pl_guard *g);
const struct pl_ruleset *pl_guard_ruleset(const struct pl_guard *g);
/* engine of a target, or NULL when that target has no rules / rules failed to load */
const struct pl_engine *pl_guard_engine(const struct pl_guard *g, enum pl_target t);
bool pl_guard_monitor_mode(const struct pl_guard *g);
const char *pl_guard_function_name(const struct pl_guard *g);    /* AWS_LAMBDA_FUNCTION_NAME */
const char *pl_guard_function_version(const struct pl_guard *g); /* AWS_LAMBDA_FUNCTION_VERSION */
/* request id of the invocation in flight ("" between invocations), copied into buf */
void pl_guard_request_id(struct pl_guard *g, char *buf, size_t len);
/* stats: invocations seen and denied */
void pl_guard_stats(struct pl_guard *g, uint64_t *invocations, uint64_t *denied);

/* Deny every later invocation (block mode; logged in monitor mode). Thread-safe. The reason is
 * logged once here and with every denied invocation. Used on code violations, rule-load
 * failures and by the integrity hook. */
void pl_guard_deny_all(struct pl_guard *g, const char *reason);
bool pl_guard_denying_all(struct pl_guard *g);

/* Report a security event (from any detector, any thread): logs the event line (warn), asks the
 * incidents hook what to do, and applies the decision (block marks the invocation in flight
 * so its response is replaced by the deny answer; terminate asks the extension to end the
 * sandbox). `d` (optional) receives the decision. */
int pl_guard_report_event(struct pl_guard *g, const struct pl_event *ev,
                          struct pl_guard_decision *d);
/* true once a terminate decision was taken (the extension exits with exit/error) */
bool pl_guard_terminate_requested(struct pl_guard *g);
/* called once (from a proxy thread) when the invocation that led to a terminate decision has
 * been answered: the extension reports exit/error and exits, so Lambda ends the sandbox */
void pl_guard_on_terminate(struct pl_guard *g, void (*fn)(void *ctx), void *ctx);

/* ---- per-connection decisions (the proxy calls these through its callbacks) ---- */
int pl_guard_session_new(struct pl_guard *g, struct pl_guard_session **out);
void pl_guard_session_destroy(struct pl_guard_session *s);

/* The proxy's callbacks (proxy.h) with a guard session: what to do with one event, one
 * buffered response or error post, one streamed response. They never fail: internal errors
 * follow the `fail` setting (closed: DENY in block mode). */
enum pl_proxy_verdict pl_guard_check_event(struct pl_guard_session *s, const char *request_id,
                                           const char *data, size_t len,
                                           struct pl_proxy_answer *answer);
/* PASS: forward as is; REWRITE: forward `rewritten` (redacted); DENY: post `answer` */
enum pl_proxy_verdict pl_guard_check_out(struct pl_guard_session *s, enum pl_proxy_kind kind,
                                         const char *request_id, const char *data, size_t len,
                                         struct pl_buf *rewritten,
                                         struct pl_proxy_answer *answer);
int pl_guard_stream_begin(struct pl_guard_session *s, const char *request_id);
enum pl_proxy_verdict pl_guard_stream_chunk(struct pl_guard_session *s, const char *data,
                                            size_t len);
enum pl_proxy_verdict pl_guard_stream_end(struct pl_guard_session *s,
                                          struct pl_proxy_answer *answer);
/* a request id was answered upstream */
void pl_guard_invocation_end(struct pl_guard_session *s, const char *request_id);

/* ---- running it all: the extension role ---- */
/* When the runtime shares a CPU with the proxy (setting colocate: the wrapper pins the runtime,
 * or its main thread, there), the calling thread and every thread it creates afterwards keep
 * off that CPU: the guard's cold-start work (rules, checks, its threads' start) runs beside a
 * runtime that is starting at the same time, not in its way, and the guard's background
 * threads stay off it later. The proxy's connection threads still pin themselves to it.
 * Called by the extension right after it registered (the runtime starts then). */
void pl_guard_keep_off_runtime_cpu(const struct pl_config *cfg);
/* Serve the Runtime API proxy on 127.0.0.1:port in background threads, forwarding to
 * upstream (host:port). Returns once listening. */
int pl_guard_serve(struct pl_guard *g, const char *upstream, int port);
/* The same on a socket already listening (pl_http_listen_loopback), which the guard takes
 * over (and closes, even on failure). The extension listens before it registers: Lambda
 * starts the runtime once every extension has registered, and the runtime's first request
 * must wait in the backlog until the rules are loaded, not be refused. */
int pl_guard_serve_fd(struct pl_guard *g, const char *upstream, int listen_fd);
/* the port actually listened on (port 0 = any free one) */
int pl_guard_port(const struct pl_guard *g);
void pl_guard_stop(struct pl_guard *g);

#endif
