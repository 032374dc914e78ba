/* Asynchronous sinks: a bounded ring of incident copies and one worker thread. */
#include "protectlambda/sinks.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protectlambda/aws.h"
#include "protectlambda/log.h"

struct s_msg {
    struct pl_incident inc;
    bool alert, detail;
    char note[48];
};

struct pl_sinks {
    struct pl_sinks_options o;
    char webhook_url[2048], sns_topic[512], sns_endpoint[512], sqs_queue[1024], sqs_endpoint[512];
    char region[64];
    struct pl_aws_credentials cred;
    bool have_cred;

    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* worker waits for messages */
    pthread_cond_t cv_idle; /* flush waits for progress */
    struct s_msg *ring;
    size_t cap, head, n;
    bool busy; /* the worker is delivering a message taken from the ring */
    bool stop;
    bool flushing;
    uint64_t flush_deadline_ns; /* while flushing: network requests end by then */
    uint64_t done_seq, taken_seq, submit_seq;
    pthread_t thread;
    bool started;

    struct pl_sinks_stats st;
    int drop_logged;
    int fail_logged[PL_SINK_COUNT];
};

static const char *const s_sink_names[PL_SINK_COUNT] = {"log", "emf", "webhook", "sns", "sqs"};

void pl_sinks_options_from_config(struct pl_sinks_options *o, const struct pl_config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->emf = pl_config_bool(cfg, PL_CFG_EMF);
    o->emf_fd = 2;
    o->webhook_url = pl_config_str(cfg, PL_CFG_WEBHOOK_URL);
    o->sns_topic_arn = pl_config_str(cfg, PL_CFG_SNS_TOPIC_ARN);
    o->sns_endpoint = pl_config_str(cfg, PL_CFG_SNS_ENDPOINT);
    o->sqs_queue_url = pl_config_str(cfg, PL_CFG_SQS_QUEUE_URL);
    o->sqs_endpoint = pl_config_str(cfg, PL_CFG_SQS_ENDPOINT);
    o->region = pl_config_str(cfg, PL_CFG_REGION);
    o->aws_level = (enum pl_severity)pl_config_int(cfg, PL_CFG_SINKS_AWS_LEVEL);
    o->queue_size = (size_t)pl_config_int(cfg, PL_CFG_SINKS_QUEUE);
    o->timeout_ms = (long)pl_config_int(cfg, PL_CFG_SINKS_TIMEOUT_MS);
}

/* ---- payloads ---- */

int pl_sinks_webhook_payload(const struct pl_incident *inc, struct pl_buf *out)
{
    const char *lvl = pl_severity_name(inc->level);
    bool hot = inc->level >= PL_SEV_HIGH;
    char resources[256];
    snprintf(resources, sizeof(resources), "%s%s%s", inc->function, inc->request_id[0] ? ", " : "",
             inc->request_id);
    char text[256];
    snprintf(text, sizeof(text), ":rotating_light: Runtime Security Alert: %s",
             pl_event_type_name(inc->type));
    int rc = pl_buf_append_str(out, "{\"text\":");
    rc |= pl_buf_append_json_cstr(out, text);
    rc |= pl_buf_appendf(out, ",\"attachments\":[{\"color\":\"%s\",\"fields\":[",
                         hot ? "danger" : "warning");
    rc |= pl_buf_append_str(out, "{\"title\":\"Incident ID\",\"value\":");
    rc |= pl_buf_append_json_cstr(out, inc->id);
    rc |= pl_buf_appendf(out,
                         ",\"short\":true},{\"title\":\"Threat Level\",\"value\":\"%s\","
                         "\"short\":true},{\"title\":\"Affected Resources\",\"value\":",
                         lvl);
    rc |= pl_buf_append_json_cstr(out, resources);
    rc |= pl_buf_append_str(out, ",\"short\":false},{\"title\":\"Actions\",\"value\":");
    rc |= pl_buf_append_json_cstr(out, inc->actions);
    rc |= pl_buf_append_str(out, ",\"short\":true}");
    if (inc->rule[0]) {
        rc |= pl_buf_append_str(out, ",{\"title\":\"Rule\",\"value\":");
        rc |= pl_buf_append_json_cstr(out, inc->rule);
        rc |= pl_buf_append_str(out, ",\"short\":false}");
    }
    if (inc->correlation[0]) {
        rc |= pl_buf_append_str(out, ",{\"title\":\"Correlation\",\"value\":");
        rc |= pl_buf_append_json_cstr(out, inc->correlation);
        rc |= pl_buf_append_str(out, ",\"short\":true}");
    }
    rc |= pl_buf_append_str(out, "]}],\"incident_id\":");
    rc |= pl_buf_append_json_cstr(out, inc->id);
    rc |= pl_buf_appendf(out,
                         ",\"threat_level\":\"%s\",\"event_type\":\"%s\","
                         "\"affected_resources\":[",
                         lvl, pl_event_type_name(inc->type));
    rc |= pl_buf_append_json_cstr(out, inc->function);
    if (inc->request_id[0]) {
        rc |= pl_buf_append_char(out, ',');
        rc |= pl_buf_append_json_cstr(out, inc->request_id);
    }
    rc |= pl_buf_append_str(out, "],\"incident\":");
    rc |= pl_incident_to_json(inc, out);
    rc |= pl_buf_append_char(out, '}');
    return rc ? -1 : 0;
}

