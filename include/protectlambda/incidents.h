/* Incidents: security events -> incidents -> playbook actions.
 *
 *   event --(severity)--> correlation (N events in a window escalate the threat level)
 *         --(type x level)--> playbook actions: monitor, alert, block, quarantine, terminate
 *
 * pl_incidents_report() is the hot path: it correlates against an in-memory window of this
 * sandbox's recent events, picks the actions, applies the local effects (deny this invocation,
 * quarantine every later one, terminate), hands the incident to the sinks queue and to the
 * incidents worker, and returns. It never waits for the network or the disk.
 * The worker thread, behind a bounded queue: correlates across sandboxes through the store
 * (when one is configured; an escalation there adds the escalated actions), persists incidents
 * (DynamoDB down: kept and retried with backoff up to incidents.queue entries), persists the
 * quarantine, calls the Lambda API (remote quarantine, PutFunctionConcurrency 0 for terminate)
 * and polls the quarantine state the CLI or another sandbox may set or clear. */
#ifndef PROTECTLAMBDA_INCIDENTS_H
#define PROTECTLAMBDA_INCIDENTS_H

#include "protectlambda/config.h"
#include "protectlambda/event.h"
#include "protectlambda/sinks.h"
#include "protectlambda/store.h"

/* ---- actions and playbooks ---- */
enum pl_playbook_action {
    PL_PB_MONITOR = 1u << 0,    /* more detail in logs */
    PL_PB_ALERT = 1u << 1,      /* webhook / SNS / SQS */
    PL_PB_BLOCK = 1u << 2,      /* deny this invocation */
    PL_PB_QUARANTINE = 1u << 3, /* deny every later invocation (503), persisted */
    PL_PB_TERMINATE = 1u << 4,  /* reserved concurrency 0, then the sandbox stops serving */
};

/* "quarantine,alert" -> bits; "none" -> 0; error names the bad word */
int pl_actions_parse(const char *text, unsigned *out);
/* bits -> "quarantine,alert" (fixed order: terminate, quarantine, block, monitor, alert) */
void pl_actions_format(unsigned actions, char *out, size_t outlen);

struct pl_playbook {
    unsigned actions[PL_EV_COUNT][PL_SEV_COUNT]; /* 0 = no entry: monitor */
};
/* the defaults (docs/incidents.md): code and command injection HIGH -> quarantine,alert,
 * CRITICAL -> terminate,alert; path traversal MEDIUM -> monitor,alert, HIGH -> quarantine,alert;
 * integrity violation CRITICAL -> terminate,alert; resource limit HIGH -> quarantine,alert;
 * anything else -> monitor */
void pl_playbook_defaults(struct pl_playbook *pb);
/* apply `playbook.<TYPE>.<LEVEL> = actions` keys of cfg->extra on top of pb; errors are
 * "file:line: reason" */
int pl_playbook_load(struct pl_playbook *pb, const struct pl_config *cfg);
unsigned pl_playbook_actions(const struct pl_playbook *pb, enum pl_event_type t,
                             enum pl_severity level);

/* ---- correlation ---- */
#define PL_CORRELATION_MAX 16
struct pl_correlation_rule {
    char name[48];
    uint64_t types;         /* bit 1<<type; 0 = every security event */
    unsigned count;         /* this many events ... */
    int64_t window_ms;      /* ... within this window ... */
    enum pl_severity level; /* ... escalate to this threat level */
};
struct pl_correlation {
    struct pl_correlation_rule rules[PL_CORRELATION_MAX];
    size_t n;
};
/* "injection": 3 CODE_INJECTION/COMMAND_INJECTION in 300 s -> CRITICAL;
 * "rapid": 10 security events in 60 s -> HIGH */
void pl_correlation_defaults(struct pl_correlation *c);
/* apply `correlation.<name>.{count,window,types,level,enabled}` keys; errors "file:line: ..." */
int pl_correlation_load(struct pl_correlation *c, const struct pl_config *cfg);

/* ---- the incident machinery ---- */
typedef int64_t (*pl_incidents_clock_fn)(void *ctx); /* wall clock, ms since epoch */

struct pl_incidents_options {
    const struct pl_config *cfg; /* required; kept by reference */
    const char *function; /* NULL: function_name setting, AWS_LAMBDA_FUNCTION_NAME, "local" */
    const char *version;  /* NULL: AWS_LAMBDA_FUNCTION_VERSION, "$LATEST" */
    pl_incidents_clock_fn clock; /* NULL: pl_wall_ms */
    void *clock_ctx;
    bool dry_run; /* monitor mode: actions are decided and logged, not enforced */
    int emf_fd;   /* 0: stderr */
};

