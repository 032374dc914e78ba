/* Environment audit: which variables hold plaintext secrets, by name and by value shape.
 * Findings carry the name, a kind and an 8-hex SHA-256 prefix of the value — never the value. */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "protectlambda/audit.h"
#include "protectlambda/integrity.h"

extern char **environ;

/* credentials Lambda injects: expected, not findings (still canaries) */
static const char *const s_expected[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    NULL,
};

static bool s_is_expected(const char *name, size_t n)
{
    for (size_t i = 0; s_expected[i]; i++)
        if (strlen(s_expected[i]) == n && !memcmp(s_expected[i], name, n))
            return true;
    return false;
}

/* ------------------------------------------------------------------ value shapes */

static bool s_alnum(int c)
{
    return isalnum((unsigned char)c);
}
static bool s_b64url(int c)
{
    return s_alnum(c) || c == '-' || c == '_';
}
static bool s_upper_or_digit(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* number of chars from p satisfying pred (up to max) */
static size_t s_span(const char *p, const char *end, bool (*pred)(int))
{
    size_t n = 0;
    while (p + n < end && pred((unsigned char)p[n]))
        n++;
    return n;
}

static bool s_starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && !memcmp(p, lit, n);
}

static bool s_word_start(const char *v, const char *p)
{
    return p == v || !s_alnum(p[-1]);
}

static bool s_ghchar(int c)
{
    return s_alnum(c) || c == '_';
}
static bool s_slackchar(int c)
{
    return s_alnum(c) || c == '-';
}

double pl_shannon_entropy(const char *v, size_t len)
{
    if (!len)
        return 0;
    size_t count[256] = {0};
    for (size_t i = 0; i < len; i++)
        count[(unsigned char)v[i]]++;
    double h = 0;
    for (int i = 0; i < 256; i++) {
        if (!count[i])
            continue;
        double p = (double)count[i] / (double)len;
        h -= p * log2(p);
    }
    return h;
}

static const char *s_aws_key_ids[] = {"AKIA", "ASIA", "AROA", "AIDA", "AGPA", "ANPA",
                                      "ANVA", "APKA", "ABIA", "ACCA", "AIPA", NULL};

static const char *s_token_kind(const char *v, const char *p, const char *end)
{
    if (!s_word_start(v, p))
        return NULL;
    for (size_t i = 0; s_aws_key_ids[i]; i++) {
        if (!s_starts(p, end, s_aws_key_ids[i]))
            continue;
        size_t n = s_span(p + 4, end, s_upper_or_digit);
        if (n == 16 && !(end - p >= 20 && !memcmp(p + 13, "EXAMPLE", 7)))
            return "aws_access_key_id";
    }
    static const char *const gh[] = {"ghp_", "gho_", "ghu_", "ghs_", "ghr_", NULL};
    for (size_t i = 0; gh[i]; i++)
        if (s_starts(p, end, gh[i]) && s_span(p + 4, end, s_alnum) >= 36)
            return "github_token";
    if (s_starts(p, end, "github_pat_") && s_span(p + 11, end, s_ghchar) >= 22)
        return "github_token";
    if (s_starts(p, end, "xox") && end - p > 4 && strchr("baprs", p[3]) && p[3] && p[4] == '-' &&
        s_span(p + 5, end, s_slackchar) >= 10)
        return "slack_token";
    if ((s_starts(p, end, "sk_live_") || s_starts(p, end, "rk_live_") ||
         s_starts(p, end, "sk_test_")) &&
        s_span(p + 8, end, s_alnum) >= 16)
        return "stripe_key";
    if (s_starts(p, end, "sk-") && s_span(p + 3, end, s_b64url) >= 20)
        return "openai_key";
    if (s_starts(p, end, "AIza") && s_span(p + 4, end, s_b64url) == 35)
        return "google_api_key";
    if (s_starts(p, end, "eyJ")) {
        size_t a = s_span(p, end, s_b64url);
        if (a >= 10 && p + a < end && p[a] == '.' && s_starts(p + a + 1, end, "eyJ")) {
            size_t b = s_span(p + a + 1, end, s_b64url);
            if (b >= 10 && p + a + 1 + b < end && p[a + 1 + b] == '.')
                return "jwt";
        }
    }
    return NULL;
}

static bool s_url_credentials(const char *v, size_t len)
{
    const char *end = v + len;
    const char *sep = memmem(v, len, "://", 3);
    if (!sep || sep == v)
        return false;
    for (const char *s = v; s < sep; s++)
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '.' && *s != '-')
            return false;
    const char *u = sep + 3;
    const char *at = NULL;
    for (const char *s = u; s < end && *s != '/' && *s != '?' && *s != '#'; s++)
        if (*s == '@')
            at = s;
    if (!at)
        return false;
    const char *colon = memchr(u, ':', (size_t)(at - u));
    return colon && colon + 1 < at; /* user:password@ with a non-empty password */
}

