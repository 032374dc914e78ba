/* Environment audit on crafted environments (each secret kind, the AWS documentation key,
 * look-alikes that are not secrets) and secret canaries (every encoded form, every base64
 * alignment, split across stream chunks). No test output contains a secret value. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "protectlambda/audit.h"
#include "protectlambda/integrity.h"

/* secrets made at run time, so that the literal values appear in no source line a grep
 * of build output could match by accident */
#define GH_TOKEN                                                                                   \
    "ghp_"                                                                                         \
    "0123456789abcdefghijABCDEFGHIJ012345"
#define SLACK                                                                                      \
    "xoxb-"                                                                                        \
    "1234567890-abcdefghij"
#define OPENAI                                                                                     \
    "sk-"                                                                                          \
    "proj-AbCdEfGhIjKlMnOpQrStUv0123"
#define STRIPE                                                                                     \
    "sk_live_"                                                                                     \
    "4eC39HqLyjWDarjtT1zdp7dc"
#define AKID                                                                                       \
    "AKIA"                                                                                         \
    "Z7QWERTYUIOP2345"
#define JWT                                                                                        \
    "eyJhbGciOiJIUzI1NiJ9"                                                                         \
    "."                                                                                            \
    "eyJzdWIiOiIxMjM0NTY3ODkwIn0"                                                                  \
    "."                                                                                            \
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
#define AWS_SECRET "kq8Vd3TbN0pZ/xW1yR7uHsLmC4fJgE2aQ9iO+5Bn"
#define PEM "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
#define HIGHENT "Zr8Kq2Lm9Xw4Tn7Vb1Hc6Jd3Fs5Pg0Ry"

PL_TEST(value_shapes_table)
{
    static const struct {
        const char *value;
        const char *kind; /* NULL: not a secret */
    } t[] = {
        {AKID, "aws_access_key_id"},
        {"ASIA"
         "Z7QWERTYUIOP2345",
         "aws_access_key_id"},
        {"AROA"
         "Z7QWERTYUIOP2345",
         "aws_access_key_id"},
        {"key=" AKID ";", "aws_access_key_id"},
        {"AKIAIOSFODNN7EXAMPLE", NULL},                     /* AWS documentation key */
        {"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL}, /* its documentation secret */
        {AWS_SECRET, "aws_secret_access_key"},
        {GH_TOKEN, "github_token"},
        {"github_pat_"
         "11ABCDEFG0123456789_abcdefghijklmnop",
         "github_token"},
        {SLACK, "slack_token"},
        {"xoxp-"
         "1234567890-abcdefghij",
         "slack_token"},
        {OPENAI, "openai_key"},
        {STRIPE, "stripe_key"},
        {PEM, "private_key"},
        {JWT, "jwt"},
        {"Bearer " JWT, "jwt"},
        {"postgres://app:"
         "s3cr3tpw@db.internal:5432/app",
         "url_credentials"},
        {HIGHENT, "high_entropy"},
        {"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "high_entropy"},
        /* not secrets */
        {"https://example.com/path?x=1", NULL},
        {"123e4567-e89b-12d3-a456-426614174000", NULL},
        {"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", NULL},
        {"/var/task/config.json", NULL},
        {"my-function-name-prod", NULL},
        {"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", NULL},
        {"skip-this-value-please", NULL},
        {"ghp_short", NULL},
        {"xAKIA"
         "Z7QWERTYUIOP2345",
         "high_entropy"}, /* no word boundary: not a key id */
        {"hello world this is a sentence", NULL},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(t); i++) {
        const char *k = pl_secret_value_kind(t[i].value, strlen(t[i].value));
        PL_CHECK_MSG((k == NULL && t[i].kind == NULL) || (k && t[i].kind && !strcmp(k, t[i].kind)),
                     "row %zu: kind %s, expected %s", i, k ? k : "(none)",
                     t[i].kind ? t[i].kind : "(none)");
    }
}

PL_TEST(name_kinds_table)
{
    static const struct {
        const char *name;
        const char *kind;
    } t[] = {
        {"DB_PASSWORD", "name:password"},
        {"MYSQL_PWD", "name:password"},
        {"db_passwd", "name:password"},
        {"CLIENT_SECRET", "name:secret"},
        {"GITHUB_TOKEN", "name:token"},
        {"STRIPE_API_KEY", "name:api_key"},
        {"apikey", "name:api_key"},
        {"JWT_PRIVATE_KEY", "name:private_key"},
        {"GOOGLE_CREDENTIALS", "name:credentials"},
        {"BASIC_AUTH", "name:auth"},
        {"PWD", NULL},
        {"OLDPWD", NULL},
        {"AUTHOR", NULL},
        {"PATH", NULL},
        {"HOME", NULL},
        {"KMS_KEY_ID", NULL},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(t); i++) {
        const char *k = pl_secret_name_kind(t[i].name, strlen(t[i].name));
        PL_CHECK_MSG((k == NULL && t[i].kind == NULL) || (k && t[i].kind && !strcmp(k, t[i].kind)),
                     "%s: kind %s, expected %s", t[i].name, k ? k : "(none)",
                     t[i].kind ? t[i].kind : "(none)");
    }
}

static char *const s_env[] = {
    "PATH=/usr/bin:/bin",
    "HOME=/home/sbx_user1051",
    "PWD=/var/task",
    "AWS_REGION=us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME=orders-prod",
    "_X_AMZN_TRACE_ID=Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "AWS_ACCESS_KEY_ID="
    "ASIA"
    "QWERTYUIOPASDFGH",
    "AWS_SECRET_ACCESS_KEY=" AWS_SECRET,
    "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////"
    "wEaCXVzLWVhc3QtMSJHMEUCIQDx8vN1cNp3k9ZsY2Q1a0sYbWlqZ3F0dGZ1c2VyX3Rva2VuX2Zvcl90ZXN0aW5nX29ubHl"
    "fbm90X3JlYWxfbG9uZ19lbm91Z2hfdG9fc3BhbjI1NmJ5dGVzX2FuZF9tb3JlX3BhZGRpbmdfcGFkZGluZ19wYWRkaW5nX"
    "3BhZGRpbmdfcGFkZGluZw==",
    "DOC_KEY=AKIAIOSFODNN7EXAMPLE",
    "DB_PASSWORD=correct-horse-battery",
    "FEATURE_TOKEN_ENABLED=true",
    "SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
    "GH=" GH_TOKEN,
    "SLACK_HOOK=" SLACK,
    "OPENAI=" OPENAI,
    "PAYMENTS=" STRIPE,
    "SIGNING=" PEM,
    "SESSION=" JWT,
    "DATABASE_URL=postgres://app:"
    "s3cr3tpw@db.internal:5432/app",
    "UPLOAD_SALT=" HIGHENT,
    "LEGACY=" AKID,
    "MODE=production",
    NULL,
};

static const struct pl_env_finding *s_item(const struct pl_env_audit *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->items[i].name, name))
            return &a->items[i];
    return NULL;
}

