/* The Runtime API proxy: see include/protectlambda/proxy.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protectlambda/http.h"
#include "protectlambda/log.h"
#include "protectlambda/proxy.h"

#define S_PREFIX "/2018-06-01/runtime/"
#define S_PIECE (64 * 1024)
#define S_MAX_CONNS 64

/* a latency histogram (pl_proxy_stats): 0.25 us steps below 64 us, 8 us steps to 2 ms,
 * updated without a lock (relaxed atomics: a statistic, not a count anything relies on) */
#define S_HIST_FINE 256
#define S_HIST_BUCKETS (S_HIST_FINE + 248)
struct s_hist {
    uint64_t sum_ns, max_ns; /* the count is the buckets' sum */
    uint32_t b[S_HIST_BUCKETS];
};

struct pl_proxy {
    struct pl_proxy_options opt;
    struct s_hist own_event, own_response;
    char upstream[256];
    struct pl_proxy_callbacks cb;
    int listen_fd;
    uint16_t port;
    pthread_t accept_thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int conns[S_MAX_CONNS]; /* runtime-side fds of live connections (-1 free) */
    size_t n_threads;
    bool stopping;
};

struct s_conn {
    struct pl_proxy *p;
    int slot;
    struct pl_http_conn rt;  /* runtime side */
    struct pl_http_conn up;  /* upstream side (fd -1 until connected) */
    bool up_used;            /* upstream connection carried a request already */
    struct pl_http_msg req, resp;
    struct pl_buf head, body, body2;
    struct pl_proxy_answer answer;
    void *session;
    uint64_t handed_ns; /* when the runtime got its event (0: not waiting for its answer) */
    uint64_t answer_ns; /* how long the function's answers took lately (EWMA, ns) */
    uint64_t event_ns;  /* how long the next event took to come lately (EWMA, ns) */
    bool await_event;   /* the request going upstream is GET /next */
};

void pl_proxy_answer_init(struct pl_proxy_answer *a)
{
    memset(a, 0, sizeof(*a));
    pl_buf_init(&a->body);
}

void pl_proxy_answer_reset(struct pl_proxy_answer *a)
{
    a->as_error = false;
    a->error_type[0] = '\0';
    pl_buf_reset(&a->body);
}

void pl_proxy_answer_clean_up(struct pl_proxy_answer *a) { pl_buf_clean_up(&a->body); }

/* the header is hop-by-hop (or one the proxy sets itself): not copied from one side to the
 * other. By length first: this runs for every header of every message. */
static bool s_hop_by_hop(const struct pl_http_header *h)
{
    static const char *const by_len[20][2] = {
        [2] = {"te", NULL},
        [4] = {"host", NULL},
        [6] = {"expect", NULL},
        [7] = {"upgrade", NULL},
        [10] = {"connection", "keep-alive"},
        [14] = {"content-length", NULL},
        [16] = {"proxy-connection", NULL},
        [17] = {"transfer-encoding", NULL},
        [18] = {"proxy-authenticate", NULL},
        [19] = {"proxy-authorization", NULL},
    };
    if (h->name_len >= PL_ARRAY_LEN(by_len))
        return false;
    for (int k = 0; k < 2 && by_len[h->name_len][k]; k++)
        if (pl_http_name_eq(h, by_len[h->name_len][k]))
            return true;
    return false;
}

/* copy end-to-end headers of m into the head being built */
static int s_copy_headers(struct pl_buf *head, const struct pl_http_msg *m, bool keep_trailer)
{
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct pl_http_header *h = &m->headers[i];
        if (s_hop_by_hop(h))
            continue;
        if (!keep_trailer && h->name_len == 7 && pl_http_name_eq(h, "trailer"))
            continue;
        if (pl_http_head_addn(head, h->name, h->name_len, h->value, h->value_len))
            return -1;
    }
    return 0;
}

/* Waiting for the peer's next message: the runtime's answer once it has its event, and the
 * next event once its GET /next went upstream. A thread that sleeps for it pays a wake-up
 * when it comes: on an idle vCPU tens of microseconds, twice per invocation, most of the
 * guard's added latency. When such waits have recently been shorter than spin_us (a short
 * function; events arriving back to back), poll the connection without sleeping up to
 * spin_us first; otherwise, or when the message is late, sleep as before. Every wait updates
 * its estimate (EWMA 1/8), so a function that turns slow, or events that stop coming, stop
 * costing polls after a few invocations. */
