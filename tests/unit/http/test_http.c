/* HTTP/1.1 layer: parsers (incomplete vs invalid, caps), framing, connection reader
 * (pipelining, chunked with trailers, caps), writers and sockets. */
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/http.h"

static const char s_next_req[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                                 "Host: 127.0.0.1:9001\r\n"
                                 "User-Agent: aws-lambda-ric/3.3.0\r\n"
                                 "Accept: */*\r\n"
                                 "\r\n";

PL_TEST(request_parses_and_headers_are_case_insensitive)
{
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    int r = pl_http_parse_request(s_next_req, strlen(s_next_req), &m);
    PL_CHECK_INT(r, (int)strlen(s_next_req));
    PL_CHECK(pl_http_method_is(&m, "GET"));
    PL_CHECK_INT(m.target_len, strlen("/2018-06-01/runtime/invocation/next"));
    PL_CHECK(!memcmp(m.target, "/2018-06-01/runtime/invocation/next", m.target_len));
    PL_CHECK_INT(m.minor_version, 1);
    PL_CHECK_INT(m.n_headers, 3);
    const struct pl_http_header *h = pl_http_msg_find(&m, "user-agent");
    PL_CHECK(h != NULL);
    PL_CHECK_INT(h->value_len, strlen("aws-lambda-ric/3.3.0"));
    PL_CHECK(pl_http_msg_find(&m, "HOST") != NULL);
    PL_CHECK(pl_http_msg_find(&m, "content-length") == NULL);
    PL_CHECK_OK(pl_http_msg_framing(&m, false));
    PL_CHECK_INT(m.body, PL_HTTP_BODY_NONE);
    PL_CHECK(m.keep_alive);
    pl_http_msg_clean_up(&m);
}

PL_TEST(every_prefix_of_a_valid_head_is_incomplete)
{
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    size_t n = strlen(s_next_req);
    for (size_t i = 0; i < n; i++)
        PL_CHECK_MSG(pl_http_parse_request(s_next_req, i, &m) == -2, "prefix %zu not -2", i);
    const char resp[] = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                        "Content-Length: 16\r\n\r\n";
    for (size_t i = 0; i < strlen(resp); i++)
        PL_CHECK_MSG(pl_http_parse_response(resp, i, &m) == -2, "resp prefix %zu", i);
    PL_CHECK_INT(pl_http_parse_response(resp, strlen(resp), &m), (int)strlen(resp));
    PL_CHECK_INT(m.status, 202);
    PL_CHECK_INT(m.reason_len, 8);
    pl_http_msg_clean_up(&m);
}

PL_TEST(invalid_heads_are_rejected_early)
{
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    static const char *const bad[] = {
        "\x16\x03\x01\x02\x00",                       /* TLS client hello */
        "GET /x HTTP/2.0\r\n\r\n",                    /* not HTTP/1.x */
        "GET /x HTTP/1.1\rX",                         /* CR without LF */
        "GET  /x HTTP/1.1\r\n\r\n",                   /* empty target */
        "G(T /x HTTP/1.1\r\n\r\n",                    /* bad method byte */
        "GET /x HTTP/1.1\r\nHost : a\r\n\r\n",        /* blank before colon */
        "GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", /* obs-fold */
        "GET /x HTTP/1.1\r\nA: b\x01c\r\n\r\n",       /* control byte in value */
        "GET /x HTTP/1.1\r\n: novalue\r\n\r\n",       /* empty name */
        "GET /x\x7f HTTP/1.1\r\n\r\n",                /* DEL in target */
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++) {
        PL_CHECK_MSG(pl_http_parse_request(bad[i], strlen(bad[i]), &m) == -1, "bad[%zu] accepted",
                     i);
        PL_CHECK_INT(pl_last_error(), PL_ERR_HTTP);
    }
    static const char *const bad_resp[] = {"HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
                                           "HTTP/1.1200 OK\r\n\r\n", "ICY 200 OK\r\n\r\n"};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad_resp); i++)
        PL_CHECK_MSG(pl_http_parse_response(bad_resp[i], strlen(bad_resp[i]), &m) == -1,
                     "bad_resp[%zu] accepted", i);
    /* status line without a reason phrase is valid */
    const char noreason[] = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
    PL_CHECK_INT(pl_http_parse_response(noreason, strlen(noreason), &m), (int)strlen(noreason));
    PL_CHECK_INT(m.status, 200);
    PL_CHECK_INT(m.reason_len, 0);
    /* LF-only line endings and leading empty lines are tolerated */
    const char lf[] = "\r\nPOST /a HTTP/1.0\nA:b\n\n";
    PL_CHECK_INT(pl_http_parse_request(lf, strlen(lf), &m), (int)strlen(lf));
    PL_CHECK_INT(m.minor_version, 0);
    PL_CHECK_INT(m.headers[0].value_len, 1);
    pl_http_msg_clean_up(&m);
}

