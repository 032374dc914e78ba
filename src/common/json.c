/* JSON reading: a bounded, non-recursive SAX parser and a small DOM built on it.
 *
 * The parser keeps the nesting as a bit stack (1 = object, 0 = array) sized by
 * limits->max_depth, so a 100,000-deep document costs a few bytes and never a C stack frame
 * per level. Strings without escapes are handed to callbacks as pointers into the input;
 * strings with escapes are unescaped into one scratch buffer reused for the whole parse. */
#include "protectlambda/json.h"

#include <errno.h>
#include <stdlib.h>
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

static inline int s_hex(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    return -1;
}

static int s_read_u4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = s_hex(p[i]);
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

#define S_ONES 0x0101010101010101ull
#define S_HIGHS 0x8080808080808080ull

/* SWAR over 8 bytes: a mask with the high bit set in each byte that is '"', '\\' or < 0x20.
 * The lowest set bit is exact (borrows only propagate upwards), so on little-endian machines
 * ctz(mask) / 8 is the index of the first such byte. */
static inline uint64_t s_special8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t q = w ^ (S_ONES * '"'), b = w ^ (S_ONES * '\\');
    return (((q - S_ONES) & ~q) | ((b - S_ONES) & ~b) | ((w - S_ONES * 0x20) & ~w)) & S_HIGHS;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define S_FIRST_SPECIAL(m) ((size_t)__builtin_ctzll(m) >> 3)
#else
#define S_FIRST_SPECIAL(m) ((size_t)0) /* fall back to the byte loop */
#endif

/* ps->p at the opening quote. On success (*s, *len) is the unescaped text (into the input
 * when there was no escape, else into ps->scratch), ps->p is past the closing quote. */
static int s_string(struct s_parser *ps, const char **s, size_t *len)
{
    const unsigned char *p = ps->p + 1, *end = ps->end;
    const unsigned char *begin = p;
    /* fast path: no escapes */
    for (;;) {
        while (end - p >= 8) {
            uint64_t m = s_special8(p);
            if (m) {
                p += S_FIRST_SPECIAL(m);
                break;
            }
            p += 8;
        }
        if (p >= end)
            break;
        unsigned c = *p;
        if (c == '"') {
            *s = (const char *)begin;
            *len = (size_t)(p - begin);
            ps->p = p + 1;
            return 0;
        }
        if (c == '\\')
            break;
        if (c < 0x20) {
            ps->p = p;
            return s_error(ps, "control character in string");
        }
        p++;
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
        while (end - p >= 8) {
            uint64_t m = s_special8(p);
            memcpy(o, p, 8); /* the output has room: it never outgrows the input */
            if (m) {
                size_t k = S_FIRST_SPECIAL(m);
                o += k;
                p += k;
                break;
            }
            o += 8;
            p += 8;
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
            if (c < 0x20) {
                ps->p = p;
                return s_error(ps, "control character in string");
            }
            *o++ = (unsigned char)c;
            p++;
            continue;
        }
        if (p + 1 >= end) {
            ps->p = p;
            return s_error(ps, "unterminated escape");
        }
        switch (p[1]) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
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
            continue;
        }
        default:
            ps->p = p;
            return s_error(ps, "invalid escape");
        }
        p += 2;
    }
    ps->p = end;
    return s_error(ps, "unterminated string");
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

