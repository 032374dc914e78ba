#include "protectlambda/buf.h"

#include <stdio.h>
#include <string.h>

void pl_buf_init(struct pl_buf *b) { b->data = NULL, b->len = 0, b->cap = 0; }

void pl_buf_clean_up(struct pl_buf *b)
{
    pl_free(b->data);
    pl_buf_init(b);
}

void pl_buf_reset(struct pl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int pl_buf_reserve(struct pl_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return pl_raise(PL_ERR_NOMEM, "buffer too large");
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *p = pl_realloc(b->data, ncap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = ncap;
    return 0;
}

int pl_buf_append(struct pl_buf *b, const void *data, size_t len)
{
    if (pl_buf_reserve(b, len))
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int pl_buf_append_str(struct pl_buf *b, const char *s) { return pl_buf_append(b, s, strlen(s)); }

int pl_buf_append_char(struct pl_buf *b, char c) { return pl_buf_append(b, &c, 1); }

int pl_buf_appendf(struct pl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return pl_raise(PL_ERR_INTERNAL, "format error");
    if ((size_t)n < sizeof(tmp))
        return pl_buf_append(b, tmp, (size_t)n);
    if (pl_buf_reserve(b, (size_t)n))
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *pl_buf_steal(struct pl_buf *b, size_t *len)
{
    if (len)
        *len = b->len;
    char *d = b->data;
    if (!d)
        d = pl_strdup("");
    pl_buf_init(b);
    return d;
}

/* length of a valid UTF-8 sequence at s (1..4), or 0 if invalid */
static size_t s_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4, cp = c & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

int pl_buf_append_json_str(struct pl_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (pl_buf_reserve(b, len + 2))
        return -1;
    b->data[b->len++] = '"';
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            if (pl_buf_append(b, p + i, run - i))
                return -1;
            i = run;
            continue;
        }
        unsigned char c = p[i];
        char esc[8];
        size_t elen = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, elen = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2), elen = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2), elen = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2), elen = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15], elen = 6;
        } else {
            size_t ul = s_utf8_len(p + i, len - i);
            if (ul) {
                if (pl_buf_append(b, p + i, ul))
                    return -1;
                i += ul;
                continue;
            }
            memcpy(esc, "\\ufffd", 6), elen = 6;
        }
        if (pl_buf_append(b, esc, elen))
            return -1;
        i++;
    }
    return pl_buf_append_char(b, '"');
}

int pl_buf_append_json_cstr(struct pl_buf *b, const char *s)
{
    if (!s)
        return pl_buf_append(b, "null", 4);
    return pl_buf_append_json_str(b, s, strlen(s));
}
