/* The JSON SAX parser's core, shared by src/common/json.c (pl_json_sax_parse_ex: callbacks
 * through struct pl_json_sax) and src/inspect/view.c (the view's own copy, calling its
 * callbacks directly so the compiler can inline them into the parse loop). The includer
 * defines S_CALL(fn, ...) (a callback: on_key, on_string, ...; non-zero stops the parse)
 * before including this file, once. Everything here is static. */
#ifndef PL_JSON_SAX_IMPL_H
#define PL_JSON_SAX_IMPL_H

#include "protectlambda/json.h"

#include <string.h>

#define S_DEFAULT_DEPTH 256u
#define S_DEFAULT_VALUES 1000000u

struct s_parser {
    const unsigned char *p, *end, *start;
    const struct pl_json_sax *cb;
    void *ctx;
    uint32_t max_depth;
    uint64_t max_values, n_values;
    uint32_t depth;
    uint8_t *stack;      /* bit per level: 1 object, 0 array */
    uint8_t local_stack[512];
    struct pl_buf *scratch;
};

static inline void s_skip_ws(struct s_parser *ps)
{
    const unsigned char *p = ps->p, *end = ps->end;
    if (p < end && *p > ' ')
        return; /* compact JSON: no whitespace between tokens */
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

static int s_error(struct s_parser *ps, const char *what)
{
    return pl_raise(PL_ERR_PARSE, "invalid JSON at offset %zu: %s",
                    (size_t)(ps->p - ps->start), what);
}

static int s_stopped(struct s_parser *ps)
{
    if (pl_last_error() == PL_OK)
        pl_raise(PL_ERR_INTERNAL, "JSON parse stopped by callback at offset %zu",
                 (size_t)(ps->p - ps->start));
    return -1;
}

static int s_count_value(struct s_parser *ps)
{
    if (++ps->n_values > ps->max_values)
        return pl_raise(PL_ERR_LIMIT, "JSON has more than %llu keys and values",
                        (unsigned long long)ps->max_values);
    return 0;
}

static int s_read_u4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = pl_hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return 0;
}

static size_t s_utf8(unsigned cp, unsigned char *u)
{
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* bytes that end a plain run inside a string: '"', '\\' and control characters */
static const uint8_t s_special[256] = {
    [0 ... 0x1F] = 1, ['"'] = 1, ['\\'] = 1,
};

/* the byte a one-character escape stands for (0: not one: \u or invalid) */
static const uint8_t s_unescape[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f', ['n'] = '\n',
    ['r'] = '\r', ['t'] = '\t',
};

/* Block masks over 16 bytes: bit i set when byte i is a backslash (*bs), or a '"' or a
 * control character (*stop). SSE2 on x86-64 (always there), else exact SWAR. */
#if defined(__SSE2__)
#include <emmintrin.h>

static inline void s_masks16(const unsigned char *p, uint32_t *bs, uint32_t *stop)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v); /* v <= 0x1F */
    *bs = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    *stop = (uint32_t)_mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, _mm_set1_epi8('"'))));
}

/* quotes (q) and the other special bytes: backslashes and control characters (other) */
static inline void s_qmask16(const unsigned char *p, uint32_t *q, uint32_t *other)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v); /* v <= 0x1F */
    *q = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    *other = (uint32_t)_mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
}

/* copy 16 bytes (the caller guarantees room on both sides) */
static inline void s_copy16(unsigned char *o, const unsigned char *p)
{
    _mm_storeu_si128((__m128i *)(void *)o, _mm_loadu_si128((const __m128i *)(const void *)p));
}
#else
#define S_ONES 0x0101010101010101ull
#define S_LOW7 0x7F7F7F7F7F7F7F7Full

/* exact: 0x80 in each byte of w that is zero */
static inline uint64_t s_zero8(uint64_t w)
{
    return ~(((w & S_LOW7) + S_LOW7) | w | S_LOW7);
}

/* the high bit of each byte gathered into 8 bits (byte 0 → bit 0 on little-endian loads) */
static inline uint32_t s_gather8(uint64_t m)
{
    uint32_t r = 0;
    for (int i = 0; i < 8; i++)
        r |= (uint32_t)((m >> (8 * i + 7)) & 1) << i;
    return r;
}

