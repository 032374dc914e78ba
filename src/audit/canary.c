/* Secret canaries: the values of secret environment variables, in the forms a leak takes
 * (plain, JSON-escaped, base64 and base64url at the 3 alignments, URL-encoded, hex), matched
 * in one pass over a response: every 8-byte window is hashed into a 64 Ki-bit filter; a hit
 * is confirmed with memcmp against the patterns of that hash. Values live only in this
 * process's memory and are wiped on destroy; nothing here logs or writes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protectlambda/audit.h"

extern char **environ;

#define S_FILTER_BITS 16
#define S_WIN 8 /* every pattern is at least this long */

enum s_form { S_PLAIN, S_JSON, S_B64, S_B64URL, S_URL, S_HEX, S_FORM_COUNT };
static const char *const s_form_names[] = {"plain", "json", "base64", "base64url", "url", "hex"};

struct s_pattern {
    char *bytes;
    uint32_t len;
    uint32_t var;
    uint32_t skip; /* bytes of the whole form before this pattern (tail patterns) */
    uint16_t hash; /* filter hash of the first 8 bytes */
    uint8_t form;
};

/* presigned URLs carry the access key id (X-Amz-Credential=) and the session token
 * (X-Amz-Security-Token=), never the secret key: in that place they are not a leak */
enum s_presign { S_PRESIGN_NONE, S_PRESIGN_KEY_ID, S_PRESIGN_TOKEN };

struct pl_canaries {
    char **vars;
    uint8_t *presign; /* enum s_presign, per variable */
    size_t n_vars, cap_vars;
    struct s_pattern *p;
    size_t n, cap;
    size_t max_len;
    uint64_t filter[(1u << S_FILTER_BITS) / 64];
    uint64_t first2[65536 / 64]; /* first two bytes of every pattern: the cheap pre-filter */
};

static inline uint16_t s_hash8(const void *p)
{
    uint64_t k;
    memcpy(&k, p, 8);
    return (uint16_t)((k * 0x9E3779B97F4A7C15ull) >> (64 - S_FILTER_BITS));
}

static void s_wipe(void *p, size_t n)
{
    if (p)
        explicit_bzero(p, n);
}

static int s_add_one(struct pl_canaries *c, const char *b, size_t len, uint32_t var, int form,
                     size_t skip)
{
    if (len < S_WIN)
        return 0;
    for (size_t i = 0; i < c->n; i++) /* the same bytes from another form: once is enough */
        if (c->p[i].len == len && !memcmp(c->p[i].bytes, b, len))
            return 0;
    if (pl_array_reserve((void **)&c->p, &c->cap, c->n + 1, sizeof(c->p[0])))
        return -1;
    struct s_pattern *p = &c->p[c->n];
    p->bytes = pl_malloc(len);
    if (!p->bytes)
        return -1;
    memcpy(p->bytes, b, len);
    p->len = (uint32_t)len;
    p->var = var;
    p->form = (uint8_t)form;
    p->skip = (uint32_t)skip;
    p->hash = s_hash8(b);
    c->filter[p->hash >> 6] |= 1ull << (p->hash & 63);
    uint16_t f2 = (uint16_t)((unsigned char)b[0] | (unsigned)(unsigned char)b[1] << 8);
    c->first2[f2 >> 6] |= 1ull << (f2 & 63);
    if (len > c->max_len)
        c->max_len = len;
    c->n++;
    return 0;
}

/* long forms: their first and last PL_CANARY_MAX_PATTERN bytes (a whole leak contains both;
 * patterns stay short enough for the guard's stream overlap) */
static int s_add(struct pl_canaries *c, const char *b, size_t len, uint32_t var, int form)
{
    if (len <= PL_CANARY_MAX_PATTERN)
        return s_add_one(c, b, len, var, form, 0);
    if (s_add_one(c, b, PL_CANARY_MAX_PATTERN, var, form, 0))
        return -1;
    return s_add_one(c, b + len - PL_CANARY_MAX_PATTERN, PL_CANARY_MAX_PATTERN, var, form,
                     len - PL_CANARY_MAX_PATTERN);
}

