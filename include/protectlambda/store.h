/* Incident store: one small interface, two backends.
 *  - sqlite (default): one file, WAL, synchronous=FULL: pl_store_put() returning 0 means the
 *    incident is on disk. Retention: pl_store_purge() deletes incidents past their expiry.
 *  - dynamodb: a table keyed by function name (pk) and "<time>#<id>" (sk), TTL attribute "ttl",
 *    conditional writes (attribute_not_exists), Query for correlation windows. JSON over HTTP
 *    with libcurl, SigV4 signed (see aws.h).
 * A store handle is used by one thread at a time (the incidents worker, or a CLI command);
 * open one handle per thread. Nothing here is called on an invocation's hot path. */
#ifndef PROTECTLAMBDA_STORE_H
#define PROTECTLAMBDA_STORE_H

#include "protectlambda/config.h"
#include "protectlambda/event.h"

#define PL_INCIDENT_ID_MAX 96

/* An incident: one security event with the threat level after correlation and the actions the
 * playbook chose. Text fields come from struct pl_event (already free of secret values). */
struct pl_incident {
    char id[PL_INCIDENT_ID_MAX];
    int64_t time_ms; /* wall clock, ms since epoch */
    char function[128];
    char version[32];
    enum pl_event_type type;
    enum pl_severity severity; /* severity of the event as reported */
    enum pl_severity level;    /* threat level after correlation */
    char source[16];
    char request_id[64];
    char rule[256];
    char path[256];
    char detail[1024];
    char actions[64];     /* "quarantine,alert" */
    char correlation[64]; /* name of the correlation rule that escalated, or "" */
    int64_t expires_s;    /* epoch seconds after which the incident may be deleted */
};

/* {"id":...,"time":"ISO","function":...,"type":...,"severity":...,"level":...,...} */
int pl_incident_to_json(const struct pl_incident *inc, struct pl_buf *out);

struct pl_quarantine {
    bool active;
    int64_t time_ms;
    char reason[256];
    char incident_id[PL_INCIDENT_ID_MAX];
};

enum pl_store_kind { PL_STORE_SQLITE, PL_STORE_DYNAMODB, PL_STORE_NONE };

struct pl_store_options {
    enum pl_store_kind kind;
    const char *path;     /* sqlite file; NULL: pl_store_default_path() */
    const char *table;    /* dynamodb */
    const char *endpoint; /* dynamodb URL; NULL: https://dynamodb.<region>.amazonaws.com */
    const char *region;   /* NULL: pl_aws_region(NULL) */
    long timeout_ms;      /* dynamodb request timeout; 0: 2000 */
    bool create;          /* sqlite: create the directory and schema if missing */
    bool lazy_create;     /* sqlite with create: a file that does not exist yet is created by
                             the first write (reads until then see an empty store, and open
                             the file if another process made it meanwhile) */
};

/* options from the settings (store, store.path, dynamodb.*, region); strings point into cfg */
void pl_store_options_from_config(struct pl_store_options *o, const struct pl_config *cfg);
/* /tmp/protectlambda/incidents.db when AWS_LAMBDA_FUNCTION_NAME is set, else
 * ./.protectlambda/incidents.db */
const char *pl_store_default_path(void);

struct pl_store;
int pl_store_open(const struct pl_store_options *o, struct pl_store **out);
void pl_store_close(struct pl_store *s);
const char *pl_store_describe(const struct pl_store *s); /* "sqlite:/path" / "dynamodb:table" */
enum pl_store_kind pl_store_kind(const struct pl_store *s);

/* create the file and schema, or the table (with its TTL setting); idempotent */
int pl_store_init(struct pl_store *s);
/* durable write. Writing the same id twice is not an error (the second is a no-op), so a
 * retried write after a lost answer never duplicates an incident. */
int pl_store_put(struct pl_store *s, const struct pl_incident *inc);
/* number of incidents of `function` with since_ms <= time_ms <= until_ms whose type is in
 * type_mask (bit 1<<type; 0 = every type) */
int pl_store_count(struct pl_store *s, const char *function, int64_t since_ms, int64_t until_ms,
                   uint64_t type_mask, size_t *count);
/* every incident of `function` (NULL or "": every function; sqlite only) since since_ms, in
 * ascending time order; the callback returns non-zero to stop (that value is returned). */
typedef int (*pl_store_each_fn)(void *ctx, const struct pl_incident *inc);
int pl_store_each(struct pl_store *s, const char *function, int64_t since_ms, pl_store_each_fn fn,
                  void *ctx);
int pl_store_get_quarantine(struct pl_store *s, const char *function, struct pl_quarantine *q);
int pl_store_set_quarantine(struct pl_store *s, const char *function,
                            const struct pl_quarantine *q);
int pl_store_clear_quarantine(struct pl_store *s, const char *function);
/* delete incidents whose expiry is before now_s (sqlite; dynamodb expires through TTL) */
int pl_store_purge(struct pl_store *s, int64_t now_s, size_t *deleted);

#endif