static inline uint64_t s_load8(const unsigned char *p)
{
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

static inline void s_masks16(const unsigned char *p, uint32_t *bs, uint32_t *stop)
{
    uint32_t b = 0, s = 0;
    for (int h = 0; h < 2; h++) {
        uint64_t w = s_load8(p + 8 * h);
        uint64_t ctl = s_zero8(w & (S_ONES * 0xE0)); /* high three bits clear: < 0x20 */
        b |= s_gather8(s_zero8(w ^ (S_ONES * '\\'))) << (8 * h);
        s |= s_gather8(s_zero8(w ^ (S_ONES * '"')) | ctl) << (8 * h);
    }
    *bs = b;
    *stop = s;
}

static inline void s_copy16(unsigned char *o, const unsigned char *p)
{
    memcpy(o, p, 16);
}

static inline void s_qmask16(const unsigned char *p, uint32_t *q, uint32_t *other)
{
    uint32_t bs, stop, qq = 0;
    s_masks16(p, &bs, &stop);
    for (int h = 0; h < 2; h++)
        qq |= s_gather8(s_zero8(s_load8(p + 8 * h) ^ (S_ONES * '"'))) << (8 * h);
    *q = qq;
    *other = bs | (stop & ~qq);
}
#endif

/* both masks over 64 bytes */
static inline void s_masks64(const unsigned char *p, uint64_t *bs, uint64_t *stop)
{
    uint64_t b = 0, s = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t bi, si;
        s_masks16(p + 16 * i, &bi, &si);
        b |= (uint64_t)bi << (16 * i);
        s |= (uint64_t)si << (16 * i);
    }
    *bs = b;
    *stop = s;
}

static inline void s_copy64(unsigned char *o, const unsigned char *p)
{
    s_copy16(o, p);
    s_copy16(o + 16, p + 16);
    s_copy16(o + 32, p + 32);
    s_copy16(o + 48, p + 48);
}

/* One escaped-string block of 64 bytes at p, written at o: every escape in it is a
 * one-character escape and no '"' or control character is left unescaped. Returns the
 * number of input bytes consumed (64 or 65: an escape that starts at the last byte) and sets
 * *written, or 0 when the block needs the careful path (\u, an invalid escape, the string's
 * end, a control character). The caller guarantees 128 readable input bytes at p and 64
 * writable bytes past wherever o gets (the output never outruns the input). Escapes are
 * taken in order, so "\\\\" (an escaped backslash) does not start a second escape. */
static inline size_t s_block64(const unsigned char *p, unsigned char *o, size_t *written)
{
    uint64_t bs, stop;
    s_masks64(p, &bs, &stop);
    if (!bs) {
        if (stop)
            return 0;
        s_copy64(o, p);
        *written = 64;
        return 64;
    }
    unsigned char *o0 = o;
    uint64_t escaped = 0;
    size_t pos = 0;
    do {
        size_t k = (size_t)__builtin_ctzll(bs);
        s_copy64(o, p + pos); /* the run before the escape (at most 63 bytes): one wide copy */
        o += k - pos;
        unsigned char c = s_unescape[p[k + 1]];
        if (!c)
            return 0;
        *o++ = c;
        pos = k + 2;
        escaped |= 2ull << k; /* k == 63: the escaped byte is in the next block */
        bs &= ~(3ull << k);   /* an escaped backslash starts no escape */
    } while (bs);
    if (stop & ~escaped)
        return 0; /* a '"' or control character that is not escaped */
    if (pos < 64) {
        s_copy64(o, p + pos);
        o += 64 - pos;
        pos = 64;
    }
    *written = (size_t)(o - o0);
    return pos;
}

/* With AVX-512 VBMI2 (checked at run time; the build targets baseline x86-64), a 64-byte
 * block whose escapes are all one-character escapes of '"', '/', 'n', 't' or 'r' (what JSON
 * sent as a string is made of) is unescaped with one compress-store: the backslashes are
 * dropped, n/t/r become their control characters. A block with anything else (the string's
 * end, a control character, \\, \u, \b, \f, an invalid escape) is left to the careful
 * loop. A block never ends on a backslash: its escape goes to the next block.
 * -DPL_JSON_NO_VBMI2 builds without this path (to test the other one on such a CPU). */
#if defined(__x86_64__) && !defined(PL_JSON_NO_VBMI2) &&                                      \
    ((defined(__clang__) && __clang_major__ >= 8) || (!defined(__clang__) && __GNUC__ >= 8))
#define S_HAVE_VBMI2 1
#include <immintrin.h>

#include "protectlambda/cpufeat.h"

static bool s_use_vbmi2(void)
{
    static int s_state; /* 0 unknown, 1 yes, 2 no */
    int st = __atomic_load_n(&s_state, __ATOMIC_RELAXED);
    if (!st) {
        st = pl_cpu_has(PL_CPU_AVX512BW | PL_CPU_AVX512VBMI2) ? 1 : 2;
        __atomic_store_n(&s_state, st, __ATOMIC_RELAXED);
    }
    return st == 1;
}

