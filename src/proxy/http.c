/* HTTP/1.1: parsers, buffered connection, writers, socket helpers (see protectlambda/http.h). */
#include "protectlambda/http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* character classes                                                                           */

/* tchar (RFC 9110 5.6.2): ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~ */
static const bool s_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1};

static inline bool s_is_tchar(unsigned char c) { return s_tchar[c]; }

/* field-value / reason-phrase octets: HTAB, SP, VCHAR, obs-text */
static inline bool s_is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline char s_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool s_ieq_n(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (s_lower(a[i]) != s_lower(b[i]))
            return false;
    return true;
}

static bool s_ieq(const char *a, size_t alen, const char *b)
{
    return s_ieq_n(a, alen, b, strlen(b));
}

/* h's name is the literal lit (lower case), case-insensitively */
#define S_NAME_IS(h, lit) s_ieq_n((h)->name, (h)->name_len, lit, sizeof(lit) - 1)

/* ------------------------------------------------------------------------------------------ */
/* parsers: every step returns -2 at the end of the buffer and -1 on a byte that can never     */
/* be part of a valid head.                                                                   */

#define S_NEED(p, end)                                                                             \
    do {                                                                                           \
        if ((p) >= (end))                                                                          \
            return -2;                                                                             \
    } while (0)

/* end of line at *pp: CRLF or LF */
static int s_eol(const char **pp, const char *end)
{
    const char *p = *pp;
    S_NEED(p, end);
    if (*p == '\r') {
        p++;
        S_NEED(p, end);
        if (*p != '\n')
            return pl_raise(PL_ERR_HTTP, "CR without LF");
    } else if (*p != '\n') {
        return pl_raise(PL_ERR_HTTP, "unexpected byte at the end of a line");
    }
    *pp = p + 1;
    return 0;
}

static int s_literal(const char **pp, const char *end, const char *lit)
{
    const char *p = *pp;
    for (; *lit; lit++, p++) {
        S_NEED(p, end);
        if (*p != *lit)
            return pl_raise(PL_ERR_HTTP, "invalid HTTP version");
    }
    *pp = p;
    return 0;
}

static int s_version(const char **pp, const char *end, int *minor)
{
    int r = s_literal(pp, end, "HTTP/1.");
    if (r)
        return r;
    const char *p = *pp;
    S_NEED(p, end);
    if (*p < '0' || *p > '9')
        return pl_raise(PL_ERR_HTTP, "invalid HTTP version");
    *minor = *p - '0';
    *pp = p + 1;
    return 0;
}

static int s_fields(const char **pp, const char *end, struct pl_http_header *out, size_t max,
                    size_t *n_out)
{
    const char *p = *pp;
    size_t n = 0;
    for (;;) {
        S_NEED(p, end);
        if (*p == '\r' || *p == '\n') {
            int r = s_eol(&p, end);
            if (r)
                return r;
            break;
        }
        const char *name = p;
        while (p < end && s_is_tchar((unsigned char)*p))
            p++;
        S_NEED(p, end);
        if (p == name || *p != ':') /* empty name, obs-fold, or blank before ':' */
            return pl_raise(PL_ERR_HTTP, "invalid header field name");
        if (n == max)
            return pl_raise(PL_ERR_LIMIT, "more than %zu header fields", max);
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        while (p < end && *p != '\r' && *p != '\n') {
            if (!s_is_value_char((unsigned char)*p))
                return pl_raise(PL_ERR_HTTP, "invalid byte in header field value");
            p++;
        }
        S_NEED(p, end);
        const char *vend = p;
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        int r = s_eol(&p, end);
        if (r)
            return r;
        out[n].name = name;
        out[n].name_len = name_len;
        out[n].value = value;
        out[n].value_len = (size_t)(vend - value);
        n++;
    }
    *n_out = n;
    *pp = p;
    return 0;
}

static void s_msg_reset_head(struct pl_http_msg *m)
{
    m->method = m->target = m->reason = NULL;
    m->method_len = m->target_len = m->reason_len = 0;
    m->status = 0;
    m->minor_version = 1;
    m->n_headers = 0;
    m->n_trailers = 0;
}

static int s_finish(int r, size_t len, const char *what)
{
    if (r == -2 && len >= PL_HTTP_MAX_HEAD)
        return pl_raise(PL_ERR_LIMIT, "%s head larger than %d bytes", what, PL_HTTP_MAX_HEAD);
    return r;
}

