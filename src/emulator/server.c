/* The emulator's HTTP side: acceptor, one thread per connection, and the handlers of the
 * Runtime API, the Extensions API and the RIE invoke URL. Answers follow Lambda (RAPID):
 * 202 {"status":"OK"} for accepted posts, errors as {"errorMessage":..,"errorType":..}. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emulator_private.h"
#include "protectlambda/json.h"
#include "protectlambda/log.h"

#define S_MS 1000000ull
#define S_RUNTIME_PREFIX "/2018-06-01/runtime/"
#define S_EXT_PREFIX "/2020-01-01/extension/"
#define S_INVOKE_PREFIX "/2015-03-31/functions/"
#define S_STATS_PATH "/_protectlambda/emulator/stats"
#define S_SMALL_BODY (64 * 1024)
#define S_MAX_CONNS 256 /* connections (threads) served at once */
#define S_ACCOUNT_ID "012345678912" /* the account of the emulated function's ARN */

/* handler result: keep the connection, or close it */
enum { S_KEEP = 0, S_CLOSE = -1 };

static int s_reply(int fd, int status, const char *json, bool keep)
{
    if (pl_http_send_response(fd, status, "application/json", NULL, 0, json, strlen(json), keep))
        return S_CLOSE;
    return keep ? S_KEEP : S_CLOSE;
}

static int s_reply_error(int fd, int status, const char *type, const char *msg, bool keep)
{
    struct pl_buf b = PL_BUF_INIT;
    int rc = S_CLOSE;
    if (pl_emu_error_json(&b, type, "%s", msg) == 0)
        rc = s_reply(fd, status, b.data, keep);
    pl_buf_clean_up(&b);
    return rc;
}

static int s_accepted(int fd, bool keep)
{
    return s_reply(fd, 202, "{\"status\":\"OK\"}", keep);
}

static bool s_peer_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* After PL_ERR_LIMIT on a body: read and drop the rest (bounded), so the client can finish
 * sending and read the 413 instead of failing with a broken pipe. true: still in sync. */
static bool s_drain_after_limit(struct pl_http_conn *hc, struct pl_http_msg *m)
{
    return pl_http_conn_skip_body(hc, m, 64ull * 1024 * 1024) == 0;
}

/* read a body we will ignore or parse (bounded); on failure answer and close */
static int s_read_small_body(struct pl_emulator *emu, struct pl_http_conn *hc,
                             struct pl_http_msg *m, struct pl_buf *body, size_t cap)
{
    if (pl_http_conn_read_body(hc, m, body, cap) == 0)
        return 0;
    if (pl_last_error() == PL_ERR_LIMIT) {
        pthread_mutex_lock(&emu->mu);
        emu->stats.too_large++;
        pthread_mutex_unlock(&emu->mu);
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
        (void)s_drain_after_limit(hc, m);
        s_reply_error(hc->fd, 413, "RequestEntityTooLarge", msg, false);
    }
    return -1;
}

/* copy a path segment, percent-decoded; -1 if invalid */
static int s_decode_segment(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            char hex[3] = {s[i + 1], s[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end || v <= 0x20 || v == '/')
                return -1;
            c = (char)v;
            i += 2;
        } else if ((unsigned char)c <= 0x20 || c == '/') {
            return -1;
        }
        if (k + 1 >= outlen)
            return -1;
        out[k++] = c;
    }
    if (!k)
        return -1;
    out[k] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Runtime API                                                                                 */