static size_t s_b64(const unsigned char *in, size_t n, char *out, bool url)
{
    const char *al = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                         : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = al[v >> 18], out[o++] = al[(v >> 12) & 63], out[o++] = al[(v >> 6) & 63],
        out[o++] = al[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = al[v >> 18], out[o++] = al[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = al[v >> 18], out[o++] = al[(v >> 12) & 63], out[o++] = al[(v >> 6) & 63];
    }
    return o;
}

static int s_add_value(struct pl_canaries *c, const char *v, size_t n, uint32_t var)
{
    int ret = -1;
    size_t cap = 6 * n + 16;
    char *tmp = pl_malloc(cap);
    unsigned char *pre = pl_malloc(n + 2);
    if (!tmp || !pre)
        goto out;
    if (s_add(c, v, n, var, S_PLAIN))
        goto out;
    /* JSON string escapes: with and without "\/" */
    for (int slash = 0; slash < 2; slash++) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)v[i];
            if (ch == '"' || ch == '\\' || (slash && ch == '/')) {
                tmp[o++] = '\\', tmp[o++] = (char)ch;
            } else if (ch < 0x20) {
                o += (size_t)snprintf(tmp + o, cap - o, "\\u%04x", ch);
            } else {
                tmp[o++] = (char)ch;
            }
        }
        if (s_add(c, tmp, o, var, S_JSON))
            goto out;
    }
    /* base64 / base64url at the three alignments: the characters that depend only on the
     * value's bits, whatever precedes or follows it */
    for (int url = 0; url < 2; url++) {
        for (size_t k = 0; k < 3; k++) {
            memset(pre, 0, k);
            memcpy(pre + k, v, n);
            size_t o = s_b64(pre, n + k, tmp, url);
            size_t first = (8 * k + 5) / 6;  /* ceil(8k/6) */
            size_t last = (8 * (k + n)) / 6; /* exclusive */
            if (last > o)
                last = o;
            if (last > first && s_add(c, tmp + first, last - first, var, url ? S_B64URL : S_B64))
                goto out;
        }
    }
    /* URL encoding: upper and lower hex, '+' for space */
    static const char up[] = "0123456789ABCDEF", lo[] = "0123456789abcdef";
    for (int variant = 0; variant < 3; variant++) {
        size_t o = 0;
        const char *hx = variant == 1 ? lo : up;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)v[i];
            if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '.' || ch == '_' || ch == '~')
                tmp[o++] = (char)ch;
            else if (variant == 2 && ch == ' ')
                tmp[o++] = '+';
            else
                tmp[o++] = '%', tmp[o++] = hx[ch >> 4], tmp[o++] = hx[ch & 15];
        }
        if (s_add(c, tmp, o, var, S_URL))
            goto out;
    }
    /* hex dump */
    for (int variant = 0; variant < 2; variant++) {
        const char *hx = variant ? up : lo;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)v[i];
            tmp[o++] = hx[ch >> 4], tmp[o++] = hx[ch & 15];
        }
        if (s_add(c, tmp, o, var, S_HEX))
            goto out;
    }
    ret = 0;
out:
    s_wipe(tmp, tmp ? cap : 0);
    s_wipe(pre, pre ? n + 2 : 0);
    pl_free(tmp);
    pl_free(pre);
    return ret;
}

static int s_pat_cmp(const void *a, const void *b)
{
    const struct s_pattern *x = a, *y = b;
    return (int)x->hash - (int)y->hash;
}

static bool s_doc_example(const char *v)
{
    return !strcmp(v, "AKIAIOSFODNN7EXAMPLE") ||
           !strcmp(v, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
}

int pl_canaries_new(char *const *envp, struct pl_canaries **out)
{
    if (!envp)
        envp = environ;
    struct pl_env_audit a;
    pl_env_audit_init(&a);
    struct pl_canaries *c = pl_calloc(1, sizeof(*c));
    if (!c)
        return -1;
    if (pl_env_audit_run(envp, &a))
        goto fail;
    for (size_t i = 0; i < a.n; i++) {
        const char *name = a.items[i].name;
        size_t nlen = strlen(name);
        const char *val = NULL;
        for (size_t k = 0; envp[k]; k++)
            if (!strncmp(envp[k], name, nlen) && envp[k][nlen] == '=') {
                val = envp[k] + nlen + 1;
                break;
            }
        if (!val || strlen(val) < PL_CANARY_MIN_VALUE || s_doc_example(val))
            continue;
        size_t cap_before = c->cap_vars;
        if (pl_array_reserve((void **)&c->vars, &c->cap_vars, c->n_vars + 1, sizeof(char *)))
            goto fail;
        if (c->cap_vars != cap_before) {
            uint8_t *ps = pl_realloc(c->presign, c->cap_vars);
            if (!ps)
                goto fail;
            c->presign = ps;
        }
        c->presign[c->n_vars] = !strcmp(name, "AWS_ACCESS_KEY_ID")   ? S_PRESIGN_KEY_ID
                                : !strcmp(name, "AWS_SESSION_TOKEN") ? S_PRESIGN_TOKEN
                                                                     : S_PRESIGN_NONE;
        if (!(c->vars[c->n_vars] = pl_strdup(name)))
            goto fail;
        c->n_vars++;
        size_t vlen = strlen(val);
        if (vlen > PL_AUDIT_MAX_VALUE)
            vlen = PL_AUDIT_MAX_VALUE;
        if (s_add_value(c, val, vlen, (uint32_t)(c->n_vars - 1)))
            goto fail;
    }
    if (c->n > 1)
        qsort(c->p, c->n, sizeof(c->p[0]), s_pat_cmp);
    pl_env_audit_clean_up(&a);
    *out = c;
    return 0;
fail:
    pl_env_audit_clean_up(&a);
    pl_canaries_destroy(c);
    return -1;
}

void pl_canaries_destroy(struct pl_canaries *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        s_wipe(c->p[i].bytes, c->p[i].len);
        pl_free(c->p[i].bytes);
    }
    for (size_t i = 0; i < c->n_vars; i++)
        pl_free(c->vars[i]);
    pl_free(c->vars);
    pl_free(c->presign);
    pl_free(c->p);
    pl_free(c);
}