/* no value of a secret variable of the crafted env appears in `text` */
static bool s_leaks(const char *text)
{
    static const char *const names[] = {"AWS_ACCESS_KEY_ID",
                                        "AWS_SECRET_ACCESS_KEY",
                                        "AWS_SESSION_TOKEN",
                                        "DB_PASSWORD",
                                        "GH",
                                        "SLACK_HOOK",
                                        "OPENAI",
                                        "PAYMENTS",
                                        "SIGNING",
                                        "SESSION",
                                        "DATABASE_URL",
                                        "UPLOAD_SALT",
                                        "LEGACY",
                                        NULL};
    for (size_t i = 0; s_env[i]; i++) {
        const char *eq = strchr(s_env[i], '=');
        for (size_t k = 0; names[k]; k++)
            if (strlen(names[k]) == (size_t)(eq - s_env[i]) &&
                !strncmp(s_env[i], names[k], strlen(names[k])) && strstr(text, eq + 1))
                return true;
    }
    return strstr(text, "s3cr3tpw") != NULL;
}

PL_TEST(env_audit_reports_each_kind_by_name_kind_and_hash_only)
{
    struct pl_env_audit a;
    pl_env_audit_init(&a);
    PL_CHECK_OK(pl_env_audit_run(s_env, &a));
    const struct pl_env_finding *f;
    PL_CHECK((f = s_item(&a, "AWS_SECRET_ACCESS_KEY")) && f->expected);
    PL_CHECK((f = s_item(&a, "AWS_ACCESS_KEY_ID")) && f->expected);
    PL_CHECK((f = s_item(&a, "AWS_SESSION_TOKEN")) && f->expected);
    PL_CHECK(!s_item(&a, "DOC_KEY"));
    PL_CHECK(!s_item(&a, "FEATURE_TOKEN_ENABLED"));
    PL_CHECK(!s_item(&a, "SECRET_ARN"));
    PL_CHECK(!s_item(&a, "PWD") && !s_item(&a, "PATH") && !s_item(&a, "_X_AMZN_TRACE_ID"));
    PL_CHECK(!s_item(&a, "MODE") && !s_item(&a, "AWS_LAMBDA_FUNCTION_NAME"));
    PL_CHECK((f = s_item(&a, "DB_PASSWORD")) && !strcmp(f->kind, "name:password"));
    PL_CHECK((f = s_item(&a, "GH")) && !strcmp(f->kind, "github_token"));
    PL_CHECK((f = s_item(&a, "SLACK_HOOK")) && !strcmp(f->kind, "slack_token"));
    PL_CHECK((f = s_item(&a, "OPENAI")) && !strcmp(f->kind, "openai_key"));
    PL_CHECK((f = s_item(&a, "PAYMENTS")) && !strcmp(f->kind, "stripe_key"));
    PL_CHECK((f = s_item(&a, "SIGNING")) && !strcmp(f->kind, "private_key"));
    PL_CHECK((f = s_item(&a, "SESSION")) && !strcmp(f->kind, "jwt"));
    PL_CHECK((f = s_item(&a, "DATABASE_URL")) && !strcmp(f->kind, "url_credentials"));
    PL_CHECK((f = s_item(&a, "UPLOAD_SALT")) && !strcmp(f->kind, "high_entropy"));
    PL_CHECK((f = s_item(&a, "LEGACY")) && !strcmp(f->kind, "aws_access_key_id"));
    PL_CHECK_INT(a.n_findings, 10);
    char want[9];
    pl_sha256_prefix8(GH_TOKEN, strlen(GH_TOKEN), want);
    PL_CHECK_STR(s_item(&a, "GH")->hash8, want);
    struct pl_buf out = PL_BUF_INIT;
    PL_CHECK_OK(pl_env_audit_text(&a, &out));
    PL_CHECK(strstr(out.data, "PLAINTEXT_SECRET  GH  kind=github_token  sha256=") != NULL);
    PL_CHECK(strstr(out.data, "10 findings in 23 variables") != NULL);
    PL_CHECK(!s_leaks(out.data));
    pl_buf_reset(&out);
    PL_CHECK_OK(pl_env_audit_json(&a, &out));
    PL_CHECK(strstr(out.data, "{\"name\":\"GH\",\"kind\":\"github_token\",\"sha256_prefix\":\"") !=
             NULL);
    PL_CHECK(!s_leaks(out.data));
    pl_buf_clean_up(&out);
    pl_env_audit_clean_up(&a);
}