static int s_runtime_next(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m)
{
    if (pl_http_conn_skip_body(hc, m, S_SMALL_BODY))
        return S_CLOSE;
    struct pl_buf head = PL_BUF_INIT;
    pthread_mutex_lock(&emu->mu);
    if (emu->phase == PL_EMU_PHASE_INIT_RUNTIME) {
        emu->phase = PL_EMU_PHASE_READY;
        if (!emu->runtime_ever_ready && emu->runtime_spawn_ns)
            emu->stats.runtime_init_us = (pl_now_ns() - emu->runtime_spawn_ns) / 1000;
        emu->runtime_ever_ready = true;
    }
    emu->runtime_called_next = true;
    if (emu->in_flight && emu->in_flight->state == PL_INV_DELIVERED) {
        struct pl_emu_inv *inv = emu->in_flight;
        emu->stats.unanswered++;
        pl_log(PL_LOG_WARN, "emulator",
               "runtime asked for the next invocation without answering %s", inv->id);
        struct pl_buf b = PL_BUF_INIT;
        (void)pl_emu_error_json(&b, "Runtime.NoResponse",
                                "RequestId: %s Error: the runtime asked for the next invocation "
                                "without answering this one",
                                inv->id);
        pl_emu_complete_locked(emu, inv, PL_EMU_FUNCTION_ERROR, "Runtime.NoResponse", &b,
                               "application/json", false);
        pl_buf_clean_up(&b);
    }
    pthread_cond_broadcast(&emu->cond);
    uint64_t wait_start = 0;
    bool warned = false;
    for (;;) {
        if (emu->closing || emu->phase >= PL_EMU_PHASE_SHUTTING_DOWN ||
            emu->phase == PL_EMU_PHASE_FAILED) {
            pthread_mutex_unlock(&emu->mu);
            return S_CLOSE;
        }
        if (emu->q_head && !emu->in_flight) {
            if (pl_emu_exts_ready_locked(emu))
                break;
            /* Lambda waits for extensions to call event/next again; bounded here */
            uint64_t now = pl_now_ns();
            if (!wait_start)
                wait_start = now;
            if (now - wait_start > (uint64_t)emu->timeout_s * 1000 * S_MS) {
                if (!warned)
                    pl_log(PL_LOG_WARN, "emulator",
                           "extensions did not call event/next within %d s; invoking anyway",
                           emu->timeout_s);
                break;
            }
        }
        pl_emu_timedwait(emu, 100 * S_MS);
        if (s_peer_closed(hc->fd)) {
            pthread_mutex_unlock(&emu->mu);
            return S_CLOSE;
        }
    }
    if (s_peer_closed(hc->fd)) {
        /* a runtime that died while waiting: never hand it an invocation */
        pthread_mutex_unlock(&emu->mu);
        return S_CLOSE;
    }
    struct pl_emu_inv *inv = emu->q_head;
    emu->q_head = inv->next;
    if (!emu->q_head)
        emu->q_tail = NULL;
    inv->next = NULL;
    inv->state = PL_INV_DELIVERED;
    emu->in_flight = inv;
    inv->delivered_ns = pl_now_ns();
    inv->deadline_ns = inv->delivered_ns + (uint64_t)emu->timeout_s * 1000 * S_MS;
    inv->deadline_ms = pl_wall_ms() + (int64_t)emu->timeout_s * 1000;
    emu->stats.delivered++;
    inv->busy++;
    int rc = pl_http_head_response(&head, 200, NULL);
    if (!rc)
        rc = pl_http_head_add(&head, "Content-Type", "application/json");
    if (!rc)
        rc = pl_http_head_add(&head, "Lambda-Runtime-Aws-Request-Id", inv->id);
    if (!rc)
        rc = pl_http_head_addf(&head, "Lambda-Runtime-Deadline-Ms", "%lld",
                               (long long)inv->deadline_ms);
    if (!rc)
        rc = pl_http_head_add(&head, "Lambda-Runtime-Invoked-Function-Arn", emu->arn);
    if (!rc)
        rc = pl_http_head_add(&head, "Lambda-Runtime-Trace-Id", inv->trace);
    if (!rc && inv->client_context)
        rc = pl_http_head_add(&head, "Lambda-Runtime-Client-Context", inv->client_context);
    if (!rc && inv->cognito)
        rc = pl_http_head_add(&head, "Lambda-Runtime-Cognito-Identity", inv->cognito);
    if (!rc)
        rc = pl_http_head_addf(&head, "Content-Length", "%zu", inv->event.len);
    if (!rc)
        rc = pl_http_head_end(&head);
    /* INVOKE to every extension that subscribed */
    for (struct pl_emu_ext *x = emu->exts; !rc && x; x = x->next) {
        if (!x->sub_invoke || x->gone)
            continue;
        struct pl_buf ev = PL_BUF_INIT;
        if (pl_buf_appendf(&ev, "{\"eventType\":\"INVOKE\",\"deadlineMs\":%lld,\"requestId\":",
                           (long long)inv->deadline_ms) == 0 &&
            pl_buf_append_json_cstr(&ev, inv->id) == 0 &&
            pl_buf_append_str(&ev, ",\"invokedFunctionArn\":") == 0 &&
            pl_buf_append_json_cstr(&ev, emu->arn) == 0 &&
            pl_buf_append_str(&ev, ",\"tracing\":{\"type\":\"X-Amzn-Trace-Id\",\"value\":") == 0 &&
            pl_buf_append_json_cstr(&ev, inv->trace) == 0 && pl_buf_append_str(&ev, "}}") == 0) {
            size_t len = ev.len;
            if (pl_emu_queue_event_locked(emu, x, pl_buf_steal(&ev, NULL), len, false) == 0)
                emu->stats.extension_invoke_events++;
        }
        pl_buf_clean_up(&ev);
    }
    pthread_mutex_unlock(&emu->mu);

    if (!rc)
        rc = pl_http_send(hc->fd, &head, inv->event.data, inv->event.len);
    pl_buf_clean_up(&head);

    pthread_mutex_lock(&emu->mu);
    if (rc && inv->state == PL_INV_DELIVERED && emu->in_flight == inv) {
        /* the runtime went away before it got the event: give it to the next one */
        inv->state = PL_INV_QUEUED;
        emu->in_flight = NULL;
        emu->stats.delivered--;
        inv->next = emu->q_head;
        emu->q_head = inv;
        if (!emu->q_tail)
            emu->q_tail = inv;
    }
    inv->busy--;
    if (inv->done)
        pthread_cond_broadcast(&emu->cond_inv); /* the caller waits for busy == 0 */
    if (rc)
        pthread_cond_broadcast(&emu->cond); /* requeued */
    pthread_mutex_unlock(&emu->mu);
    return rc ? S_CLOSE : S_KEEP;
}

/* find the in-flight invocation answered by `id`; otherwise answer the error and count it */
static struct pl_emu_inv *s_answer_target_locked(struct pl_emulator *emu, const char *id,
                                                 int *status, const char **type, const char **msg)
{
    if (emu->in_flight && emu->in_flight->state == PL_INV_DELIVERED &&
        !strcmp(emu->in_flight->id, id))
        return emu->in_flight;
    int k = pl_emu_ledger_find_locked(emu, id);
    if (k == 0) {
        emu->stats.double_answers++;
        pl_log(PL_LOG_WARN, "emulator", "second answer to request %s", id);
        *status = 403, *type = "InvalidStateTransition";
        *msg = "State transition from RuntimeResponseSent to InvocationResponse failed: this "
               "request id was already answered";
    } else if (k == 1) {
        emu->stats.late_answers++;
        *status = 403, *type = "InvalidStateTransition";
        *msg = "this request id timed out or was already failed";
    } else {
        emu->stats.unknown_answers++;
        pl_log(PL_LOG_WARN, "emulator", "answer to unknown request id");
        *status = 400, *type = "InvalidRequestID";
        *msg = "Invalid request ID";
    }
    return NULL;
}