static void s_await(const struct pl_proxy *p, struct pl_http_conn *conn, uint64_t t0,
                    uint64_t *estimate)
{
    uint64_t budget = (uint64_t)p->opt.spin_us * 1000u;
    if (!t0 || !budget || conn->fd < 0 || conn->end > conn->start)
        return;
    struct pollfd pf = {conn->fd, POLLIN, 0};
    uint64_t now = pl_now_ns();
    if (*estimate <= budget) {
        while (now - t0 < budget) {
            int r = poll(&pf, 1, 0);
            now = pl_now_ns();
            if (r != 0) /* data, hang-up or error: the read that follows sees which */
                break;
        }
    }
    if (now - t0 >= budget) {
        /* late (or not polling): sleep until it comes, then learn how long it took */
        while (poll(&pf, 1, -1) < 0 && errno == EINTR) {
        }
        now = pl_now_ns();
    }
    uint64_t took = now - t0;
    *estimate = *estimate ? *estimate - *estimate / 8 + took / 8 : took;
}

static void s_hist_add(struct s_hist *h, uint64_t since_ns)
{
    if (!since_ns)
        return;
    uint64_t ns = pl_now_ns() - since_ns;
    uint64_t q = ns / 250; /* quarter microseconds */
    size_t k = q < S_HIST_FINE ? (size_t)q : S_HIST_FINE + (size_t)((ns / 1000 - 64) / 8);
    if (k >= S_HIST_BUCKETS)
        k = S_HIST_BUCKETS - 1;
    __atomic_fetch_add(&h->b[k], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum_ns, ns, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&h->max_ns, __ATOMIC_RELAXED);
    while (ns > m &&
           !__atomic_compare_exchange_n(&h->max_ns, &m, ns, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* the middle of bucket k, in microseconds */
static double s_hist_us(size_t k)
{
    return k < S_HIST_FINE ? ((double)k + 0.5) * 0.25 : 64.0 + ((double)(k - S_HIST_FINE) + 0.5) * 8.0;
}

static void s_hist_read(const struct s_hist *h, struct pl_proxy_timing *t)
{
    memset(t, 0, sizeof(*t));
    uint32_t b[S_HIST_BUCKETS];
    uint64_t n = 0;
    for (size_t k = 0; k < S_HIST_BUCKETS; k++) {
        b[k] = __atomic_load_n(&h->b[k], __ATOMIC_RELAXED);
        n += b[k];
    }
    if (!n)
        return;
    t->count = n;
    t->mean_us = (double)__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / 1000.0 / (double)n;
    t->max_us = (double)__atomic_load_n(&h->max_ns, __ATOMIC_RELAXED) / 1000.0;
    uint64_t seen = 0, at50 = (n + 1) / 2, at99 = n - n / 100;
    bool have50 = false;
    for (size_t k = 0; k < S_HIST_BUCKETS; k++) {
        seen += b[k];
        if (!have50 && seen >= at50) {
            t->p50_us = s_hist_us(k);
            have50 = true;
        }
        if (seen >= at99) {
            t->p99_us = s_hist_us(k);
            break;
        }
    }
    if (t->p50_us > t->max_us)
        t->p50_us = t->max_us;
    if (t->p99_us > t->max_us)
        t->p99_us = t->max_us;
}

void pl_proxy_stats(const struct pl_proxy *p, struct pl_proxy_stats *out)
{
    s_hist_read(&p->own_event, &out->event);
    s_hist_read(&p->own_response, &out->response);
}

/* ---- upstream ---- */
static int s_up_connect(struct s_conn *c)
{
    if (c->up.fd >= 0)
        return 0;
    int fd = pl_http_connect(c->p->upstream);
    if (fd < 0)
        return -1;
    pl_http_conn_clean_up(&c->up);
    pl_http_conn_init(&c->up, fd);
    c->up_used = false;
    return 0;
}

static void s_up_close(struct s_conn *c)
{
    pl_http_conn_clean_up(&c->up);
    pl_http_conn_init(&c->up, -1);
    c->up_used = false;
}

/* Send one request with a whole body upstream and read the response head into c->resp.
 * A reused keep-alive connection that turns out closed is reconnected once. */
static int s_up_exchange(struct s_conn *c, const struct pl_buf *head, const void *body,
                         size_t len, bool head_request)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_up_connect(c))
            return -1;
        bool reused = c->up_used;
        c->up_used = true;
        int sent = pl_http_send(c->up.fd, head, body, len);
        if (sent == 0 && c->await_event)
            s_await(c->p, &c->up, pl_now_ns(), &c->event_ns);
        if (sent == 0 && pl_http_conn_read_response(&c->up, &c->resp, head_request) == 0)
            return 0;
        s_up_close(c);
        if (!reused)
            return -1;
    }
    return -1;
}