/* base64 of (k filler bytes + value + 2 filler bytes) with OpenSSL, url-safe if asked */
static void s_b64(const char *prefix, const char *v, const char *suffix, bool url, char *out)
{
    char in[2048];
    snprintf(in, sizeof(in), "%s%s%s", prefix, v, suffix);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)strlen(in));
    if (url)
        for (char *p = out; *p; p++)
            *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

PL_TEST(canaries_catch_every_form_of_a_leak)
{
    struct pl_canaries *c = NULL;
    PL_CHECK_OK(pl_canaries_new(s_env, &c));
    PL_CHECK(pl_canaries_vars(c) >= 12);
    PL_CHECK(pl_canaries_max_len(c) <= PL_CANARY_MAX_PATTERN);
    struct pl_canary_hit hit;
    char buf[4096], b64[4096];
    /* plain, in a JSON response */
    snprintf(buf, sizeof(buf), "{\"statusCode\":200,\"body\":\"token=%s\"}", GH_TOKEN);
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 1);
    PL_CHECK_STR(hit.var, "GH");
    PL_CHECK_STR(hit.form, "plain");
    /* JSON-escaped slash of the AWS secret */
    char esc[128];
    size_t o = 0;
    for (const char *p = AWS_SECRET; *p; p++) {
        if (*p == '/')
            esc[o++] = '\\';
        esc[o++] = *p;
    }
    esc[o] = '\0';
    snprintf(buf, sizeof(buf), "{\"k\":\"%s\"}", esc);
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 1);
    PL_CHECK_STR(hit.var, "AWS_SECRET_ACCESS_KEY");
    /* base64 and base64url at every alignment, inside a larger encoded blob */
    static const char *const pre[] = {"", "A", "AB", "ABC", "ABCD"};
    for (int url = 0; url < 2; url++)
        for (size_t k = 0; k < PL_ARRAY_LEN(pre); k++) {
            s_b64(pre[k], "AWS_SECRET_ACCESS_KEY=" AWS_SECRET, "\nX", url, b64);
            PL_CHECK_MSG(pl_canaries_scan(c, b64, strlen(b64), &hit) == 1,
                         "base64%s alignment %zu missed", url ? "url" : "", k);
            PL_CHECK_STR(hit.var, "AWS_SECRET_ACCESS_KEY");
        }
    /* URL-encoded (upper and lower hex) */
    snprintf(buf, sizeof(buf),
             "https://evil.example/"
             "?d=postgres%%3A%%2F%%2Fapp%%3As3cr3tpw%%40db.internal%%3A5432%%2Fapp");
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 1);
    PL_CHECK_STR(hit.var, "DATABASE_URL");
    PL_CHECK_STR(hit.form, "url");
    snprintf(buf, sizeof(buf),
             "x=postgres%%3a%%2f%%2fapp%%3as3cr3tpw%%40db.internal%%3a5432%%2fapp");
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 1);
    /* the long session token: its head or its tail is enough */
    const char *st = strchr(s_env[8], '=') + 1;
    PL_CHECK(pl_canaries_scan(c, st + strlen(st) - 130, 130, &hit) == 1);
    PL_CHECK_STR(hit.var, "AWS_SESSION_TOKEN");
    /* hex dump */
    o = 0;
    for (const char *p = OPENAI; *p; p++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%02x", (unsigned char)*p);
    PL_CHECK(pl_canaries_scan(c, buf, o, &hit) == 1);
    PL_CHECK_STR(hit.form, "hex");
    /* not leaks: the documentation key, a near miss, a normal response */
    snprintf(buf, sizeof(buf), "{\"example\":\"AKIAIOSFODNN7EXAMPLE\",\"t\":\"%.*s\"}",
             (int)strlen(GH_TOKEN) - 1, GH_TOKEN);
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 0);
    snprintf(buf, sizeof(buf), "{\"statusCode\":200,\"body\":\"{\\\"orders\\\":[1,2,3]}\"}");
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 0);
    pl_canaries_destroy(c);
}

