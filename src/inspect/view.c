/* The view of an event or response: every JSON key and string value with its JSON path, plus
 * the decoded forms an attacker uses to hide (URL, HTML entities, base64 bodies, JSON nested
 * in strings), all in one '\n'-separated text buffer scanned once by the engine.
 *
 * One pass over the input with the SAX parser; paths are built incrementally in one buffer;
 * every buffer (text, paths, items, frames, decode scratch) is kept across events, so a warm
 * view allocates nothing. Nested documents (JSON in a string, base64 bodies) are parsed from
 * inside a callback, at most S_MAX_NEST levels deep, each level with its own scratch. */
#include "protectlambda/inspect.h"
#include "protectlambda/json.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define S_MAX_NEST 8          /* documents nested in strings */
#define S_MAX_PATH 512        /* bytes of a JSON path; deeper components become "..." */
#define S_MAX_KEY_IN_PATH 80  /* bytes of one key in a path */

enum s_key_class {
    K_OTHER,
    K_BODY,
    K_ISB64,
    K_HTTPMETHOD,
    K_REQCTX,
    K_HTTP,
    K_ELB,
    K_VERSION,
    K_KEY,
    K_OBJECT,
    K_S3,
    K_QUERY, /* rawQueryString, queryStringParameters, multiValueQueryStringParameters */
    K_DATA,  /* data, value, binaryValue, B: event-source payloads sent base64-encoded */
};

struct s_frame {
    uint64_t index;          /* array: next element index */
    size_t body_off, body_len;
    uint32_t path_len;       /* length of this container's path in st->path */
    uint32_t member_path_off;
    const char *pend_key;    /* objects: current member's key, not yet appended to st->path */
    size_t pend_len;
    uint32_t body_path_off;
    uint8_t is_array;
    uint8_t key_class;       /* class of the current member's key (objects) */
    uint8_t own_class;       /* class of the key this container is the value of */
    uint8_t query;           /* inside a query-string container */
    uint8_t b64, body_valid;
};

struct s_level {
    struct pl_buf a, b;      /* decode chain */
    struct pl_buf b64src, b64out;
    struct pl_buf json;      /* the SAX parser's scratch for the document at this level */
};

/* a value already in the view (repeats are not added again: docs/inspect.md "Repeated values") */
struct s_dup {
    uint64_t hash;
    uint32_t off, len; /* its item's text in view->text (in st->dup_json: ctx & S_CTX_JSON) */
    uint32_t ctx;      /* what else decides its items: decoding, '+' handling, depths */
    uint32_t gen;      /* == state's dup_gen: in use for this event */
};

#define S_DUP_MIN 16        /* shorter values cost less to scan than to look up */
#define S_DUP_MAX 4096      /* longer ones cost more to hash and rarely repeat */
#define S_DUP_LIMIT 8192u   /* values remembered per event: the table stays <= 384 KB */

#define S_DUP_KEYS (S_DUP_MAX / 8 + 2) /* one per 8 bytes of the longest value, +2 spare */
#define S_DUP_JSON_MAX (1u << 20) /* bytes of JSON text remembered per event (st->dup_json) */
#define S_CTX_JSON (1u << 4)      /* s_dup.ctx: text that looks like JSON, kept in st->dup_json */
#define S_RECENT 4 /* values just remembered, compared first (see s_on_string) */

struct s_recent {
    const char *s;  /* the value's text in its document (no escapes: raw JSON bytes) */
    uint32_t len, ctx;
    uint64_t doc;   /* the document it points into (s_doc.seq) */
};

struct pl_inspect_state {
    struct s_dup *dups;
    uint32_t dup_cap, dup_n, dup_gen;
    struct pl_buf dup_json;  /* remembered values that look like JSON, as sent (their items
                              * are changed by s_mirror_value) */
    bool dup_keyed;
    uint64_t dup_keys[S_DUP_KEYS]; /* the hash's random keys, drawn once per state */
    struct s_recent recent[S_RECENT];
    uint32_t recent_next;
    uint64_t doc_seq;        /* documents parsed so far (never reused) */
    uint64_t n_dup;          /* repeats skipped in this event (they count toward max_items) */
    struct s_frame *frames;
    size_t n_frames, cap_frames;
    struct pl_buf path;
    struct s_level lv[S_MAX_NEST + 1];
    uint32_t nest;
    bool stop;
    bool f_method, f_reqctx, f_http, f_elb, f_v2;
    struct pl_inspect_limits lim;
    struct pl_inspect_view *view;
};

struct s_doc {
    struct pl_inspect_state *st;
    uint64_t seq;            /* st->doc_seq when this document's parse began */
    size_t base;             /* first frame of this document */
    uint32_t root_path_off;
    uint32_t root_path_len;
    uint8_t dec;             /* decoding that produced this document (NONE: the input) */
    bool outer;
    const char *data;        /* the document's text */
    size_t mirror;           /* offset in view->text of the item holding exactly this text (the
                              * string the document was found in), SIZE_MAX when none (the input) */
};

static const char *const s_dec_names[PL_DEC_COUNT] = {"none", "url", "html", "base64", "json", "raw"};

const char *pl_decoding_name(enum pl_decoding d)
{
    return (unsigned)d < PL_DEC_COUNT ? s_dec_names[d] : "?";
}

void pl_inspect_limits_default(struct pl_inspect_limits *l)
{
    /* the defaults of settings.def (max_depth, max_keys, max_decoded, decode_rounds) */
    l->max_depth = 256;
    l->max_items = 1000000;
    l->max_decoded = 32u << 20;
    l->decode_rounds = 3;
    l->keep_repeats = false;
}

void pl_inspect_view_init(struct pl_inspect_view *v)
{
    memset(v, 0, sizeof(*v));
    pl_buf_init(&v->text);
    pl_buf_init(&v->paths);
}

void pl_inspect_view_reset(struct pl_inspect_view *v)
{
    pl_buf_reset(&v->text);
    pl_buf_reset(&v->paths);
    v->n_items = 0;
    v->non_json = false;
    v->bound_exceeded = false;
    v->bound_reason[0] = '\0';
    v->http_event = false;
}

void pl_inspect_view_clean_up(struct pl_inspect_view *v)
{
    pl_buf_clean_up(&v->text);
    pl_buf_clean_up(&v->paths);
    pl_free(v->items);
    struct pl_inspect_state *st = v->state;
    if (st) {
        pl_free(st->dups);
        pl_buf_clean_up(&st->dup_json);
        pl_free(st->frames);
        pl_buf_clean_up(&st->path);
        for (size_t i = 0; i < PL_ARRAY_LEN(st->lv); i++) {
            pl_buf_clean_up(&st->lv[i].a);
            pl_buf_clean_up(&st->lv[i].b);
            pl_buf_clean_up(&st->lv[i].b64src);
            pl_buf_clean_up(&st->lv[i].b64out);
            pl_buf_clean_up(&st->lv[i].json);
        }
        pl_free(st);
    }
    memset(v, 0, sizeof(*v));
}