/* build the head of a request to upstream from the runtime's request */
static int s_build_req_head(struct s_conn *c, const char *method, const char *target,
                            const struct pl_http_msg *from, bool chunked, size_t len,
                            bool keep_trailer)
{
    pl_buf_reset(&c->head);
    if (pl_http_head_request(&c->head, method, target) ||
        pl_http_head_add(&c->head, "Host", c->p->upstream))
        return -1;
    if (from && s_copy_headers(&c->head, from, keep_trailer))
        return -1;
    if (chunked) {
        if (pl_http_head_add(&c->head, "Transfer-Encoding", "chunked"))
            return -1;
    } else if (len || strcmp(method, "GET")) {
        if (pl_http_head_add_uint(&c->head, "Content-Length", len))
            return -1;
    }
    return pl_http_head_end(&c->head);
}

/* send c->resp's status and headers with the body in c->body to the runtime; hist: record
 * the time since the upstream's last byte there (the proxy's own time on the path) */
static int s_send_upstream_response(struct s_conn *c, bool keep_alive, struct s_hist *hist)
{
    pl_buf_reset(&c->head);
    if (pl_http_head_response(&c->head, c->resp.status, NULL) ||
        s_copy_headers(&c->head, &c->resp, false) ||
        pl_http_head_add_uint(&c->head, "Content-Length", c->body.len) ||
        (!keep_alive && pl_http_head_add(&c->head, "Connection", "close")) ||
        pl_http_head_end(&c->head))
        return -1;
    if (hist)
        s_hist_add(hist, c->up.last_read_ns);
    return pl_http_send(c->rt.fd, &c->head, c->body.data, c->body.len);
}

/* forward c->resp (head already read from upstream) with its body to the runtime */
static int s_forward_response(struct s_conn *c, bool keep_alive)
{
    pl_buf_reset(&c->body);
    if (pl_http_conn_read_body(&c->up, &c->resp, &c->body, c->p->opt.max_body + 65536)) {
        s_up_close(c);
        return -1;
    }
    if (!c->resp.keep_alive)
        s_up_close(c);
    return s_send_upstream_response(c, keep_alive, NULL);
}

static int s_send_local_error(struct s_conn *c, int status, const char *msg)
{
    /* the reason the upstream exchange failed (refused, cut, oversized head, ...) */
    if (status >= 500)
        pl_log(PL_LOG_WARN, "proxy", "%s (answering the runtime %d): %s", msg, status,
               pl_last_error_msg());
    struct pl_buf b = PL_BUF_INIT;
    int rc = pl_buf_append_str(&b, "{\"errorMessage\":");
    rc |= pl_buf_append_json_cstr(&b, msg);
    rc |= pl_buf_append_str(&b, ",\"errorType\":\"ProxyError\"}");
    if (rc == 0)
        rc = pl_http_send_response(c->rt.fd, status, "application/json", NULL, 0, b.data,
                                   b.len, true);
    pl_buf_clean_up(&b);
    return rc;
}

/* the head of the guard's own answer (c->answer) posted upstream for request_id, into c->head;
 * error_type: add Lambda-Runtime-Function-Error-Type */
static int s_answer_head(struct s_conn *c, enum pl_proxy_kind kind, const char *request_id,
                         bool error_type)
{
    char target[256];
    if (kind == PL_PROXY_INIT_ERROR)
        snprintf(target, sizeof(target), S_PREFIX "init/error");
    else
        snprintf(target, sizeof(target), S_PREFIX "invocation/%s/%s", request_id,
                 c->answer.as_error ? "error" : "response");
    pl_buf_reset(&c->head);
    int rc = pl_http_head_request(&c->head, "POST", target);
    rc |= pl_http_head_add(&c->head, "Host", c->p->upstream);
    rc |= pl_http_head_add(&c->head, "Content-Type", "application/json");
    if (error_type)
        rc |= pl_http_head_add(&c->head, "Lambda-Runtime-Function-Error-Type",
                               c->answer.error_type[0] ? c->answer.error_type
                                                       : "SecurityViolation");
    rc |= pl_http_head_add_uint(&c->head, "Content-Length", c->answer.body.len);
    rc |= pl_http_head_end(&c->head);
    return rc ? -1 : 0;
}