PL_TEST(canary_stream_finds_a_leak_split_at_every_offset)
{
    struct pl_canaries *c = NULL;
    PL_CHECK_OK(pl_canaries_new(s_env, &c));
    char doc[512];
    int n = snprintf(doc, sizeof(doc), "data: {\"k\":\"%s\"}\n\n", STRIPE);
    size_t at = (size_t)(strstr(doc, STRIPE) - doc);
    for (int cut1 = 1; cut1 < n - 1; cut1 += 3) {
        for (int cut2 = cut1 + 1; cut2 < n; cut2 += 5) {
            struct pl_canary_stream s;
            PL_CHECK_OK(pl_canary_stream_init(&s, c));
            struct pl_canary_hit hit;
            int r = pl_canary_stream_feed(&s, doc, (size_t)cut1, &hit);
            if (!r)
                r = pl_canary_stream_feed(&s, doc + cut1, (size_t)(cut2 - cut1), &hit);
            if (!r)
                r = pl_canary_stream_feed(&s, doc + cut2, (size_t)(n - cut2), &hit);
            pl_canary_stream_clean_up(&s);
            PL_CHECK_MSG(r == 1, "missed with cuts %d/%d", cut1, cut2);
            PL_CHECK_STR(hit.var, "PAYMENTS");
            PL_CHECK_INT(hit.offset, at);
        }
    }
    /* byte by byte */
    struct pl_canary_stream s;
    PL_CHECK_OK(pl_canary_stream_init(&s, c));
    int r = 0;
    struct pl_canary_hit hit;
    for (int i = 0; i < n && !r; i++)
        r = pl_canary_stream_feed(&s, doc + i, 1, &hit);
    pl_canary_stream_clean_up(&s);
    PL_CHECK(r == 1);
    PL_CHECK_INT(hit.offset, at);
    pl_canaries_destroy(c);
}