PL_TEST(caps_on_header_count_and_head_size)
{
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    struct pl_buf b = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_str(&b, "GET / HTTP/1.1\r\n"));
    for (int i = 0; i < PL_HTTP_MAX_HEADERS; i++)
        PL_CHECK_OK(pl_buf_appendf(&b, "X-H%d: %d\r\n", i, i));
    size_t before_end = b.len;
    PL_CHECK_OK(pl_buf_append_str(&b, "\r\n"));
    PL_CHECK_INT(pl_http_parse_request(b.data, b.len, &m), (int)b.len);
    PL_CHECK_INT(m.n_headers, PL_HTTP_MAX_HEADERS);
    /* one more header: invalid (limit), not incomplete */
    b.len = before_end;
    PL_CHECK_OK(pl_buf_append_str(&b, "X-One-Too-Many: 1\r\n\r\n"));
    PL_CHECK_INT(pl_http_parse_request(b.data, b.len, &m), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_LIMIT);
    /* an unfinished head at the size cap is invalid, below it incomplete */
    pl_buf_reset(&b);
    PL_CHECK_OK(pl_buf_append_str(&b, "GET / HTTP/1.1\r\nX-Big: "));
    while (b.len < PL_HTTP_MAX_HEAD - 1)
        PL_CHECK_OK(pl_buf_append_char(&b, 'a'));
    PL_CHECK_INT(pl_http_parse_request(b.data, b.len, &m), -2);
    PL_CHECK_OK(pl_buf_append_char(&b, 'a'));
    PL_CHECK_INT(pl_http_parse_request(b.data, b.len, &m), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_LIMIT);
    pl_buf_clean_up(&b);
    pl_http_msg_clean_up(&m);
}

static int s_framing(const char *head, bool response, struct pl_http_msg *m)
{
    int r = response ? pl_http_parse_response(head, strlen(head), m)
                     : pl_http_parse_request(head, strlen(head), m);
    if (r <= 0)
        return -3;
    return pl_http_msg_framing(m, false);
}