static bool s_streaming(const struct pl_http_msg *m)
{
    const char *mode = pl_http_msg_header(m, "Lambda-Runtime-Function-Response-Mode");
    return mode && !strcasecmp(mode, "streaming");
}

/* A streamed response for an invocation that came through the invoke URL: forward every piece
 * to that client as a chunk while it arrives (like a Function URL in RESPONSE_STREAM mode);
 * error trailers become trailers of the client's response (X-Amz-Function-Error,
 * Lambda-Runtime-Function-Error-Type/-Body). inv->busy is held by the caller. */
static int s_stream_through(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m,
                            struct pl_emu_inv *inv)
{
    int cfd = inv->stream_fd;
    const char *ctype = pl_http_msg_header(m, "Content-Type");
    struct pl_buf head = PL_BUF_INIT;
    bool client_ok =
        pl_http_head_response(&head, 200, NULL) == 0 &&
        pl_http_head_add(&head, "Content-Type", ctype ? ctype : "application/octet-stream") == 0 &&
        pl_http_head_add(&head, "X-Amzn-Requestid", inv->id) == 0 &&
        pl_http_head_add(&head, "X-Amz-Executed-Version", "$LATEST") == 0 &&
        pl_http_head_add(&head, "Transfer-Encoding", "chunked") == 0 &&
        pl_http_head_add(&head, "Trailer",
                         "X-Amz-Function-Error, Lambda-Runtime-Function-Error-Type, "
                         "Lambda-Runtime-Function-Error-Body") == 0 &&
        (inv->stream_keep || pl_http_head_add(&head, "Connection", "close") == 0) &&
        pl_http_head_end(&head) == 0 && pl_http_send(cfd, &head, NULL, 0) == 0;
    pl_buf_clean_up(&head);
    pthread_mutex_lock(&emu->mu);
    inv->stream_started = true;
    pthread_mutex_unlock(&emu->mu);

    uint64_t total = 0;
    int r;
    const char *d;
    size_t n;
    bool too_large = false;
    while ((r = pl_http_conn_read_body_piece(hc, m, &d, &n, 0)) == 1) {
        total += n;
        if (total > emu->max_stream) {
            too_large = true;
            break;
        }
        if (client_ok && pl_http_write_chunk(cfd, d, n))
            client_ok = false; /* keep reading: the runtime must finish its post */
    }
    bool runtime_in_sync = r == 0 || (too_large && pl_http_conn_skip_body(hc, m, 64ull << 20) == 0);
    const char *etype = NULL, *ebody = NULL;
    struct pl_buf errjson = PL_BUF_INIT;
    char too_msg[160];
    snprintf(too_msg, sizeof(too_msg), "Exceeded maximum allowed payload size (%zu bytes).",
             emu->max_stream);
    if (too_large) {
        etype = "Function.ResponseSizeTooLarge";
        (void)pl_emu_error_json(&errjson, etype,
                                "Response payload size exceeded maximum "
                                "allowed payload size (%zu bytes).",
                                emu->max_stream);
    } else if (r < 0) {
        etype = "Runtime.TruncatedResponse";
        (void)pl_emu_error_json(&errjson, etype, "the runtime's streamed response broke off: %s",
                                pl_last_error_msg());
    } else if ((etype = pl_http_msg_trailer(m, "Lambda-Runtime-Function-Error-Type")) && *etype) {
        ebody = pl_http_msg_trailer(m, "Lambda-Runtime-Function-Error-Body");
        if (!ebody || pl_emu_base64_decode(ebody, strlen(ebody), &errjson) || !errjson.len) {
            pl_buf_reset(&errjson);
            (void)pl_emu_error_json(&errjson, etype, "%s", ebody ? ebody : "stream failed");
        }
    } else {
        etype = NULL;
    }
    pthread_mutex_lock(&emu->mu);
    if (inv->state == PL_INV_DONE && !etype) {
        /* finished by the emulator meanwhile (timeout): tell the client in the trailers */
        etype = inv->res && inv->res->error_type[0] ? inv->res->error_type : "Sandbox.Timedout";
    }
    if (inv->state != PL_INV_DONE) {
        pl_emu_complete_locked(
            emu, inv, etype ? PL_EMU_FUNCTION_ERROR : PL_EMU_RESPONSE, etype,
            etype ? &errjson : NULL,
            etype ? "application/json" : (ctype ? ctype : "application/octet-stream"), true);
        if (too_large)
            emu->stats.too_large++;
    }
    pthread_mutex_unlock(&emu->mu);
    if (client_ok) {
        struct pl_http_field tr[3];
        size_t nt = 0;
        if (etype) {
            tr[nt++] = (struct pl_http_field){"X-Amz-Function-Error", "Unhandled"};
            tr[nt++] = (struct pl_http_field){"Lambda-Runtime-Function-Error-Type", etype};
            if (ebody)
                tr[nt++] = (struct pl_http_field){"Lambda-Runtime-Function-Error-Body", ebody};
        }
        client_ok = pl_http_write_last_chunk(cfd, tr, nt) == 0;
    }
    pl_buf_clean_up(&errjson);
    pthread_mutex_lock(&emu->mu);
    inv->stream_client_ok = client_ok;
    inv->busy--;
    pthread_cond_broadcast(&emu->cond_inv);
    pthread_mutex_unlock(&emu->mu);
    if (too_large)
        return s_reply_error(hc->fd, 413, "RequestEntityTooLarge", too_msg,
                             runtime_in_sync && m->keep_alive);
    if (r < 0)
        return S_CLOSE;
    return s_accepted(hc->fd, m->keep_alive);
}

