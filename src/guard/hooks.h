/* Integration points of the guard for the other parts. Each hook lives in its own file, owned
 * by the engineer named there, and is called by the guard at one fixed place:
 *
 *   hooks_harden.c     (harden/monitor)    pl_guard_hook_wrap               wrap, before exec
 *                                          pl_guard_hook_monitor_start      extension cold start
 *   hooks_integrity.c  (integrity/audit)   pl_guard_hook_cold_start_integrity  cold start, after rules
 *                                          pl_guard_hook_out_check          every buffered response/error
 *                                          pl_guard_hook_out_stream_check   every streamed chunk
 *   hooks_incidents.c  (incidents)         pl_guard_hook_incidents_init     cold start, first
 *                                          pl_guard_hook_event              every security event
 *                                          pl_guard_hook_invocation_start   every event from /next
 *                                          pl_guard_hook_shutdown           SHUTDOWN (flush)
 *
 * Return values: 0 ok, -1 failure with pl_raise (the guard logs it; what it does then is said
 * per hook below). Hooks must be thread-safe where noted and must never exit or abort. */
#ifndef PL_GUARD_HOOKS_H
#define PL_GUARD_HOOKS_H

#include "protectlambda/guard.h"

/* harden: edit the runtime's environment (LD_PRELOAD monitor, ...) and apply rlimits/seccomp
 * in the wrapper process, which then execs the runtime. On -1 the wrapper logs and execs
 * anyway, unless the setting wrap_strict is true (then it refuses to start the runtime). */
int pl_guard_hook_wrap(const struct pl_config *cfg, struct pl_exec_env *env);
/* harden/monitor: start the listener for monitor events (a thread that calls
 * pl_guard_report_event). Called once at cold start. -1: logged, the guard goes on. */
int pl_guard_hook_monitor_start(struct pl_guard *g);

/* harden/monitor: deliver the monitor events the runtime already sent (pl_guard_report_event
 * for each) — called before a response or error is checked, so an event raised during the
 * invocation blocks its response. */
void pl_guard_monitor_drain(void);

/* integrity/audit: manifest verification, environment audit; may call pl_guard_deny_all().
 * Called once at cold start after rules are loaded. -1: logged as a guard failure and
 * (fail = closed) the guard denies all. */
int pl_guard_hook_cold_start_integrity(struct pl_guard *g);
/* integrity: called by pl_guard_new, before any thread that may load libcurl (the incidents
 * store): makes the first load of libcurl wait for the layer's libraries to be verified when
 * their verification is left off the cold start (integrity.layer_lazy). */
void pl_guard_hook_integrity_early(struct pl_guard *g);
/* integrity: the extension, with pl_guard_incidents_begin: hash the code and the layer
 * against their manifests on a thread while the rules load (reported at cold start) */
void pl_guard_hook_integrity_begin(struct pl_guard *g);
/* integrity: pl_guard_destroy; waits for the deferred verification's thread */
void pl_guard_hook_integrity_release(struct pl_guard *g);
/* integrity/audit: check a buffered response or error body (secret canaries). Add matches to
 * v and set v->deny (or v->redact). Thread-safe (called from proxy threads). -1: treated as an
 * inspection error (fail setting). */
int pl_guard_hook_out_check(struct pl_guard *g, const char *data, size_t len,
                            struct pl_verdict *v);
/* integrity/audit: streamed responses. `window` is the chunk preceded by up to `overlap`
 * bytes of the previous chunk (so a canary split across chunks is still whole in one window;
 * overlap is at most PL_GUARD_STREAM_OVERLAP). */
#define PL_GUARD_STREAM_OVERLAP 256
int pl_guard_hook_out_stream_check(struct pl_guard *g, const char *window, size_t len,
                                   size_t overlap, struct pl_verdict *v);

/* incidents: load playbooks, open the store. Called once at cold start, first of all hooks.
 * -1: logged, the guard goes on with its defaults. */
int pl_guard_hook_incidents_init(struct pl_guard *g);
/* incidents: one security event (any thread; serialised by the guard's event lock). `d` comes
 * pre-filled with the guard's default decision; change it per playbook. */
int pl_guard_hook_event(struct pl_guard *g, const struct pl_event *ev,
                        struct pl_guard_decision *d);
/* incidents: an invocation arrived (before any rule check). Set deny->deny to answer it
 * without reaching the handler (quarantine: status 503). */
int pl_guard_hook_invocation_start(struct pl_guard *g, const char *request_id,
                                   struct pl_guard_deny *deny);
/* incidents/sinks: SHUTDOWN, about 2 s left: flush. */
void pl_guard_hook_shutdown(struct pl_guard *g);

#endif