PL_TEST(framing_rejects_smuggling_shapes)
{
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    PL_CHECK_INT(
        s_framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                  false, &m),
        -1);
    PL_CHECK_INT(
        s_framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false, &m),
        -1);
    PL_CHECK_INT(
        s_framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", false, &m),
        0);
    PL_CHECK_INT(m.content_length, 5);
    PL_CHECK_INT(s_framing("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", false, &m), -1);
    PL_CHECK_INT(s_framing("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", false, &m), -1);
    PL_CHECK_INT(
        s_framing("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, &m), -1);
    PL_CHECK_INT(s_framing("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", false, &m), 0);
    PL_CHECK_INT(m.body, PL_HTTP_BODY_CHUNKED);
    PL_CHECK_INT(s_framing("GET / HTTP/1.0\r\n\r\n", false, &m), 0);
    PL_CHECK(!m.keep_alive);
    PL_CHECK_INT(s_framing("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", false, &m), 0);
    PL_CHECK(m.keep_alive);
    PL_CHECK_INT(s_framing("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", false, &m), 0);
    PL_CHECK(!m.keep_alive);
    PL_CHECK_INT(s_framing("HTTP/1.1 200 OK\r\n\r\n", true, &m), 0);
    PL_CHECK_INT(m.body, PL_HTTP_BODY_UNTIL_CLOSE);
    PL_CHECK(!m.keep_alive);
    PL_CHECK_INT(s_framing("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", true, &m), 0);
    PL_CHECK_INT(m.body, PL_HTTP_BODY_NONE);
    PL_CHECK_INT(s_framing("HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n", true, &m), 0);
    PL_CHECK_INT(m.body, PL_HTTP_BODY_LENGTH);
    PL_CHECK(m.keep_alive);
    pl_http_msg_clean_up(&m);
}

/* ---- connection tests over a socketpair ---- */

struct writer {
    int fd;
    const char *data;
    size_t len;
    size_t step; /* bytes per write (1 = byte by byte) */
};

static void *s_writer(void *arg)
{
    struct writer *w = arg;
    for (size_t off = 0; off < w->len;) {
        size_t n = w->len - off < w->step ? w->len - off : w->step;
        if (pl_http_write_all(w->fd, w->data + off, n))
            break;
        off += n;
        if (w->step < 64)
            usleep(50);
    }
    close(w->fd);
    return NULL;
}

static int s_pair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

PL_TEST(pipelined_requests_with_bodies_on_one_connection)
{
    int sv[2];
    PL_CHECK_OK(s_pair(sv));
    const char two[] = "POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\n"
                       "Content-Length: 5\r\n\r\nhello"
                       "POST /2018-06-01/runtime/invocation/def/error HTTP/1.1\r\n"
                       "Transfer-Encoding: chunked\r\nLambda-Runtime-Function-Error-Type: X\r\n\r\n"
                       "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                       "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n";
    PL_CHECK_OK(pl_http_write_all(sv[1], two, strlen(two)));
    close(sv[1]);
    struct pl_http_conn c;
    pl_http_conn_init(&c, sv[0]);
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    struct pl_buf body = PL_BUF_INIT;
    PL_CHECK_INT(pl_http_conn_read_request(&c, &m), 0);
    PL_CHECK_STR(m.target, "/2018-06-01/runtime/invocation/abc/response");
    PL_CHECK_STR(pl_http_msg_header(&m, "CONTENT-LENGTH"), "5");
    PL_CHECK_OK(pl_http_conn_read_body(&c, &m, &body, 100));
    PL_CHECK_STR(body.data, "hello");
    PL_CHECK_INT(pl_http_conn_read_request(&c, &m), 0);
    PL_CHECK_STR(m.method, "POST");
    PL_CHECK_STR(pl_http_msg_header(&m, "lambda-runtime-function-error-type"), "X");
    pl_buf_reset(&body);
    PL_CHECK_OK(pl_http_conn_read_body(&c, &m, &body, 100));
    PL_CHECK_STR(body.data, "abcde");
    PL_CHECK_INT(m.n_trailers, 0);
    PL_CHECK_INT(pl_http_conn_read_request(&c, &m), 0);
    PL_CHECK_STR(m.target, "/2018-06-01/runtime/invocation/next");
    PL_CHECK_INT(pl_http_conn_read_request(&c, &m), 1); /* clean close */
    pl_buf_clean_up(&body);
    pl_http_msg_clean_up(&m);
    pl_http_conn_clean_up(&c);
}

PL_TEST(chunked_streaming_response_with_error_trailers_byte_by_byte)
{
    int sv[2];
    PL_CHECK_OK(s_pair(sv));
    const char msg[] =
        "POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1\r\n"
        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
        "\r\n"
        "6\r\nchunk1\r\n"
        "A\r\n0123456789\r\n"
        "0\r\n"
        "Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n"
        "Lambda-Runtime-Function-Error-Body: eyJlcnJvciI6MX0=\r\n"
        "\r\n";
    struct writer w = {sv[1], msg, strlen(msg), 1};
    pthread_t t;
    PL_CHECK(pthread_create(&t, NULL, s_writer, &w) == 0);
    struct pl_http_conn c;
    pl_http_conn_init(&c, sv[0]);
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    struct pl_buf body = PL_BUF_INIT;
    int r = pl_http_conn_read_request(&c, &m);
    if (r == 0) {
        const char *d;
        size_t n;
        int pieces = 0;
        while ((r = pl_http_conn_read_body_piece(&c, &m, &d, &n, 0)) == 1) {
            pl_buf_append(&body, d, n);
            pieces++;
        }
        PL_CHECK(pieces >= 2);
    }
    pthread_join(t, NULL);
    PL_CHECK_INT(r, 0);
    PL_CHECK_STR(body.data, "chunk10123456789");
    PL_CHECK_INT(m.n_trailers, 2);
    PL_CHECK_STR(pl_http_msg_trailer(&m, "lambda-runtime-function-error-type"),
                 "Runtime.StreamError");
    PL_CHECK_STR(pl_http_msg_trailer(&m, "Lambda-Runtime-Function-Error-Body"), "eyJlcnJvciI6MX0=");
    PL_CHECK_STR(pl_http_msg_header(&m, "lambda-runtime-function-response-mode"), "streaming");
    pl_buf_clean_up(&body);
    pl_http_msg_clean_up(&m);
    pl_http_conn_clean_up(&c);
}

static int s_read_one(const char *wire, struct pl_buf *body, size_t cap)
{
    int sv[2];
    if (s_pair(sv))
        return -9;
    pl_http_write_all(sv[1], wire, strlen(wire));
    close(sv[1]);
    struct pl_http_conn c;
    pl_http_conn_init(&c, sv[0]);
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    int r = pl_http_conn_read_request(&c, &m);
    if (r == 0)
        r = pl_http_conn_read_body(&c, &m, body, cap);
    pl_http_msg_clean_up(&m);
    pl_http_conn_clean_up(&c);
    return r;
}

PL_TEST(bad_bodies_and_caps)
{
    struct pl_buf b = PL_BUF_INIT;
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world", &b, 10),
                 -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_LIMIT);
    PL_CHECK_INT(b.len, 0); /* refused before reading */
    pl_buf_reset(&b);
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
                            &b, 10),
                 -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_LIMIT);
    pl_buf_reset(&b);
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", &b, 10),
                 -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_HTTP);
    pl_buf_reset(&b);
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "2\r\nabc\r\n0\r\n\r\n",
                            &b, 10),
                 -1); /* data longer than size */
    PL_CHECK_INT(pl_last_error(), PL_ERR_HTTP);
    pl_buf_reset(&b);
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "fffffffffffffffff\r\n",
                            &b, 10),
                 -1); /* size overflow */
    PL_CHECK_INT(pl_last_error(), PL_ERR_LIMIT);
    pl_buf_reset(&b);
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", &b, 100), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_IO); /* closed mid-body */
    pl_buf_reset(&b);
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nContent-", &b, 100), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_IO); /* closed mid-head */
    pl_buf_reset(&b);
    PL_CHECK_INT(s_read_one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n0\r\nBad Trailer\r\n\r\n",
                            &b, 100),
                 -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_HTTP);
    pl_buf_clean_up(&b);
}