static int s_runtime_answer(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m,
                            const char *id, bool is_error)
{
    bool streaming = !is_error && s_streaming(m);
    if (streaming) {
        /* forward as it arrives when the caller is an invoke-URL client */
        pthread_mutex_lock(&emu->mu);
        struct pl_emu_inv *inv = emu->in_flight;
        bool through = inv && inv->state == PL_INV_DELIVERED && !strcmp(inv->id, id) &&
                       inv->stream_fd >= 0 && !inv->stream_started;
        if (through)
            inv->busy++;
        pthread_mutex_unlock(&emu->mu);
        if (through)
            return s_stream_through(emu, hc, m, inv);
    }
    size_t cap = streaming ? emu->max_stream : emu->max_payload;
    struct pl_buf body = PL_BUF_INIT;
    int ret = S_CLOSE;
    if (pl_http_conn_read_body(hc, m, &body, cap)) {
        if (pl_last_error() != PL_ERR_LIMIT)
            goto out; /* broken connection or malformed body: nothing to answer */
        pthread_mutex_lock(&emu->mu);
        emu->stats.too_large++;
        int st;
        const char *type, *msg;
        struct pl_emu_inv *inv = s_answer_target_locked(emu, id, &st, &type, &msg);
        if (inv) {
            struct pl_buf eb = PL_BUF_INIT;
            (void)pl_emu_error_json(&eb, "Function.ResponseSizeTooLarge",
                                    "Response payload size exceeded maximum allowed payload "
                                    "size (%zu bytes).",
                                    cap);
            pl_emu_complete_locked(emu, inv, PL_EMU_FUNCTION_ERROR, "Function.ResponseSizeTooLarge",
                                   &eb, "application/json", streaming);
            pl_buf_clean_up(&eb);
        }
        pthread_mutex_unlock(&emu->mu);
        char too[160];
        snprintf(too, sizeof(too), "Exceeded maximum allowed payload size (%zu bytes).", cap);
        bool sync = s_drain_after_limit(hc, m) && m->keep_alive;
        ret = s_reply_error(hc->fd, 413, "RequestEntityTooLarge", too, sync);
        goto out;
    }
    enum pl_emulator_outcome outcome = is_error ? PL_EMU_FUNCTION_ERROR : PL_EMU_RESPONSE;
    const char *error_type = NULL;
    const char *ctype = pl_http_msg_header(m, "Content-Type");
    if (is_error) {
        error_type = pl_http_msg_header(m, "Lambda-Runtime-Function-Error-Type");
        if (!error_type || !*error_type)
            error_type = "Unhandled";
        if (!body.len)
            (void)pl_emu_error_json(&body, error_type, "Unhandled");
        ctype = "application/json";
    } else if (streaming) {
        const char *t = pl_http_msg_trailer(m, "Lambda-Runtime-Function-Error-Type");
        if (t && *t) {
            outcome = PL_EMU_FUNCTION_ERROR;
            error_type = t;
            const char *eb = pl_http_msg_trailer(m, "Lambda-Runtime-Function-Error-Body");
            struct pl_buf dec = PL_BUF_INIT;
            if (eb && pl_emu_base64_decode(eb, strlen(eb), &dec) == 0 && dec.len) {
                pl_buf_clean_up(&body);
                body = dec;
            } else {
                pl_buf_clean_up(&dec);
                pl_buf_reset(&body);
                (void)pl_emu_error_json(&body, t, "%s", eb ? eb : "streamed response failed");
            }
            ctype = "application/json";
        } else if (!ctype) {
            ctype = "application/octet-stream";
        }
    }
    pthread_mutex_lock(&emu->mu);
    int st = 0;
    const char *type = NULL, *msg = NULL;
    struct pl_emu_inv *inv = s_answer_target_locked(emu, id, &st, &type, &msg);
    if (inv)
        pl_emu_complete_locked(emu, inv, outcome, error_type, &body, ctype, streaming);
    pthread_mutex_unlock(&emu->mu);
    ret = inv ? s_accepted(hc->fd, m->keep_alive)
              : s_reply_error(hc->fd, st, type, msg, m->keep_alive);
out:
    pl_buf_clean_up(&body);
    return ret;
}

static int s_runtime_init_error(struct pl_emulator *emu, struct pl_http_conn *hc,
                                struct pl_http_msg *m)
{
    struct pl_buf body = PL_BUF_INIT;
    if (s_read_small_body(emu, hc, m, &body, emu->max_payload)) {
        pl_buf_clean_up(&body);
        return S_CLOSE;
    }
    const char *type = pl_http_msg_header(m, "Lambda-Runtime-Function-Error-Type");
    if (!type || !*type)
        type = "Runtime.Unknown";
    pthread_mutex_lock(&emu->mu);
    bool ok = emu->phase == PL_EMU_PHASE_INIT_RUNTIME ||
              (emu->phase == PL_EMU_PHASE_READY && !emu->runtime_called_next);
    if (ok) {
        if (emu->phase == PL_EMU_PHASE_READY)
            emu->phase = PL_EMU_PHASE_INIT_RUNTIME;
        pl_emu_fail_init_body_locked(emu, type, body.data, body.len);
    }
    pthread_mutex_unlock(&emu->mu);
    pl_buf_clean_up(&body);
    if (!ok)
        return s_reply_error(hc->fd, 403, "InvalidStateTransition",
                             "init/error is only accepted during init", m->keep_alive);
    return s_accepted(hc->fd, m->keep_alive);
}