size_t pl_canaries_count(const struct pl_canaries *c)
{
    return c ? c->n : 0;
}
size_t pl_canaries_vars(const struct pl_canaries *c)
{
    return c ? c->n_vars : 0;
}
size_t pl_canaries_max_len(const struct pl_canaries *c)
{
    return c ? c->max_len : 0;
}
const char *pl_canaries_var(const struct pl_canaries *c, size_t i)
{
    return c && i < c->n_vars ? c->vars[i] : NULL;
}

static bool s_preceded_by(const char *data, size_t start, const char *lit)
{
    size_t n = strlen(lit);
    return start >= n && !strncasecmp(data + start - n, lit, n);
}

/* a key id or session token inside a presigned URL (or a SigV4 Authorization header) */
static bool s_presigned_place(const struct pl_canaries *c, const struct s_pattern *p,
                              const char *data, size_t at)
{
    uint8_t role = c->presign ? c->presign[p->var] : S_PRESIGN_NONE;
    if (role == S_PRESIGN_NONE || (p->form != S_PLAIN && p->form != S_URL))
        return false;
    if (p->skip > at)
        return false;
    size_t start = at - p->skip;
    if (role == S_PRESIGN_KEY_ID)
        return s_preceded_by(data, start, "X-Amz-Credential=") ||
               s_preceded_by(data, start, "Credential=");
    return s_preceded_by(data, start, "X-Amz-Security-Token=");
}

int pl_canaries_scan(const struct pl_canaries *c, const char *data, size_t len,
                     struct pl_canary_hit *hit)
{
    if (!c || !c->n || len < S_WIN)
        return 0;
    const unsigned char *u = (const unsigned char *)data;
    for (size_t i = 0; i + S_WIN <= len; i++) {
        uint16_t f2 = (uint16_t)(u[i] | (unsigned)u[i + 1] << 8);
        if (!(c->first2[f2 >> 6] & (1ull << (f2 & 63))))
            continue;
        uint16_t h = s_hash8(data + i);
        if (!(c->filter[h >> 6] & (1ull << (h & 63))))
            continue;
        /* first pattern with this hash */
        size_t lo = 0, hi = c->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (c->p[mid].hash < h)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo; k < c->n && c->p[k].hash == h; k++) {
            const struct s_pattern *p = &c->p[k];
            if (p->len <= len - i && !memcmp(data + i, p->bytes, p->len)) {
                if (s_presigned_place(c, p, data, i))
                    continue;
                if (hit) {
                    hit->var = c->vars[p->var];
                    hit->var_index = p->var;
                    hit->form = s_form_names[p->form];
                    hit->offset = i;
                }
                return 1;
            }
        }
    }
    return 0;
}

int pl_canary_stream_init(struct pl_canary_stream *s, const struct pl_canaries *c)
{
    memset(s, 0, sizeof(*s));
    s->c = c;
    size_t keep = c && c->max_len ? c->max_len - 1 : 0;
    s->carry = pl_malloc(2 * keep + 1);
    return s->carry ? 0 : -1;
}

void pl_canary_stream_clean_up(struct pl_canary_stream *s)
{
    size_t keep = s->c && s->c->max_len ? s->c->max_len - 1 : 0;
    s_wipe(s->carry, s->carry ? 2 * keep + 1 : 0);
    pl_free(s->carry);
    memset(s, 0, sizeof(*s));
}

int pl_canary_stream_feed(struct pl_canary_stream *s, const char *data, size_t len,
                          struct pl_canary_hit *hit)
{
    if (!s->c || !s->c->n)
        return 0;
    size_t keep = s->c->max_len - 1;
    /* a match spanning the boundary: carry + the head of this chunk */
    if (s->n_carry) {
        size_t head = len < keep ? len : keep;
        memcpy(s->carry + s->n_carry, data, head);
        if (pl_canaries_scan(s->c, s->carry, s->n_carry + head, hit)) {
            if (hit)
                hit->offset += s->consumed;
            return 1;
        }
    }
    if (pl_canaries_scan(s->c, data, len, hit)) {
        if (hit)
            hit->offset += s->consumed + s->n_carry;
        return 1;
    }
    /* new carry: the last `keep` bytes of carry + data */
    size_t total = s->n_carry + len;
    size_t new_n = total < keep ? total : keep;
    if (len >= new_n) {
        s->consumed += s->n_carry + (len - new_n);
        memcpy(s->carry, data + len - new_n, new_n);
    } else {
        size_t from_carry = new_n - len;
        s->consumed += s->n_carry - from_carry;
        memmove(s->carry, s->carry + s->n_carry - from_carry, from_carry);
        memcpy(s->carry + from_carry, data, len);
    }
    s->n_carry = new_n;
    return 0;
}
