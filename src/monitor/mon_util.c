#include "mon_util.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

size_t pl_mon_strlcpy(char *dst, const char *src, size_t size)
{
    if (!size)
        return 0;
    size_t n = 0;
    if (src)
        while (src[n] && n + 1 < size) {
            dst[n] = src[n];
            n++;
        }
    dst[n] = '\0';
    return n;
}

bool pl_mon_path_has_dotdot(const char *p)
{
    for (const char *s = p; (s = strstr(s, "..")); s += 2) {
        bool start = s == p || s[-1] == '/';
        bool end = s[2] == '\0' || s[2] == '/';
        if (start && end)
            return true;
    }
    return false;
}

int pl_mon_path_normalize(const char *path, char *out, size_t outlen, bool *had_dotdot)
{
    if (had_dotdot)
        *had_dotdot = false;
    if (!path || path[0] != '/' || outlen < 2)
        return -1;
    size_t o = 0;
    const char *p = path;
    out[o++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - seg);
        if (n == 1 && seg[0] == '.')
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            if (had_dotdot)
                *had_dotdot = true;
            /* drop the last segment of out */
            if (o > 1) {
                o--; /* trailing char of last segment */
                while (o > 1 && out[o - 1] != '/')
                    o--;
                if (o > 1)
                    o--; /* the '/' before it */
            }
            continue;
        }
        if (o > 1) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = '/';
        }
        if (o + n >= outlen)
            return -1;
        memcpy(out + o, seg, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

bool pl_mon_path_under(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    if (n == 1 && prefix[0] == '/')
        return path[0] == '/';
    return !strncmp(prefix, path, n) && (path[n] == '\0' || path[n] == '/');
}

const char *pl_mon_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* match one segment with '*' wildcards */
static bool s_seg_match(const char *pat, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    while (si < sn) {
        if (pi < pn && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pn && pat[pi] == s[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pn && pat[pi] == '*')
        pi++;
    return pi == pn;
}

bool pl_mon_path_match(const char *pat, const char *path)
{
    if (!strchr(pat, '*'))
        return pl_mon_path_under(pat, path);
    const char *p = pat, *s = path;
    for (;;) {
        while (*p == '/')
            p++;
        while (*s == '/')
            s++;
        if (!*p)
            return true; /* pattern exhausted at a segment boundary: covers below */
        if (!*s)
            return false;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t pn = pe ? (size_t)(pe - p) : strlen(p);
        size_t sn = se ? (size_t)(se - s) : strlen(s);
        if (!s_seg_match(p, pn, s, sn))
            return false;
        p += pn;
        s += sn;
    }
}

/* ---- network ---- */

static int s_parse_int(const char *s, size_t n, int max)
{
    if (!n || n > 6)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > max ? -1 : v;
}

int pl_mon_net_parse(const char *text, struct pl_mon_net *out)
{
    char host[80];
    memset(out, 0, sizeof(*out));
    out->port = -1;
    const char *port = NULL;
    size_t hn;
    if (text[0] == '[') {
        const char *e = strchr(text, ']');
        if (!e)
            return -1;
        hn = (size_t)(e - text - 1);
        if (hn >= sizeof(host))
            return -1;
        memcpy(host, text + 1, hn);
        if (e[1] == ':')
            port = e + 2;
        else if (e[1])
            return -1;
    } else {
        const char *c1 = strchr(text, ':'), *c2 = strrchr(text, ':');
        if (c1 && c1 == c2) { /* one colon: IPv4 (or '*') with port */
            hn = (size_t)(c1 - text);
            port = c1 + 1;
        } else {
            hn = strlen(text); /* no colon, or IPv6 without port */
        }
        if (hn >= sizeof(host))
            return -1;
        memcpy(host, text, hn);
    }
    host[hn] = '\0';
    if (port) {
        if (!strcmp(port, "*"))
            out->port = -1;
        else if ((out->port = s_parse_int(port, strlen(port), 65535)) < 0)
            return -1;
    }
    if (!strcmp(host, "*")) {
        out->family = 0; /* any */
        return 0;
    }
    char *slash = strchr(host, '/');
    int prefix = -1;
    if (slash) {
        *slash = '\0';
        if ((prefix = s_parse_int(slash + 1, strlen(slash + 1), 128)) < 0)
            return -1;
    }
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        if (prefix > 32)
            return -1;
        out->prefix = prefix < 0 ? 32 : prefix;
        return 0;
    }
    if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        out->prefix = prefix < 0 ? 128 : prefix;
        return 0;
    }
    return -1;
}

static bool s_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
    int bytes = bits / 8, rem = bits % 8;
    if (memcmp(a, b, (size_t)bytes) != 0)
        return false;
    if (!rem)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

bool pl_mon_net_match(const struct pl_mon_net *n, int family, const uint8_t *addr, int port)
{
    if (n->port >= 0 && n->port != port)
        return false;
    if (n->family == 0)
        return true;
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (family == AF_INET6 && n->family == AF_INET && !memcmp(addr, v4mapped, 12))
        return s_prefix_eq(n->addr, addr + 12, n->prefix);
    if (family != n->family)
        return false;
    return s_prefix_eq(n->addr, addr, n->prefix);
}

void pl_mon_net_format(int family, const uint8_t *addr, int port, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, addr, a, sizeof(a));
    char pbuf[8];
    int i = 7;
    pbuf[i] = '\0';
    unsigned p = (unsigned)port;
    do {
        pbuf[--i] = (char)('0' + p % 10);
        p /= 10;
    } while (p && i > 0);
    size_t o = 0;
    if (family == AF_INET6 && o + 1 < outlen)
        out[o++] = '[';
    o += pl_mon_strlcpy(out + o, a, outlen - o);
    if (family == AF_INET6 && o + 1 < outlen)
        out[o++] = ']';
    if (o + 1 < outlen)
        out[o++] = ':';
    o += pl_mon_strlcpy(out + o, pbuf + i, outlen - o);
    out[o < outlen ? o : outlen - 1] = '\0';
}

