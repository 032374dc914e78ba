/* JSON reading: a bounded, non-recursive SAX parser and a small DOM built on it.
 *
 * The parser keeps the nesting as a bit stack (1 = object, 0 = array) sized by
 * limits->max_depth, so a 100,000-deep document costs a few bytes and never a C stack frame
 * per level. Strings without escapes are handed to callbacks as pointers into the input;
 * strings with escapes are unescaped into one scratch buffer reused for the whole parse.
 * The parser itself is json_sax_impl.h (inspect's view compiles its own copy of it). */
#include "protectlambda/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_CALL(fn, ...)                                                                        \
    do {                                                                                       \
        if (ps->cb->fn && ps->cb->fn(ps->ctx, ##__VA_ARGS__))                                  \
            return s_stopped(ps);                                                              \
    } while (0)

#include "json_sax_impl.h"

int pl_json_sax_parse(const char *data, size_t len, const struct pl_json_limits *limits,
                      const struct pl_json_sax *cb, void *ctx, size_t *err_offset)
{
    return pl_json_sax_parse_ex(data, len, limits, cb, ctx, err_offset, NULL);
}

int pl_json_sax_parse_ex(const char *data, size_t len, const struct pl_json_limits *limits,
                         const struct pl_json_sax *cb, void *ctx, size_t *err_offset,
                         struct pl_buf *scratch)
{
    return s_sax_parse(data, len, limits, cb, ctx, err_offset, scratch);
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