static int s_runtime_route(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m,
                           const char *path)
{
    const char *rest = path + strlen(S_RUNTIME_PREFIX);
    bool get = pl_http_method_is(m, "GET"), post = pl_http_method_is(m, "POST");
    if (!strcmp(rest, "invocation/next")) {
        if (!get)
            return -405;
        return s_runtime_next(emu, hc, m);
    }
    if (!strcmp(rest, "init/error")) {
        if (!post)
            return -405;
        return s_runtime_init_error(emu, hc, m);
    }
    if (!strncmp(rest, "invocation/", 11)) {
        const char *id = rest + 11;
        const char *slash = strchr(id, '/');
        if (!slash)
            return -404;
        bool is_resp = !strcmp(slash + 1, "response"), is_err = !strcmp(slash + 1, "error");
        if (!is_resp && !is_err)
            return -404;
        if (!post)
            return -405;
        char idbuf[128];
        if (s_decode_segment(id, (size_t)(slash - id), idbuf, sizeof(idbuf))) {
            if (pl_http_conn_skip_body(hc, m, emu->max_stream))
                return S_CLOSE;
            pthread_mutex_lock(&emu->mu);
            emu->stats.unknown_answers++;
            pthread_mutex_unlock(&emu->mu);
            return s_reply_error(hc->fd, 400, "InvalidRequestID", "Invalid request ID",
                                 m->keep_alive);
        }
        return s_runtime_answer(emu, hc, m, idbuf, is_err);
    }
    return -404;
}

/* ------------------------------------------------------------------------------------------ */
/* Extensions API                                                                              */

static struct pl_emu_ext *s_find_ext_locked(struct pl_emulator *emu, const char *id)
{
    for (struct pl_emu_ext *x = emu->exts; id && x; x = x->next)
        if (!strcmp(x->id, id))
            return x;
    return NULL;
}

/* Lambda-Extension-Accept-Feature: accountId adds the account id to the register answer */
static bool s_accepts_account_id(const struct pl_http_msg *m)
{
    const struct pl_http_header *h = pl_http_msg_find(m, "Lambda-Extension-Accept-Feature");
    return h && pl_http_value_has_token(h->value, h->value_len, "accountId");
}

static int s_ext_register(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m)
{
    struct pl_buf body = PL_BUF_INIT;
    struct pl_json *doc = NULL;
    int ret = S_CLOSE;
    if (s_read_small_body(emu, hc, m, &body, S_SMALL_BODY))
        goto out;
    const char *name = pl_http_msg_header(m, "Lambda-Extension-Name");
    if (!name || !*name || strlen(name) >= 128) {
        ret = s_reply_error(hc->fd, 403, "Extension.InvalidExtensionName", "Empty extension name",
                            m->keep_alive);
        goto out;
    }
    struct pl_json_limits lim = {.max_depth = 8, .max_values = 1000};
    const struct pl_json *events = NULL;
    if (pl_json_parse(body.data, body.len, &lim, &doc) || doc->type != PL_JSON_OBJECT ||
        !(events = pl_json_get(doc, "events")) || events->type != PL_JSON_ARRAY) {
        ret = s_reply_error(hc->fd, 403, "Extension.InvalidRequestFormat",
                            "body must be {\"events\":[\"INVOKE\",\"SHUTDOWN\"]}", m->keep_alive);
        goto out;
    }
    bool sub_invoke = false, sub_shutdown = false;
    for (const struct pl_json *e = events->child; e; e = e->next) {
        if (e->type == PL_JSON_STRING && !strcmp(e->str, "INVOKE")) {
            sub_invoke = true;
        } else if (e->type == PL_JSON_STRING && !strcmp(e->str, "SHUTDOWN")) {
            sub_shutdown = true;
        } else {
            ret = s_reply_error(hc->fd, 403, "Extension.InvalidEventType",
                                "events may be INVOKE and SHUTDOWN", m->keep_alive);
            goto out;
        }
    }
    struct pl_emu_ext *x = pl_calloc(1, sizeof(*x));
    if (!x)
        goto out;
    pthread_mutex_lock(&emu->mu);
    const char *err_type = NULL, *err_msg = NULL;
    if (emu->phase >= PL_EMU_PHASE_READY) {
        err_type = "Extension.RegistrationClosed";
        err_msg = "Extension registration closed already";
    } else if (emu->n_exts >= S_MAX_EXTENSIONS) {
        err_type = "Extension.TooManyExtensions";
        err_msg = "Extension limit (10) reached";
    } else {
        for (struct pl_emu_ext *o = emu->exts; o; o = o->next)
            if (!strcmp(o->name, name)) {
                err_type = "Extension.InvalidExtensionName";
                err_msg = "Extension with this name already registered";
            }
    }
    bool internal = emu->phase == PL_EMU_PHASE_INIT_RUNTIME;
    if (!err_type && internal && sub_shutdown) {
        err_type = "Extension.InvalidEventType";
        err_msg = "internal extensions cannot register for SHUTDOWN";
    }
    if (err_type) {
        pthread_mutex_unlock(&emu->mu);
        pl_free(x);
        ret = s_reply_error(hc->fd, 403, err_type, err_msg, m->keep_alive);
        goto out;
    }
    pl_emu_uuid(x->id);
    snprintf(x->name, sizeof(x->name), "%s", name);
    x->sub_invoke = sub_invoke;
    x->sub_shutdown = sub_shutdown;
    if (!internal) {
        /* match the process we started: by executable name, else the first unmatched one */
        struct pl_emu_child *match = NULL;
        for (struct pl_emu_child *c = emu->children; c; c = c->next)
            if (c->kind == PL_EMU_CHILD_EXTENSION && !c->ext && !strcmp(c->name, name))
                match = c;
        for (struct pl_emu_child *c = emu->children; !match && c; c = c->next)
            if (c->kind == PL_EMU_CHILD_EXTENSION && !c->ext)
                match = c;
        if (match) {
            match->ext = x;
            x->child = match;
            x->gone = match->exited;
        }
    }
    struct pl_emu_ext **tail = &emu->exts;
    while (*tail)
        tail = &(*tail)->next;
    *tail = x;
    emu->n_exts++;
    emu->stats.extensions_registered++;
    char id[S_ID_LEN];
    memcpy(id, x->id, sizeof(id));
    pl_emu_notify_all_locked(emu);
    pthread_mutex_unlock(&emu->mu);

    struct pl_buf resp = PL_BUF_INIT;
    if (pl_buf_append_str(&resp, "{\"functionName\":") == 0 &&
        pl_buf_append_json_cstr(&resp, emu->function_name) == 0 &&
        pl_buf_append_str(&resp, ",\"functionVersion\":\"$LATEST\",\"handler\":") == 0 &&
        pl_buf_append_json_cstr(&resp, emu->handler) == 0 &&
        (!s_accepts_account_id(m) ||
         pl_buf_append_str(&resp, ",\"accountId\":\"" S_ACCOUNT_ID "\"") == 0) &&
        pl_buf_append_char(&resp, '}') == 0) {
        struct pl_http_field f[] = {{"Lambda-Extension-Identifier", id}};
        if (pl_http_send_response(hc->fd, 200, "application/json", f, 1, resp.data, resp.len,
                                  m->keep_alive) == 0)
            ret = m->keep_alive ? S_KEEP : S_CLOSE;
    }
    pl_buf_clean_up(&resp);
out:
    pl_json_destroy(doc);
    pl_buf_clean_up(&body);
    return ret;
}

