/* Emulator helpers: ids, trace ids, base64, error JSON, string vectors. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "emulator_private.h"

static void s_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    /* fallback: never leave ids all-zero (uniqueness matters, not secrecy) */
    if (got < len) {
        static uint64_t s_counter;
        uint64_t x = pl_now_ns() ^
                     __atomic_add_fetch(&s_counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ULL;
        for (size_t i = got; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            p[i] = (unsigned char)x;
        }
    }
}

void pl_emu_uuid(char out[S_ID_LEN])
{
    unsigned char b[16];
    s_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, S_ID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void pl_emu_trace_id(char *out, size_t len)
{
    unsigned char b[20];
    s_random(b, sizeof(b));
    char root[25], parent[17];
    for (int i = 0; i < 12; i++)
        snprintf(root + 2 * i, 3, "%02x", b[i]);
    for (int i = 0; i < 8; i++)
        snprintf(parent + 2 * i, 3, "%02x", b[12 + i]);
    snprintf(out, len, "Root=1-%08lx-%s;Parent=%s;Sampled=0", (unsigned long)time(NULL), root,
             parent);
}

static int s_b64(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int pl_emu_base64_decode(const char *in, size_t len, struct pl_buf *out)
{
    while (len && (in[len - 1] == '=' || in[len - 1] == ' '))
        len--;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = s_b64(in[i]);
        if (v < 0)
            return pl_raise(PL_ERR_PARSE, "invalid base64");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (pl_buf_append_char(out, (char)((acc >> bits) & 0xff)))
                return -1;
        }
    }
    if (!out->data && pl_buf_reserve(out, 0))
        return -1;
    return 0;
}

int pl_emu_error_json(struct pl_buf *out, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (pl_buf_append_str(out, "{\"errorMessage\":") || pl_buf_append_json_cstr(out, msg) ||
        pl_buf_append_str(out, ",\"errorType\":") || pl_buf_append_json_cstr(out, type) ||
        pl_buf_append_char(out, '}'))
        return -1;
    return 0;
}

size_t pl_emu_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **pl_emu_strv_dup(char *const *v)
{
    size_t n = pl_emu_strv_len(v);
    char **r = pl_calloc(n + 1, sizeof(char *));
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        r[i] = pl_strdup(v[i]);
        if (!r[i]) {
            pl_emu_strv_free(r);
            return NULL;
        }
    }
    return r;
}

void pl_emu_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        pl_free(v[i]);
    pl_free(v);
}