static char s_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

bool pl_mon_host_match(const char *pat, const char *name)
{
    size_t pn = strlen(pat), nn = strlen(name);
    if (nn && name[nn - 1] == '.')
        nn--;
    if (pn && pat[pn - 1] == '.')
        pn--;
    if (pn >= 2 && pat[0] == '*' && pat[1] == '.') {
        /* suffix ".domain", and something before it */
        size_t sl = pn - 1;
        if (nn <= sl)
            return false;
        for (size_t i = 0; i < sl; i++)
            if (s_lower(pat[1 + i]) != s_lower(name[nn - sl + i]))
                return false;
        return true;
    }
    if (pn != nn)
        return false;
    for (size_t i = 0; i < pn; i++)
        if (s_lower(pat[i]) != s_lower(name[i]))
            return false;
    return true;
}

bool pl_mon_is_host_pattern(const char *t, size_t n)
{
    bool alpha = false;
    size_t i = 0;
    if (n >= 2 && t[0] == '*' && t[1] == '.')
        i = 2;
    if (i >= n)
        return false;
    for (; i < n; i++) {
        char c = t[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            alpha = true;
        } else if (!((c >= '0' && c <= '9') || c == '-' || c == '.')) {
            return false;
        }
    }
    return alpha;
}

/* case-insensitive search of a lower-case needle */
static const char *s_find_ci(const char *h, const char *needle)
{
    size_t n = strlen(needle);
    for (; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && s_lower(h[i]) == needle[i])
            i++;
        if (i == n)
            return h;
    }
    return NULL;
}

static bool s_keyish(const char *s)
{
    static const char *const pre[] = {"AKIA", "ASIA", "ghp_", "gho_", "ghs_", "github_pat_",
                                      "xoxb-", "xoxp-", "xoxa-", "sk-", "eyJ", "-----BEGIN"};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        if (!strncmp(s, pre[i], strlen(pre[i])) && strlen(s) >= strlen(pre[i]) + 8)
            return true;
    return false;
}