/* the rest of a head once its start line is read: line end, header fields, size cap; the
 * head's length or a parse result */
static int s_head_end(const char *buf, const char **pp, const char *end, struct pl_http_msg *m,
                      const char *what)
{
    int r = s_eol(pp, end);
    if (!r)
        r = s_fields(pp, end, m->headers, PL_HTTP_MAX_HEADERS, &m->n_headers);
    if (r)
        return r;
    if ((size_t)(*pp - buf) > PL_HTTP_MAX_HEAD)
        return pl_raise(PL_ERR_LIMIT, "%s head larger than %d bytes", what, PL_HTTP_MAX_HEAD);
    return (int)(*pp - buf);
}

static int s_parse_request(const char *buf, size_t len, struct pl_http_msg *m)
{
    const char *p = buf, *end = buf + len;
    s_msg_reset_head(m);
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    const char *method = p;
    while (p < end && s_is_tchar((unsigned char)*p))
        p++;
    S_NEED(p, end);
    if (p == method || *p != ' ')
        return pl_raise(PL_ERR_HTTP, "invalid request method");
    m->method = method;
    m->method_len = (size_t)(p - method);
    p++;
    const char *target = p;
    while (p < end && (unsigned char)*p > 0x20 && *p != 0x7f)
        p++;
    S_NEED(p, end);
    if (p == target || *p != ' ')
        return pl_raise(PL_ERR_HTTP, "invalid request target");
    m->target = target;
    m->target_len = (size_t)(p - target);
    p++;
    int r = s_version(&p, end, &m->minor_version);
    if (r)
        return r;
    return s_head_end(buf, &p, end, m, "request");
}

int pl_http_parse_request(const char *buf, size_t len, struct pl_http_msg *m)
{
    return s_finish(s_parse_request(buf, len, m), len, "request");
}

static int s_parse_response(const char *buf, size_t len, struct pl_http_msg *m)
{
    const char *p = buf, *end = buf + len;
    s_msg_reset_head(m);
    int r = s_version(&p, end, &m->minor_version);
    if (r)
        return r;
    S_NEED(p, end);
    if (*p != ' ')
        return pl_raise(PL_ERR_HTTP, "invalid status line");
    p++;
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        S_NEED(p, end);
        if (*p < '0' || *p > '9')
            return pl_raise(PL_ERR_HTTP, "invalid status code");
        status = status * 10 + (*p - '0');
    }
    if (status < 100)
        return pl_raise(PL_ERR_HTTP, "invalid status code");
    m->status = status;
    S_NEED(p, end);
    if (*p == ' ') {
        p++;
        const char *reason = p;
        while (p < end && *p != '\r' && *p != '\n') {
            if (!s_is_value_char((unsigned char)*p))
                return pl_raise(PL_ERR_HTTP, "invalid byte in reason phrase");
            p++;
        }
        S_NEED(p, end);
        m->reason = reason;
        m->reason_len = (size_t)(p - reason);
    } else {
        m->reason = p;
        m->reason_len = 0;
    }
    return s_head_end(buf, &p, end, m, "response");
}

int pl_http_parse_response(const char *buf, size_t len, struct pl_http_msg *m)
{
    return s_finish(s_parse_response(buf, len, m), len, "response");
}

int pl_http_parse_fields(const char *buf, size_t len, struct pl_http_header *out, size_t max,
                         size_t *n_out)
{
    const char *p = buf;
    int r = s_fields(&p, buf + len, out, max, n_out);
    if (r == 0 && (size_t)(p - buf) > PL_HTTP_MAX_HEAD)
        r = pl_raise(PL_ERR_LIMIT, "trailer section larger than %d bytes", PL_HTTP_MAX_HEAD);
    if (r)
        return s_finish(r, len, "trailer");
    return (int)(p - buf);
}

/* ------------------------------------------------------------------------------------------ */
/* header lookup and framing                                                                   */

bool pl_http_name_eq(const struct pl_http_header *h, const char *name)
{
    return s_ieq(h->name, h->name_len, name);
}

const struct pl_http_header *pl_http_msg_find(const struct pl_http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (pl_http_name_eq(&m->headers[i], name))
            return &m->headers[i];
    return NULL;
}

const char *pl_http_msg_header(const struct pl_http_msg *m, const char *name)
{
    const struct pl_http_header *h = pl_http_msg_find(m, name);
    return h ? h->value : NULL;
}