const struct pl_inspect_item *pl_inspect_item_at(const struct pl_inspect_view *v, size_t off)
{
    size_t lo = 0, hi = v->n_items;
    /* last item with item.off <= off */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->items[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo)
        return NULL;
    const struct pl_inspect_item *it = &v->items[lo - 1];
    /* the '\n' after an item belongs to it */
    return off <= it->off + it->len ? it : NULL;
}

/* ---------------------------------------------------------------- building */

static void s_bound(struct pl_inspect_state *st, const char *fmt, ...) PL_PRINTF(2, 3);
static void s_bound(struct pl_inspect_state *st, const char *fmt, ...)
{
    struct pl_inspect_view *v = st->view;
    if (!v->bound_exceeded) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->bound_reason, sizeof(v->bound_reason), fmt, ap);
        va_end(ap);
    }
    v->bound_exceeded = true;
}

/* room for `extra` more bytes and the NUL: the common case inline, without a call (path
 * building runs for every key and array element of the event) */
static inline int s_room(struct pl_buf *b, size_t extra)
{
    if (b->cap && extra < b->cap - b->len)
        return 0;
    return pl_buf_reserve(b, extra);
}

/* copy a short run (a key, a path, a short value) with fixed-size moves: a memcpy of an
 * unknown size is a libc call, or `rep movs` when the compiler sees a bound, and either
 * costs more than the copy itself for a few bytes */
static inline void s_copy_small(char *o, const char *k, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            memcpy(o + i, k + i, 8);
        memcpy(o + n - 8, k + n - 8, 8); /* the last 8 bytes, overlapping */
    } else if (n >= 4) {
        memcpy(o, k, 4);
        memcpy(o + n - 4, k + n - 4, 4);
    } else if (n) {
        o[0] = k[0];
        o[n / 2] = k[n / 2];
        o[n - 1] = k[n - 1];
    }
}

/* 0 added, 1 a global bound stops inspection, -1 error */
static int s_item(struct pl_inspect_state *st, const char *s, size_t len, uint32_t path_off,
                  uint8_t kind, uint8_t dec)
{
    struct pl_inspect_view *v = st->view;
    if (st->stop)
        return 1;
    if (v->n_items + st->n_dup >= st->lim.max_items) {
        s_bound(st, "more than %llu keys and values", (unsigned long long)st->lim.max_items);
        st->stop = true;
        return 1;
    }
    size_t used = v->text.len + v->paths.len;
    size_t room = st->lim.max_decoded > used ? (size_t)(st->lim.max_decoded - used) : 0;
    bool cut = false;
    if (len + 1 > room) {
        len = room ? room - 1 : 0;
        cut = true;
    }
    if (v->n_items == v->cap_items &&
        pl_array_reserve((void **)&v->items, &v->cap_items, v->n_items + 1, sizeof(*v->items)))
        return -1;
    if (s_room(&v->text, len + 1))
        return -1;
    struct pl_inspect_item *it = &v->items[v->n_items++];
    it->off = v->text.len;
    it->len = len;
    it->path_off = path_off;
    it->kind = kind;
    it->decoding = dec;
    if (len <= 64) /* s may be NULL for an empty item: then len is 0 and nothing is read */
        s_copy_small(v->text.data + v->text.len, s, len);
    else
        memcpy(v->text.data + v->text.len, s, len); // NOLINT(clang-analyzer-core.NonNullParamChecker): s is NULL only when len is 0
    v->text.len += len;
    v->text.data[v->text.len++] = '\n';
    v->text.data[v->text.len] = '\0';
    if (cut) {
        s_bound(st, "more than %llu bytes of decoded text",
                (unsigned long long)st->lim.max_decoded);
        st->stop = true;
        return 1;
    }
    return 0;
}

/* store the current path at *off in view->paths */
static int s_store_path(struct pl_inspect_state *st, uint32_t *off)
{
    struct pl_buf *p = &st->view->paths;
    if (p->len > UINT32_MAX - st->path.len - 2)
        return pl_raise(PL_ERR_LIMIT, "paths too large");
    *off = (uint32_t)p->len;
    if (s_room(p, st->path.len + 1))
        return -1;
    if (st->path.len <= 64)
        s_copy_small(p->data + p->len, st->path.data, st->path.len);
    else
        memcpy(p->data + p->len, st->path.data, st->path.len);
    p->len += st->path.len;
    p->data[p->len++] = '\0';
    p->data[p->len] = '\0';
    return 0;
}

static void s_path_truncate(struct pl_inspect_state *st, size_t len)
{
    st->path.len = len;
    if (st->path.data)
        st->path.data[len] = '\0';
}

/* key byte classes for paths: S_C_IDENT [A-Za-z0-9_$], S_C_ESC ' and \ (escaped in ['...']) */
#define S_C_IDENT 1u
#define S_C_ESC 2u
static const uint8_t s_key_class[256] = {
    ['$'] = S_C_IDENT, ['_'] = S_C_IDENT, ['\''] = S_C_ESC, ['\\'] = S_C_ESC,
    ['0'] = S_C_IDENT, ['1'] = S_C_IDENT, ['2'] = S_C_IDENT, ['3'] = S_C_IDENT, ['4'] = S_C_IDENT,
    ['5'] = S_C_IDENT, ['6'] = S_C_IDENT, ['7'] = S_C_IDENT, ['8'] = S_C_IDENT, ['9'] = S_C_IDENT,
    ['a'] = S_C_IDENT, ['b'] = S_C_IDENT, ['c'] = S_C_IDENT, ['d'] = S_C_IDENT, ['e'] = S_C_IDENT,
    ['f'] = S_C_IDENT, ['g'] = S_C_IDENT, ['h'] = S_C_IDENT, ['i'] = S_C_IDENT, ['j'] = S_C_IDENT,
    ['k'] = S_C_IDENT, ['l'] = S_C_IDENT, ['m'] = S_C_IDENT, ['n'] = S_C_IDENT, ['o'] = S_C_IDENT,
    ['p'] = S_C_IDENT, ['q'] = S_C_IDENT, ['r'] = S_C_IDENT, ['s'] = S_C_IDENT, ['t'] = S_C_IDENT,
    ['u'] = S_C_IDENT, ['v'] = S_C_IDENT, ['w'] = S_C_IDENT, ['x'] = S_C_IDENT, ['y'] = S_C_IDENT,
    ['z'] = S_C_IDENT, ['A'] = S_C_IDENT, ['B'] = S_C_IDENT, ['C'] = S_C_IDENT, ['D'] = S_C_IDENT,
    ['E'] = S_C_IDENT, ['F'] = S_C_IDENT, ['G'] = S_C_IDENT, ['H'] = S_C_IDENT, ['I'] = S_C_IDENT,
    ['J'] = S_C_IDENT, ['K'] = S_C_IDENT, ['L'] = S_C_IDENT, ['M'] = S_C_IDENT, ['N'] = S_C_IDENT,
    ['O'] = S_C_IDENT, ['P'] = S_C_IDENT, ['Q'] = S_C_IDENT, ['R'] = S_C_IDENT, ['S'] = S_C_IDENT,
    ['T'] = S_C_IDENT, ['U'] = S_C_IDENT, ['V'] = S_C_IDENT, ['W'] = S_C_IDENT, ['X'] = S_C_IDENT,
    ['Y'] = S_C_IDENT, ['Z'] = S_C_IDENT,
};