/* post the guard's answer for request_id upstream; the upstream response is discarded */
static int s_post_answer(struct s_conn *c, enum pl_proxy_kind kind, const char *request_id,
                         struct pl_buf *resp_out)
{
    if (s_answer_head(c, kind, request_id, c->answer.as_error || kind != PL_PROXY_RESPONSE))
        return -1;
    if (s_up_exchange(c, &c->head, c->answer.body.data, c->answer.body.len, false))
        return -1;
    if (resp_out) {
        pl_buf_reset(resp_out);
        if (pl_http_conn_read_body(&c->up, &c->resp, resp_out, 1024 * 1024)) {
            s_up_close(c);
            return -1;
        }
    } else if (pl_http_conn_skip_body(&c->up, &c->resp, 1024 * 1024)) {
        s_up_close(c);
        return -1;
    }
    if (!c->resp.keep_alive)
        s_up_close(c);
    if (c->resp.status >= 300)
        pl_log(PL_LOG_WARN, "proxy", "upstream answered %d to the deny answer of %s",
               c->resp.status, request_id);
    return 0;
}

/* ---- GET /next ---- */
static int s_handle_next(struct s_conn *c, const char *target, bool keep_alive)
{
    struct pl_proxy *p = c->p;
    for (;;) {
        if (s_build_req_head(c, "GET", target, &c->req, false, 0, false))
            return -1;
        c->await_event = true;
        int up = s_up_exchange(c, &c->head, NULL, 0, false);
        c->await_event = false;
        if (up)
            return s_send_local_error(c, 502, "upstream Runtime API unreachable") ? -1 : 1;
        const char *rid = pl_http_msg_header(&c->resp, "Lambda-Runtime-Aws-Request-Id");
        if (c->resp.status != 200 || !rid || !p->cb.on_event)
            return s_forward_response(c, keep_alive);
        pl_buf_reset(&c->body);
        if (pl_http_conn_read_body(&c->up, &c->resp, &c->body, p->opt.max_body)) {
            /* an event larger than we can hold: it cannot be inspected, it never reaches the
             * runtime; the guard answers it (fail closed) */
            char rid_copy[128];
            snprintf(rid_copy, sizeof(rid_copy), "%s", rid);
            pl_log(PL_LOG_WARN, "proxy", "event %s could not be read whole from upstream: %s",
                   rid_copy, pl_last_error_msg());
            s_up_close(c);
            pl_proxy_answer_reset(&c->answer);
            p->cb.on_event(c->session, rid_copy, NULL, 0, &c->answer);
            if (!c->answer.body.len) {
                c->answer.as_error = true;
                snprintf(c->answer.error_type, sizeof(c->answer.error_type),
                         "Function.EventTooLarge");
                pl_buf_append_str(&c->answer.body, "{\"errorMessage\":\"event too large to "
                                                   "inspect\",\"errorType\":\"Function."
                                                   "EventTooLarge\"}");
            }
            if (s_post_answer(c, PL_PROXY_RESPONSE, rid_copy, NULL))
                pl_log(PL_LOG_ERROR, "proxy", "cannot answer oversized event %s: %s", rid_copy,
                       pl_last_error_msg());
            if (p->cb.invocation_end)
                p->cb.invocation_end(c->session, rid_copy);
            continue;
        }
        if (!c->resp.keep_alive)
            s_up_close(c);
        char rid_copy[128];
        pl_strlcpy(rid_copy, rid, sizeof(rid_copy));
        pl_proxy_answer_reset(&c->answer);
        enum pl_proxy_verdict v =
            p->cb.on_event(c->session, rid_copy, c->body.data, c->body.len, &c->answer);
        if (v != PL_PROXY_DENY) {
            /* hand it to the runtime unchanged: every header of the upstream response */
            int rc = s_send_upstream_response(c, keep_alive, &p->own_event);
            c->handed_ns = rc == 0 ? pl_now_ns() : 0;
            return rc;
        }
        /* denied: answer upstream ourselves, never give the event to the runtime */
        if (s_post_answer(c, PL_PROXY_RESPONSE, rid_copy, NULL))
            pl_log(PL_LOG_ERROR, "proxy", "cannot post the deny answer of %s: %s", rid_copy,
                   pl_last_error_msg());
        if (p->cb.invocation_end)
            p->cb.invocation_end(c->session, rid_copy);
    }
}