const char *pl_http_msg_trailer(const struct pl_http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_trailers; i++)
        if (pl_http_name_eq(&m->trailers[i], name))
            return m->trailers[i].value;
    return NULL;
}

bool pl_http_method_is(const struct pl_http_msg *m, const char *method)
{
    return m->method && m->method_len == strlen(method) &&
           !memcmp(m->method, method, m->method_len);
}

bool pl_http_value_has_token(const char *v, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < len && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s && s_ieq(v + s, e - s, token))
            return true;
    }
    return false;
}

static int s_parse_length(const char *v, size_t len, uint64_t *out)
{
    if (len == 0 || len > 18)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 0;
}

enum {
    BS_DONE,
    BS_LENGTH,
    BS_UNTIL_CLOSE,
    BS_CHUNK_SIZE,
    BS_CHUNK_DATA,
    BS_CHUNK_CRLF,
    BS_TRAILERS
};

int pl_http_msg_framing(struct pl_http_msg *m, bool head_request)
{
    bool have_cl = false, have_te = false, chunked = false, close = false, keep = false;
    uint64_t cl = 0;
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct pl_http_header *h = &m->headers[i];
        if (S_NAME_IS(h, "content-length")) {
            uint64_t v;
            if (s_parse_length(h->value, h->value_len, &v))
                return pl_raise(PL_ERR_HTTP, "invalid Content-Length");
            if (have_cl && v != cl)
                return pl_raise(PL_ERR_HTTP, "conflicting Content-Length values");
            have_cl = true;
            cl = v;
        } else if (S_NAME_IS(h, "transfer-encoding")) {
            /* only a single "chunked" coding is supported */
            if (have_te || !s_ieq(h->value, h->value_len, "chunked"))
                return pl_raise(PL_ERR_HTTP, "unsupported Transfer-Encoding");
            have_te = chunked = true;
        } else if (S_NAME_IS(h, "connection")) {
            if (pl_http_value_has_token(h->value, h->value_len, "close"))
                close = true;
            if (pl_http_value_has_token(h->value, h->value_len, "keep-alive"))
                keep = true;
        }
    }
    if (have_te && have_cl)
        return pl_raise(PL_ERR_HTTP, "both Content-Length and Transfer-Encoding");
    m->keep_alive = m->minor_version >= 1 ? !close : (keep && !close);
    m->content_length = 0;
    if (m->status) {
        if (head_request || m->status < 200 || m->status == 204 || m->status == 304) {
            m->body = PL_HTTP_BODY_NONE;
        } else if (chunked) {
            m->body = PL_HTTP_BODY_CHUNKED;
        } else if (have_cl) {
            m->body = cl ? PL_HTTP_BODY_LENGTH : PL_HTTP_BODY_NONE;
            m->content_length = cl;
        } else {
            m->body = PL_HTTP_BODY_UNTIL_CLOSE;
            m->keep_alive = false;
        }
    } else {
        if (chunked) {
            m->body = PL_HTTP_BODY_CHUNKED;
        } else if (have_cl && cl) {
            m->body = PL_HTTP_BODY_LENGTH;
            m->content_length = cl;
        } else {
            m->body = PL_HTTP_BODY_NONE;
        }
    }
    switch (m->body) {
    case PL_HTTP_BODY_NONE:
        m->body_state_ = BS_DONE;
        break;
    case PL_HTTP_BODY_LENGTH:
        m->body_state_ = BS_LENGTH;
        break;
    case PL_HTTP_BODY_CHUNKED:
        m->body_state_ = BS_CHUNK_SIZE;
        break;
    case PL_HTTP_BODY_UNTIL_CLOSE:
        m->body_state_ = BS_UNTIL_CLOSE;
        break;
    }
    m->body_left_ = m->content_length;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* messages                                                                                    */

void pl_http_msg_init(struct pl_http_msg *m)
{
    memset(m, 0, sizeof(*m));
    pl_buf_init(&m->store_);
    pl_buf_init(&m->trailer_store_);
    m->minor_version = 1;
}

void pl_http_msg_clean_up(struct pl_http_msg *m)
{
    pl_buf_clean_up(&m->store_);
    pl_buf_clean_up(&m->trailer_store_);
    memset(m, 0, sizeof(*m));
}

/* move pointers from src into dst storage and NUL-terminate every token there */
#define S_REBASE(ptr, len, src, dst)                                                               \
    do {                                                                                           \
        if (ptr) {                                                                                 \
            char *np_ = (dst) + ((ptr) - (src));                                                   \
            np_[len] = '\0';                                                                       \
            (ptr) = np_;                                                                           \
        }                                                                                          \
    } while (0)

