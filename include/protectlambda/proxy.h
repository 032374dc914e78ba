/* proxy: the Runtime API proxy (library pl_proxy, src/proxy/proxy.c). It moves bytes between
 * the runtime (which AWS_LAMBDA_RUNTIME_API points at 127.0.0.1:<port>) and the real Runtime
 * API (upstream), and asks its callbacks (the guard) what to do with each event and response.
 * It knows the Runtime API's paths, not the rules.
 *
 *  GET  /2018-06-01/runtime/invocation/next        event → on_event: PASS hands it to the
 *       runtime; DENY posts the answer upstream itself and fetches the next event
 *  POST /2018-06-01/runtime/invocation/{id}/response   buffered → on_out (kind RESPONSE);
 *       streamed (Lambda-Runtime-Function-Response-Mode: streaming) → stream_* chunk by chunk
 *  POST /2018-06-01/runtime/invocation/{id}/error      → on_out (kind ERROR)
 *  POST /2018-06-01/runtime/init/error                 → on_out (kind INIT_ERROR)
 *  anything else                                       passes through unchanged
 *
 * Every header except hop-by-hop ones (Connection, Keep-Alive, Content-Length,
 * Transfer-Encoding, TE, Upgrade, Proxy-*) passes unchanged both ways, in particular every
 * Lambda-Runtime-* header. One thread per runtime connection, HTTP/1.1 keep-alive, one
 * keep-alive upstream connection per runtime connection; GET /next is never timed out. */
#ifndef PROTECTLAMBDA_PROXY_H
#define PROTECTLAMBDA_PROXY_H

#include "protectlambda/buf.h"

enum pl_proxy_verdict { PL_PROXY_PASS, PL_PROXY_DENY, PL_PROXY_REWRITE };
enum pl_proxy_kind { PL_PROXY_RESPONSE, PL_PROXY_ERROR, PL_PROXY_INIT_ERROR };

/* what the proxy posts upstream instead of the function's answer */
struct pl_proxy_answer {
    bool as_error;       /* POST .../error (or init/error) instead of .../response */
    struct pl_buf body;  /* JSON */
    char error_type[64]; /* Lambda-Runtime-Function-Error-Type when as_error */
};
void pl_proxy_answer_init(struct pl_proxy_answer *a);
void pl_proxy_answer_reset(struct pl_proxy_answer *a);
void pl_proxy_answer_clean_up(struct pl_proxy_answer *a);

struct pl_proxy_callbacks {
    void *ctx;
    /* per runtime connection (thread) state */
    int (*session_open)(void *ctx, void **session);
    void (*session_close)(void *session);
    /* event fetched by GET /next (status 200 with a request id) */
    enum pl_proxy_verdict (*on_event)(void *session, const char *request_id, const char *data,
                                      size_t len, struct pl_proxy_answer *answer);
    /* buffered response or error body. data == NULL: the body was larger than max_body and
     * was not kept (len = its size as far as read): PASS is then turned into an error post. */
    enum pl_proxy_verdict (*on_out)(void *session, enum pl_proxy_kind kind,
                                    const char *request_id, const char *data, size_t len,
                                    struct pl_buf *rewritten, struct pl_proxy_answer *answer);
    /* streamed response */
    int (*stream_begin)(void *session, const char *request_id);
    enum pl_proxy_verdict (*stream_chunk)(void *session, const char *data, size_t len);
    enum pl_proxy_verdict (*stream_end)(void *session, struct pl_proxy_answer *answer);
    /* the invocation was answered upstream (by the runtime or by the proxy) */
    void (*invocation_end)(void *session, const char *request_id);
};

struct pl_proxy_options {
    const char *upstream;   /* host:port of the real Runtime API */
    uint16_t port;          /* 127.0.0.1 port to listen on (0 = any) */
    int listen_fd;          /* > 0: a socket already listening (pl_http_listen_loopback) that
                             * the proxy takes over instead of listening on port; it is closed
                             * by pl_proxy_stop, or by pl_proxy_start when that fails */
    size_t max_body;        /* largest body buffered for inspection */
    size_t stream_holdback; /* bytes of a streamed response held back until the next chunk
                             * is inspected (a secret split across chunks never leaves) */
    unsigned spin_us;       /* after handing the runtime an event, poll its connection for the
                             * answer up to this long before sleeping, while the function's
                             * recent answers came within it (0: always sleep) */
    bool pin;               /* run each runtime connection's thread on pin_cpu only */
    int pin_cpu;
};

struct pl_proxy;

/* Listen (or take over opt->listen_fd), start the accept thread, return once accepting.
 * Connections made to an adopted socket before this call wait in its backlog: a runtime
 * started early sees its first request answered late, never refused. */
int pl_proxy_start(const struct pl_proxy_options *opt, const struct pl_proxy_callbacks *cb,
                   struct pl_proxy **out);
uint16_t pl_proxy_port(const struct pl_proxy *p);

/* The proxy's own time on each invocation's path, so far: for an event handed to the runtime,
 * from its last byte arriving from upstream to its first byte leaving for the runtime (reading
 * the head, on_event, building the head); for a buffered response or error posted upstream,
 * from the runtime's last byte to the first byte leaving upstream (on_out included). What the
 * sockets themselves take (the hops, the peers' wake-ups) is not in it. Percentiles from a
 * histogram with 0.25 us steps below 64 us, 8 us steps to 2 ms. Thread-safe. */
struct pl_proxy_timing {
    uint64_t count;
    double mean_us, p50_us, p99_us, max_us;
};
struct pl_proxy_stats {
    struct pl_proxy_timing event, response;
};
void pl_proxy_stats(const struct pl_proxy *p, struct pl_proxy_stats *out);
/* Stop accepting, shut every connection down, wait for the threads, free. */
void pl_proxy_stop(struct pl_proxy *p);

#endif