/* [A-Za-z_$][A-Za-z0-9_$]* */
#if defined(__SSE2__)
/* bytes of v outside [A-Za-z0-9_$] (a mask) */
static inline int s_non_ident16(__m128i v)
{
    /* in [lo, lo + n]: (v - lo) <= n unsigned */
#define S_IN(x, lo, n) _mm_cmpeq_epi8(_mm_min_epu8(_mm_sub_epi8(x, _mm_set1_epi8(lo)), _mm_set1_epi8(n)), \
                                      _mm_sub_epi8(x, _mm_set1_epi8(lo)))
    __m128i letter = S_IN(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 25);
    __m128i ok = _mm_or_si128(_mm_or_si128(letter, S_IN(v, '0', 9)),
                              _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')),
                                           _mm_cmpeq_epi8(v, _mm_set1_epi8('$'))));
#undef S_IN
    return _mm_movemask_epi8(ok) ^ 0xFFFF;
}
#endif

static bool s_is_ident(const char *k, size_t n)
{
    if (!n || (k[0] >= '0' && k[0] <= '9'))
        return false;
#if defined(__SSE2__)
    if (n >= 8) {
        /* 16 bytes at a time, the last block overlapping (8..15 bytes: two 8-byte loads) */
        if (n < 16)
            return !s_non_ident16(_mm_unpacklo_epi64(
                _mm_loadl_epi64((const __m128i *)(const void *)k),
                _mm_loadl_epi64((const __m128i *)(const void *)(k + n - 8))));
        for (size_t i = 0;; i += 16) {
            if (i + 16 > n)
                i = n - 16;
            if (s_non_ident16(_mm_loadu_si128((const __m128i *)(const void *)(k + i))))
                return false;
            if (i + 16 == n)
                return true;
        }
    }
#endif
    unsigned all = S_C_IDENT;
    for (size_t i = 0; i < n; i++)
        all &= s_key_class[(unsigned char)k[i]];
    return all != 0;
}

/* A path is "full" when one more component could pass S_MAX_PATH: it then ends with "..."
 * and its descendants share it. Bounded: at most S_MAX_PATH + 3 bytes. */
#define S_COMPONENT_MAX (8 + 2 * S_MAX_KEY_IN_PATH)

static int s_path_full(struct pl_buf *p)
{
    if (p->len + S_COMPONENT_MAX <= S_MAX_PATH)
        return 0;
    if (p->len >= 3 && !memcmp(p->data + p->len - 3, "...", 3))
        return 1;
    return pl_buf_append_str(p, "...") ? -1 : 1;
}

/* the most a member component takes: "['" + 2 * 80 (escapes) + "']" + "..." */
#define S_MEMBER_MAX (2 * S_MAX_KEY_IN_PATH + 7)

/* write ".key" or "['key']" (cut keys end in "...") at o; returns its length */
static size_t s_format_member(char *o, const char *k, size_t n)
{
    char *o0 = o;
    bool cut = n > S_MAX_KEY_IN_PATH;
    if (cut)
        n = S_MAX_KEY_IN_PATH;
    /* the analyzer does not see that the callers' s_room allocated the buffer o points into */
    // NOLINTBEGIN(clang-analyzer-core.NullDereference)
    if (s_is_ident(k, n)) {
        *o++ = '.';
        s_copy_small(o, k, n);
        o += n;
    } else {
        *o++ = '[';
        *o++ = '\'';
        unsigned any = 0;
        for (size_t i = 0; i < n; i++)
            any |= s_key_class[(unsigned char)k[i]];
        if (!(any & S_C_ESC)) {
            s_copy_small(o, k, n); /* the common case: nothing to escape */
            o += n;
        } else {
            for (size_t i = 0; i < n; i++) {
                char c = k[i];
                if (c == '\'' || c == '\\')
                    *o++ = '\\';
                *o++ = c;
            }
        }
        *o++ = '\'';
        *o++ = ']';
    }
    if (cut) {
        memcpy(o, "...", 3);
        o += 3;
    }
    // NOLINTEND(clang-analyzer-core.NullDereference)
    return (size_t)(o - o0);
}

/* append ".key" or "['key']" */
static int s_path_member(struct pl_inspect_state *st, const char *k, size_t n)
{
    struct pl_buf *p = &st->path;
    int full = s_path_full(p);
    if (full)
        return full < 0 ? -1 : 0;
    /* one reservation, then direct writes */
    if (s_room(p, S_MEMBER_MAX))
        return -1;
    p->len += s_format_member(p->data + p->len, k, n);
    p->data[p->len] = '\0';
    return 0;
}

/* write "[i]" at o (at most 22 bytes), digits from the right in place (no copy from a scratch
 * array: bytes stored one by one and reloaded as a word stall the store forwarding); returns
 * its length */
static size_t s_format_index(char *o, uint64_t i)
{
    size_t nd = 1;
    for (uint64_t x = i; x >= 10; x /= 10)
        nd++;
    o[0] = '[';
    for (size_t k = nd; k >= 1; k--) {
        o[k] = (char)('0' + i % 10);
        i /= 10;
    }
    o[nd + 1] = ']';
    return nd + 2;
}

static int s_path_index(struct pl_inspect_state *st, uint64_t i)
{
    struct pl_buf *p = &st->path;
    int full = s_path_full(p);
    if (full)
        return full < 0 ? -1 : 0;
    if (s_room(p, 22))
        return -1;
    p->len += s_format_index(p->data + p->len, i);
    p->data[p->len] = '\0';
    return 0;
}

/* Store the path of the current container's member `k` (when k) or element i, written
 * straight into view->paths: the container's path (st->path up to path_len, written a while
 * ago) then the new component formatted in place. Building the component in st->path and
 * copying the whole path would reload bytes just stored one by one (a store-forwarding stall
 * per item). A container path near S_MAX_PATH takes the general route (its "..."). */
static int s_store_child(struct pl_inspect_state *st, uint32_t path_len, const char *k,
                         size_t n, uint64_t i, uint32_t *off)
{
    if (path_len + S_COMPONENT_MAX > S_MAX_PATH) {
        s_path_truncate(st, path_len);
        if (k ? s_path_member(st, k, n) : s_path_index(st, i))
            return -1;
        return s_store_path(st, off);
    }
    struct pl_buf *p = &st->view->paths;
    if (p->len > UINT32_MAX - S_MAX_PATH - S_COMPONENT_MAX - 2)
        return pl_raise(PL_ERR_LIMIT, "paths too large");
    if (s_room(p, path_len + S_COMPONENT_MAX + 1))
        return -1;
    *off = (uint32_t)p->len;
    char *o = p->data + p->len;
    if (path_len <= 64)
        s_copy_small(o, st->path.data, path_len);
    else
        memcpy(o, st->path.data, path_len);
    o += path_len;
    o += k ? s_format_member(o, k, n) : s_format_index(o, i);
    *o++ = '\0';
    *o = '\0';
    p->len = (size_t)(o - p->data);
    return 0;
}