static int s_adopt(struct pl_buf *store, const char *src, size_t len, struct pl_http_header *h,
                   size_t n, struct pl_http_msg *m)
{
    pl_buf_reset(store);
    if (pl_buf_append(store, src, len))
        return -1;
    char *dst = store->data;
    for (size_t i = 0; i < n; i++) {
        S_REBASE(h[i].name, h[i].name_len, src, dst);
        S_REBASE(h[i].value, h[i].value_len, src, dst);
    }
    if (m) {
        S_REBASE(m->method, m->method_len, src, dst);
        S_REBASE(m->target, m->target_len, src, dst);
        S_REBASE(m->reason, m->reason_len, src, dst);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* connection                                                                                  */

#define S_CONN_INITIAL (32 * 1024)
#define S_CONN_MAX (PL_HTTP_MAX_HEAD + 128 * 1024)

int pl_http_conn_init(struct pl_http_conn *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    return 0;
}

void pl_http_conn_clean_up(struct pl_http_conn *c)
{
    pl_free(c->buf);
    if (c->fd >= 0)
        close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

size_t pl_http_conn_pending(const struct pl_http_conn *c)
{
    return c->end - c->start;
}

/* read more bytes: > 0 read, 0 EOF, -1 error */
static ssize_t s_fill(struct pl_http_conn *c)
{
    if (c->eof)
        return 0;
    if (c->start == c->end)
        c->start = c->end = 0;
    if (c->end == c->cap) {
        if (c->start > 0) {
            memmove(c->buf, c->buf + c->start, c->end - c->start);
            c->end -= c->start;
            c->start = 0;
        } else {
            size_t ncap = c->cap ? c->cap * 2 : S_CONN_INITIAL;
            if (ncap > S_CONN_MAX)
                ncap = S_CONN_MAX;
            if (ncap <= c->cap)
                return pl_raise(PL_ERR_LIMIT, "HTTP connection buffer full");
            char *nb = pl_realloc(c->buf, ncap);
            if (!nb)
                return -1;
            c->buf = nb;
            c->cap = ncap;
        }
    }
    ssize_t n = pl_http_read_some(c->fd, c->buf + c->end, c->cap - c->end);
    if (n < 0)
        return -1;
    if (n > 0)
        c->last_read_ns = pl_now_ns();
    if (n == 0)
        c->eof = true;
    c->end += (size_t)n;
    return n;
}

static bool s_only_blank_lines(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

static int s_read_head(struct pl_http_conn *c, struct pl_http_msg *m, bool response,
                       bool head_request)
{
    for (;;) {
        size_t avail = c->end - c->start;
        if (avail) {
            const char *src = c->buf + c->start;
            int r = response ? pl_http_parse_response(src, avail, m)
                             : pl_http_parse_request(src, avail, m);
            if (r > 0) {
                if (s_adopt(&m->store_, src, (size_t)r, m->headers, m->n_headers, m))
                    return -1;
                c->start += (size_t)r;
                pl_buf_reset(&m->trailer_store_);
                m->n_trailers = 0;
                if (response && m->status >= 100 && m->status < 200 && m->status != 101)
                    continue; /* interim response: the final one follows */
                return pl_http_msg_framing(m, head_request);
            }
            if (r == -1)
                return -1;
        }
        if (c->eof) {
            if (!response && s_only_blank_lines(c->buf + c->start, avail))
                return 1;
            return pl_raise(PL_ERR_IO, "connection closed %s",
                            avail ? "in the middle of a head" : "without an answer");
        }
        if (s_fill(c) < 0)
            return -1;
    }
}

int pl_http_conn_read_request(struct pl_http_conn *c, struct pl_http_msg *m)
{
    return s_read_head(c, m, false, false);
}

int pl_http_conn_read_response(struct pl_http_conn *c, struct pl_http_msg *m, bool head_request)
{
    return s_read_head(c, m, true, head_request);
}

int pl_http_conn_continue(struct pl_http_conn *c, const struct pl_http_msg *m)
{
    if (m->body == PL_HTTP_BODY_NONE || m->minor_version < 1)
        return 0;
    const struct pl_http_header *h = pl_http_msg_find(m, "expect");
    if (!h || !s_ieq(h->value, h->value_len, "100-continue"))
        return 0;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    return pl_http_write_all(c->fd, cont, sizeof(cont) - 1);
}

static int s_chunk_size_line(const char *p, size_t n, uint64_t *size)
{
    /* p[0..n) is one line without its LF (maybe with CR) */
    if (n && p[n - 1] == '\r')
        n--;
    size_t i = 0;
    uint64_t v = 0;
    while (i < n) {
        char ch = p[i];
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (s_lower(ch) >= 'a' && s_lower(ch) <= 'f')
            d = s_lower(ch) - 'a' + 10;
        else
            break;
        if (i >= 15)
            return pl_raise(PL_ERR_LIMIT, "chunk size too large");
        v = v * 16 + (uint64_t)d;
        i++;
    }
    if (i == 0)
        return pl_raise(PL_ERR_HTTP, "invalid chunk size");
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n) {
        if (p[i] != ';')
            return pl_raise(PL_ERR_HTTP, "invalid chunk size line");
        for (; i < n; i++)
            if (!s_is_value_char((unsigned char)p[i]))
                return pl_raise(PL_ERR_HTTP, "invalid chunk extension");
    }
    *size = v;
    return 0;
}

static int s_need_more(struct pl_http_conn *c, const char *what)
{
    ssize_t n = s_fill(c);
    if (n < 0)
        return -1;
    if (n == 0)
        return pl_raise(PL_ERR_IO, "connection closed in the middle of %s", what);
    return 0;
}

int pl_http_conn_read_body_piece(struct pl_http_conn *c, struct pl_http_msg *m, const char **data,
                                 size_t *len, size_t max)
{
    for (;;) {
        size_t avail = c->end - c->start;
        switch (m->body_state_) {
        case BS_DONE:
            return 0;
        case BS_LENGTH:
        case BS_CHUNK_DATA: {
            if (m->body_left_ == 0) {
                m->body_state_ = m->body_state_ == BS_LENGTH ? BS_DONE : BS_CHUNK_CRLF;
                continue;
            }
            if (!avail) {
                if (s_need_more(c, "a body"))
                    return -1;
                continue;
            }
            size_t take = avail;
            if ((uint64_t)take > m->body_left_)
                take = (size_t)m->body_left_;
            if (max && take > max)
                take = max;
            *data = c->buf + c->start;
            *len = take;
            c->start += take;
            m->body_left_ -= take;
            return 1;
        }
        case BS_UNTIL_CLOSE: {
            if (!avail) {
                ssize_t n = s_fill(c);
                if (n < 0)
                    return -1;
                if (n == 0) {
                    m->body_state_ = BS_DONE;
                    return 0;
                }
                continue;
            }
            size_t take = max && avail > max ? max : avail;
            *data = c->buf + c->start;
            *len = take;
            c->start += take;
            return 1;
        }
        case BS_CHUNK_SIZE: {
            const char *line = c->buf + c->start;
            const char *lf = avail ? memchr(line, '\n', avail) : NULL;
            if (!lf) {
                if (avail > PL_HTTP_MAX_CHUNK_LINE)
                    return pl_raise(PL_ERR_LIMIT, "chunk size line too long");
                if (s_need_more(c, "a chunked body"))
                    return -1;
                continue;
            }
            uint64_t size = 0;
            if (s_chunk_size_line(line, (size_t)(lf - line), &size))
                return -1;
            c->start += (size_t)(lf - line) + 1;
            if (size == 0) {
                m->body_state_ = BS_TRAILERS;
            } else {
                m->body_state_ = BS_CHUNK_DATA;
                m->body_left_ = size;
            }
            continue;
        }
        case BS_CHUNK_CRLF: {
            if (!avail || (c->buf[c->start] == '\r' && avail < 2)) {
                if (s_need_more(c, "a chunked body"))
                    return -1;
                continue;
            }
            if (c->buf[c->start] == '\n') {
                c->start += 1;
            } else if (c->buf[c->start] == '\r' && c->buf[c->start + 1] == '\n') {
                c->start += 2;
            } else {
                return pl_raise(PL_ERR_HTTP, "chunk data longer than its size");
            }
            m->body_state_ = BS_CHUNK_SIZE;
            continue;
        }
        case BS_TRAILERS: {
            if (avail) {
                const char *src = c->buf + c->start;
                int r = pl_http_parse_fields(src, avail, m->trailers, PL_HTTP_MAX_TRAILERS,
                                             &m->n_trailers);
                if (r > 0) {
                    if (s_adopt(&m->trailer_store_, src, (size_t)r, m->trailers, m->n_trailers,
                                NULL))
                        return -1;
                    c->start += (size_t)r;
                    m->body_state_ = BS_DONE;
                    return 0;
                }
                m->n_trailers = 0;
                if (r == -1)
                    return -1;
            }
            if (s_need_more(c, "chunked trailers"))
                return -1;
            continue;
        }
        default:
            return pl_raise(PL_ERR_INTERNAL, "bad HTTP body state");
        }
    }
}

int pl_http_conn_read_body(struct pl_http_conn *c, struct pl_http_msg *m, struct pl_buf *out,
                           size_t cap)
{
    size_t base = out->len;
    if (m->body_state_ == BS_LENGTH) {
        if (m->body_left_ > cap)
            return pl_raise(PL_ERR_LIMIT, "body of %llu bytes exceeds the %zu-byte limit",
                            (unsigned long long)m->body_left_, cap);
        size_t want = (size_t)m->body_left_;
        if (pl_buf_reserve(out, want))
            return -1;
        size_t avail = c->end - c->start;
        size_t take = avail < want ? avail : want;
        memcpy(out->data + out->len, c->buf + c->start, take);
        c->start += take;
        out->len += take;
        if (take < want) {
            if (pl_http_read_full(c->fd, out->data + out->len, want - take)) {
                out->data[out->len] = '\0';
                return -1;
            }
            c->last_read_ns = pl_now_ns();
            out->len += want - take;
        }
        out->data[out->len] = '\0';
        m->body_left_ = 0;
        m->body_state_ = BS_DONE;
        return 0;
    }
    for (;;) {
        const char *d;
        size_t n;
        int r = pl_http_conn_read_body_piece(c, m, &d, &n, 0);
        if (r <= 0) {
            if (r == 0 && !out->data && pl_buf_reserve(out, 0))
                return -1;
            return r;
        }
        if (out->len - base + n > cap)
            return pl_raise(PL_ERR_LIMIT, "body exceeds the %zu-byte limit", cap);
        if (pl_buf_append(out, d, n))
            return -1;
    }
}

int pl_http_conn_skip_body(struct pl_http_conn *c, struct pl_http_msg *m, uint64_t cap)
{
    uint64_t total = 0;
    for (;;) {
        const char *d;
        size_t n;
        int r = pl_http_conn_read_body_piece(c, m, &d, &n, 0);
        if (r <= 0)
            return r;
        total += n;
        if (total > cap)
            return pl_raise(PL_ERR_LIMIT, "body exceeds the %llu-byte limit",
                            (unsigned long long)cap);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* writers                                                                                     */

static bool s_valid_token(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool s_valid_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s_is_value_char((unsigned char)s[i]))
            return false;
    return true;
}

/* append the n bytes at s, then the literal tail (no formatting: these run on every
 * invocation, and printf's code is large) */
static int s_put2(struct pl_buf *b, const char *s, size_t n, const char *tail, size_t tail_n)
{
    if (pl_buf_reserve(b, n + tail_n))
        return -1;
    memcpy(b->data + b->len, s, n);
    memcpy(b->data + b->len + n, tail, tail_n);
    b->len += n + tail_n;
    b->data[b->len] = '\0';
    return 0;
}

int pl_http_head_request(struct pl_buf *b, const char *method, const char *target)
{
    size_t ml = strlen(method), tl = strlen(target);
    if (!s_valid_token(method, ml) || !tl)
        return pl_raise(PL_ERR_INVALID_ARG, "invalid HTTP method or target");
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)target[i] <= 0x20 || target[i] == 0x7f)
            return pl_raise(PL_ERR_INVALID_ARG, "invalid byte in HTTP request target");
    if (s_put2(b, method, ml, " ", 1))
        return -1;
    return s_put2(b, target, tl, " HTTP/1.1\r\n", 11);
}

const char *pl_http_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Request Entity Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

int pl_http_head_response(struct pl_buf *b, int status, const char *reason)
{
    if (status < 100 || status > 999)
        return pl_raise(PL_ERR_INVALID_ARG, "invalid HTTP status %d", status);
    if (!reason)
        reason = pl_http_status_reason(status);
    size_t rl = strlen(reason);
    if (!s_valid_value(reason, rl))
        return pl_raise(PL_ERR_INVALID_ARG, "invalid HTTP reason phrase");
    char line[14] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    if (s_put2(b, line, 13, reason, rl))
        return -1;
    return s_put2(b, "", 0, "\r\n", 2);
}

int pl_http_head_addn(struct pl_buf *b, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
    if (!s_valid_token(name, name_len))
        return pl_raise(PL_ERR_INVALID_ARG, "invalid HTTP header name");
    if (!s_valid_value(value, value_len))
        return pl_raise(PL_ERR_INVALID_ARG, "invalid byte in the value of HTTP header %.*s",
                        (int)name_len, name);
    if (pl_buf_reserve(b, name_len + value_len + 4))
        return -1;
    memcpy(b->data + b->len, name, name_len);
    b->len += name_len;
    b->data[b->len++] = ':';
    b->data[b->len++] = ' ';
    memcpy(b->data + b->len, value, value_len);
    b->len += value_len;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
    return 0;
}

int pl_http_head_add(struct pl_buf *b, const char *name, const char *value)
{
    return pl_http_head_addn(b, name, strlen(name), value, strlen(value));
}

int pl_http_head_addf(struct pl_buf *b, const char *name, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return pl_raise(PL_ERR_INVALID_ARG, "bad header format");
    if ((size_t)n < sizeof(small))
        return pl_http_head_addn(b, name, strlen(name), small, (size_t)n);
    char *big = pl_malloc((size_t)n + 1);
    if (!big)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = pl_http_head_addn(b, name, strlen(name), big, (size_t)n);
    pl_free(big);
    return r;
}

int pl_http_head_add_uint(struct pl_buf *b, const char *name, uint64_t v)
{
    char digits[24];
    size_t n = sizeof(digits);
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return pl_http_head_addn(b, name, strlen(name), digits + n, sizeof(digits) - n);
}

int pl_http_head_end(struct pl_buf *b)
{
    return pl_buf_append(b, "\r\n", 2);
}

static int s_wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    for (;;) {
        int r = poll(&p, 1, -1);
        if (r >= 0 || errno != EINTR)
            return r < 0 ? -1 : 0;
    }
}

int pl_http_writev_all(int fd, struct iovec *iov, int iovcnt)
{
    bool sock = true;
    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++, iovcnt--;
            continue;
        }
        ssize_t n;
        if (sock) {
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
            n = sendmsg(fd, &mh, MSG_NOSIGNAL);
            if (n < 0 && errno == ENOTSOCK) {
                sock = false;
                continue;
            }
        } else {
            n = writev(fd, iov, iovcnt);
        }
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if ((e == EAGAIN || e == EWOULDBLOCK) && s_wait_writable(fd) == 0)
                continue;
            return pl_raise(PL_ERR_IO, "write: %s", strerror(e));
        }
        size_t left = (size_t)n;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++, iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int pl_http_write_all(int fd, const void *data, size_t len)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return pl_http_writev_all(fd, &iov, 1);
}

