/* protectlambda http: the HTTP/1.1 layer shared by the Runtime API emulator and the guard's
 * proxy (library pl_http, src/proxy/http.c).
 *
 * Three levels:
 *  1. Pure parsers on a byte buffer (picohttpparser style): pl_http_parse_request/_response
 *     return the number of bytes of the head (> 0), -2 when more bytes are needed, -1 when
 *     the bytes can never become a valid head (with pl_raise: PL_ERR_HTTP, or PL_ERR_LIMIT
 *     past PL_HTTP_MAX_HEAD bytes or PL_HTTP_MAX_HEADERS headers). They point into the buffer.
 *  2. A buffered connection (struct pl_http_conn) on a blocking socket: read a request or a
 *     response head (copied into the message, names and values NUL-terminated), then its body
 *     either whole into a pl_buf with a cap (pl_http_conn_read_body) or piece by piece
 *     (pl_http_conn_read_body_piece) for streamed / chunked / larger bodies. Keep-alive and
 *     pipelining work: bytes after one message stay buffered for the next.
 *  3. Writers: head builders into a pl_buf (validated against header injection), writev of
 *     head + body, chunked pieces with trailers, and socket helpers (127.0.0.1 listen with
 *     port 0, connect "host:port", accept), all retrying on EINTR and never raising SIGPIPE.
 *
 * Every function returns 0 on success and -1 with pl_raise on failure unless said otherwise.
 * Bodies are framed by Content-Length or Transfer-Encoding: chunked (with trailers); a message
 * with both, with an unknown transfer coding or with conflicting Content-Length values is
 * invalid (no request smuggling through the proxy). */
#ifndef PROTECTLAMBDA_HTTP_H
#define PROTECTLAMBDA_HTTP_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "protectlambda/buf.h"

#define PL_HTTP_MAX_HEAD (64 * 1024)               /* request/status line + headers */
#define PL_HTTP_MAX_HEADERS 100                    /* header fields in one head */
#define PL_HTTP_MAX_TRAILERS 32                    /* trailer fields after a chunked body */
#define PL_HTTP_MAX_CHUNK_LINE 4096                /* chunk-size line with extensions */
#define PL_HTTP_DEFAULT_BODY_CAP (6 * 1024 * 1024) /* Lambda's buffered payload limit */

struct pl_http_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading/trailing blanks removed */
    size_t value_len;
};

/* name/value pair for the convenience writers */
struct pl_http_field {
    const char *name;
    const char *value;
};

enum pl_http_body_kind {
    PL_HTTP_BODY_NONE,       /* no body (request without length, 204, 304, 1xx, HEAD) */
    PL_HTTP_BODY_LENGTH,     /* Content-Length bytes */
    PL_HTTP_BODY_CHUNKED,    /* Transfer-Encoding: chunked, maybe trailers */
    PL_HTTP_BODY_UNTIL_CLOSE /* response without framing: until the peer closes */
};

/* One request or response. Init once, reuse for every message of a connection, clean up. */
struct pl_http_msg {
    /* request line (NULL for a response) */
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    /* status line (0 / NULL for a request) */
    int status;
    const char *reason;
    size_t reason_len;
    int minor_version; /* HTTP/1.<minor>: 0 or 1 */
    struct pl_http_header headers[PL_HTTP_MAX_HEADERS];
    size_t n_headers;
    /* trailers of a chunked body, filled when the body has been read to its end */
    struct pl_http_header trailers[PL_HTTP_MAX_TRAILERS];
    size_t n_trailers;
    /* framing, set by pl_http_msg_framing (done by the pl_http_conn_read_* functions) */
    enum pl_http_body_kind body;
    uint64_t content_length; /* PL_HTTP_BODY_LENGTH */
    bool keep_alive;         /* the connection may carry another message after this one */
    /* private */
    struct pl_buf store_;
    struct pl_buf trailer_store_;
    int body_state_;
    uint64_t body_left_;
};

void pl_http_msg_init(struct pl_http_msg *m);
void pl_http_msg_clean_up(struct pl_http_msg *m);

/* ---- level 1: parsers ---- */
/* > 0 head length, -2 incomplete, -1 invalid. On success m's pointers point into buf (not
 * NUL-terminated; use the lengths); framing is not computed. Leading empty lines are skipped
 * (RFC 9112 2.2). Lines may end in CRLF or LF. */
int pl_http_parse_request(const char *buf, size_t len, struct pl_http_msg *m);
int pl_http_parse_response(const char *buf, size_t len, struct pl_http_msg *m);
/* Parse header fields up to and including the empty line: > 0 bytes, -2, -1 (as above).
 * Used for chunked trailers. */
int pl_http_parse_fields(const char *buf, size_t len, struct pl_http_header *out, size_t max,
                         size_t *n_out);
/* Compute body framing and keep-alive from the headers. For a response, `head_request`
 * says the request was HEAD (then there is no body). 0, or -1 for invalid framing. */
int pl_http_msg_framing(struct pl_http_msg *m, bool head_request);

/* Case-insensitive header lookup: the first value, or NULL. After pl_http_conn_read_* values
 * are NUL-terminated C strings. */
const struct pl_http_header *pl_http_msg_find(const struct pl_http_msg *m, const char *name);
const char *pl_http_msg_header(const struct pl_http_msg *m, const char *name);
const char *pl_http_msg_trailer(const struct pl_http_msg *m, const char *name);
/* true when the comma-separated value list contains token (case-insensitive) */
bool pl_http_value_has_token(const char *value, size_t len, const char *token);
/* case-insensitive compare of a header name */
bool pl_http_name_eq(const struct pl_http_header *h, const char *name);
/* method / target helpers */
bool pl_http_method_is(const struct pl_http_msg *m, const char *method);