static uint8_t s_classify(const char *k, size_t n)
{
#define S_IS(lit) (n == sizeof(lit) - 1 && !memcmp(k, lit, sizeof(lit) - 1))
    switch (n) {
    case 1: return S_IS("B") ? K_DATA : K_OTHER;
    case 2: return S_IS("s3") ? K_S3 : K_OTHER;
    case 3: return S_IS("key") ? K_KEY : S_IS("elb") ? K_ELB : K_OTHER;
    case 4:
        return S_IS("body") ? K_BODY : S_IS("http") ? K_HTTP : S_IS("data") ? K_DATA : K_OTHER;
    case 5: return S_IS("value") ? K_DATA : K_OTHER;
    case 6: return S_IS("object") ? K_OBJECT : K_OTHER;
    case 7: return S_IS("version") ? K_VERSION : K_OTHER;
    case 10: return S_IS("httpMethod") ? K_HTTPMETHOD : K_OTHER;
    case 11: return S_IS("binaryValue") ? K_DATA : K_OTHER;
    case 14:
        return S_IS("requestContext") ? K_REQCTX : S_IS("rawQueryString") ? K_QUERY : K_OTHER;
    case 15: return S_IS("isBase64Encoded") ? K_ISB64 : K_OTHER;
    case 21: return S_IS("queryStringParameters") ? K_QUERY : K_OTHER;
    case 31: return S_IS("multiValueQueryStringParameters") ? K_QUERY : K_OTHER;
    default: return K_OTHER;
    }
#undef S_IS
}

static bool s_looks_json(const char *s, size_t n)
{
    size_t i = 0, j = n;
    while (i < j && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    while (j > i && (s[j - 1] == ' ' || s[j - 1] == '\t' || s[j - 1] == '\r' || s[j - 1] == '\n'))
        j--;
    if (j - i < 2)
        return false;
    return (s[i] == '{' && s[j - 1] == '}') || (s[i] == '[' && s[j - 1] == ']');
}

static int s_parse_doc(struct pl_inspect_state *st, const char *data, size_t len,
                       uint32_t root_path_off, uint8_t dec, bool outer, size_t mirror);

/* which of the bytes the decoders look for occur in s: one pass instead of a memchr each */
#define S_D_PCT 1u
#define S_D_AMP 2u
#define S_D_PLUS 4u
#define S_D_EQ 8u
static const uint8_t s_dec_chars[256] = {
    ['%'] = S_D_PCT, ['&'] = S_D_AMP, ['+'] = S_D_PLUS, ['='] = S_D_EQ,
};

static inline unsigned s_decode_chars_slow(const char *s, size_t n)
{
    unsigned f = 0;
    for (size_t i = 0; i < n; i++)
        f |= s_dec_chars[(unsigned char)s[i]];
    return f;
}

#if !defined(__SSE2__)
#define S_V_ONES 0x0101010101010101ull
#define S_V_HAS(w, c) ((((w) ^ (S_V_ONES * (c))) - S_V_ONES) & ~((w) ^ (S_V_ONES * (c))) & (S_V_ONES * 0x80))
#endif

/* n >= 8 */
static unsigned s_decode_chars_wide(const char *s, size_t n)
{
    if (n >= 512) {
        /* long text (a body): libc's vectorized memchr, one byte at a time; '=' only matters
         * with a '+' and no '%' (s_value: form-encoded looking text), so it is only looked
         * for then (S_D_EQ is left out otherwise) */
        unsigned f = (memchr(s, '%', n) ? S_D_PCT : 0) | (memchr(s, '&', n) ? S_D_AMP : 0);
        if (memchr(s, '+', n)) {
            f |= S_D_PLUS;
            if (!(f & S_D_PCT) && memchr(s, '=', n))
                f |= S_D_EQ;
        }
        return f;
    }
    /* Most keys and values hold none of the four bytes: a wide "any of them" test first (the
     * last block overlaps the one before, so there is no byte loop), then, rarely, which. */
#if defined(__SSE2__)
    const __m128i pct = _mm_set1_epi8('%'), amp = _mm_set1_epi8('&'), plus = _mm_set1_epi8('+'),
                  eq = _mm_set1_epi8('=');
    __m128i any = _mm_setzero_si128();
    if (n < 16) {
        __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)s),
                                       _mm_loadl_epi64((const __m128i *)(const void *)(s + n - 8)));
        any = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, pct), _mm_cmpeq_epi8(v, amp)),
                           _mm_or_si128(_mm_cmpeq_epi8(v, plus), _mm_cmpeq_epi8(v, eq)));
    } else {
        for (size_t i = 0;; i += 16) {
            if (i + 16 > n)
                i = n - 16;
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            any = _mm_or_si128(any, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, pct),
                                                              _mm_cmpeq_epi8(v, amp)),
                                                 _mm_or_si128(_mm_cmpeq_epi8(v, plus),
                                                              _mm_cmpeq_epi8(v, eq))));
            if (i + 16 == n)
                break;
        }
    }
    if (!_mm_movemask_epi8(any))
        return 0;
#else
    uint64_t any = 0;
    for (size_t i = 0;; i += 8) {
        if (i + 8 > n)
            i = n - 8;
        uint64_t w;
        memcpy(&w, s + i, 8);
        any |= S_V_HAS(w, '%') | S_V_HAS(w, '&') | S_V_HAS(w, '+') | S_V_HAS(w, '=');
        if (i + 8 == n)
            break;
    }
    if (!any)
        return 0;
#endif
    return s_decode_chars_slow(s, n);
}

/* short strings (most keys) inline, byte by byte */
static inline unsigned s_decode_chars(const char *s, size_t n)
{
    return n >= 8 ? s_decode_chars_wide(s, n) : s_decode_chars_slow(s, n);
}

/* nested JSON in a string value: its items get paths under the string's path; `mirror` is
 * the offset of the string's own item in view->text (its text is s). Returns -2 when s is not
 * JSON after all (the items of its valid prefix stay, the item at mirror is restored) or is
 * nested too deep to be parsed: the caller then treats it as a plain string. */
static int s_nested(struct pl_inspect_state *st, const char *s, size_t len, uint32_t path_off,
                    uint8_t dec, size_t mirror)
{
    if (st->nest >= S_MAX_NEST) {
        s_bound(st, "JSON nested in strings more than %d levels deep", S_MAX_NEST);
        return -2;
    }
    st->nest++;
    int rc = s_parse_doc(st, s, len, path_off, dec, false, mirror);
    st->nest--;
    if (rc == -2) /* undo what the valid prefix neutralised (s_mirror_value) */
        memcpy(st->view->text.data + mirror, s, len);
    return rc;
}

/* The string a nested document was found in keeps its own item, the document's text as sent
 * (structure-spanning rules see keys beside their values: "$ne": , "constructor": {"prototype",
 * "SecretAccessKey": "..."). In that item, the quotes that delimit a string value are JSON's,
 * not the sender's: a rule that takes a quote for an attacker's (' or 1=1, "sleep(5) ...) would
 * fire on the start of any value ({"comment": "sleep(8) hours"}), where the same text in a
 * query parameter passes. They become blanks. A value that is itself JSON text (an SNS Message
 * inside an SQS body) is written there with escaped quotes (\"), all of them JSON's: each of
 * its quotes becomes a blank (its own item holds it unescaped, treated the same way). Only '"'
 * bytes change: keys keep their quotes, the length and every other byte stay (a base64 body
 * decodes the same: both are outside the alphabet). */