int pl_http_send(int fd, const struct pl_buf *head, const void *body, size_t len)
{
    struct iovec iov[2] = {{.iov_base = head->data, .iov_len = head->len},
                           {.iov_base = (void *)body, .iov_len = body ? len : 0}};
    return pl_http_writev_all(fd, iov, 2);
}

int pl_http_send_response(int fd, int status, const char *content_type,
                          const struct pl_http_field *fields, size_t n, const void *body,
                          size_t len, bool keep_alive)
{
    struct pl_buf h = PL_BUF_INIT;
    int rc = -1;
    if (pl_http_head_response(&h, status, NULL))
        goto out;
    if (content_type && pl_http_head_add(&h, "Content-Type", content_type))
        goto out;
    for (size_t i = 0; i < n; i++)
        if (pl_http_head_add(&h, fields[i].name, fields[i].value))
            goto out;
    if (pl_http_head_addf(&h, "Content-Length", "%zu", body ? len : 0))
        goto out;
    if (!keep_alive && pl_http_head_add(&h, "Connection", "close"))
        goto out;
    if (pl_http_head_end(&h))
        goto out;
    rc = pl_http_send(fd, &h, body, len);
out:
    pl_buf_clean_up(&h);
    return rc;
}

int pl_http_write_chunk(int fd, const void *data, size_t len)
{
    if (!len)
        return 0;
    char size[32];
    int n = snprintf(size, sizeof(size), "%zx\r\n", len);
    struct iovec iov[3] = {{.iov_base = size, .iov_len = (size_t)n},
                           {.iov_base = (void *)data, .iov_len = len},
                           {.iov_base = (void *)"\r\n", .iov_len = 2}};
    return pl_http_writev_all(fd, iov, 3);
}