/* ---- POST response / error (buffered) ---- */
static int s_handle_out(struct s_conn *c, enum pl_proxy_kind kind, const char *rid,
                        const char *target, bool keep_alive)
{
    struct pl_proxy *p = c->p;
    pl_buf_reset(&c->body);
    const char *data = NULL;
    size_t len = 0;
    if (pl_http_conn_read_body(&c->rt, &c->req, &c->body, p->opt.max_body) == 0) {
        data = c->body.data ? c->body.data : "";
        len = c->body.len;
    } else if (pl_last_error() == PL_ERR_LIMIT) {
        len = c->req.body == PL_HTTP_BODY_LENGTH ? c->req.content_length : c->body.len;
        keep_alive = false; /* the runtime connection is out of sync now */
    } else {
        return -1;
    }
    pl_buf_reset(&c->body2);
    pl_proxy_answer_reset(&c->answer);
    enum pl_proxy_verdict v = PL_PROXY_PASS;
    if (p->cb.on_out)
        v = p->cb.on_out(c->session, kind, rid, data, len, &c->body2, &c->answer);
    if (!data && v != PL_PROXY_DENY) {
        /* not kept: cannot forward it; Lambda rejects such a payload anyway */
        v = PL_PROXY_DENY;
        pl_proxy_answer_reset(&c->answer);
        c->answer.as_error = true;
        snprintf(c->answer.error_type, sizeof(c->answer.error_type), "Function.ResponseSizeTooLarge");
        pl_buf_append_str(&c->answer.body, "{\"errorMessage\":\"Response payload size exceeded the "
                                            "maximum allowed payload size\",\"errorType\":"
                                            "\"Function.ResponseSizeTooLarge\"}");
    }
    int rc;
    if (v == PL_PROXY_DENY) {
        if (kind != PL_PROXY_RESPONSE)
            c->answer.as_error = true;
        if (s_answer_head(c, kind, rid, c->answer.as_error))
            return -1;
        data = c->answer.body.data;
        len = c->answer.body.len;
    } else {
        if (v == PL_PROXY_REWRITE) {
            data = c->body2.data ? c->body2.data : "";
            len = c->body2.len;
        }
        if (s_build_req_head(c, "POST", target, &c->req, false, len, false))
            return -1;
    }
    s_hist_add(&p->own_response, c->rt.last_read_ns);
    if (s_up_exchange(c, &c->head, data, len, false))
        return s_send_local_error(c, 502, "upstream Runtime API unreachable") ? -1 : 0;
    rc = s_forward_response(c, keep_alive);
    if (kind != PL_PROXY_INIT_ERROR && p->cb.invocation_end)
        p->cb.invocation_end(c->session, rid);
    return rc ? -1 : (keep_alive ? 0 : 1);
}

/* ---- POST response, streamed ---- */
static int s_write_error_trailers(struct s_conn *c)
{
    /* Lambda's streaming error trailers: type, and the error body base64-encoded */
    static const char b64t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)(c->answer.body.data ? c->answer.body.data : "");
    size_t n = c->answer.body.len;
    struct pl_buf enc = PL_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {b64t[(v >> 18) & 63], b64t[(v >> 12) & 63],
                     i + 1 < n ? b64t[(v >> 6) & 63] : '=', i + 2 < n ? b64t[v & 63] : '='};
        rc = pl_buf_append(&enc, q, 4);
    }
    if (rc == 0) {
        struct pl_http_field tr[2] = {
            {"Lambda-Runtime-Function-Error-Type",
             c->answer.error_type[0] ? c->answer.error_type : "SecurityViolation"},
            {"Lambda-Runtime-Function-Error-Body", enc.data ? enc.data : ""}};
        rc = pl_http_write_last_chunk(c->up.fd, tr, 2);
    }
    pl_buf_clean_up(&enc);
    return rc;
}