PL_TEST(six_megabyte_body_through_a_socket)
{
    size_t n = 6 * 1024 * 1024;
    struct pl_buf wire = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_appendf(&wire, "POST /x HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n));
    size_t head = wire.len;
    PL_CHECK_OK(pl_buf_reserve(&wire, n));
    for (size_t i = 0; i < n; i++)
        wire.data[head + i] = (char)('a' + i % 26);
    wire.len += n;
    int sv[2];
    PL_CHECK_OK(s_pair(sv));
    struct writer w = {sv[1], wire.data, wire.len, 65536};
    pthread_t t;
    PL_CHECK(pthread_create(&t, NULL, s_writer, &w) == 0);
    struct pl_http_conn c;
    pl_http_conn_init(&c, sv[0]);
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    struct pl_buf body = PL_BUF_INIT;
    int r = pl_http_conn_read_request(&c, &m);
    if (r == 0)
        r = pl_http_conn_read_body(&c, &m, &body, PL_HTTP_DEFAULT_BODY_CAP);
    pthread_join(t, NULL);
    PL_CHECK_INT(r, 0);
    PL_CHECK_INT(body.len, n);
    PL_CHECK(!memcmp(body.data, wire.data + head, n));
    pl_buf_clean_up(&body);
    pl_buf_clean_up(&wire);
    pl_http_msg_clean_up(&m);
    pl_http_conn_clean_up(&c);
}

PL_TEST(writers_reject_header_injection_and_round_trip)
{
    struct pl_buf h = PL_BUF_INIT;
    PL_CHECK(pl_http_head_add(&h, "X-A", "ok\r\nInjected: 1") == -1);
    PL_CHECK(pl_http_head_add(&h, "Bad Name", "v") == -1);
    PL_CHECK(pl_http_head_request(&h, "GET", "/a b") == -1);
    PL_CHECK_INT(h.len, 0);
    pl_buf_clean_up(&h);

    int sv[2];
    PL_CHECK_OK(s_pair(sv));
    struct pl_http_field f[] = {
        {"Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"},
        {"Lambda-Runtime-Deadline-Ms", "1542409706888"}};
    PL_CHECK_OK(pl_http_send_response(sv[1], 200, "application/json", f, 2, "{\"a\":1}", 7, true));
    /* a chunked response with trailers after it */
    struct pl_buf hd = PL_BUF_INIT;
    PL_CHECK_OK(pl_http_head_response(&hd, 200, NULL));
    PL_CHECK_OK(pl_http_head_add(&hd, "Transfer-Encoding", "chunked"));
    PL_CHECK_OK(pl_http_head_end(&hd));
    PL_CHECK_OK(pl_http_send(sv[1], &hd, NULL, 0));
    PL_CHECK_OK(pl_http_write_chunk(sv[1], "part1-", 6));
    PL_CHECK_OK(pl_http_write_chunk(sv[1], "", 0));
    PL_CHECK_OK(pl_http_write_chunk(sv[1], "part2", 5));
    struct pl_http_field tr[] = {{"Lambda-Runtime-Function-Error-Type", "E"}};
    PL_CHECK_OK(pl_http_write_last_chunk(sv[1], tr, 1));
    pl_buf_clean_up(&hd);
    close(sv[1]);

    struct pl_http_conn c;
    pl_http_conn_init(&c, sv[0]);
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    struct pl_buf body = PL_BUF_INIT;
    PL_CHECK_INT(pl_http_conn_read_response(&c, &m, false), 0);
    PL_CHECK_INT(m.status, 200);
    PL_CHECK_STR(m.reason, "OK");
    PL_CHECK_STR(pl_http_msg_header(&m, "lambda-runtime-deadline-ms"), "1542409706888");
    PL_CHECK_STR(pl_http_msg_header(&m, "content-type"), "application/json");
    PL_CHECK_OK(pl_http_conn_read_body(&c, &m, &body, 100));
    PL_CHECK_STR(body.data, "{\"a\":1}");
    PL_CHECK_INT(pl_http_conn_read_response(&c, &m, false), 0);
    pl_buf_reset(&body);
    PL_CHECK_OK(pl_http_conn_read_body(&c, &m, &body, 100));
    PL_CHECK_STR(body.data, "part1-part2");
    PL_CHECK_STR(pl_http_msg_trailer(&m, "lambda-runtime-function-error-type"), "E");
    pl_buf_clean_up(&body);
    pl_http_msg_clean_up(&m);
    pl_http_conn_clean_up(&c);
}

PL_TEST(head_writers_produce_exact_bytes)
{
    /* the proxy builds every head it forwards with these (no printf): byte-exact output */
    struct pl_buf h = PL_BUF_INIT;
    PL_CHECK_OK(pl_http_head_request(&h, "POST", "/2018-06-01/runtime/invocation/x/response"));
    PL_CHECK_OK(pl_http_head_add_uint(&h, "Content-Length", 0));
    PL_CHECK_OK(pl_http_head_add_uint(&h, "X-Big", UINT64_MAX));
    PL_CHECK_OK(pl_http_head_add_uint(&h, "X-Ten", 10));
    PL_CHECK_OK(pl_http_head_end(&h));
    PL_CHECK_STR(h.data, "POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\n"
                         "Content-Length: 0\r\nX-Big: 18446744073709551615\r\nX-Ten: 10\r\n\r\n");
    PL_CHECK_INT(h.len, strlen(h.data));
    pl_buf_reset(&h);
    PL_CHECK_OK(pl_http_head_response(&h, 202, NULL));
    PL_CHECK_OK(pl_http_head_response(&h, 999, "Custom Reason"));
    PL_CHECK_OK(pl_http_head_response(&h, 100, ""));
    PL_CHECK_STR(h.data, "HTTP/1.1 202 Accepted\r\nHTTP/1.1 999 Custom Reason\r\nHTTP/1.1 100 \r\n");
    PL_CHECK(pl_http_head_response(&h, 99, NULL) == -1);
    PL_CHECK(pl_http_head_response(&h, 1000, NULL) == -1);
    PL_CHECK(pl_http_head_response(&h, 200, "bad\r\nreason") == -1);
    PL_CHECK(pl_http_head_request(&h, "GE T", "/") == -1);
    PL_CHECK(pl_http_head_request(&h, "GET", "") == -1);
    PL_CHECK(pl_http_head_add_uint(&h, "Bad:Name", 1) == -1);
    pl_buf_clean_up(&h);
}

PL_TEST(listen_on_port_zero_connect_and_accept)
{
    uint16_t port = 0;
    int lfd = pl_http_listen_loopback(0, &port);
    PL_CHECK(lfd >= 0);
    PL_CHECK(port != 0);
    char hp[64];
    snprintf(hp, sizeof(hp), "127.0.0.1:%u", (unsigned)port);
    int cfd = pl_http_connect(hp);
    PL_CHECK(cfd >= 0);
    int sfd = pl_http_accept(lfd);
    PL_CHECK(sfd >= 0);
    PL_CHECK_OK(pl_http_write_all(cfd, "ping", 4));
    char buf[4];
    PL_CHECK_OK(pl_http_read_full(sfd, buf, 4));
    PL_CHECK(!memcmp(buf, "ping", 4));
    close(cfd);
    close(sfd);
    snprintf(hp, sizeof(hp), "localhost:%u", (unsigned)port);
    cfd = pl_http_connect(hp);
    PL_CHECK(cfd >= 0);
    close(cfd);
    close(lfd);
    char host[256];
    uint16_t p;
    PL_CHECK(pl_http_split_host_port("127.0.0.1", host, sizeof(host), &p) == -1);
    PL_CHECK(pl_http_split_host_port("127.0.0.1:99999", host, sizeof(host), &p) == -1);
    PL_CHECK_OK(pl_http_split_host_port("127.0.0.1:9001", host, sizeof(host), &p));
    PL_CHECK_STR(host, "127.0.0.1");
    PL_CHECK_INT(p, 9001);
}

PL_TEST(allocation_failure_while_reading_is_an_error)
{
    int sv[2];
    PL_CHECK_OK(s_pair(sv));
    PL_CHECK_OK(pl_http_write_all(sv[1], s_next_req, strlen(s_next_req)));
    struct pl_http_conn c;
    pl_http_conn_init(&c, sv[0]);
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    pl_test_fail_alloc_after(0);
    int r = pl_http_conn_read_request(&c, &m);
    pl_test_fail_alloc_after(-1);
    PL_CHECK_INT(r, -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_NOMEM);
    close(sv[1]);
    pl_http_msg_clean_up(&m);
    pl_http_conn_clean_up(&c);
}

PL_TEST(expect_100_continue_is_answered_before_the_body)
{
    int sv[2];
    PL_CHECK_OK(s_pair(sv));
    const char req[] = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    PL_CHECK_OK(pl_http_write_all(sv[1], req, strlen(req)));
    struct pl_http_conn c;
    pl_http_conn_init(&c, sv[0]);
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    struct pl_buf body = PL_BUF_INIT;
    PL_CHECK_INT(pl_http_conn_read_request(&c, &m), 0);
    PL_CHECK_OK(pl_http_conn_continue(&c, &m));
    char got[64] = {0};
    PL_CHECK_OK(pl_http_read_full(sv[1], got, 25));
    PL_CHECK_STR(got, "HTTP/1.1 100 Continue\r\n\r\n");
    PL_CHECK_OK(pl_http_write_all(sv[1], "{}", 2)); /* the client sends the body now */
    PL_CHECK_OK(pl_http_conn_read_body(&c, &m, &body, 10));
    PL_CHECK_STR(body.data, "{}");
    /* no Expect, or no body: nothing is written */
    const char plain[] = "GET /y HTTP/1.1\r\nExpect: 100-continue\r\n\r\n";
    PL_CHECK_OK(pl_http_write_all(sv[1], plain, strlen(plain)));
    PL_CHECK_INT(pl_http_conn_read_request(&c, &m), 0);
    PL_CHECK_OK(pl_http_conn_continue(&c, &m));
    close(sv[1]);
    PL_CHECK_INT(pl_http_conn_read_request(&c, &m), 1);
    pl_buf_clean_up(&body);
    pl_http_msg_clean_up(&m);
    pl_http_conn_clean_up(&c);
}