int pl_sinks_emf_line(const struct pl_incident *inc, struct pl_buf *out)
{
    int rc = pl_buf_appendf(
        out,
        "{\"_aws\":{\"Timestamp\":%lld,\"CloudWatchMetrics\":[{\"Namespace\":\"Lambda/Security\","
        "\"Dimensions\":[[\"EventType\",\"Severity\"]],\"Metrics\":[{\"Name\":\"SecurityEvents\","
        "\"Unit\":\"Count\"}]}]},\"EventType\":\"%s\",\"Severity\":\"%s\",\"SecurityEvents\":1,"
        "\"function\":",
        (long long)inc->time_ms, pl_event_type_name(inc->type), pl_severity_name(inc->level));
    rc |= pl_buf_append_json_cstr(out, inc->function);
    rc |= pl_buf_append_str(out, ",\"incident_id\":");
    rc |= pl_buf_append_json_cstr(out, inc->id);
    rc |= pl_buf_append_str(out, "}\n");
    return rc ? -1 : 0;
}

/* ---- delivery ---- */

static void s_write_fd(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w, n -= (size_t)w;
    }
}

static void s_count(struct pl_sinks *s, enum pl_sink_kind k, bool ok, const char *why)
{
    pthread_mutex_lock(&s->mu);
    if (ok)
        s->st.sent[k]++;
    else
        s->st.failed[k]++;
    pthread_mutex_unlock(&s->mu);
    if (!ok)
        pl_log_once(s->fail_logged[k], PL_LOG_WARN, "sinks",
                    "%s delivery failed: %s (further failures are counted, not logged)",
                    s_sink_names[k], why);
}

/* time left for a request: the per-request timeout, shortened while a flush deadline runs */
static long s_timeout(struct pl_sinks *s)
{
    long t = s->o.timeout_ms;
    pthread_mutex_lock(&s->mu);
    if (s->flushing) {
        uint64_t now = pl_now_ns();
        long left = s->flush_deadline_ns > now ? (long)((s->flush_deadline_ns - now) / 1000000) : 0;
        if (left < t)
            t = left;
    }
    pthread_mutex_unlock(&s->mu);
    return t;
}

/* one attempt and, on a transport error or 5xx/429, one retry after a short pause */
typedef int (*s_send_fn)(struct pl_sinks *s, const struct s_msg *m, long timeout, long *status);