/* unescape 64-byte blocks from *pp to *oo while at least 64 input bytes remain and the fast
 * path applies (the output never outruns the input: a block writes at most what it reads) */
__attribute__((target("avx512f,avx512bw,avx512vbmi2"))) static void
s_unescape_vbmi2(const unsigned char **pp, const unsigned char *end, unsigned char **oo)
{
    const unsigned char *p = *pp;
    unsigned char *o = *oo;
    const __m512i c_bs = _mm512_set1_epi8('\\'), c_q = _mm512_set1_epi8('"'),
                  c_sl = _mm512_set1_epi8('/'), c_n = _mm512_set1_epi8('n'),
                  c_t = _mm512_set1_epi8('t'), c_r = _mm512_set1_epi8('r'),
                  c_ctl = _mm512_set1_epi8(0x20);
    while (end - p >= 64) {
        __m512i v = _mm512_loadu_si512((const void *)p);
        uint64_t bs = _mm512_cmpeq_epi8_mask(v, c_bs);
        uint64_t range = ~0ull;
        size_t used = 64;
        if (bs >> 63) { /* an escape that starts on the last byte: next block */
            range >>= 1;
            bs &= range;
            used = 63;
        }
        uint64_t esc = bs << 1; /* escaped positions */
        uint64_t q = _mm512_cmpeq_epi8_mask(v, c_q);
        uint64_t n = _mm512_cmpeq_epi8_mask(v, c_n), t = _mm512_cmpeq_epi8_mask(v, c_t),
                 r = _mm512_cmpeq_epi8_mask(v, c_r);
        uint64_t simple = q | _mm512_cmpeq_epi8_mask(v, c_sl) | n | t | r;
        uint64_t stop = (q | _mm512_cmplt_epu8_mask(v, c_ctl)) & ~esc & range;
        if ((bs & esc) | (esc & ~simple) | stop)
            break;
        v = _mm512_mask_blend_epi8(esc & n, v, _mm512_set1_epi8('\n'));
        v = _mm512_mask_blend_epi8(esc & t, v, _mm512_set1_epi8('\t'));
        v = _mm512_mask_blend_epi8(esc & r, v, _mm512_set1_epi8('\r'));
        uint64_t keep = range & ~bs;
        _mm512_mask_compressstoreu_epi8(o, keep, v);
        o += __builtin_popcountll(keep);
        p += used;
    }
    *pp = p;
    *oo = o;
}
#else
#define S_HAVE_VBMI2 0
#endif

/* the rest of s_string (out of line): from p, at or before the first special byte of the
 * string that starts at begin */