const char *pl_secret_value_kind(const char *v, size_t len)
{
    if (!len)
        return NULL;
    const char *end = v + len;
    if (memmem(v, len, "-----BEGIN", 10) && memmem(v, len, "PRIVATE KEY", 11))
        return "private_key";
    for (const char *p = v; p < end; p++) {
        const char *k = s_token_kind(v, p, end);
        if (k)
            return k;
    }
    if (s_url_credentials(v, len))
        return "url_credentials";
    /* AWS secret access key: exactly 40 base64 characters, mixed */
    if (len == 40 && !memmem(v, len, "EXAMPLEKEY", 10)) {
        bool ok = true, up = false, lo = false, dig = false;
        for (size_t i = 0; i < len && ok; i++) {
            int c = (unsigned char)v[i];
            ok = isalnum(c) || c == '/' || c == '+';
            up |= isupper(c), lo |= islower(c), dig |= isdigit(c) != 0;
        }
        if (ok && up && lo && dig)
            return "aws_secret_access_key";
    }
    /* high entropy: one token of a key-like alphabet */
    if (len >= 20 && len <= 4096 && !memmem(v, len, "EXAMPLE", 7)) {
        bool ok = true, hex = true, up = false, lo = false, dig = false;
        for (size_t i = 0; i < len && ok; i++) {
            int c = (unsigned char)v[i];
            ok = isalnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' || c == '.';
            hex &= isxdigit(c) != 0;
            up |= isupper(c), lo |= islower(c), dig |= isdigit(c) != 0;
        }
        if (ok) {
            double h = pl_shannon_entropy(v, len);
            if (hex && len >= 32 && h >= 3.0 && dig)
                return "high_entropy";
            if (!hex && up && lo && dig && h >= 4.0)
                return "high_entropy";
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ names */

const char *pl_secret_name_kind(const char *name, size_t len)
{
    char low[128];
    if (len >= sizeof(low))
        len = sizeof(low) - 1;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[len] = '\0';
    if (!strcmp(low, "pwd") || !strcmp(low, "oldpwd"))
        return NULL; /* the shell's working directory */
    static const struct {
        const char *word;
        const char *kind;
    } subs[] = {
        {"password", "name:password"},
        {"passwd", "name:password"},
        {"passphrase", "name:password"},
        {"secret", "name:secret"},
        {"token", "name:token"},
        {"api_key", "name:api_key"},
        {"apikey", "name:api_key"},
        {"api-key", "name:api_key"},
        {"private_key", "name:private_key"},
        {"privatekey", "name:private_key"},
        {"credential", "name:credentials"},
        {"access_key", "name:access_key"},
        {"accesskey", "name:access_key"},
        {"signing_key", "name:signing_key"},
        {"encryption_key", "name:encryption_key"},
        {"master_key", "name:master_key"},
        {"connection_string", "name:connection_string"},
        {"conn_str", "name:connection_string"},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(subs); i++)
        if (strstr(low, subs[i].word))
            return subs[i].kind;
    /* whole tokens: pwd, auth, authorization, pass */
    char *save = NULL;
    for (char *t = strtok_r(low, "_-.:", &save); t; t = strtok_r(NULL, "_-.:", &save)) {
        if (!strcmp(t, "pwd") || !strcmp(t, "pass"))
            return "name:password";
        if (!strcmp(t, "auth") || !strcmp(t, "authorization") || !strcmp(t, "authtoken") ||
            !strcmp(t, "authkey"))
            return "name:auth";
    }
    return NULL;
}

/* values that are not secrets even under a secret-sounding name */
static bool s_not_a_secret_value(const char *v, size_t len)
{
    if (len < 4)
        return true;
    static const char *const words[] = {"true",     "false",    "yes",      "no",      "on",
                                        "off",      "none",     "null",     "enabled", "disabled",
                                        "required", "optional", "changeme", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == len && !strncasecmp(v, words[i], len))
            return true;
    bool digits = true;
    for (size_t i = 0; i < len; i++)
        digits &= isdigit((unsigned char)v[i]) != 0;
    if (digits && len <= 5)
        return true; /* ports, counts, timeouts */
    /* references to secrets, not secrets: ARNs, SSM/Secrets Manager paths, file paths */
    static const char *const refs[] = {"arn:",    "ssm:",    "{{resolve:", "/", "./",
                                       "file://", "http://", "https://",   NULL};
    for (size_t i = 0; refs[i]; i++)
        if (len >= strlen(refs[i]) && !memcmp(v, refs[i], strlen(refs[i])))
            return !s_url_credentials(v, len);
    return false;
}

/* ------------------------------------------------------------------ audit */

void pl_env_audit_init(struct pl_env_audit *a)
{
    memset(a, 0, sizeof(*a));
}

void pl_env_audit_clean_up(struct pl_env_audit *a)
{
    pl_free(a->items);
    memset(a, 0, sizeof(*a));
}

static int s_add(struct pl_env_audit *a, const char *name, size_t nlen, const char *value,
                 size_t vlen, const char *kind, bool expected)
{
    if (pl_array_reserve((void **)&a->items, &a->cap, a->n + 1, sizeof(a->items[0])))
        return -1;
    struct pl_env_finding *f = &a->items[a->n++];
    memset(f, 0, sizeof(*f));
    if (nlen >= sizeof(f->name))
        nlen = sizeof(f->name) - 1;
    memcpy(f->name, name, nlen);
    f->kind = kind;
    f->expected = expected;
    pl_sha256_prefix8(value, vlen, f->hash8);
    if (!expected)
        a->n_findings++;
    return 0;
}

/* Lambda's own variables: never high-entropy findings (trace ids, paths, names) */
static bool s_platform_name(const char *name, size_t n)
{
    return (n >= 4 && !memcmp(name, "AWS_", 4)) || (n >= 7 && !memcmp(name, "LAMBDA_", 7)) ||
           (n >= 1 && name[0] == '_') || (n >= 14 && !memcmp(name, "PROTECTLAMBDA_", 14));
}

int pl_env_audit_run(char *const *envp, struct pl_env_audit *a)
{
    if (!envp)
        envp = environ;
    for (size_t i = 0; envp[i]; i++) {
        if (a->n_vars >= PL_AUDIT_MAX_VARS)
            return pl_raise(PL_ERR_LIMIT, "more than %d environment variables", PL_AUDIT_MAX_VARS);
        a->n_vars++;
        const char *kv = envp[i];
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            continue;
        size_t nlen = (size_t)(eq - kv);
        const char *v = eq + 1;
        size_t vlen = strlen(v);
        if (!vlen)
            continue;
        if (s_is_expected(kv, nlen)) {
            if (s_add(a, kv, nlen, v, vlen, "aws_credentials", true))
                return -1;
            continue;
        }
        size_t scan_len = vlen > PL_AUDIT_MAX_VALUE ? PL_AUDIT_MAX_VALUE : vlen;
        const char *kind = pl_secret_value_kind(v, scan_len);
        if (kind && !strcmp(kind, "high_entropy") && s_platform_name(kv, nlen))
            kind = NULL;
        /* a specific shape says more than the name; the name says more than entropy */
        if (!kind || !strcmp(kind, "high_entropy")) {
            const char *nk = pl_secret_name_kind(kv, nlen);
            if (nk && !s_not_a_secret_value(v, vlen))
                kind = nk;
        }
        if (kind && s_add(a, kv, nlen, v, vlen, kind, false))
            return -1;
    }
    return 0;
}

static void s_text_name(struct pl_buf *out, const char *name, int *rc)
{
    for (const char *p = name; *p; p++)
        *rc |= pl_buf_append_char(out, (*p > 0x20 && *p < 0x7f) ? *p : '?');
}

int pl_env_audit_text(const struct pl_env_audit *a, struct pl_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct pl_env_finding *f = &a->items[i];
        rc |= pl_buf_append_str(out, f->expected ? "expected          " : "PLAINTEXT_SECRET  ");
        s_text_name(out, f->name, &rc);
        rc |= pl_buf_appendf(out, "  kind=%s  sha256=%s%s\n", f->kind, f->hash8,
                             f->expected ? "  (injected by Lambda)" : "");
    }
    rc |= pl_buf_appendf(out, "%zu finding%s in %zu variables\n", a->n_findings,
                         a->n_findings == 1 ? "" : "s", a->n_vars);
    return rc ? -1 : 0;
}

int pl_env_audit_json(const struct pl_env_audit *a, struct pl_buf *out)
{
    int rc = pl_buf_appendf(out, "{\"variables\":%zu,\"findings\":[", a->n_vars);
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            rc |= pl_buf_append_str(out, "],\"expected\":[");
        bool first = true;
        for (size_t i = 0; i < a->n; i++) {
            const struct pl_env_finding *f = &a->items[i];
            if (f->expected != (pass == 1))
                continue;
            rc |= pl_buf_append_str(out, first ? "{\"name\":" : ",{\"name\":");
            rc |= pl_buf_append_json_cstr(out, f->name);
            rc |= pl_buf_appendf(out, ",\"kind\":\"%s\",\"sha256_prefix\":\"%s\"}", f->kind,
                                 f->hash8);
            first = false;
        }
    }
    rc |= pl_buf_append_str(out, "]}\n");
    return rc ? -1 : 0;
}