static void s_mirror_value(const struct s_doc *d, const char *s, size_t n, const char *raw,
                           size_t raw_len)
{
    char *t = d->st->view->text.data + d->mirror + (size_t)(raw - d->data);
    t[0] = ' ';
    t[raw_len - 1] = ' ';
    if (n >= 2 && (s[0] == '{' || s[0] == '[' || s[0] == ' ' || s[0] == '\t' || s[0] == '\r' ||
                   s[0] == '\n') && s_looks_json(s, n)) {
        char *e = t + raw_len - 1;
        for (char *q = t + 1; q < e && (q = memchr(q, '"', (size_t)(e - q))); q++)
            *q = ' ';
    }
}

/* a key or string value: the item, then its decoded forms (URL and HTML rounds), then JSON
 * nested in it. `dec` labels the item and everything derived from it when not NONE. */
static int s_value(struct pl_inspect_state *st, const char *s, size_t len, uint32_t path_off,
                   uint8_t kind, uint8_t dec, bool plus)
{
    size_t item_off = st->view->text.len;
    int rc = s_item(st, s, len, path_off, kind, dec);
    if (rc)
        return rc;
    /* JSON nested in the string as sent: its keys and values are items with their own decoded
     * forms, so the whole text gets none (they would be the raw JSON again, structural quotes
     * included). Text that only looked like JSON is decoded as a string. */
    bool json = kind == PL_ITEM_VALUE && s_looks_json(s, len);
    if (json) {
        rc = s_nested(st, s, len, path_off, dec ? dec : PL_DEC_JSON, item_off);
        if (rc != -2)
            return rc;
    }
    unsigned dc = s_decode_chars(s, len);
    bool pct = dc & S_D_PCT;
    bool amp = dc & S_D_AMP;
    if (!plus && !pct && (dc & S_D_EQ) && (dc & S_D_PLUS))
        plus = true; /* form-encoded looking text */
    bool plus_any = plus && (dc & S_D_PLUS);
    const char *cur = s;
    size_t cur_len = len, cur_off = item_off;
    if (pct || amp || plus_any) {
        struct s_level *lv = &st->lv[st->nest];
        struct pl_buf *bufs[2] = {&lv->a, &lv->b};
        int which = 0;
        for (uint32_t r = 0; r < st->lim.decode_rounds; r++) {
            bool changed = false;
            struct pl_buf *o = bufs[which];
            pl_buf_reset(o);
            rc = pl_decode_url(cur, cur_len, plus, o);
            if (rc < 0)
                return -1;
            if (rc == 1) {
                changed = true;
                cur = o->data;
                cur_len = o->len;
                cur_off = st->view->text.len;
                which ^= 1;
                rc = s_item(st, cur, cur_len, path_off, kind, dec ? dec : PL_DEC_URL);
                if (rc)
                    return rc;
            }
            o = bufs[which];
            pl_buf_reset(o);
            rc = pl_decode_html(cur, cur_len, o);
            if (rc < 0)
                return -1;
            if (rc == 1) {
                changed = true;
                cur = o->data;
                cur_len = o->len;
                cur_off = st->view->text.len;
                which ^= 1;
                rc = s_item(st, cur, cur_len, path_off, kind, dec ? dec : PL_DEC_HTML);
                if (rc)
                    return rc;
            }
            if (!changed)
                break;
            if (!memchr(cur, '%', cur_len) && !memchr(cur, '&', cur_len))
                break;
        }
    }
    if (kind != PL_ITEM_VALUE || json)
        return 0;
    /* JSON in the decoded form (a URL-encoded form body) */
    if (cur != s && s_looks_json(cur, cur_len)) {
        rc = s_nested(st, cur, cur_len, path_off, dec ? dec : PL_DEC_JSON, cur_off);
        return rc == -2 ? 0 : rc;
    }
    return 0;
}

/* ---- SAX callbacks ---- */

static inline struct s_frame *s_top(struct s_doc *d)
{
    struct pl_inspect_state *st = d->st;
    return st->n_frames > d->base ? &st->frames[st->n_frames - 1] : NULL;
}

/* convert an s_item/s_value result into a callback result */
static int s_cb_rc(int rc)
{
    if (rc > 0)
        return pl_raise(PL_ERR_LIMIT, "inspection bound reached");
    return rc;
}

/* st->path := the current member's path (a key skipped in a nested document appends itself
 * only when its value needs the path) */
static inline int s_member_path(struct pl_inspect_state *st, struct s_frame *f)
{
    if (!f->pend_key)
        return 0;
    s_path_truncate(st, f->path_len);
    int rc = s_path_member(st, f->pend_key, f->pend_len);
    f->pend_key = NULL;
    return rc;
}

/* path of the value about to be delivered (root, object member or array element) */
static int s_value_path(struct s_doc *d, uint32_t *path_off)
{
    struct pl_inspect_state *st = d->st;
    struct s_frame *f = s_top(d);
    if (!f) {
        *path_off = d->root_path_off;
        s_path_truncate(st, d->root_path_len);
        return 0;
    }
    if (!f->is_array) {
        if (f->member_path_off == UINT32_MAX) {
            if (f->pend_key) {
                /* a key without an item: its path goes straight to view->paths */
                if (s_store_child(st, f->path_len, f->pend_key, f->pend_len, 0,
                                  &f->member_path_off))
                    return -1;
                f->pend_key = NULL; /* (st->path is not needed: the member's value is this
                                     * string) */
            } else if (s_store_path(st, &f->member_path_off)) {
                return -1; /* st->path holds the member path (set by on_key) */
            }
        }
        *path_off = f->member_path_off;
        return 0;
    }
    return s_store_child(st, f->path_len, NULL, 0, f->index++, path_off);
}

static int s_on_key(void *ctx, const char *k, size_t n, const char *raw, size_t raw_len)
{
    struct s_doc *d = ctx;
    struct pl_inspect_state *st = d->st;
    struct s_frame *f = s_top(d);
    if (!f)
        return pl_raise(PL_ERR_INTERNAL, "key outside an object");
    f->member_path_off = UINT32_MAX; /* stored when an item needs it */
    f->key_class = s_classify(k, n);
    if (d->outer) {
        size_t depth = st->n_frames - d->base;
        if (depth == 1) {
            st->f_method |= f->key_class == K_HTTPMETHOD;
            st->f_reqctx |= f->key_class == K_REQCTX;
        } else if (depth == 2 && f->own_class == K_REQCTX) {
            st->f_http |= f->key_class == K_HTTP;
            st->f_elb |= f->key_class == K_ELB;
        }
    }
    /* In a document nested in a string, a key written without escapes and with nothing to
     * decode is already, byte for byte, in the string's own item: no separate item (API
     * bodies repeat the same few keys in every array element). Such a key points into the
     * document, which outlives the member: its path is built only when its value needs it
     * (numbers, booleans and null do not). */
    if (!d->outer && raw_len == n + 2 &&
        !(s_decode_chars(k, n) & (S_D_PCT | S_D_AMP | S_D_PLUS))) {
        f->pend_key = k;
        f->pend_len = n;
        return 0;
    }
    f->pend_key = NULL;
    s_path_truncate(st, f->path_len);
    if (s_path_member(st, k, n))
        return -1;
    if (!n)
        return 0;
    if (s_store_path(st, &f->member_path_off))
        return -1;
    return s_cb_rc(s_value(st, k, n, f->member_path_off, PL_ITEM_KEY, d->dec, f->query));
}