int pl_http_write_last_chunk(int fd, const struct pl_http_field *trailers, size_t n)
{
    struct pl_buf b = PL_BUF_INIT;
    int rc = -1;
    if (pl_buf_append(&b, "0\r\n", 3))
        goto out;
    for (size_t i = 0; trailers && i < n; i++)
        if (pl_http_head_add(&b, trailers[i].name, trailers[i].value))
            goto out;
    if (pl_http_head_end(&b))
        goto out;
    rc = pl_http_write_all(fd, b.data, b.len);
out:
    pl_buf_clean_up(&b);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* sockets                                                                                     */

static void s_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int pl_http_listen_loopback(uint16_t port, uint16_t *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pl_raise(PL_ERR_IO, "socket: %s", strerror(errno));
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return pl_raise(PL_ERR_IO, "bind 127.0.0.1:%u: %s", (unsigned)port, strerror(e));
    }
    if (listen(fd, 256) < 0) {
        int e = errno;
        close(fd);
        return pl_raise(PL_ERR_IO, "listen: %s", strerror(e));
    }
    socklen_t sl = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        int e = errno;
        close(fd);
        return pl_raise(PL_ERR_IO, "getsockname: %s", strerror(e));
    }
    if (bound_port)
        *bound_port = ntohs(sa.sin_port);
    return fd;
}