struct pl_incident_result {
    char id[PL_INCIDENT_ID_MAX];
    enum pl_severity level; /* threat level after correlation */
    unsigned actions;       /* PL_PB_* */
    char correlation[64];   /* rule that escalated, or "" */
    bool deny;              /* block, quarantine or terminate (not in dry run) */
    bool terminate;
};

struct pl_incidents_stats {
    uint64_t reported, escalated, stored, store_failures, store_dropped, store_pending;
    uint64_t lambda_calls, lambda_failures;
};

struct pl_incidents;
/* loads playbook and correlation from cfg, opens the store (and reads the quarantine state:
 * a new sandbox honours an existing quarantine), starts the sinks and the worker. A store that
 * cannot be opened is logged and replaced by memory (the guard goes on); bad playbook or
 * correlation keys are an error. */
int pl_incidents_new(const struct pl_incidents_options *o, struct pl_incidents **out);
void pl_incidents_destroy(struct pl_incidents *inc);

/* the hot path (thread-safe) */
int pl_incidents_report(struct pl_incidents *inc, const struct pl_event *ev,
                        struct pl_incident_result *res);
/* quarantined? (thread-safe, memory only). q may be NULL; filled when quarantined (else only
 * q->active = false: this runs before every event) */
bool pl_incidents_quarantined(struct pl_incidents *inc, struct pl_quarantine *q);
/* the answer body of a quarantined invocation:
 * {"error":"Function quarantined due to security incident","quarantine_reason":...,
 *  "quarantine_timestamp":...}; returns false when not quarantined */
bool pl_incidents_quarantine_body(struct pl_incidents *inc, struct pl_buf *body);
/* log (and count, sinks only) a quarantined invocation answered with 503 */
void pl_incidents_note_quarantined_invocation(struct pl_incidents *inc, const char *request_id);
/* a terminate action was taken: the sandbox must stop serving */
bool pl_incidents_terminating(struct pl_incidents *inc);

/* wait until the worker and the sinks are idle (bounded); 0 drained, -1 (PL_ERR_LIMIT) not */
int pl_incidents_flush(struct pl_incidents *inc, long deadline_ms);
void pl_incidents_get_stats(struct pl_incidents *inc, struct pl_incidents_stats *st);
struct pl_sinks *pl_incidents_sinks(struct pl_incidents *inc);
const char *pl_incidents_function(const struct pl_incidents *inc);

/* function name from a config: function_name setting, AWS_LAMBDA_FUNCTION_NAME, "local" */
const char *pl_incidents_function_name(const struct pl_config *cfg);

/* ---- Lambda API (blocking; worker threads and the CLI only) ---- */
struct pl_lambda_api {
    char endpoint[512]; /* no trailing slash */
    char region[64];
    long timeout_ms;
};
void pl_lambda_api_init(struct pl_lambda_api *api, const struct pl_config *cfg);
/* GetFunctionConfiguration, then UpdateFunctionConfiguration with the existing environment
 * plus QUARANTINE_MODE=true, QUARANTINE_REASON, QUARANTINE_TIMESTAMP (RevisionId guarded,
 * retried once on a concurrent change) */
int pl_lambda_quarantine(const struct pl_lambda_api *api, const char *function, const char *reason,
                         const char *timestamp);
/* PutFunctionConcurrency with ReservedConcurrentExecutions = n */
int pl_lambda_put_concurrency(const struct pl_lambda_api *api, const char *function, int n);

/* ---- reports ---- */
enum pl_report_format { PL_REPORT_TEXT, PL_REPORT_JSON, PL_REPORT_HTML };
struct pl_report_options {
    const char *function; /* NULL/"": every function (sqlite) */
    int64_t since_ms;
    int64_t now_ms;
    enum pl_report_format format;
    const struct pl_correlation
        *correlation; /* for the correlated-incidents section; NULL: defaults */
};
int pl_report_build(struct pl_store *st, const struct pl_report_options *o, struct pl_buf *out);
/* "24h", "90m", "7d", "30s" -> ms; or an ISO date/time "2026-11-22" / "2026-11-22T08:00:00Z" ->
 * since_ms (absolute) */
int pl_report_parse_since(const char *text, int64_t now_ms, int64_t *since_ms);

#endif