/* Event sources hand the producer's payload over base64-encoded (Kinesis and Firehose `data`,
 * Kafka `value`, Amazon MQ `data`, CloudFront `body.data`, SQS `binaryValue`, DynamoDB `B`):
 * the function decodes it, so the view does too. Only a value that is strictly base64
 * (whole quads, padding at the end only, at least 8 characters) and decodes to text (valid
 * UTF-8, no control characters but tab, CR and LF) gets a decoded item; binary payloads
 * (images, gzip such as CloudWatch Logs' `awslogs.data`) are left alone. */
static bool s_strict_base64(const char *s, size_t n)
{
    if (n < 8 || n % 4)
        return false;
    size_t end = n;
    if (s[end - 1] == '=')
        end--;
    if (s[end - 1] == '=')
        end--;
    for (size_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

static bool s_is_text(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return false;
            if (c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || c == 0xC0 || c == 0xC1 || c > 0xF4 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static int s_data_base64(struct pl_inspect_state *st, const char *s, size_t n, uint32_t path_off,
                         uint8_t dec)
{
    if (!s_strict_base64(s, n))
        return 0;
    struct s_level *lv = &st->lv[st->nest];
    pl_buf_reset(&lv->b64out);
    int rc = pl_decode_base64(s, n, &lv->b64out);
    if (rc <= 0)
        return rc;
    if (!s_is_text((const unsigned char *)lv->b64out.data, lv->b64out.len))
        return 0;
    if (st->nest >= S_MAX_NEST) {
        s_bound(st, "JSON nested in strings more than %d levels deep", S_MAX_NEST);
        return 0;
    }
    /* a new value: its decoded forms and nested JSON use the next level's scratch */
    st->nest++;
    rc = s_value(st, lv->b64out.data, lv->b64out.len, path_off, PL_ITEM_VALUE,
                 dec ? dec : PL_DEC_BASE64, false);
    st->nest--;
    return rc;
}

/* ---- repeated values ----
 * A string value is turned into items (itself, its decoded forms, the JSON nested in it) by
 * its text and its context alone: the decoding that produced its document, whether '+' means
 * a space, the nesting depths (which decide the depth bounds). When the same text comes again
 * in the same context and is not paired with its own key item (the checker confirms a match
 * over "key\nvalue" then), every rule matches its items exactly as it matched the first
 * occurrence's: a second copy would only be scanned again. It gets no items (its path is not
 * even built); it still counts toward max_items. A match is then reported at the first
 * occurrence's path. */
static void s_dup_reset(struct pl_inspect_state *st)
{
    st->dup_n = 0;
    st->n_dup = 0;
    pl_buf_reset(&st->dup_json);
    if (++st->dup_gen == 0) { /* wrapped: every slot's gen could look current */
        if (st->dups)
            memset(st->dups, 0, (size_t)st->dup_cap * sizeof(*st->dups));
        st->dup_gen = 1;
    }
}

/* The hash of a value: NH (sum of products of key-offset 8-byte word pairs, 128-bit, one
 * random key per word position) over 16-byte chunks, the last one overlapping, folded to 64
 * bits. NH is almost universal: someone who cannot see the keys cannot pick values that
 * collide, so an event cannot be built to cluster the table and turn its lookups quadratic
 * (the fixed multiply-xorshift hash before could be inverted offline). Equal hashes are
 * still compared byte for byte. */
__extension__ typedef unsigned __int128 s_u128;

static void s_dup_keys(struct pl_inspect_state *st)
{
    if (st->dup_keyed)
        return;
    size_t got = 0;
    unsigned char *k = (unsigned char *)st->dup_keys;
    while (got < sizeof(st->dup_keys)) {
        ssize_t r = getrandom(k + got, sizeof(st->dup_keys) - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof(st->dup_keys)) {
        /* no getrandom (old kernel, seccomp, pool not ready yet): keys from the clock and
         * ASLR, still unknown to the sender of an event */
        uint64_t x = pl_now_ns() ^ (uint64_t)(uintptr_t)st ^ (uint64_t)(uintptr_t)&got;
        for (size_t i = 0; i < PL_ARRAY_LEN(st->dup_keys); i++) {
            x += 0x9E3779B97F4A7C15ull; /* splitmix64 */
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            st->dup_keys[i] = z ^ (z >> 31);
        }
    }
    st->dup_keyed = true;
}

static inline uint64_t s_dup_hash(const uint64_t *k, const char *s, size_t n)
{
    /* S_DUP_MIN <= n <= S_DUP_MAX: at most S_DUP_MAX / 16 chunks, two keys each */
    s_u128 acc = 0;
    uint64_t a, b;
    size_t i = 0;
    for (; i + 16 < n; i += 16, k += 2) {
        memcpy(&a, s + i, 8);
        memcpy(&b, s + i + 8, 8);
        acc += (s_u128)(a + k[0]) * (b + k[1]);
    }
    memcpy(&a, s + n - 16, 8);
    memcpy(&b, s + n - 8, 8);
    acc += (s_u128)(a + k[0]) * (b + k[1]);
    uint64_t h = ((uint64_t)acc ^ (uint64_t)(acc >> 64) ^ (uint64_t)n) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

/* s == t over n >= 16 bytes */
static inline bool s_dup_same(const char *s, const char *t, size_t n)
{
#if defined(__SSE2__)
    size_t i = 0;
    for (; i + 16 < n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(t + i));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) != 0xFFFF)
            return false;
    }
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
    __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(t + n - 16));
    return _mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) == 0xFFFF;
#else
    return !memcmp(s, t, n);
#endif
}

static struct s_dup *s_dup_find(struct pl_inspect_state *st, uint64_t h, const char *s, size_t n,
                                uint32_t ctx)
{
    if (!st->dup_cap)
        return NULL;
    uint32_t mask = st->dup_cap - 1;
    const char *base = ctx & S_CTX_JSON ? st->dup_json.data : st->view->text.data;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        struct s_dup *e = &st->dups[i];
        if (e->gen != st->dup_gen)
            return e; /* a free slot: not there */
        if (e->hash == h && e->len == n && e->ctx == ctx && s_dup_same(base + e->off, s, n))
            return e;
    }
}

/* remember the value whose text starts at off in view->text, or in st->dup_json for
 * S_CTX_JSON (best effort: a full table only stops remembering) */