static int s_handle_stream(struct s_conn *c, const char *rid, const char *target,
                           bool keep_alive)
{
    struct pl_proxy *p = c->p;
    size_t hold = p->opt.stream_holdback;
    bool denied = false;
    int rc = -1;
    if (p->cb.stream_begin && p->cb.stream_begin(c->session, rid))
        denied = true;
    if (s_build_req_head(c, "POST", target, &c->req, true, 0, true))
        return -1;
    /* a streamed request cannot be replayed: use a fresh upstream connection when the
     * current one may have been closed by the peer */
    if (c->up_used)
        s_up_close(c);
    if (s_up_connect(c))
        return s_send_local_error(c, 502, "upstream Runtime API unreachable") ? -1 : 1;
    c->up_used = true;
    if (pl_http_write_all(c->up.fd, c->head.data, c->head.len))
        goto out;
    pl_buf_reset(&c->body); /* held back bytes */
    pl_proxy_answer_reset(&c->answer);
    for (;;) {
        const char *d;
        size_t n;
        int r = pl_http_conn_read_body_piece(&c->rt, &c->req, &d, &n, S_PIECE);
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        if (denied)
            continue; /* drain what the runtime still sends */
        if (p->cb.stream_chunk && p->cb.stream_chunk(c->session, d, n) == PL_PROXY_DENY) {
            denied = true;
            continue;
        }
        if (pl_buf_append(&c->body, d, n))
            goto out;
        if (c->body.len > hold) {
            size_t send = c->body.len - hold;
            if (pl_http_write_chunk(c->up.fd, c->body.data, send))
                goto out;
            memmove(c->body.data, c->body.data + send, hold);
            c->body.len = hold;
        }
    }
    /* always asked: it also fills the answer of a stream denied mid-way */
    if (p->cb.stream_end && p->cb.stream_end(c->session, &c->answer) == PL_PROXY_DENY)
        denied = true;
    if (denied) {
        if (!c->answer.body.len)
            pl_buf_append_str(&c->answer.body, "{\"errorMessage\":\"Security Violation...\","
                                               "\"errorType\":\"SecurityViolation\"}");
        if (s_write_error_trailers(c))
            goto out;
    } else {
        if (c->body.len && pl_http_write_chunk(c->up.fd, c->body.data, c->body.len))
            goto out;
        /* the runtime's own trailers (e.g. its error trailers) pass through */
        struct pl_http_field tr[PL_HTTP_MAX_TRAILERS];
        char *tn[PL_HTTP_MAX_TRAILERS];
        size_t nt = 0;
        for (size_t i = 0; i < c->req.n_trailers; i++) {
            const struct pl_http_header *h = &c->req.trailers[i];
            tn[nt] = pl_strndup(h->name, h->name_len);
            tr[nt].name = tn[nt];
            tr[nt].value = h->value; /* NUL-terminated after read */
            if (tn[nt])
                nt++;
        }
        int wr = pl_http_write_last_chunk(c->up.fd, nt ? tr : NULL, nt);
        for (size_t i = 0; i < nt; i++)
            pl_free(tn[i]);
        if (wr)
            goto out;
    }
    if (pl_http_conn_read_response(&c->up, &c->resp, false)) {
        s_up_close(c);
        goto out;
    }
    rc = s_forward_response(c, keep_alive);
    if (p->cb.invocation_end)
        p->cb.invocation_end(c->session, rid);
    return rc ? -1 : (keep_alive ? 0 : 1);
out:
    s_up_close(c);
    return -1;
}

/* ---- passthrough ---- */
static int s_handle_other(struct s_conn *c, const char *method, const char *target,
                          bool keep_alive)
{
    pl_buf_reset(&c->body);
    if (pl_http_conn_read_body(&c->rt, &c->req, &c->body, c->p->opt.max_body))
        return -1;
    if (s_build_req_head(c, method, target, &c->req, false, c->body.len, false))
        return -1;
    if (c->req.body == PL_HTTP_BODY_NONE && !c->body.len) {
        /* keep a body-less request body-less (GET without Content-Length) */
        pl_buf_reset(&c->head);
        if (pl_http_head_request(&c->head, method, target) ||
            pl_http_head_add(&c->head, "Host", c->p->upstream) ||
            s_copy_headers(&c->head, &c->req, false) || pl_http_head_end(&c->head))
            return -1;
    }
    if (s_up_exchange(c, &c->head, c->body.data, c->body.len, !strcmp(method, "HEAD")))
        return s_send_local_error(c, 502, "upstream Runtime API unreachable") ? -1 : 0;
    return s_forward_response(c, keep_alive) ? -1 : (keep_alive ? 0 : 1);
}

/* "/2018-06-01/runtime/invocation/<id>/<what>" → id, what */
static bool s_parse_invocation(const char *path, char *id, size_t id_len, const char **what)
{
    static const char pre[] = S_PREFIX "invocation/";
    if (strncmp(path, pre, sizeof(pre) - 1))
        return false;
    const char *s = path + sizeof(pre) - 1;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= id_len)
        return false;
    memcpy(id, s, (size_t)(slash - s));
    id[slash - s] = '\0';
    *what = slash + 1;
    return true;
}