static int s_ext_next(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m)
{
    if (pl_http_conn_skip_body(hc, m, S_SMALL_BODY))
        return S_CLOSE;
    const char *id = pl_http_msg_header(m, "Lambda-Extension-Identifier");
    pthread_mutex_lock(&emu->mu);
    struct pl_emu_ext *x = s_find_ext_locked(emu, id);
    if (!x) {
        pthread_mutex_unlock(&emu->mu);
        return s_reply_error(hc->fd, 403, "Extension.UnknownExtensionIdentifier",
                             "Unknown extension identifier", m->keep_alive);
    }
    x->in_next = true;
    if (!x->ever_next && !emu->stats.extensions_ready_us && emu->ext_start_ns) {
        unsigned waiting = 0;
        for (struct pl_emu_ext *e = emu->exts; e; e = e->next)
            if (e->child && !e->ever_next && e != x)
                waiting++;
        if (!waiting && x->child)
            emu->stats.extensions_ready_us = (pl_now_ns() - emu->ext_start_ns) / 1000;
    }
    x->ever_next = true;
    if (x->shutdown_sent && !x->q_head)
        x->shutdown_done = true; /* back in next after SHUTDOWN: done */
    pthread_cond_broadcast(&emu->cond); /* the runtime's next waits for extensions in next */
    while (!x->q_head) {
        if (emu->closing || emu->phase == PL_EMU_PHASE_DOWN) {
            x->in_next = false;
            pthread_mutex_unlock(&emu->mu);
            return S_CLOSE;
        }
        pl_emu_timedwait_on(emu, &emu->cond_ext, 100 * S_MS);
        if (s_peer_closed(hc->fd)) { /* gone: its events stay queued */
            x->in_next = false;
            pl_emu_notify_all_locked(emu);
            pthread_mutex_unlock(&emu->mu);
            return S_CLOSE;
        }
    }
    struct pl_emu_event *ev = x->q_head;
    x->q_head = ev->next;
    if (!x->q_head)
        x->q_tail = NULL;
    x->in_next = false;
    pthread_mutex_unlock(&emu->mu);
    char evid[S_ID_LEN];
    pl_emu_uuid(evid);
    struct pl_http_field f[] = {{"Lambda-Extension-Event-Identifier", evid}};
    int rc = pl_http_send_response(hc->fd, 200, "application/json", f, 1, ev->json, ev->len,
                                   m->keep_alive);
    pl_free(ev->json);
    pl_free(ev);
    return rc == 0 && m->keep_alive ? S_KEEP : S_CLOSE;
}

static int s_ext_error(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m,
                       bool init)
{
    struct pl_buf body = PL_BUF_INIT;
    if (s_read_small_body(emu, hc, m, &body, emu->max_payload)) {
        pl_buf_clean_up(&body);
        return S_CLOSE;
    }
    const char *id = pl_http_msg_header(m, "Lambda-Extension-Identifier");
    const char *type = pl_http_msg_header(m, "Lambda-Extension-Function-Error-Type");
    if (!type || !*type)
        type = init ? "Extension.InitError" : "Extension.ExitError";
    pthread_mutex_lock(&emu->mu);
    struct pl_emu_ext *x = s_find_ext_locked(emu, id);
    if (x) {
        pl_log(PL_LOG_WARN, "emulator", "extension %s reported %s: %s", x->name,
               init ? "init/error" : "exit/error", type);
        if (init && emu->phase < PL_EMU_PHASE_READY)
            pl_emu_fail_init_body_locked(emu, type, body.data, body.len);
        if (!init) {
            x->shutdown_done = true;
            pl_emu_notify_all_locked(emu);
        }
    }
    pthread_mutex_unlock(&emu->mu);
    pl_buf_clean_up(&body);
    if (!x)
        return s_reply_error(hc->fd, 403, "Extension.UnknownExtensionIdentifier",
                             "Unknown extension identifier", m->keep_alive);
    return s_accepted(hc->fd, m->keep_alive);
}