static void s_deliver(struct pl_sinks *s, enum pl_sink_kind k, s_send_fn fn, const struct s_msg *m)
{
    char why[300] = "";
    for (int attempt = 0; attempt < 2; attempt++) {
        long t = s_timeout(s);
        if (t <= 0) {
            snprintf(why, sizeof(why), "flush deadline reached");
            break;
        }
        long status = 0;
        if (fn(s, m, t, &status) == 0) {
            if (status / 100 == 2) {
                s_count(s, k, true, NULL);
                return;
            }
            snprintf(why, sizeof(why), "HTTP %ld", status);
            if (status != 429 && status < 500)
                break;
        } else {
            snprintf(why, sizeof(why), "%s", pl_last_error_msg());
        }
        if (attempt == 0) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    s_count(s, k, false, why);
}

static int s_send_webhook(struct pl_sinks *s, const struct s_msg *m, long timeout, long *status)
{
    struct pl_buf b = PL_BUF_INIT;
    int ret = -1;
    if (pl_sinks_webhook_payload(&m->inc, &b) == 0)
        ret = pl_http_post_json(s->webhook_url, b.data, b.len, timeout, status, NULL);
    else
        pl_raise(PL_ERR_NOMEM, "out of memory");
    pl_buf_clean_up(&b);
    return ret;
}

/* the end of both AWS sinks: the body built (build_rc 0), POST it signed with the sink's
 * credentials */
static int s_aws_post(struct pl_sinks *s, int build_rc, const char *url, const char *service,
                      const char *content_type, const char *target, const struct pl_buf *body,
                      long timeout, long *status)
{
    if (build_rc)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    struct pl_aws_request rq = {.method = "POST",
                                .url = url,
                                .service = service,
                                .region = s->region,
                                .content_type = content_type,
                                .target = target,
                                .body = body->data,
                                .body_len = body->len,
                                .timeout_ms = timeout};
    return pl_aws_call(&rq, &s->cred, status, NULL);
}

static int s_send_sns(struct pl_sinks *s, const struct s_msg *m, long timeout, long *status)
{
    struct pl_buf msg = PL_BUF_INIT, body = PL_BUF_INIT;
    char subject[100];
    /* Subject: ASCII, at most 100 characters; event type names are ASCII */
    snprintf(subject, sizeof(subject), "Runtime Security Alert: %s (%s)",
             pl_event_type_name(m->inc.type), pl_severity_name(m->inc.level));
    int rc = pl_incident_to_json(&m->inc, &msg);
    rc |= pl_buf_append_str(&body, "Action=Publish&Version=2010-03-31&TopicArn=");
    rc |= pl_buf_append_urlencoded(&body, s->sns_topic);
    rc |= pl_buf_append_str(&body, "&Subject=");
    rc |= pl_buf_append_urlencoded(&body, subject);
    rc |= pl_buf_append_str(&body, "&Message=");
    rc |= pl_buf_append_urlencoded(&body, msg.data ? msg.data : "");
    int ret = s_aws_post(s, rc, s->sns_endpoint, "sns",
                         "application/x-www-form-urlencoded; charset=utf-8", NULL, &body, timeout,
                         status);
    pl_buf_clean_up(&msg);
    pl_buf_clean_up(&body);
    return ret;
}

static int s_send_sqs(struct pl_sinks *s, const struct s_msg *m, long timeout, long *status)
{
    struct pl_buf msg = PL_BUF_INIT, body = PL_BUF_INIT;
    int rc = pl_incident_to_json(&m->inc, &msg);
    rc |= pl_buf_append_str(&body, "{\"QueueUrl\":");
    rc |= pl_buf_append_json_cstr(&body, s->sqs_queue);
    rc |= pl_buf_append_str(&body, ",\"MessageBody\":");
    rc |= pl_buf_append_json_cstr(&body, msg.data ? msg.data : "");
    rc |= pl_buf_append_str(&body, ",\"MessageAttributes\":{\"ThreatLevel\":{\"DataType\":"
                                   "\"String\",\"StringValue\":");
    rc |= pl_buf_append_json_cstr(&body, pl_severity_name(m->inc.level));
    rc |= pl_buf_append_str(&body, "}}}");
    int ret = s_aws_post(s, rc, s->sqs_endpoint, "sqs", "application/x-amz-json-1.0",
                         "AmazonSQS.SendMessage", &body, timeout, status);
    pl_buf_clean_up(&msg);
    pl_buf_clean_up(&body);
    return ret;
}

static enum pl_log_level s_log_level(enum pl_severity sev)
{
    return sev >= PL_SEV_HIGH ? PL_LOG_ERROR : sev >= PL_SEV_MEDIUM ? PL_LOG_WARN : PL_LOG_INFO;
}

static void s_process(struct pl_sinks *s, const struct s_msg *m)
{
    struct pl_buf b = PL_BUF_INIT;
    /* the log line: every field of the incident under "incident" (monitor), or a summary */
    int rc = pl_buf_append_str(&b, "\"incident\":");
    if (m->detail) {
        rc |= pl_incident_to_json(&m->inc, &b);
    } else {
        rc |= pl_buf_append_str(&b, "{\"id\":");
        rc |= pl_buf_append_json_cstr(&b, m->inc.id);
        rc |= pl_buf_appendf(&b, ",\"type\":\"%s\",\"level\":\"%s\",\"request_id\":",
                             pl_event_type_name(m->inc.type), pl_severity_name(m->inc.level));
        rc |= pl_buf_append_json_cstr(&b, m->inc.request_id);
        rc |= pl_buf_append_str(&b, ",\"rule\":");
        rc |= pl_buf_append_json_cstr(&b, m->inc.rule);
        rc |= pl_buf_append_str(&b, ",\"actions\":");
        rc |= pl_buf_append_json_cstr(&b, m->inc.actions);
        rc |= pl_buf_append_str(&b, ",\"correlation\":");
        rc |= pl_buf_append_json_cstr(&b, m->inc.correlation);
        rc |= pl_buf_append_char(&b, '}');
    }
    if (rc == 0) {
        pl_log_fields(s_log_level(m->inc.level), "incidents", b.data,
                      "%s%sSecurity incident %s: %s (%s), actions %s", m->note,
                      m->note[0] ? ": " : "", m->inc.id, pl_event_type_name(m->inc.type),
                      pl_severity_name(m->inc.level), m->inc.actions[0] ? m->inc.actions : "none");
        s_count(s, PL_SINK_LOG, true, NULL);
    } else {
        s_count(s, PL_SINK_LOG, false, "out of memory");
    }
    pl_buf_reset(&b);
    if (s->o.emf) {
        if (pl_sinks_emf_line(&m->inc, &b) == 0) {
            s_write_fd(s->o.emf_fd, b.data, b.len);
            s_count(s, PL_SINK_EMF, true, NULL);
        } else {
            s_count(s, PL_SINK_EMF, false, "out of memory");
        }
    }
    pl_buf_clean_up(&b);
    if (!m->alert)
        return;
    if (s->webhook_url[0])
        s_deliver(s, PL_SINK_WEBHOOK, s_send_webhook, m);
    bool aws = m->inc.level >= s->o.aws_level;
    if (aws && (s->sns_topic[0] || s->sqs_queue[0]) && !s->have_cred) {
        if (s->sns_topic[0])
            s_count(s, PL_SINK_SNS, false, "no AWS credentials in the environment");
        if (s->sqs_queue[0])
            s_count(s, PL_SINK_SQS, false, "no AWS credentials in the environment");
        return;
    }
    if (aws && s->sns_topic[0])
        s_deliver(s, PL_SINK_SNS, s_send_sns, m);
    if (aws && s->sqs_queue[0])
        s_deliver(s, PL_SINK_SQS, s_send_sqs, m);
}

static void *s_worker(void *arg)
{
    struct pl_sinks *s = arg;
    struct s_msg *m = pl_malloc(sizeof(*m));
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->n && !s->stop)
            pthread_cond_wait(&s->cv_work, &s->mu);
        if (!s->n && s->stop)
            break;
        if (s->stop && !s->flushing)
            break; /* stopping without a flush: what is left is counted as dropped */
        if (!m) {
            /* cannot copy out: deliver in place is unsafe; count the message as dropped */
            s->head = (s->head + 1) % s->cap;
            s->n--;
            s->st.dropped++;
            s->done_seq++;
            pthread_cond_broadcast(&s->cv_idle);
            continue;
        }
        *m = s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
        if (!--s->n)
            s->head = 0; /* empty: start over at slot 0, so a quiet ring touches only its
                          * first pages (RSS: docs/performance.md) */
        s->busy = true;
        s->taken_seq++;
        pthread_mutex_unlock(&s->mu);
        s_process(s, m);
        pthread_mutex_lock(&s->mu);
        s->busy = false;
        s->done_seq++;
        pthread_cond_broadcast(&s->cv_idle);
    }
    pthread_mutex_unlock(&s->mu);
    pl_free(m);
    return NULL;
}