int pl_http_accept(int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            s_nodelay(fd);
            return fd;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        return pl_raise(PL_ERR_IO, "accept: %s", strerror(errno));
    }
}

int pl_http_split_host_port(const char *hp, char *host, size_t host_len, uint16_t *port)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp || !colon[1])
        return pl_raise(PL_ERR_INVALID_ARG, "'%s' is not host:port", hp);
    const char *h = hp;
    size_t hl = (size_t)(colon - hp);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
        h++, hl -= 2;
    if (hl == 0 || hl >= host_len)
        return pl_raise(PL_ERR_INVALID_ARG, "'%s' is not host:port", hp);
    unsigned long v = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > 65535)
            return pl_raise(PL_ERR_INVALID_ARG, "bad port in '%s'", hp);
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return pl_raise(PL_ERR_INVALID_ARG, "bad port in '%s'", hp);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)v;
    return 0;
}

static int s_connect_addr(const struct sockaddr *sa, socklen_t sl, const char *what)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pl_raise(PL_ERR_IO, "socket: %s", strerror(errno));
    if (connect(fd, sa, sl) < 0) {
        int e = errno;
        if (e == EINTR || e == EINPROGRESS) {
            /* the connection continues asynchronously: wait for it */
            if (s_wait_writable(fd) == 0) {
                socklen_t el = sizeof(e);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
                    e = errno;
            }
        }
        if (e && e != EINTR && e != EINPROGRESS) {
            close(fd);
            return pl_raise(PL_ERR_IO, "connect %s: %s", what, strerror(e));
        }
    }
    s_nodelay(fd);
    return fd;
}