/* ---- level 2: buffered connection on a blocking socket ---- */
struct pl_http_conn {
    int fd; /* owned: closed by pl_http_conn_clean_up */
    char *buf;
    size_t cap, start, end;
    bool eof;
    uint64_t last_read_ns; /* when bytes last arrived (pl_now_ns; 0: none yet) */
};

/* takes ownership of fd (may be -1 for an unused struct) */
int pl_http_conn_init(struct pl_http_conn *c, int fd);
void pl_http_conn_clean_up(struct pl_http_conn *c); /* frees the buffer and closes fd */
/* bytes received but not yet consumed (pipelined data) */
size_t pl_http_conn_pending(const struct pl_http_conn *c);

/* Read a request head. 0 ok, 1 the peer closed cleanly before sending a byte of a new
 * request (normal end of keep-alive), -1 error (PL_ERR_HTTP invalid, PL_ERR_LIMIT too
 * large, PL_ERR_IO read error or close mid-head). Blocks until a whole head arrived. */
int pl_http_conn_read_request(struct pl_http_conn *c, struct pl_http_msg *m);
/* Read a response head; 1xx interim responses (100 Continue) are skipped. Same returns;
 * a close before any byte is -1 (a request was sent: the peer owes an answer). */
int pl_http_conn_read_response(struct pl_http_conn *c, struct pl_http_msg *m, bool head_request);

/* Server side: when request m carries "Expect: 100-continue" and has a body, send the
 * interim "HTTP/1.1 100 Continue" so the client (curl does this above 1 MB) sends the body
 * at once. Call after reading the head, before reading the body. */
int pl_http_conn_continue(struct pl_http_conn *c, const struct pl_http_msg *m);

/* Read the next piece of the body of m (decoded: no chunk framing). Returns 1 with *data
 * / *len pointing into the connection buffer (valid until the next call on c), 0 at the end
 * of the body (trailers are then in m->trailers), -1 error. *len is at most `max` (0 = any). */
int pl_http_conn_read_body_piece(struct pl_http_conn *c, struct pl_http_msg *m, const char **data,
                                 size_t *len, size_t max);
/* Read the whole body into out (appended), failing with PL_ERR_LIMIT when it would exceed
 * cap bytes (a Content-Length above cap fails before reading anything). After a failure the
 * connection is out of sync: close it. */
int pl_http_conn_read_body(struct pl_http_conn *c, struct pl_http_msg *m, struct pl_buf *out,
                           size_t cap);
/* Read and discard the rest of the body (at most cap bytes, else PL_ERR_LIMIT). */
int pl_http_conn_skip_body(struct pl_http_conn *c, struct pl_http_msg *m, uint64_t cap);

/* ---- level 3: writers ---- */
/* Head builders: append to b. Names must be tokens and values free of CR/LF/NUL, else
 * PL_ERR_INVALID_ARG (header injection). */
int pl_http_head_request(struct pl_buf *b, const char *method, const char *target);
int pl_http_head_response(struct pl_buf *b, int status, const char *reason /* NULL: standard */);
int pl_http_head_add(struct pl_buf *b, const char *name, const char *value);
int pl_http_head_addn(struct pl_buf *b, const char *name, size_t name_len, const char *value,
                      size_t value_len);
int pl_http_head_addf(struct pl_buf *b, const char *name, const char *fmt, ...) PL_PRINTF(3, 4);
int pl_http_head_add_uint(struct pl_buf *b, const char *name, uint64_t value); /* decimal */
int pl_http_head_end(struct pl_buf *b); /* the empty line */
const char *pl_http_status_reason(int status);

/* write all bytes / iovecs (EINTR, short writes handled; MSG_NOSIGNAL on sockets) */
int pl_http_write_all(int fd, const void *data, size_t len);
int pl_http_writev_all(int fd, struct iovec *iov, int iovcnt); /* iov is modified */
/* write a complete head plus body with one writev */
int pl_http_send(int fd, const struct pl_buf *head, const void *body, size_t len);
/* convenience: a complete response with Content-Length (and Content-Type when non-NULL),
 * extra fields (n may be 0), and "Connection: close" when !keep_alive */
int pl_http_send_response(int fd, int status, const char *content_type,
                          const struct pl_http_field *fields, size_t n, const void *body,
                          size_t len, bool keep_alive);
/* chunked writing: one non-empty chunk (len 0 writes nothing); then the last chunk with
 * optional trailers (fields may be NULL) */
int pl_http_write_chunk(int fd, const void *data, size_t len);
int pl_http_write_last_chunk(int fd, const struct pl_http_field *trailers, size_t n);

/* ---- sockets (blocking, CLOEXEC, TCP_NODELAY) ---- */
/* listen on 127.0.0.1:port (0 = any free port); *bound_port receives the port. Returns fd. */
int pl_http_listen_loopback(uint16_t port, uint16_t *bound_port);
/* accept one connection (retries EINTR / ECONNABORTED). Returns fd or -1. */
int pl_http_accept(int listen_fd);
/* connect to "host:port" (numeric IPv4, or a name such as localhost). Returns fd or -1. */
int pl_http_connect(const char *host_port);
int pl_http_connect_loopback(uint16_t port);
/* split "host:port" (host_out >= 256 bytes) */
int pl_http_split_host_port(const char *host_port, char *host_out, size_t host_len,
                            uint16_t *port_out);
/* read up to len bytes: > 0 bytes, 0 at EOF, -1 error (EINTR retried) */
ssize_t pl_http_read_some(int fd, void *buf, size_t len);
/* read exactly len bytes (EOF before is PL_ERR_IO) */
int pl_http_read_full(int fd, void *buf, size_t len);

#endif