static bool s_dup_add(struct pl_inspect_state *st, uint64_t h, size_t off, size_t n, uint32_t ctx)
{
    if (st->dup_n >= S_DUP_LIMIT)
        return false;
    if ((st->dup_n + 1) * 2 > st->dup_cap) {
        uint32_t ncap = st->dup_cap ? st->dup_cap * 2 : 256;
        struct s_dup *nt = pl_calloc(ncap, sizeof(*nt));
        if (!nt) {
            pl_error_clear();
            return false;
        }
        for (uint32_t i = 0; i < st->dup_cap; i++) {
            struct s_dup *e = &st->dups[i];
            if (e->gen != st->dup_gen)
                continue;
            uint32_t j = (uint32_t)e->hash & (ncap - 1);
            while (nt[j].gen == st->dup_gen)
                j = (j + 1) & (ncap - 1);
            nt[j] = *e;
        }
        pl_free(st->dups);
        st->dups = nt;
        st->dup_cap = ncap;
    }
    const char *base = ctx & S_CTX_JSON ? st->dup_json.data : st->view->text.data;
    struct s_dup *e = s_dup_find(st, h, base + off, n, ctx);
    if (e->gen == st->dup_gen)
        return true;
    *e = (struct s_dup){.hash = h, .off = (uint32_t)off, .len = (uint32_t)n, .ctx = ctx,
                        .gen = st->dup_gen};
    st->dup_n++;
    return true;
}

/* A value known to be in the table, kept by where it lies in the document being parsed: the
 * next element of an array of records is compared with the last one's values first, in bytes
 * that were just read (the table and the view text of the first copy are far away by then). */
static void s_recent_add(struct pl_inspect_state *st, const struct s_doc *d, const char *s,
                         size_t n, uint32_t ctx)
{
    st->recent[st->recent_next++ % S_RECENT] =
        (struct s_recent){.s = s, .len = (uint32_t)n, .ctx = ctx, .doc = d->seq};
}

static bool s_recent_has(const struct pl_inspect_state *st, const struct s_doc *d,
                         const char *s, size_t n, uint32_t ctx)
{
    for (size_t i = 0; i < S_RECENT; i++) {
        const struct s_recent *r = &st->recent[i];
        if (r->doc == d->seq && r->len == n && r->ctx == ctx && s_dup_same(r->s, s, n))
            return true;
    }
    return false;
}

static int s_on_string(void *ctx, const char *s, size_t n, const char *raw, size_t raw_len)
{
    struct s_doc *d = ctx;
    struct pl_inspect_state *st = d->st;
    struct s_frame *f = s_top(d);
    if (d->mirror != SIZE_MAX)
        s_mirror_value(d, s, n, raw, raw_len);
    /* a repeat? (not a body or event-source payload: their items are used by offset; not a
     * value whose key has an item of its own) */
    uint64_t dup_hash = 0;
    uint32_t dup_ctx = 0;
    bool dup_candidate =
        n >= S_DUP_MIN && n <= S_DUP_MAX && !st->lim.keep_repeats &&
        st->view->text.len + n < UINT32_MAX &&
        (!f || f->is_array ||
         (f->member_path_off == UINT32_MAX && f->key_class != K_BODY && f->key_class != K_DATA &&
          f->key_class != K_KEY && f->key_class != K_VERSION));
    if (dup_candidate) {
        bool plus0 = f && (f->query || (!f->is_array && f->key_class == K_QUERY));
        size_t depth = st->n_frames < 255 ? st->n_frames : 255;
        dup_ctx = (uint32_t)plus0 | (uint32_t)d->dec << 1 | st->nest << 8 | (uint32_t)depth << 16;
        if (s_looks_json(s, n))
            dup_ctx |= S_CTX_JSON;
        /* without escapes, s points into the document, which outlives this callback */
        bool in_doc = raw_len == n + 2;
        bool repeat = in_doc && s_recent_has(st, d, s, n, dup_ctx);
        if (!repeat) {
            dup_hash = s_dup_hash(st->dup_keys, s, n);
            struct s_dup *e = s_dup_find(st, dup_hash, s, n, dup_ctx);
            repeat = e && e->gen == st->dup_gen;
            if (repeat && in_doc)
                s_recent_add(st, d, s, n, dup_ctx);
        }
        if (repeat) {
            if (f && f->is_array)
                f->index++;
            else if (f)
                f->pend_key = NULL;
            if (st->view->n_items + ++st->n_dup > st->lim.max_items) {
                s_bound(st, "more than %llu keys and values",
                        (unsigned long long)st->lim.max_items);
                st->stop = true;
                return s_cb_rc(1);
            }
            return 0;
        }
    }
    uint32_t path_off;
    if (s_value_path(d, &path_off))
        return -1;
    bool plus = false;
    if (f && !f->is_array) {
        plus = f->query || f->key_class == K_QUERY || f->key_class == K_BODY;
        if (f->key_class == K_KEY && f->own_class == K_OBJECT && st->n_frames - d->base >= 2 &&
            st->frames[st->n_frames - 2].own_class == K_S3)
            plus = true; /* S3 object keys are URL-encoded with '+' for space */
        if (d->outer && st->n_frames - d->base == 1 && f->key_class == K_VERSION && n == 3 &&
            !memcmp(s, "2.0", 3))
            st->f_v2 = true;
        if (f->key_class == K_BODY) {
            f->body_valid = 0;
            if (n) {
                f->body_off = st->view->text.len;
                f->body_len = n;
                f->body_path_off = path_off;
                f->body_valid = 1;
            }
        }
    } else if (f) {
        plus = f->query;
    }
    if (!n)
        return 0;
    /* f may move: the value's nested documents can grow the frame stack */
    bool data = f && !f->is_array && f->key_class == K_DATA;
    size_t item_off = st->view->text.len;
    int rc = s_value(st, s, n, path_off, PL_ITEM_VALUE, d->dec, plus);
    if (!rc && dup_candidate && !st->stop) {
        bool keep = true;
        if (dup_ctx & S_CTX_JSON) {
            /* its item is now the document's mirror (s_mirror_value), no longer s: the text as
             * sent is kept aside (s is still valid: in the document or this level's scratch) */
            item_off = st->dup_json.len;
            keep = item_off + n <= S_DUP_JSON_MAX;
            if (keep && pl_buf_append(&st->dup_json, s, n)) {
                pl_error_clear();
                keep = false;
            }
        }
        if (keep && s_dup_add(st, dup_hash, item_off, n, dup_ctx)) {
            if (raw_len == n + 2)
                s_recent_add(st, d, s, n, dup_ctx);
        } else if (keep && (dup_ctx & S_CTX_JSON)) {
            st->dup_json.len = item_off; /* not remembered after all */
            st->dup_json.data[item_off] = '\0';
        }
    }
    if (!rc && data && !st->stop)
        rc = s_data_base64(st, s, n, path_off, d->dec);
    return s_cb_rc(rc);
}

static int s_on_scalar(struct s_doc *d)
{
    struct s_frame *f = s_top(d);
    if (f && f->is_array)
        f->index++; /* numbers, booleans and null are not items, but they take an index */
    return 0;
}
static int s_on_number(void *ctx, const char *num, size_t n) { return s_on_scalar(ctx); }
static int s_on_null(void *ctx) { return s_on_scalar(ctx); }
static int s_on_bool(void *ctx, bool v)
{
    struct s_doc *d = ctx;
    struct s_frame *f = s_top(d);
    if (f && !f->is_array && f->key_class == K_ISB64)
        f->b64 = v;
    return s_on_scalar(d);
}