static int s_ext_route(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m,
                       const char *path)
{
    const char *rest = path + strlen(S_EXT_PREFIX);
    bool get = pl_http_method_is(m, "GET"), post = pl_http_method_is(m, "POST");
    if (!strcmp(rest, "register"))
        return post ? s_ext_register(emu, hc, m) : -405;
    if (!strcmp(rest, "event/next"))
        return get ? s_ext_next(emu, hc, m) : -405;
    if (!strcmp(rest, "init/error"))
        return post ? s_ext_error(emu, hc, m, true) : -405;
    if (!strcmp(rest, "exit/error"))
        return post ? s_ext_error(emu, hc, m, false) : -405;
    return -404;
}

/* ------------------------------------------------------------------------------------------ */
/* invoke URL                                                                                  */

static int s_invoke(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m)
{
    struct pl_buf body = PL_BUF_INIT, ctx = PL_BUF_INIT;
    struct pl_emulator_result res;
    pl_emulator_result_init(&res);
    int ret = S_CLOSE;
    if (pl_http_conn_read_body(hc, m, &body, emu->max_payload)) {
        if (pl_last_error() == PL_ERR_LIMIT) {
            pthread_mutex_lock(&emu->mu);
            emu->stats.too_large++;
            pthread_mutex_unlock(&emu->mu);
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "Request must be smaller than %zu bytes for the InvokeFunction operation",
                     emu->max_payload);
            bool sync = s_drain_after_limit(hc, m) && m->keep_alive;
            ret = s_reply_error(hc->fd, 413, "RequestEntityTooLarge", msg, sync);
        }
        goto out;
    }
    struct pl_emulator_invoke_options io = {0};
    const char *cc = pl_http_msg_header(m, "X-Amz-Client-Context");
    if (cc && *cc && pl_emu_base64_decode(cc, strlen(cc), &ctx) == 0 && ctx.len)
        io.client_context = ctx.data;
    bool streamed = false, client_ok = false;
    if (pl_emu_invoke_ex(emu, body.data, body.len, &io, &res, hc->fd, m->keep_alive, &streamed,
                         &client_ok)) {
        ret = s_reply_error(hc->fd, 500, "ServiceException", pl_last_error_msg(), false);
        goto out;
    }
    if (streamed) {
        /* the response already went to this client, chunk by chunk */
        if (emu->log_invocations)
            pl_log(PL_LOG_INFO, "emulator", "request %s: %s%s%s (streamed, %.3f ms)",
                   res.request_id, pl_emulator_outcome_name(res.outcome),
                   res.error_type[0] ? " " : "", res.error_type, (double)res.duration_ns / 1e6);
        ret = client_ok && m->keep_alive ? S_KEEP : S_CLOSE;
        goto out;
    }
    struct pl_http_field f[4];
    size_t n = 0;
    char dur[32];
    snprintf(dur, sizeof(dur), "%llu", (unsigned long long)(res.duration_ns / 1000));
    f[n++] = (struct pl_http_field){"X-Amzn-Requestid", res.request_id};
    f[n++] = (struct pl_http_field){"X-Protectlambda-Duration-Us", dur};
    f[n++] = (struct pl_http_field){"X-Amz-Executed-Version", "$LATEST"};
    if (res.outcome != PL_EMU_RESPONSE)
        f[n++] = (struct pl_http_field){"X-Amz-Function-Error", "Unhandled"};
    int status = res.outcome == PL_EMU_STOPPED ? 503 : 200;
    if (emu->log_invocations)
        pl_log(PL_LOG_INFO, "emulator", "request %s: %s%s%s (%.3f ms, %zu bytes in, %zu out)",
               res.request_id, pl_emulator_outcome_name(res.outcome), res.error_type[0] ? " " : "",
               res.error_type, (double)res.duration_ns / 1e6, body.len, res.body.len);
    if (pl_http_send_response(hc->fd, status, res.content_type[0] ? res.content_type : NULL, f, n,
                              res.body.data, res.body.len, m->keep_alive) == 0)
        ret = m->keep_alive ? S_KEEP : S_CLOSE;
out:
    pl_emulator_result_clean_up(&res);
    pl_buf_clean_up(&body);
    pl_buf_clean_up(&ctx);
    return ret;
}