#define S_CALL(fn, ...)                                                                        \
    do {                                                                                       \
        if (ps->cb->fn && ps->cb->fn(ps->ctx, ##__VA_ARGS__))                                  \
            return s_stopped(ps);                                                              \
    } while (0)

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

int pl_json_sax_parse(const char *data, size_t len, const struct pl_json_limits *limits,
                      const struct pl_json_sax *cb, void *ctx, size_t *err_offset)
{
    return pl_json_sax_parse_ex(data, len, limits, cb, ctx, err_offset, NULL);
}

int pl_json_sax_parse_ex(const char *data, size_t len, const struct pl_json_limits *limits,
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

/* ---------------------------------------------------------------- DOM */

struct s_block {
    struct s_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct s_doc {
    struct pl_json root; /* first member: the root pointer is the document pointer */
    struct s_block *blocks;
};

struct s_frame {
    struct pl_json *node;
    struct pl_json *last;
};

struct s_builder {
    struct s_doc *doc;
    struct s_frame *frames;
    size_t n_frames, cap_frames;
    bool have_root;
    const char *key;
    size_t key_len;
};

static void *s_arena_alloc(struct s_doc *d, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct s_block *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = 4096;
        if (b && b->cap < (1u << 20))
            cap = b->cap * 2;
        if (cap < n)
            cap = n;
        struct s_block *nb = pl_malloc(sizeof(*nb) + cap);
        if (!nb)
            return NULL;
        nb->next = d->blocks;
        nb->used = 0;
        nb->cap = cap;
        d->blocks = nb;
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static char *s_arena_str(struct s_doc *d, const char *s, size_t n)
{
    char *c = s_arena_alloc(d, n + 1);
    if (!c)
        return NULL;
    if (n)
        memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* new node attached to the current container (or the root) */
static struct pl_json *s_add(struct s_builder *b, enum pl_json_type t)
{
    struct pl_json *n;
    if (!b->have_root) {
        n = &b->doc->root;
        b->have_root = true;
    } else {
        n = s_arena_alloc(b->doc, sizeof(*n));
        if (!n)
            return NULL;
        memset(n, 0, sizeof(*n));
        struct s_frame *f = &b->frames[b->n_frames - 1];
        if (f->node->type == PL_JSON_OBJECT) {
            n->key = (char *)b->key; /* already copied into the arena by s_b_key */
            n->key_len = b->key_len;
            b->key = NULL;
        }
        if (f->last)
            f->last->next = n;
        else
            f->node->child = n;
        f->last = n;
        f->node->n_children++;
    }
    n->type = t;
    return n;
}

static int s_b_key(void *ctx, const char *key, size_t len, const char *raw, size_t raw_len)
{
    struct s_builder *b = ctx;
    /* an unescaped key lives in the parser scratch, which the value may overwrite: copy now */
    char *k = s_arena_str(b->doc, key, len);
    if (!k)
        return -1;
    b->key = k;
    b->key_len = len;
    return 0;
}

static int s_b_scalar(struct s_builder *b, enum pl_json_type t, const char *s, size_t len)
{
    struct pl_json *n = s_add(b, t);
    if (!n)
        return -1;
    if (s) {
        n->str = s_arena_str(b->doc, s, len);
        if (!n->str)
            return -1;
        n->len = len;
    }
    return 0;
}

static int s_b_string(void *ctx, const char *s, size_t len, const char *raw, size_t raw_len)
{
    return s_b_scalar(ctx, PL_JSON_STRING, s, len);
}
static int s_b_number(void *ctx, const char *s, size_t len)
{
    return s_b_scalar(ctx, PL_JSON_NUMBER, s, len);
}
static int s_b_bool(void *ctx, bool v)
{
    return s_b_scalar(ctx, v ? PL_JSON_TRUE : PL_JSON_FALSE, NULL, 0);
}
static int s_b_null(void *ctx) { return s_b_scalar(ctx, PL_JSON_NULL, NULL, 0); }

static int s_b_begin(struct s_builder *b, enum pl_json_type t)
{
    struct pl_json *n = s_add(b, t);
    if (!n)
        return -1;
    if (pl_array_reserve((void **)&b->frames, &b->cap_frames, b->n_frames + 1,
                         sizeof(*b->frames)))
        return -1;
    b->frames[b->n_frames++] = (struct s_frame){n, NULL};
    return 0;
}
static int s_b_begin_object(void *ctx) { return s_b_begin(ctx, PL_JSON_OBJECT); }
static int s_b_begin_array(void *ctx) { return s_b_begin(ctx, PL_JSON_ARRAY); }
static int s_b_end(void *ctx)
{
    struct s_builder *b = ctx;
    b->n_frames--;
    return 0;
}

static void s_doc_free(struct s_doc *d)
{
    if (!d)
        return;
    struct s_block *b = d->blocks;
    while (b) {
        struct s_block *n = b->next;
        pl_free(b);
        b = n;
    }
    pl_free(d);
}

int pl_json_parse(const char *data, size_t len, const struct pl_json_limits *limits,
                  struct pl_json **out)
{
    static const struct pl_json_sax s_cb = {
        .on_key = s_b_key,
        .on_string = s_b_string,
        .on_number = s_b_number,
        .on_bool = s_b_bool,
        .on_null = s_b_null,
        .on_begin_object = s_b_begin_object,
        .on_end_object = s_b_end,
        .on_begin_array = s_b_begin_array,
        .on_end_array = s_b_end,
    };
    int rc = -1;
    struct s_builder b = {0};
    *out = NULL;
    b.doc = pl_calloc(1, sizeof(*b.doc));
    if (!b.doc)
        goto out;
    if (pl_json_sax_parse(data, len, limits, &s_cb, &b, NULL))
        goto out;
    *out = &b.doc->root;
    b.doc = NULL;
    rc = 0;
out:
    pl_free(b.frames);
    s_doc_free(b.doc);
    return rc;
}

void pl_json_destroy(struct pl_json *root)
{
    /* root is the first member of its document */
    s_doc_free((struct s_doc *)root);
}

const struct pl_json *pl_json_get(const struct pl_json *obj, const char *key)
{
    if (!obj || obj->type != PL_JSON_OBJECT || !key)
        return NULL;
    size_t kl = strlen(key);
    for (const struct pl_json *c = obj->child; c; c = c->next)
        if (c->key_len == kl && !memcmp(c->key, key, kl))
            return c;
    return NULL;
}

const char *pl_json_get_str(const struct pl_json *obj, const char *key)
{
    const struct pl_json *v = pl_json_get(obj, key);
    return v && v->type == PL_JSON_STRING ? v->str : NULL;
}

bool pl_json_get_int(const struct pl_json *obj, const char *key, int64_t *out)
{
    const struct pl_json *v = pl_json_get(obj, key);
    if (!v || v->type != PL_JSON_NUMBER || !v->str)
        return false;
    char *end;
    errno = 0;
    long long ll = strtoll(v->str, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = ll;
        return true;
    }
    errno = 0;
    double d = strtod(v->str, &end);
    if (*end != '\0' || errno || !(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18) ||
        (double)(int64_t)d != d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* Iterative writer: an explicit stack of nodes whose closing bracket is pending. */
int pl_json_write(struct pl_buf *out, const struct pl_json *v)
{
    const struct pl_json **stack = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    const struct pl_json *cur = v;
    bool first = true;
    while (cur || n) {
        if (!cur) {
            /* cur == NULL implies n > 0 (loop condition), so stack is allocated */
            // cppcheck-suppress nullPointer ; see above
            const struct pl_json *c = stack[--n];
            if (pl_buf_append_char(out, c->type == PL_JSON_OBJECT ? '}' : ']'))
                goto out;
            cur = c->next;
            first = false;
            if (!n && c == v)
                break;
            continue;
        }
        bool in_object = n && stack[n - 1]->type == PL_JSON_OBJECT;
        if (n && !first && pl_buf_append_char(out, ','))
            goto out;
        if (in_object) {
            if (pl_buf_append_json_str(out, cur->key ? cur->key : "", cur->key_len) ||
                pl_buf_append_char(out, ':'))
                goto out;
        }
        switch (cur->type) {
        case PL_JSON_NULL: if (pl_buf_append_str(out, "null")) goto out; break;
        case PL_JSON_TRUE: if (pl_buf_append_str(out, "true")) goto out; break;
        case PL_JSON_FALSE: if (pl_buf_append_str(out, "false")) goto out; break;
        case PL_JSON_NUMBER:
            if (pl_buf_append(out, cur->str ? cur->str : "0", cur->str ? cur->len : 1))
                goto out;
            break;
        case PL_JSON_STRING:
            if (pl_buf_append_json_str(out, cur->str ? cur->str : "", cur->len))
                goto out;
            break;
        case PL_JSON_ARRAY:
        case PL_JSON_OBJECT:
            if (pl_buf_append_char(out, cur->type == PL_JSON_OBJECT ? '{' : '['))
                goto out;
            if (pl_array_reserve((void **)&stack, &cap, n + 1, sizeof(*stack))) // NOLINT(bugprone-sizeof-expression): array of pointers
                goto out;
            stack[n++] = cur;
            cur = cur->child;
            first = true;
            continue;
        }
        if (!n)
            break; /* a scalar root */
        cur = cur->next;
        first = false;
    }
    rc = 0;
out:
    pl_free(stack);
    return rc;
}
