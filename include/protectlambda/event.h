/* Security events: what every detector (guard verdicts, monitor, harden, integrity, audit)
 * hands to the incident machinery. Fixed-size, so events can be made without allocating
 * (the monitor library and signal paths). Text fields are truncated, never secrets. */
#ifndef PROTECTLAMBDA_EVENT_H
#define PROTECTLAMBDA_EVENT_H

#include "protectlambda/buf.h"

#define PL_EVENT_TYPES(X)                                                                   \
    X(CODE_RULE_VIOLATION) X(IN_RULE_VIOLATION) X(OUT_RULE_VIOLATION) X(CODE_INJECTION)    \
    X(COMMAND_INJECTION) X(PATH_TRAVERSAL_ATTEMPT) X(RESTRICTED_PATH_ACCESS)                \
    X(RESTRICTED_MODULE_IMPORT) X(DANGEROUS_FUNCTION_CALL) X(PROCESS_EXECUTION)             \
    X(SUSPICIOUS_NETWORK) X(UNSAFE_LIBRARY_LOAD) X(RUNTIME_INTEGRITY_VIOLATION)             \
    X(RUNTIME_MODIFICATION) X(RESOURCE_LIMIT_EXCEEDED) X(RUNTIME_EXCEPTION)                 \
    X(SECRET_EXPOSURE) X(PLAINTEXT_SECRET) X(GUARD_FAILURE) X(QUARANTINED_INVOCATION)

enum pl_event_type {
#define PL_X_(n) PL_EV_##n,
    PL_EVENT_TYPES(PL_X_)
#undef PL_X_
    PL_EV_COUNT
};

enum pl_severity { PL_SEV_INFO, PL_SEV_LOW, PL_SEV_MEDIUM, PL_SEV_HIGH, PL_SEV_CRITICAL,
                   PL_SEV_COUNT };

struct pl_event {
    int64_t time_ms;            /* wall clock, ms since epoch */
    enum pl_event_type type;
    enum pl_severity severity;
    int32_t pid;                /* process the event is about (0: the guard's own) */
    char source[16];            /* "guard", "monitor", "harden", "integrity", "audit" */
    char request_id[64];
    char rule[256];             /* rule id (classic rules: the pattern) */
    char path[256];             /* JSON path, file path, or address */
    char action[16];            /* what was done: "deny", "log", "allow", "redact" */
    char detail[1024];          /* human text; argv for processes; never secret values */
};

const char *pl_event_type_name(enum pl_event_type t);
int pl_event_type_parse(const char *s, enum pl_event_type *out);
const char *pl_severity_name(enum pl_severity s); /* "INFO".."CRITICAL" */
int pl_severity_parse(const char *s, enum pl_severity *out); /* case-insensitive */
/* fill time and source, zero the rest */
void pl_event_init(struct pl_event *ev, enum pl_event_type type, enum pl_severity sev,
                   const char *source);
/* bounded copy into a fixed field, always NUL-terminated */
void pl_event_set(char *field, size_t field_size, const char *value);
#define PL_EVENT_SET(ev, field, value) pl_event_set((ev)->field, sizeof((ev)->field), (value))
/* {"time":...,"type":...} */
int pl_event_to_json(const struct pl_event *ev, struct pl_buf *out);

#endif