int pl_http_connect_loopback(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return s_connect_addr((struct sockaddr *)&sa, sizeof(sa), "127.0.0.1");
}

int pl_http_connect(const char *host_port)
{
    char host[256];
    uint16_t port;
    if (pl_http_split_host_port(host_port, host, sizeof(host), &port))
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) == 1)
        return s_connect_addr((struct sockaddr *)&sa, sizeof(sa), host_port);
    struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (inet_pton(AF_INET6, host, &sa6.sin6_addr) == 1)
        return s_connect_addr((struct sockaddr *)&sa6, sizeof(sa6), host_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, NULL, &hints, &res);
    if (g != 0 || !res)
        return pl_raise(PL_ERR_IO, "cannot resolve '%s': %s", host, gai_strerror(g));
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(port);
        else if (ai->ai_family == AF_INET6)
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(port);
        else
            continue;
        fd = s_connect_addr(ai->ai_addr, ai->ai_addrlen, host_port);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

ssize_t pl_http_read_some(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, -1) >= 0 || errno == EINTR)
                continue;
        }
        return pl_raise(PL_ERR_IO, "read: %s", strerror(errno));
    }
}

int pl_http_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = pl_http_read_some(fd, p, len);
        if (n < 0)
            return -1;
        if (n == 0)
            return pl_raise(PL_ERR_IO, "connection closed %zu bytes before the end", len);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