__attribute__((noinline)) static int s_string_rest(struct s_parser *ps,
                                                   const unsigned char *begin,
                                                   const unsigned char *p, const char **s,
                                                   size_t *len)
{
    const unsigned char *end = ps->end;
    for (;;) {
        if (end - p >= 16) {
            uint32_t bs, stop;
            s_masks16(p, &bs, &stop);
            if (!(bs | stop)) {
                p += 16;
                continue;
            }
            p += __builtin_ctz(bs | stop);
        } else {
            while (p < end && !s_special[*p])
                p++;
            if (p >= end)
                break;
        }
        unsigned c = *p;
        if (c == '"') {
            *s = (const char *)begin;
            *len = (size_t)(p - begin);
            ps->p = p + 1;
            return 0;
        }
        if (c == '\\')
            break;
        ps->p = p;
        return s_error(ps, "control character in string");
    }
    if (p >= end) {
        ps->p = end;
        return s_error(ps, "unterminated string");
    }
    /* escapes never make the text longer: reserve what is left of the input once, then
     * write directly */
    struct pl_buf *b = ps->scratch;
    pl_buf_reset(b);
    if (pl_buf_reserve(b, (size_t)(end - begin)))
        return -1;
    unsigned char *o = (unsigned char *)b->data;
    memcpy(o, begin, (size_t)(p - begin));
    o += p - begin;
    while (p < end) {
        /* blocks of 64 bytes while 128 remain (JSON sent as a string is full of \"); a block
         * the fast path declines goes through the careful loop below */
        const unsigned char *careful_end = end;
#if S_HAVE_VBMI2
        if (s_use_vbmi2()) {
            s_unescape_vbmi2(&p, end, &o);
            if (end - p >= 64)
                careful_end = p + 64;
        } else
#endif
        while (end - p >= 128) {
            size_t written, used = s_block64(p, o, &written);
            if (!used) {
                careful_end = p + 64;
                break;
            }
            p += used;
            o += written;
        }
        /* careful: one special byte at a time, up to careful_end (or the string's end) */
        while (p < careful_end) {
            while (end - p >= 16) {
                uint32_t bs, stop;
                s_masks16(p, &bs, &stop);
                s_copy16(o, p); /* the output has room: it never outgrows the input */
                if (bs | stop) {
                    size_t k = (size_t)__builtin_ctz(bs | stop);
                    o += k;
                    p += k;
                    break;
                }
                o += 16;
                p += 16;
            }
            while (p < end && !s_special[*p])
                *o++ = *p++;
            if (p >= end)
                break;
            unsigned c = *p;
            if (c == '"') {
                b->len = (size_t)(o - (unsigned char *)b->data);
                b->data[b->len] = '\0';
                *s = b->data;
                *len = b->len;
                ps->p = p + 1;
                return 0;
            }
            if (c != '\\') {
                ps->p = p;
                return s_error(ps, "control character in string");
            }
            if (p + 1 >= end) {
                ps->p = p;
                return s_error(ps, "unterminated escape");
            }
            unsigned char e = s_unescape[p[1]];
            if (e) {
                *o++ = e;
                p += 2;
                continue;
            }
            if (p[1] != 'u') {
                ps->p = p;
                return s_error(ps, "invalid escape");
            }
            unsigned cp;
            if (s_read_u4(p + 2, end, &cp)) {
                ps->p = p;
                return s_error(ps, "invalid \\u escape");
            }
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && !s_read_u4(p + 2, end, &lo) &&
                    lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else {
                    cp = 0xFFFD; /* lone high surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* lone low surrogate */
            }
            /* 6 input bytes give at most 3 output bytes, 12 give 4 */
            o += s_utf8(cp, o);
        }
        if (p >= end)
            break;
    }
    ps->p = end;
    return s_error(ps, "unterminated string");
}

/* ps->p at the opening quote. On success (*s, *len) is the unescaped text (into the input
 * when there was no escape, else into ps->scratch), ps->p is past the closing quote. The
 * common case, a string without escapes whose end is in the input's next 16-byte blocks,
 * stays inline in the parser loop. */
static inline int s_string(struct s_parser *ps, const char **s, size_t *len)
{
    const unsigned char *p = ps->p + 1, *end = ps->end;
    const unsigned char *begin = p;
    while (end - p >= 16) {
        uint32_t q, other;
        s_qmask16(p, &q, &other);
        if (q | other) {
            /* the closing quote, when it comes before any backslash or control character
             * (decided on the masks: no reload of the byte) */
            if (q && !(other & ((q & -q) - 1))) {
                p += __builtin_ctz(q);
                *s = (const char *)begin;
                *len = (size_t)(p - begin);
                ps->p = p + 1;
                return 0;
            }
            break;
        }
        p += 16;
    }
    return s_string_rest(ps, begin, p, s, len);
}

static int s_number(struct s_parser *ps, const char **s, size_t *len)
{
    const unsigned char *p = ps->p, *end = ps->end, *begin = p;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        goto bad;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        goto bad;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    *s = (const char *)begin;
    *len = (size_t)(p - begin);
    ps->p = p;
    return 0;
bad:
    ps->p = p;
    return s_error(ps, "invalid number");
}

static int s_literal(struct s_parser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
        return s_error(ps, "invalid literal");
    ps->p += n;
    return 0;
}

static int s_push(struct s_parser *ps, bool is_object)
{
    if (ps->depth >= ps->max_depth)
        return pl_raise(PL_ERR_LIMIT, "JSON nesting deeper than %u at offset %zu", ps->max_depth,
                        (size_t)(ps->p - ps->start));
    uint32_t d = ps->depth++;
    if (is_object)
        ps->stack[d >> 3] |= (uint8_t)(1u << (d & 7));
    else
        ps->stack[d >> 3] &= (uint8_t)~(1u << (d & 7));
    return 0;
}

static inline bool s_top_is_object(const struct s_parser *ps)
{
    uint32_t d = ps->depth - 1;
    return (ps->stack[d >> 3] >> (d & 7)) & 1;
}

