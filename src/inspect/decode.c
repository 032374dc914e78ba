/* Decoders an attacker uses to hide a payload: percent/URL (with '+' and %uXXXX), HTML
 * entities, base64. Each appends to `out` and returns 1 when the output differs from the
 * input, 0 when there was nothing to decode (nothing appended), -1 on error (memory). */
#include "protectlambda/inspect.h"

#include <string.h>

static size_t s_utf8(unsigned cp, char u[4])
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
        cp = 0xFFFD;
    if (cp < 0x80) {
        u[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int pl_decode_url(const char *s, size_t len, bool plus_as_space, struct pl_buf *out)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    /* nothing to do? */
    const void *pct = memchr(s, '%', len);
    if (!pct && !(plus_as_space && memchr(s, '+', len)))
        return 0;
    size_t start = out->len;
    if (pl_buf_reserve(out, len))
        return -1;
    char *o = out->data + out->len;
    bool changed = false;
    while (p < end) {
        unsigned c = *p;
        if (c == '%') {
            int h1, h2;
            if (end - p >= 3 && (h1 = pl_hex_digit(p[1])) >= 0 && (h2 = pl_hex_digit(p[2])) >= 0) {
                *o++ = (char)((h1 << 4) | h2);
                p += 3;
                changed = true;
                continue;
            }
            /* %uXXXX (IIS style) */
            if (end - p >= 6 && (p[1] | 0x20) == 'u') {
                int a = pl_hex_digit(p[2]), b = pl_hex_digit(p[3]), cc = pl_hex_digit(p[4]),
                    d = pl_hex_digit(p[5]);
                if (a >= 0 && b >= 0 && cc >= 0 && d >= 0) {
                    char u[4];
                    /* at most 3 UTF-8 bytes from 6 input bytes: fits in the reserve */
                    size_t n = s_utf8((unsigned)((a << 12) | (b << 8) | (cc << 4) | d), u);
                    memcpy(o, u, n);
                    o += n;
                    p += 6;
                    changed = true;
                    continue;
                }
            }
        } else if (c == '+' && plus_as_space) {
            *o++ = ' ';
            p++;
            changed = true;
            continue;
        }
        *o++ = (char)c;
        p++;
    }
    if (!changed) {
        out->len = start;
        out->data[start] = '\0';
        return 0;
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 1;
}

struct s_entity {
    const char *name; /* without & and ; */
    const char *text;
};

/* the common named entities an attacker reaches for (HTML5 names, case-sensitive) */
static const struct s_entity s_entities[] = {
    {"lt", "<"},       {"gt", ">"},       {"amp", "&"},      {"quot", "\""},   {"apos", "'"},
    {"nbsp", "\xc2\xa0"}, {"sol", "/"},   {"bsol", "\\"},    {"colon", ":"},   {"semi", ";"},
    {"lpar", "("},     {"rpar", ")"},     {"period", "."},   {"comma", ","},   {"Tab", "\t"},
    {"NewLine", "\n"}, {"grave", "`"},    {"equals", "="},   {"excl", "!"},    {"num", "#"},
    {"dollar", "$"},   {"percnt", "%"},   {"plus", "+"},     {"lsqb", "["},    {"rsqb", "]"},
    {"lbrack", "["},   {"rbrack", "]"},   {"lcub", "{"},     {"rcub", "}"},    {"lbrace", "{"},
    {"rbrace", "}"},   {"vert", "|"},     {"verbar", "|"},   {"ast", "*"},     {"quest", "?"},
    {"commat", "@"},   {"Hat", "^"},      {"lowbar", "_"},   {"hyphen", "-"},  {"dash", "-"},
    {"LT", "<"},       {"GT", ">"},       {"AMP", "&"},      {"QUOT", "\""},   {"midast", "*"},
    {"tilde", "~"},    {"DiacriticalGrave", "`"},
};

int pl_decode_html(const char *s, size_t len, struct pl_buf *out)
{
    const char *amp = memchr(s, '&', len);
    if (!amp)
        return 0;
    size_t start = out->len;
    const char *p = s, *end = s + len;
    bool changed = false;
    /* decoded text is never longer than the input (longest entity output: 4 bytes for
     * a numeric reference of at least 4 input bytes) */
    if (pl_buf_reserve(out, len))
        return -1;
    char *o = out->data + out->len;
    while (p < end) {
        const char *a = memchr(p, '&', (size_t)(end - p));
        if (!a) {
            memcpy(o, p, (size_t)(end - p));
            o += end - p;
            break;
        }
        memcpy(o, p, (size_t)(a - p));
        o += a - p;
        p = a;
        const char *q = p + 1;
        if (q < end && *q == '#') {
            q++;
            bool hex = q < end && (*q == 'x' || *q == 'X');
            if (hex)
                q++;
            const char *digits = q;
            unsigned long cp = 0;
            while (q < end &&
                   (hex ? pl_hex_digit((unsigned char)*q) >= 0 : (*q >= '0' && *q <= '9'))) {
                if (cp < 0x110000)
                    cp = cp * (hex ? 16 : 10) +
                         (unsigned long)(hex ? pl_hex_digit((unsigned char)*q) : *q - '0');
                q++;
            }
            if (q > digits) {
                if (q < end && *q == ';')
                    q++;
                char u[4];
                size_t n = s_utf8(cp > 0x10FFFF ? 0xFFFD : (unsigned)cp, u);
                memcpy(o, u, n);
                o += n;
                p = q;
                changed = true;
                continue;
            }
        } else {
            const char *name = q;
            while (q < end && q - name < 20 &&
                   ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
                q++;
            size_t nl = (size_t)(q - name);
            if (nl && q < end && *q == ';') {
                for (size_t i = 0; i < PL_ARRAY_LEN(s_entities); i++) {
                    if (strlen(s_entities[i].name) == nl && !memcmp(s_entities[i].name, name, nl)) {
                        size_t tl = strlen(s_entities[i].text);
                        memcpy(o, s_entities[i].text, tl);
                        o += tl;
                        p = q + 1;
                        changed = true;
                        goto next;
                    }
                }
            }
        }
        *o++ = '&';
        p++;
    next:;
    }
    if (!changed) {
        out->len = start;
        out->data[start] = '\0';
        return 0;
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 1;
}

/* base64 (standard and URL-safe alphabets). Like the decoders of the runtimes (Python's
 * b64decode without validate, Node's Buffer.from), characters outside the alphabet, padding
 * and whitespace are skipped, and trailing partial bits dropped. */
int pl_decode_base64(const char *s, size_t len, struct pl_buf *out)
{
    static signed char s_tab[256];
    static int s_init;
    if (!__atomic_load_n(&s_init, __ATOMIC_ACQUIRE)) {
        signed char t[256];
        memset(t, -1, sizeof(t));
        const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; i++)
            t[(unsigned char)alpha[i]] = (signed char)i;
        t['-'] = 62;
        t['_'] = 63;
        memcpy(s_tab, t, sizeof(t));
        __atomic_store_n(&s_init, 1, __ATOMIC_RELEASE);
    }
    if (!len)
        return 0;
    if (pl_buf_reserve(out, len / 4 * 3 + 3))
        return -1;
    unsigned char *o = (unsigned char *)out->data + out->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    while (p < end) {
        int v = s_tab[*p++]; // NOLINT(bugprone-signed-char-misuse): values are -1 (skip) or 0..63
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (!n)
        return 0;
    out->len += n;
    out->data[out->len] = '\0';
    return 1;
}