PL_TEST(canaries_skip_short_and_documentation_values_and_survive_alloc_failures)
{
    char *const env[] = {"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "API_KEY=abc12",
                         "DB_PASSWORD=longenough-pass", NULL};
    struct pl_canaries *c = NULL;
    PL_CHECK_OK(pl_canaries_new(env, &c));
    PL_CHECK_INT(pl_canaries_vars(c), 1);
    struct pl_canary_hit hit;
    PL_CHECK(pl_canaries_scan(c, "AKIAIOSFODNN7EXAMPLE", 20, &hit) == 0);
    PL_CHECK(pl_canaries_scan(c, "abc12", 5, &hit) == 0);
    PL_CHECK(pl_canaries_scan(c, "longenough-pass", 15, &hit) == 1);
    pl_canaries_destroy(c);
    for (long k = 0; k < 200; k++) {
        c = NULL;
        pl_test_fail_alloc_after(k);
        int rc = pl_canaries_new(s_env, &c);
        pl_test_fail_alloc_after(-1);
        if (rc == 0) {
            pl_canaries_destroy(c);
            break;
        }
        PL_CHECK(c == NULL);
    }
}

PL_TEST(system_audit_reports_views_without_secret_values)
{
    struct pl_sys_audit_opts o = {.pid = 0, .task_root = "/nonexistent-task", .json = true};
    struct pl_buf out = PL_BUF_INIT;
    size_t findings = 0;
    PL_CHECK_OK(pl_sys_audit(&o, &out, &findings));
    PL_CHECK(strstr(out.data, "\"writable_places\":[{\"path\":\"/tmp\"") != NULL);
    PL_CHECK(strstr(out.data, "\"runtime\":{\"pid\":") != NULL);
    PL_CHECK(strstr(out.data, "libc.so") != NULL);
    PL_CHECK(strstr(out.data, "\"interpreter\":\"/lib64/ld-linux-x86-64.so.2\"") != NULL);
    pl_buf_reset(&out);
    o.json = false;
    PL_CHECK_OK(pl_sys_audit(&o, &out, &findings));
    PL_CHECK(strstr(out.data, "sensitive files (content never read)") != NULL);
    PL_CHECK(strstr(out.data, "/etc/shadow") != NULL);
    pl_buf_clean_up(&out);
}

/* URL-encode like botocore does for presigned URLs (unreserved kept, %XX upper case) */
static size_t s_urlenc(const char *v, char *out)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            out[o++] = (char)*p;
        else
            o += (size_t)sprintf(out + o, "%%%02X", *p);
    }
    out[o] = '\0';
    return o;
}

PL_TEST(presigned_urls_carry_key_id_and_token_but_the_secret_key_still_denies)
{
    struct pl_canaries *c = NULL;
    PL_CHECK_OK(pl_canaries_new(s_env, &c));
    const char *kid = strchr(s_env[6], '=') + 1;
    const char *tok = strchr(s_env[8], '=') + 1;
    char enc[2048], url[4096], buf[4096];
    s_urlenc(tok, enc);
    snprintf(url, sizeof(url),
             "{\"url\":\"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
             "X-Amz-Credential=%s%%2F20261122%%2Fus-east-1%%2Fs3%%2Faws4_request&"
             "X-Amz-Date=20261122T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&"
             "X-Amz-Security-Token=%s&X-Amz-Signature=0123abcd\"}",
             kid, enc);
    struct pl_canary_hit hit;
    PL_CHECK_MSG(pl_canaries_scan(c, url, strlen(url), &hit) == 0, "presigned URL denied (%s)",
                 hit.var);
    /* the same token or key id anywhere else is a leak */
    snprintf(buf, sizeof(buf), "{\"t\":\"%s\"}", enc);
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 1);
    PL_CHECK_STR(hit.var, "AWS_SESSION_TOKEN");
    snprintf(buf, sizeof(buf), "{\"id\":\"%s\"}", kid);
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 1);
    PL_CHECK_STR(hit.var, "AWS_ACCESS_KEY_ID");
    /* the secret key is never part of a presigned URL: denied even there */
    snprintf(buf, sizeof(buf), "?X-Amz-Credential=%s&X-Amz-Security-Token=%s", AWS_SECRET,
             AWS_SECRET);
    PL_CHECK(pl_canaries_scan(c, buf, strlen(buf), &hit) == 1);
    PL_CHECK_STR(hit.var, "AWS_SECRET_ACCESS_KEY");
    pl_canaries_destroy(c);
}