static int s_begin(struct s_doc *d, bool is_array)
{
    struct pl_inspect_state *st = d->st;
    struct s_frame *parent = s_top(d);
    uint8_t own = K_OTHER, query = 0;
    if (!parent) {
        s_path_truncate(st, d->root_path_len);
    } else if (parent->is_array) {
        s_path_truncate(st, parent->path_len);
        if (s_path_index(st, parent->index++))
            return -1;
        query = parent->query;
    } else {
        own = parent->key_class;
        query = parent->query || own == K_QUERY;
        if (s_member_path(st, parent)) /* st->path holds the member path */
            return -1;
    }
    if (pl_array_reserve((void **)&st->frames, &st->cap_frames, st->n_frames + 1,
                         sizeof(*st->frames)))
        return -1;
    struct s_frame *f = &st->frames[st->n_frames++];
    memset(f, 0, sizeof(*f));
    f->path_len = (uint32_t)st->path.len;
    f->is_array = is_array;
    f->own_class = own;
    f->query = query;
    return 0;
}

static int s_on_begin_object(void *ctx) { return s_begin(ctx, false); }
static int s_on_begin_array(void *ctx) { return s_begin(ctx, true); }

static int s_on_end_object(void *ctx)
{
    struct s_doc *d = ctx;
    struct pl_inspect_state *st = d->st;
    struct s_frame *f = s_top(d);
    if (!f)
        return pl_raise(PL_ERR_INTERNAL, "unbalanced object");
    int rc = 0;
    if (f->b64 && f->body_valid && !st->stop) {
        /* isBase64Encoded: decode the body (its text is in the view) */
        struct s_level *lv = &st->lv[st->nest];
        uint32_t path_off = f->body_path_off;
        pl_buf_reset(&lv->b64src);
        pl_buf_reset(&lv->b64out);
        if (pl_buf_append(&lv->b64src, st->view->text.data + f->body_off, f->body_len))
            return -1;
        rc = pl_decode_base64(lv->b64src.data, lv->b64src.len, &lv->b64out);
        if (rc < 0)
            return -1;
        st->n_frames--;
        if (rc == 1 && st->nest < S_MAX_NEST) {
            /* the decoded body is a new value: decoded forms and nested JSON use the next
             * level's scratch so lv->b64out stays intact */
            st->nest++;
            rc = s_value(st, lv->b64out.data, lv->b64out.len, path_off, PL_ITEM_VALUE,
                         d->dec ? d->dec : PL_DEC_BASE64, true);
            st->nest--;
            return s_cb_rc(rc);
        }
        if (rc == 1)
            s_bound(st, "JSON nested in strings more than %d levels deep", S_MAX_NEST);
        return 0;
    }
    st->n_frames--;
    return 0;
}

static int s_on_end_array(void *ctx)
{
    struct s_doc *d = ctx;
    if (!s_top(d))
        return pl_raise(PL_ERR_INTERNAL, "unbalanced array");
    d->st->n_frames--;
    return 0;
}

/* The view's own copy of the JSON parser (src/common/json_sax_impl.h, the code behind
 * pl_json_sax_parse_ex) calling the callbacks above directly: the compiler inlines them into
 * the parse loop (a callback through a function pointer costs more than most of them do). */
#define S_CALL(fn, ...)                                                                        \
    do {                                                                                       \
        if (s_##fn(ps->ctx, ##__VA_ARGS__))                                                    \
            return s_stopped(ps);                                                              \
    } while (0)
#include "../common/json_sax_impl.h"
#undef S_CALL

/* Parse one document into the view. Returns 0 (also when a bound stopped it), 1 when a global
 * bound stops everything, -1 on error, -2 when it is not JSON (the items of a valid prefix
 * stay). `mirror`: see s_mirror_value. */
static int s_parse_doc(struct pl_inspect_state *st, const char *data, size_t len,
                       uint32_t root_path_off, uint8_t dec, bool outer, size_t mirror)
{
    struct s_doc d = {.st = st, .seq = ++st->doc_seq, .base = st->n_frames,
                      .root_path_off = root_path_off, .dec = dec, .outer = outer, .data = data,
                      .mirror = mirror};
    /* the root path text */
    s_path_truncate(st, 0);
    const char *rp = st->view->paths.data + root_path_off;
    size_t rpl = strlen(rp);
    if (pl_buf_append(&st->path, rp, rpl))
        return -1;
    d.root_path_len = (uint32_t)rpl;
    if (st->n_frames >= st->lim.max_depth) {
        s_bound(st, "JSON nesting deeper than %u", st->lim.max_depth);
        return 0;
    }
    struct pl_json_limits jl = {.max_depth = st->lim.max_depth - (uint32_t)st->n_frames,
                                .max_values = UINT64_MAX};
    size_t err_off = 0;
    int rc = s_sax_parse(data, len, &jl, NULL, &d, &err_off, &st->lv[st->nest].json);
    st->n_frames = d.base;
    if (rc == 0)
        return 0;
    int err = pl_last_error();
    if (err == PL_ERR_LIMIT) {
        if (st->stop)
            return 1;
        s_bound(st, "%s", pl_last_error_msg());
        return 0;
    }
    if (err == PL_ERR_PARSE)
        return -2; /* not JSON (nested: a string that only looked like JSON) */
    return -1;
}

int pl_inspect_json(const struct pl_inspect_limits *lim, const char *data, size_t len,
                    struct pl_inspect_view *view)
{
    pl_inspect_view_reset(view);
    if (!view->state) {
        view->state = pl_calloc(1, sizeof(*view->state));
        if (!view->state)
            return -1;
    }
    struct pl_inspect_state *st = view->state;
    st->view = view;
    st->n_frames = 0;
    st->nest = 0;
    st->stop = false;
    st->f_method = st->f_reqctx = st->f_http = st->f_elb = st->f_v2 = false;
    s_dup_reset(st);
    s_dup_keys(st);
    if (lim)
        st->lim = *lim;
    else
        pl_inspect_limits_default(&st->lim);
    if (!st->lim.max_depth)
        st->lim.max_depth = 1;
    if (!st->lim.decode_rounds)
        st->lim.decode_rounds = 1;
    if (pl_buf_reserve(&view->text, len < st->lim.max_decoded ? len + 64 : 64))
        return -1;
    uint32_t root;
    s_path_truncate(st, 0);
    if (pl_buf_append_char(&st->path, '$') || s_store_path(st, &root))
        return -1;
    int rc = s_parse_doc(st, data ? data : "", data ? len : 0, root, PL_DEC_NONE, true, SIZE_MAX);
    if (rc == -1)
        return -1;
    if (rc == -2) {
        /* not JSON: forget the items of the valid prefix, scan the raw bytes */
        pl_inspect_view_reset(view);
        s_dup_reset(st);
        st->stop = false;
        view->non_json = true;
        s_path_truncate(st, 0);
        if (pl_buf_append_char(&st->path, '$') || s_store_path(st, &root))
            return -1;
        if (len && s_item(st, data, len, root, PL_ITEM_RAW, PL_DEC_RAW) < 0)
            return -1;
        return 0;
    }
    view->http_event = (st->f_method && st->f_reqctx) || (st->f_v2 && st->f_http) || st->f_elb;
    return 0;
}