static int s_stats(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m)
{
    if (pl_http_conn_skip_body(hc, m, S_SMALL_BODY))
        return S_CLOSE;
    struct pl_emulator_stats st;
    pl_emulator_get_stats(emu, &st);
    struct pl_buf b = PL_BUF_INIT;
    int ret = S_CLOSE;
    if (pl_emulator_stats_json(&st, &b) == 0)
        ret = s_reply(hc->fd, 200, b.data, m->keep_alive);
    pl_buf_clean_up(&b);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* connections                                                                                 */

static int s_route(struct pl_emulator *emu, struct pl_http_conn *hc, struct pl_http_msg *m,
                   bool invoke_only)
{
    char path[1024];
    size_t pl = strcspn(m->target, "?#");
    if (pl >= sizeof(path))
        pl = sizeof(path) - 1;
    memcpy(path, m->target, pl);
    path[pl] = '\0';
    int r = -404;
    if (!strncmp(path, S_INVOKE_PREFIX, strlen(S_INVOKE_PREFIX))) {
        const char *name = path + strlen(S_INVOKE_PREFIX);
        const char *slash = strchr(name, '/');
        if (slash && slash > name && !strcmp(slash, "/invocations"))
            r = pl_http_method_is(m, "POST") ? s_invoke(emu, hc, m) : -405;
    } else if (!strcmp(path, S_STATS_PATH)) {
        r = pl_http_method_is(m, "GET") ? s_stats(emu, hc, m) : -405;
    } else if (!invoke_only && !strncmp(path, S_RUNTIME_PREFIX, strlen(S_RUNTIME_PREFIX))) {
        r = s_runtime_route(emu, hc, m, path);
    } else if (!invoke_only && !strncmp(path, S_EXT_PREFIX, strlen(S_EXT_PREFIX))) {
        r = s_ext_route(emu, hc, m, path);
    }
    if (r == -404 || r == -405) {
        if (pl_http_conn_skip_body(hc, m, emu->max_stream))
            return S_CLOSE;
        pthread_mutex_lock(&emu->mu);
        emu->stats.http_errors++;
        pthread_mutex_unlock(&emu->mu);
        char msg[1200];
        snprintf(msg, sizeof(msg), "%s %s",
                 r == -404 ? "no such endpoint:" : "method not allowed:", path);
        return s_reply_error(hc->fd, -r, r == -404 ? "NotFound" : "MethodNotAllowed", msg,
                             m->keep_alive);
    }
    return r;
}

void *pl_emu_conn_main(void *arg)
{
    struct pl_emu_conn *conn = arg;
    struct pl_emulator *emu = conn->emu;
    pthread_setname_np(pthread_self(), "pl-emu-conn");
    struct pl_http_conn hc;
    struct pl_http_msg m;
    pl_http_conn_init(&hc, conn->fd);
    pl_http_msg_init(&m);
    for (;;) {
        int r = pl_http_conn_read_request(&hc, &m);
        if (r == 1)
            break;
        if (r < 0) {
            int code = pl_last_error();
            if (code == PL_ERR_HTTP || code == PL_ERR_LIMIT) {
                pthread_mutex_lock(&emu->mu);
                emu->stats.http_errors++;
                pthread_mutex_unlock(&emu->mu);
                s_reply_error(hc.fd, code == PL_ERR_LIMIT ? 431 : 400, "InvalidRequest",
                              pl_last_error_msg(), false);
            }
            break;
        }
        if (pl_http_conn_continue(&hc, &m))
            break;
        if (s_route(emu, &hc, &m, conn->invoke_only) != S_KEEP || !m.keep_alive)
            break;
    }
    pthread_mutex_lock(&emu->mu);
    conn->finished = true;
    shutdown(hc.fd, SHUT_RDWR);
    pthread_mutex_unlock(&emu->mu);
    pl_http_msg_clean_up(&m);
    /* the fd is closed after `finished` is set under the lock: destroy never shuts down a
     * reused descriptor */
    pthread_mutex_lock(&emu->mu);
    pl_http_conn_clean_up(&hc);
    conn->fd = -1;
    pthread_mutex_unlock(&emu->mu);
    return NULL;
}

/* join and free finished connection threads */
static void s_reap_conns_locked(struct pl_emulator *emu)
{
    struct pl_emu_conn **pp = &emu->conns;
    while (*pp) {
        struct pl_emu_conn *c = *pp;
        if (c->finished && c->fd < 0) {
            *pp = c->next;
            pthread_join(c->thread, NULL);
            pl_free(c);
        } else {
            pp = &c->next;
        }
    }
}

void *pl_emu_acceptor_main(void *arg)
{
    struct pl_emulator *emu = arg;
    pthread_setname_np(pthread_self(), "pl-emu-accept");
    for (;;) {
        pthread_mutex_lock(&emu->mu);
        bool closing = emu->closing;
        int ifd = emu->invoke_fd;
        s_reap_conns_locked(emu);
        pthread_mutex_unlock(&emu->mu);
        if (closing)
            break;
        struct pollfd p[3] = {{.fd = emu->wake_pipe[0], .events = POLLIN},
                              {.fd = emu->listen_fd, .events = POLLIN},
                              {.fd = ifd, .events = POLLIN}};
        int n = poll(p, ifd >= 0 ? 3 : 2, 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (p[0].revents) {
            char buf[64];
            (void)!read(emu->wake_pipe[0], buf, sizeof(buf));
        }
        for (int i = 1; i < 3; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            int fd = pl_http_accept(p[i].fd);
            if (fd < 0)
                continue;
            pthread_mutex_lock(&emu->mu);
            size_t live = 0;
            for (struct pl_emu_conn *k = emu->conns; k; k = k->next)
                live += !k->finished;
            if (live >= S_MAX_CONNS)
                emu->stats.http_errors++;
            pthread_mutex_unlock(&emu->mu);
            if (live >= S_MAX_CONNS) {
                /* bounded: one thread per connection */
                s_reply_error(fd, 503, "TooManyConnections",
                              "the emulator serves at most 256 connections at once", false);
                close(fd);
                continue;
            }
            struct pl_emu_conn *c = pl_calloc(1, sizeof(*c));
            if (!c) {
                close(fd);
                continue;
            }
            c->emu = emu;
            c->fd = fd;
            c->invoke_only = i == 2;
            pthread_mutex_lock(&emu->mu);
            if (emu->closing || pthread_create(&c->thread, NULL, pl_emu_conn_main, c)) {
                pthread_mutex_unlock(&emu->mu);
                close(fd);
                pl_free(c);
                continue;
            }
            c->next = emu->conns;
            emu->conns = c;
            pthread_mutex_unlock(&emu->mu);
        }
    }
    return NULL;
}