/* one request from the runtime: 0 go on, 1 close after it, -1 error */
static int s_handle_request(struct s_conn *c)
{
    char method[16], target[1024];
    if (c->req.method_len >= sizeof(method) || c->req.target_len >= sizeof(target))
        return s_send_local_error(c, 414, "request line too long") ? -1 : 1;
    memcpy(method, c->req.method, c->req.method_len);
    method[c->req.method_len] = '\0';
    memcpy(target, c->req.target, c->req.target_len);
    target[c->req.target_len] = '\0';
    bool keep_alive = c->req.keep_alive;
    /* curl sends large bodies only after "100 Continue" (else it waits a second): the proxy
     * always takes the body, and forwards it without Expect */
    const char *expect = pl_http_msg_header(&c->req, "Expect");
    if (expect && pl_http_value_has_token(expect, strlen(expect), "100-continue") &&
        pl_http_write_all(c->rt.fd, "HTTP/1.1 100 Continue\r\n\r\n", 25))
        return -1;
    char path[1024];
    memcpy(path, target, c->req.target_len + 1);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';

    if (!strcmp(method, "GET") && !strcmp(path, S_PREFIX "invocation/next")) {
        int rc = s_handle_next(c, target, keep_alive);
        return rc < 0 ? -1 : (rc == 1 || !keep_alive ? 1 : 0);
    }
    if (!strcmp(method, "POST")) {
        char rid[256];
        const char *what;
        if (!strcmp(path, S_PREFIX "init/error"))
            return s_handle_out(c, PL_PROXY_INIT_ERROR, "", target, keep_alive);
        if (s_parse_invocation(path, rid, sizeof(rid), &what)) {
            if (!strcmp(what, "response")) {
                const char *mode =
                    pl_http_msg_header(&c->req, "Lambda-Runtime-Function-Response-Mode");
                if (mode && !strcasecmp(mode, "streaming"))
                    return s_handle_stream(c, rid, target, keep_alive);
                return s_handle_out(c, PL_PROXY_RESPONSE, rid, target, keep_alive);
            }
            if (!strcmp(what, "error"))
                return s_handle_out(c, PL_PROXY_ERROR, rid, target, keep_alive);
        }
    }
    return s_handle_other(c, method, target, keep_alive);
}

static void *s_conn_thread(void *arg)
{
    struct s_conn *c = arg;
    struct pl_proxy *p = c->p;
    pthread_setname_np(pthread_self(), "pl-proxy-conn");
    if (p->opt.pin) {
        /* on the runtime's CPU (setting colocate): its requests wake this thread there */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(p->opt.pin_cpu, &set);
        int e = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        if (e)
            pl_log(PL_LOG_WARN, "proxy", "cannot run on CPU %d: %s", p->opt.pin_cpu, strerror(e));
    }
    if (p->cb.session_open && p->cb.session_open(p->cb.ctx, &c->session)) {
        pl_log(PL_LOG_ERROR, "proxy", "cannot open a guard session: %s", pl_last_error_msg());
        c->session = NULL;
        goto done;
    }
    for (;;) {
        s_await(p, &c->rt, c->handed_ns, &c->answer_ns);
        c->handed_ns = 0;
        int r = pl_http_conn_read_request(&c->rt, &c->req);
        if (r == 1)
            break;
        if (r < 0) {
            pl_log(PL_LOG_DEBUG, "proxy", "runtime connection: %s", pl_last_error_msg());
            if (pl_last_error() == PL_ERR_HTTP || pl_last_error() == PL_ERR_LIMIT)
                pl_http_send_response(c->rt.fd, 400, "text/plain", NULL, 0, "bad request\n", 12,
                                      false);
            break;
        }
        r = s_handle_request(c);
        if (r < 0)
            pl_log(PL_LOG_DEBUG, "proxy", "request failed: %s", pl_last_error_msg());
        if (r != 0)
            break;
    }
done:
    if (c->session && p->cb.session_close)
        p->cb.session_close(c->session);
    pthread_mutex_lock(&p->lock);
    p->conns[c->slot] = -1;
    pl_http_conn_clean_up(&c->rt);
    p->n_threads--;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pl_http_conn_clean_up(&c->up);
    pl_http_msg_clean_up(&c->req);
    pl_http_msg_clean_up(&c->resp);
    pl_buf_clean_up(&c->head);
    pl_buf_clean_up(&c->body);
    pl_buf_clean_up(&c->body2);
    pl_proxy_answer_clean_up(&c->answer);
    pl_free(c);
    return NULL;
}

