/* Sinks: where incidents go besides the store. Asynchronous: pl_sinks_submit() copies the
 * incident into a bounded queue and returns at once (never blocks on the network, never waits
 * for the worker); one worker thread delivers:
 *  - a JSON log line on stderr (always, through pl_log),
 *  - a CloudWatch Embedded Metric Format line (namespace Lambda/Security, metric SecurityEvents,
 *    dimensions EventType and Severity) when emf is on: no API call,
 *  - for incidents whose playbook says alert: a Slack-compatible webhook POST, and at or above
 *    aws_level an SNS Publish (query protocol) and an SQS SendMessage (JSON protocol), SigV4
 *    signed through libcurl.
 * A full queue drops the new message, counts it and logs that once. Delivery failures are
 * counted and logged once per sink. pl_sinks_flush() waits (bounded) for the queue to drain:
 * call it at SHUTDOWN. */
#ifndef PROTECTLAMBDA_SINKS_H
#define PROTECTLAMBDA_SINKS_H

#include "protectlambda/config.h"
#include "protectlambda/store.h"

struct pl_sinks_options {
    bool emf;
    int emf_fd;              /* where EMF lines go; default (0 given) 2 = stderr */
    const char *webhook_url; /* NULL/"": none */
    const char *sns_topic_arn;
    const char *sns_endpoint; /* NULL: https://sns.<region>.amazonaws.com */
    const char *sqs_queue_url;
    const char *sqs_endpoint; /* NULL: https://sqs.<region>.amazonaws.com */
    const char *region;
    enum pl_severity aws_level; /* least level sent to SNS/SQS */
    size_t queue_size;          /* 0: 1024 */
    long timeout_ms;            /* per request; 0: 2000 */
};

void pl_sinks_options_from_config(struct pl_sinks_options *o, const struct pl_config *cfg);

enum pl_sink_kind {
    PL_SINK_LOG,
    PL_SINK_EMF,
    PL_SINK_WEBHOOK,
    PL_SINK_SNS,
    PL_SINK_SQS,
    PL_SINK_COUNT
};

struct pl_sinks_stats {
    uint64_t submitted;             /* accepted into the queue */
    uint64_t dropped;               /* refused: queue full (or after shutdown) */
    uint64_t sent[PL_SINK_COUNT];   /* delivered (2xx for HTTP sinks) */
    uint64_t failed[PL_SINK_COUNT]; /* gave up after the retry */
    uint64_t pending;               /* in the queue or being delivered */
};

struct pl_sinks;
int pl_sinks_new(const struct pl_sinks_options *o, struct pl_sinks **out);
enum pl_sinks_flags {
    PL_SINKS_ALERT = 1,  /* also webhook, SNS, SQS */
    PL_SINKS_DETAIL = 2, /* the log line carries every field (playbook action monitor);
                          * otherwise id, type, level, request id, rule, actions, correlation */
};
/* copy inc into the queue. Never blocks: returns 0 when queued, -1 (PL_ERR_LIMIT) when
 * dropped. `note` is an optional short message prefix for the log line ("escalated",
 * "quarantined invocation"); may be NULL. */
int pl_sinks_submit(struct pl_sinks *s, const struct pl_incident *inc, unsigned flags,
                    const char *note);
/* wait until everything queued before the call is delivered or given up, at most deadline_ms;
 * 0 when drained, -1 (PL_ERR_LIMIT) when messages were left */
int pl_sinks_flush(struct pl_sinks *s, long deadline_ms);
void pl_sinks_get_stats(struct pl_sinks *s, struct pl_sinks_stats *st);
/* stops the worker (an unsent queue is counted as dropped and logged) and frees */
void pl_sinks_destroy(struct pl_sinks *s);

/* payload builders (also used by tests and docs) */
int pl_sinks_webhook_payload(const struct pl_incident *inc, struct pl_buf *out);
int pl_sinks_emf_line(const struct pl_incident *inc, struct pl_buf *out);

#endif