static int s_run(struct s_parser *ps)
{
    const char *s;
    size_t n;
    s_skip_ws(ps);
value:
    if (ps->p >= ps->end)
        return s_error(ps, ps->depth ? "unexpected end of input" : "empty input");
    if (s_count_value(ps))
        return -1;
    switch (*ps->p) {
    case '{':
        if (s_push(ps, true))
            return -1;
        S_CALL(on_begin_object);
        ps->p++;
        s_skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            ps->depth--;
            S_CALL(on_end_object);
            goto after_value;
        }
        goto key;
    case '[':
        if (s_push(ps, false))
            return -1;
        S_CALL(on_begin_array);
        ps->p++;
        s_skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            ps->depth--;
            S_CALL(on_end_array);
            goto after_value;
        }
        goto value;
    case '"': {
        const unsigned char *raw = ps->p;
        if (s_string(ps, &s, &n))
            return -1;
        S_CALL(on_string, s, n, (const char *)raw, (size_t)(ps->p - raw));
        goto after_value;
    }
    case 't':
        if (s_literal(ps, "true", 4))
            return -1;
        S_CALL(on_bool, true);
        goto after_value;
    case 'f':
        if (s_literal(ps, "false", 5))
            return -1;
        S_CALL(on_bool, false);
        goto after_value;
    case 'n':
        if (s_literal(ps, "null", 4))
            return -1;
        S_CALL(on_null);
        goto after_value;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            if (s_number(ps, &s, &n))
                return -1;
            S_CALL(on_number, s, n);
            goto after_value;
        }
        return s_error(ps, "unexpected character");
    }

key:
    /* ps->p at a non-space, inside an object, expecting "key" : */
    if (ps->p >= ps->end)
        return s_error(ps, "unexpected end of input");
    if (*ps->p != '"')
        return s_error(ps, "expected a string key");
    if (s_count_value(ps))
        return -1;
    {
        const unsigned char *raw = ps->p;
        if (s_string(ps, &s, &n))
            return -1;
        S_CALL(on_key, s, n, (const char *)raw, (size_t)(ps->p - raw));
    }
    s_skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':')
        return s_error(ps, "expected ':'");
    ps->p++;
    s_skip_ws(ps);
    goto value;

after_value:
    s_skip_ws(ps);
    if (ps->depth == 0) {
        if (ps->p != ps->end)
            return s_error(ps, "trailing characters after the value");
        return 0;
    }
    if (ps->p >= ps->end)
        return s_error(ps, "unexpected end of input");
    if (s_top_is_object(ps)) {
        if (*ps->p == ',') {
            ps->p++;
            s_skip_ws(ps);
            goto key;
        }
        if (*ps->p == '}') {
            ps->p++;
            ps->depth--;
            S_CALL(on_end_object);
            goto after_value;
        }
        return s_error(ps, "expected ',' or '}'");
    }
    if (*ps->p == ',') {
        ps->p++;
        s_skip_ws(ps);
        goto value;
    }
    if (*ps->p == ']') {
        ps->p++;
        ps->depth--;
        S_CALL(on_end_array);
        goto after_value;
    }
    return s_error(ps, "expected ',' or ']'");
}

static int s_sax_parse(const char *data, size_t len, const struct pl_json_limits *limits,
                       const struct pl_json_sax *cb, void *ctx, size_t *err_offset,
                       struct pl_buf *scratch)
{
    static const struct pl_json_sax s_none = {0};
    struct s_parser ps;
    struct pl_buf own = PL_BUF_INIT; /* when the caller gives no scratch */
    int rc = -1;
    memset(&ps, 0, offsetof(struct s_parser, local_stack));
    ps.scratch = scratch ? scratch : &own;
    ps.start = ps.p = (const unsigned char *)(data ? data : "");
    ps.end = ps.p + (data ? len : 0);
    ps.cb = cb ? cb : &s_none;
    ps.ctx = ctx;
    ps.depth = 0;
    ps.n_values = 0;
    ps.max_depth = limits && limits->max_depth ? limits->max_depth : S_DEFAULT_DEPTH;
    ps.max_values = limits && limits->max_values ? limits->max_values : S_DEFAULT_VALUES;
    size_t stack_bytes = ((size_t)ps.max_depth + 7) / 8;
    if (stack_bytes <= sizeof(ps.local_stack)) {
        ps.stack = ps.local_stack;
    } else {
        ps.stack = pl_malloc(stack_bytes);
        if (!ps.stack)
            goto out;
    }
    pl_error_clear();
    rc = s_run(&ps);
out:
    if (rc && err_offset)
        *err_offset = (size_t)(ps.p - ps.start);
    if (ps.stack && ps.stack != ps.local_stack)
        pl_free(ps.stack);
    pl_buf_clean_up(&own);
    return rc;
}

#endif