static void s_copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

int pl_sinks_new(const struct pl_sinks_options *o, struct pl_sinks **out)
{
    *out = NULL;
    struct pl_sinks *s = pl_calloc(1, sizeof(*s));
    if (!s)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    s->o = *o;
    if (!s->o.emf_fd)
        s->o.emf_fd = 2;
    if (!s->o.timeout_ms)
        s->o.timeout_ms = 2000;
    s->cap = o->queue_size ? o->queue_size : 1024;
    s_copy(s->webhook_url, sizeof(s->webhook_url), o->webhook_url);
    s_copy(s->sns_topic, sizeof(s->sns_topic), o->sns_topic_arn);
    s_copy(s->sqs_queue, sizeof(s->sqs_queue), o->sqs_queue_url);
    s_copy(s->region, sizeof(s->region), pl_aws_region(o->region));
    pl_aws_endpoint(o->sns_endpoint, "sns", s->region, s->sns_endpoint,
                    sizeof(s->sns_endpoint) - 1);
    pl_aws_endpoint(o->sqs_endpoint, "sqs", s->region, s->sqs_endpoint,
                    sizeof(s->sqs_endpoint) - 1);
    /* a trailing slash: the request path of the query/JSON protocols is "/" */
    size_t el = strlen(s->sns_endpoint);
    snprintf(s->sns_endpoint + el, sizeof(s->sns_endpoint) - el, "/");
    el = strlen(s->sqs_endpoint);
    snprintf(s->sqs_endpoint + el, sizeof(s->sqs_endpoint) - el, "/");
    s->o.webhook_url = s->o.sns_topic_arn = s->o.sqs_queue_url = NULL;
    s->o.sns_endpoint = s->o.sqs_endpoint = s->o.region = NULL;
    if (s->sns_topic[0] || s->sqs_queue[0]) {
        s->have_cred = pl_aws_credentials_from_env(&s->cred) == 0;
        if (!s->have_cred)
            pl_log(PL_LOG_WARN, "sinks", "SNS/SQS configured but %s: those alerts will fail",
                   pl_last_error_msg());
        pl_error_clear();
    }
    s->ring = pl_calloc(s->cap, sizeof(*s->ring));
    if (!s->ring) {
        size_t cap = s->cap;
        pl_free(s);
        return pl_raise(PL_ERR_NOMEM, "out of memory (sinks queue of %zu)", cap);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv_idle, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&s->thread, NULL, s_worker, s);
    if (rc) {
        pl_raise(PL_ERR_INTERNAL, "sinks: cannot start the worker thread: %s", strerror(rc));
        pl_sinks_destroy(s);
        return -1;
    }
    s->started = true;
    *out = s;
    return 0;
}

