/* Monitor: the LD_PRELOAD library inside the runtime (libprotectlambda_monitor.so) and the
 * guard-side listener that receives its events (library pl_monitor_listener).
 *
 * Wire format: one datagram = one event = one flat JSON object of at most PL_MON_DGRAM_MAX
 * bytes, written with fixed caps on the stack (no allocation in the host process):
 *
 *   {"v":1,"src":"monitor","type":"PROCESS_EXECUTION","sev":"MEDIUM","act":"deny",
 *    "cls":"process","pid":4242,"exe":"/usr/bin/python3.11","what":"/usr/bin/id",
 *    "argv":["id","-u"],"why":"not on monitor.process_allow","drops":0}
 *
 *   v     format version (1)
 *   src   "monitor" (the .so), "python" (audit-hook adapter), "harden"
 *   type  an event type name of event.h (PROCESS_EXECUTION, RESTRICTED_PATH_ACCESS, ...)
 *   sev   INFO|LOW|MEDIUM|HIGH|CRITICAL
 *   act   what was done: "allow" (reported only), "log", "deny"
 *   cls   policy class: process, files, traversal, writes, source_read, network, library,
 *         seccomp, rlimit, python
 *   pid   process the event is about; exe: its executable (/proc/self/exe)
 *   what  the object: executable path, file path, "addr:port", library path, module name
 *   argv  for processes: up to PL_MON_MAX_ARGV arguments, each cut to PL_MON_MAX_ARG bytes
 *   why   short reason; drops: events this process could not send before this one
 *
 * Strings are JSON-escaped; text cut at a cap ends with "...". Unknown members are ignored by
 * the listener (newer senders), a datagram that is not such an object is counted and dropped.
 *
 * Transport: AF_UNIX SOCK_DGRAM, non-blocking; a full or missing receiver drops the event and
 * counts it (the host never waits). The socket address comes from PL_MON_ENV_SOCKET: a name
 * starting with '@' is an abstract socket (Linux), otherwise a filesystem path. */
#ifndef PROTECTLAMBDA_MONITOR_H
#define PROTECTLAMBDA_MONITOR_H

#include "protectlambda/config.h"
#include "protectlambda/event.h"

#define PL_MON_DGRAM_MAX 4096
#define PL_MON_MAX_ARGV 32
#define PL_MON_MAX_ARG 256
#define PL_MON_MAX_FIELD 512

/* environment the wrapper sets for the monitor library (besides the PROTECTLAMBDA_* variable
 * of every "monitor / harden" setting, see settings.def) */
#define PL_MON_ENV_SOCKET "PROTECTLAMBDA_MON_SOCKET"   /* event socket (@abstract or path) */
#define PL_MON_ENV_PROXY "PROTECTLAMBDA_MON_PROXY"     /* ip:port of the guard's proxy */
#define PL_MON_ENV_UPSTREAM "PROTECTLAMBDA_UPSTREAM"   /* ip:port of the real Runtime API */
#define PL_MON_ENV_LIB "PROTECTLAMBDA_MON_LIB"         /* absolute path of the .so itself */
#define PL_MON_ENV_ROOT_PID "PROTECTLAMBDA_MON_ROOT_PID" /* pid of the runtime (the wrapper's) */
#define PL_MON_ENV_CHAIN "PROTECTLAMBDA_MON_CHAIN"     /* execs of that pid so far (bootstrap) */
/* "CPU/WIDE" (e.g. "1/0,1"): colocate's main-thread scope (docs/harden.md "CPU co-location"):
 * the library pins the root process's main thread to CPU and gives every thread it creates,
 * every child and every program it execs the mask WIDE (a comma-separated CPU list).
 * "CPU/WIDE/h": the hand-off scope: also each thread of the root process the first time it
 * receives on a Runtime API connection, for good. "CPU/WIDE/t": also each thread of the root
 * process from a request it sends on a Runtime API connection until a receive on it returns
 * data. */
#define PL_MON_ENV_COLOCATE "PROTECTLAMBDA_MON_COLOCATE"
/* the Python adapter's directory the wrapper put on PYTHONPATH: the library takes it out again
 * in a CPython 3.9+ process, where its own C audit hook stands for the adapter (pyaudit.c) */
#define PL_MON_ENV_PYADAPTER "PROTECTLAMBDA_MON_PYTHON_ADAPTER"

/* default socket name for a proxy port: "@protectlambda-monitor-<port>" */
int pl_monitor_default_socket(int port, char *out, size_t outlen);

/* Parse one datagram into ev (source, type, severity, pid, path = what, rule = "monitor.<cls>",
 * action, detail = "exe=... argv=[...] why=..."). -1 with PL_ERR_PARSE when it is not a
 * monitor event. */
int pl_monitor_parse_event(const char *data, size_t len, struct pl_event *ev);

/* ---- listener (guard side) ---- */
struct pl_monitor_listener;
typedef void (*pl_monitor_event_fn)(void *ctx, const struct pl_event *ev);

/* Bind the datagram socket `name` (@abstract or path; a stale path is replaced) and start a
 * thread that parses each datagram and calls fn(ctx, &ev). fn runs on the listener thread. */
int pl_monitor_listener_new(const char *name, pl_monitor_event_fn fn, void *ctx,
                            struct pl_monitor_listener **out);
/* Deliver, on the calling thread, every datagram already queued. The guard calls it before it
 * forwards a response: what the runtime reported before answering (causal order) is then
 * handled while that invocation is still in flight (its request id, its deny). */
void pl_monitor_listener_drain(struct pl_monitor_listener *l);
/* stop the thread, close the socket (and unlink a path socket) */
void pl_monitor_listener_destroy(struct pl_monitor_listener *l);
/* datagrams received / rejected (not a monitor event) */
void pl_monitor_listener_stats(struct pl_monitor_listener *l, uint64_t *received,
                               uint64_t *rejected);

#endif
