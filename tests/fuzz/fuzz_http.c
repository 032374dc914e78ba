/* HTTP/1.1 layer: the head parsers and the buffered connection (heads, Content-Length and
 * chunked bodies with trailers, pipelining) on arbitrary bytes must answer ok / incomplete /
 * invalid, never crash, never read past the input, never leak, and never produce more body
 * bytes than they were given; the same bytes are also read as responses (client side). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "protectlambda/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    struct pl_http_msg m;
    pl_http_msg_init(&m);
    int r = pl_http_parse_request(d, size, &m);
    if (r > (int)size || (r < 0 && r != -1 && r != -2))
        abort();
    if (r > 0) {
        for (size_t i = 0; i < m.n_headers; i++)
            if (m.headers[i].name < d || m.headers[i].value + m.headers[i].value_len > d + size)
                abort();
        (void)pl_http_msg_framing(&m, false);
    }
    r = pl_http_parse_response(d, size, &m);
    if (r > (int)size || (r < 0 && r != -1 && r != -2))
        abort();
    struct pl_http_header tr[PL_HTTP_MAX_TRAILERS];
    size_t ntr = 0;
    r = pl_http_parse_fields(d, size, tr, PL_HTTP_MAX_TRAILERS, &ntr);
    if (r > (int)size || ntr > PL_HTTP_MAX_TRAILERS)
        abort();

    /* the connection reader over the same bytes (a memfd stands for the socket) */
    int fd = memfd_create("fuzz_http", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    lseek(fd, 0, SEEK_SET);
    struct pl_http_conn c;
    pl_http_conn_init(&c, fd);
    struct pl_buf body = PL_BUF_INIT;
    size_t total = 0;
    for (int i = 0; i < 64; i++) {
        if (pl_http_conn_read_request(&c, &m) != 0)
            break;
        pl_buf_reset(&body);
        if (i & 1) {
            const char *p;
            size_t n;
            int k;
            while ((k = pl_http_conn_read_body_piece(&c, &m, &p, &n, 7)) == 1) {
                if (n == 0 || n > 7)
                    abort();
                total += n;
            }
            if (k < 0)
                break;
        } else {
            if (pl_http_conn_read_body(&c, &m, &body, 1 << 20))
                break;
            total += body.len;
        }
        if (total > size)
            abort(); /* decoded bodies never exceed the input */
    }
    pl_http_conn_clean_up(&c);

    /* the same bytes read as responses by a client (the proxy's upstream side): heads with
     * 1xx skipped, Content-Length / chunked (trailers) / until-close bodies, HEAD answers */
    fd = memfd_create("fuzz_http_resp", MFD_CLOEXEC);
    if (fd >= 0) {
        if (size && write(fd, data, size) != (ssize_t)size) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) {
        lseek(fd, 0, SEEK_SET);
        pl_http_conn_init(&c, fd);
        total = 0;
        for (int i = 0; i < 64; i++) {
            bool head = size && (data[0] & 1) && i == 0;
            if (pl_http_conn_read_response(&c, &m, head) != 0)
                break;
            if (m.status < 100 || m.status > 999 ||
                (m.status < 200 && m.status != 101))
                abort(); /* interim answers are skipped (101 ends HTTP: it is final) */
            pl_buf_reset(&body);
            if (pl_http_conn_read_body(&c, &m, &body, 1 << 20))
                break;
            total += body.len;
            if (total > size)
                abort();
            for (size_t t = 0; t < m.n_trailers; t++)
                if (!m.trailers[t].name || !m.trailers[t].value)
                    abort();
            if (!m.keep_alive)
                break;
        }
        pl_http_conn_clean_up(&c);
    }
    pl_buf_clean_up(&body);
    pl_http_msg_clean_up(&m);
    return 0;
}