const char *pl_mon_redact_arg(const char *arg, bool redact_this, bool *redact_next, char *out,
                              size_t outlen)
{
    static const char *const keys[] = {"passw", "secret", "token", "authorization", "bearer",
                                       "apikey", "api_key", "api-key", "credential",
                                       "session", "private"};
    *redact_next = false;
    if (!arg)
        return arg;
    if (redact_this || s_keyish(arg))
        return "***";
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        const char *hit = s_find_ci(arg, keys[k]);
        if (!hit)
            continue;
        /* the value starts after the first '=', ':' or ' ' following the key */
        const char *v = hit + strlen(keys[k]);
        while (*v && *v != '=' && *v != ':' && *v != ' ')
            v++;
        if (!*v) {
            /* a bare flag names a secret: its value is the next argument */
            if (arg[0] == '-')
                *redact_next = true;
            return arg;
        }
        while (*v == '=' || *v == ':' || *v == ' ')
            v++;
        /* "Authorization: Bearer x": keep the scheme word */
        if (!strncmp(v, "Bearer ", 7) || !strncmp(v, "Basic ", 6))
            v = strchr(v, ' ') + 1;
        size_t keep = (size_t)(v - arg);
        if (keep + 4 > outlen)
            return "***";
        memcpy(out, arg, keep);
        memcpy(out + keep, "***", 4);
        return out;
    }
    return arg;
}

/* ---- JSON ---- */

/* keep room for the closing characters of a datagram */
#define S_JSON_RESERVE 64

void pl_mon_json_init(struct pl_mon_json *j, char *buf, size_t cap)
{
    j->buf = buf;
    j->cap = cap;
    j->len = 0;
    j->full = false;
    if (cap)
        buf[0] = '\0';
}

static void s_put(struct pl_mon_json *j, char c)
{
    if (j->len + 1 + S_JSON_RESERVE >= j->cap) {
        j->full = true;
        return;
    }
    j->buf[j->len++] = c;
    j->buf[j->len] = '\0';
}

void pl_mon_json_raw(struct pl_mon_json *j, const char *s)
{
    /* raw pieces are structural: they may use the reserve */
    size_t n = strlen(s);
    if (j->len + n + 1 > j->cap) {
        j->full = true;
        return;
    }
    memcpy(j->buf + j->len, s, n + 1);
    j->len += n;
}

void pl_mon_json_str(struct pl_mon_json *j, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    /* the quotes are structural (they may use the reserve): the document stays valid */
    if (j->len + 3 > j->cap) {
        j->full = true;
        return;
    }
    j->buf[j->len++] = '"';
    j->buf[j->len] = '\0';
    size_t n = 0;
    bool cut = false;
    for (; s && s[n]; n++) {
        if (max && n >= max) {
            cut = true;
            break;
        }
        unsigned char c = (unsigned char)s[n];
        /* room for the worst escape plus "..." and the closing quote */
        if (j->len + 6 + 4 + 1 + S_JSON_RESERVE >= j->cap) {
            cut = true;
            break;
        }
        if (c == '"' || c == '\\') {
            s_put(j, '\\');
            s_put(j, (char)c);
        } else if (c < 0x20 || c == 0x7F) {
            s_put(j, '\\');
            s_put(j, 'u');
            s_put(j, '0');
            s_put(j, '0');
            s_put(j, hex[c >> 4]);
            s_put(j, hex[c & 15]);
        } else if (c >= 0x80) {
            /* copy a whole valid UTF-8 sequence, else \ufffd-like '?' */
            int len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            bool ok = len > 0;
            for (int k = 1; ok && k < len; k++)
                ok = ((unsigned char)s[n + k] & 0xC0) == 0x80;
            if (ok && (!max || n + (size_t)len <= max)) {
                for (int k = 0; k < len; k++)
                    s_put(j, s[n + k]);
                n += (size_t)len - 1;
            } else {
                s_put(j, '?');
            }
        } else {
            s_put(j, (char)c);
        }
    }
    if (cut) {
        s_put(j, '.');
        s_put(j, '.');
        s_put(j, '.');
        j->full = true;
    }
    /* the closing quote may use the reserve */
    if (j->len + 2 <= j->cap) {
        j->buf[j->len++] = '"';
        j->buf[j->len] = '\0';
    }
}

void pl_mon_json_int(struct pl_mon_json *j, long long v)
{
    char tmp[24];
    int i = 23;
    tmp[i] = '\0';
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u && i > 1);
    if (v < 0)
        tmp[--i] = '-';
    pl_mon_json_raw(j, tmp + i);
}

size_t pl_mon_json_len(const struct pl_mon_json *j)
{
    return j->len;
}