static void *s_accept_thread(void *arg)
{
    struct pl_proxy *p = arg;
    pthread_setname_np(pthread_self(), "pl-proxy-accept");
    for (;;) {
        int fd = pl_http_accept(p->listen_fd);
        pthread_mutex_lock(&p->lock);
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->lock);
        if (stop) {
            if (fd >= 0)
                close(fd);
            break;
        }
        if (fd < 0) {
            usleep(10000);
            continue;
        }
        struct s_conn *c = pl_calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->p = p;
        pl_http_conn_init(&c->rt, fd);
        pl_http_conn_init(&c->up, -1);
        pl_http_msg_init(&c->req);
        pl_http_msg_init(&c->resp);
        pl_proxy_answer_init(&c->answer);
        pthread_mutex_lock(&p->lock);
        int slot = -1;
        for (int i = 0; i < S_MAX_CONNS; i++)
            if (p->conns[i] < 0) {
                slot = i;
                break;
            }
        if (slot >= 0) {
            p->conns[slot] = fd;
            p->n_threads++;
        }
        pthread_mutex_unlock(&p->lock);
        c->slot = slot;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (slot < 0 || pthread_create(&t, &attr, s_conn_thread, c)) {
            pl_log(PL_LOG_WARN, "proxy", "too many runtime connections: refusing one");
            pthread_mutex_lock(&p->lock);
            if (slot >= 0) {
                p->conns[slot] = -1;
                p->n_threads--;
            }
            pthread_mutex_unlock(&p->lock);
            pl_http_conn_clean_up(&c->rt);
            pl_http_msg_clean_up(&c->req);
            pl_http_msg_clean_up(&c->resp);
            pl_free(c);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

int pl_proxy_start(const struct pl_proxy_options *opt, const struct pl_proxy_callbacks *cb,
                   struct pl_proxy **out)
{
    *out = NULL;
    int adopted = opt->listen_fd > 0 ? opt->listen_fd : -1;
    if (!opt->upstream || !*opt->upstream) {
        if (adopted >= 0)
            close(adopted);
        return pl_raise(PL_ERR_CONFIG, "no upstream Runtime API (AWS_LAMBDA_RUNTIME_API unset)");
    }
    struct pl_proxy *p = pl_calloc(1, sizeof(*p));
    if (!p) {
        if (adopted >= 0)
            close(adopted);
        return -1;
    }
    p->opt = *opt;
    snprintf(p->upstream, sizeof(p->upstream), "%s", opt->upstream);
    p->opt.upstream = p->upstream;
    if (!p->opt.max_body)
        p->opt.max_body = PL_HTTP_DEFAULT_BODY_CAP;
    p->cb = *cb;
    for (int i = 0; i < S_MAX_CONNS; i++)
        p->conns[i] = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (adopted >= 0) {
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        p->listen_fd = adopted;
        if (getsockname(adopted, (struct sockaddr *)&a, &alen) || a.sin_family != AF_INET) {
            pl_raise(PL_ERR_IO, "listening socket %d: %s", adopted, strerror(errno));
            close(adopted);
            goto fail;
        }
        p->port = ntohs(a.sin_port);
    } else {
        p->listen_fd = pl_http_listen_loopback(opt->port, &p->port);
        if (p->listen_fd < 0)
            goto fail;
    }
    if (pthread_create(&p->accept_thread, NULL, s_accept_thread, p)) {
        close(p->listen_fd);
        pl_raise(PL_ERR_INTERNAL, "cannot start the proxy thread");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    pl_free(p);
    return -1;
}

uint16_t pl_proxy_port(const struct pl_proxy *p) { return p->port; }

void pl_proxy_stop(struct pl_proxy *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (int i = 0; i < S_MAX_CONNS; i++)
        if (p->conns[i] >= 0)
            shutdown(p->conns[i], SHUT_RDWR);
    pthread_mutex_unlock(&p->lock);
    shutdown(p->listen_fd, SHUT_RDWR);
    /* wake accept() in case shutdown on a listening socket does not */
    int fd = pl_http_connect_loopback(p->port);
    pthread_join(p->accept_thread, NULL);
    if (fd >= 0)
        close(fd);
    close(p->listen_fd);
    pthread_mutex_lock(&p->lock);
    while (p->n_threads > 0)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    pl_free(p);
}