int pl_sinks_submit(struct pl_sinks *s, const struct pl_incident *inc, unsigned flags,
                    const char *note)
{
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap || s->stop) {
        s->st.dropped++;
        pthread_mutex_unlock(&s->mu);
        pl_log_once(s->drop_logged, PL_LOG_WARN, "sinks",
                    "sinks queue full (%zu): incident %s not delivered to the sinks; further drops "
                    "are counted, not logged",
                    s->cap, inc->id);
        return pl_raise(PL_ERR_LIMIT, "sinks queue full");
    }
    struct s_msg *m = &s->ring[(s->head + s->n) % s->cap];
    m->inc = *inc;
    m->alert = (flags & PL_SINKS_ALERT) != 0;
    m->detail = (flags & PL_SINKS_DETAIL) != 0;
    s_copy(m->note, sizeof(m->note), note);
    s->n++;
    s->submit_seq++;
    s->st.submitted++;
    pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int pl_sinks_flush(struct pl_sinks *s, long deadline_ms)
{
    uint64_t deadline = pl_now_ns() + (uint64_t)(deadline_ms > 0 ? deadline_ms : 0) * 1000000ull;
    int ret = 0;
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->submit_seq;
    s->flushing = true;
    s->flush_deadline_ns = deadline;
    pthread_cond_signal(&s->cv_work);
    while (s->done_seq < target) {
        uint64_t now = pl_now_ns();
        if (now >= deadline) {
            ret = -1;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t wait = deadline - now;
        ts.tv_sec += (time_t)(wait / 1000000000ull);
        ts.tv_nsec += (long)(wait % 1000000000ull);
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->cv_idle, &s->mu, &ts);
    }
    size_t left = s->n + (s->busy ? 1 : 0);
    s->flushing = false;
    pthread_mutex_unlock(&s->mu);
    if (ret)
        return pl_raise(PL_ERR_LIMIT, "sinks flush: %zu messages not delivered within %ld ms", left,
                        deadline_ms);
    return 0;
}

void pl_sinks_get_stats(struct pl_sinks *s, struct pl_sinks_stats *st)
{
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    st->pending = s->n + (s->busy ? 1 : 0);
    pthread_mutex_unlock(&s->mu);
}

void pl_sinks_destroy(struct pl_sinks *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        s->flushing = false;
        pthread_cond_broadcast(&s->cv_work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    if (s->n) {
        s->st.dropped += s->n;
        pl_log(PL_LOG_WARN, "sinks", "%zu queued incident messages not delivered at exit", s->n);
    }
    if (s->st.dropped)
        pl_log(PL_LOG_WARN, "sinks", "%llu incident messages dropped in total (queue full or exit)",
               (unsigned long long)s->st.dropped);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_work);
    pthread_cond_destroy(&s->cv_idle);
    pl_aws_credentials_wipe(&s->cred);
    pl_free(s->ring);
    pl_free(s);
}
