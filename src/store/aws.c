/* SigV4-signed AWS requests and plain JSON POSTs through libcurl.
 *
 * libcurl is loaded on first use (dlopen), not linked: its chain of libraries (GnuTLS,
 * Kerberos, LDAP, p11-kit, ...) cost the guard ~5 MB of RSS and ~5 ms at every exec
 * (docs/performance.md), while only the sinks (webhook, SNS, SQS), the DynamoDB store and the
 * Lambda API calls of the incidents playbooks use it. */
#include "protectlambda/aws.h"

#define CURL_DISABLE_TYPECHECK /* the calls below go through function pointers */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_RESPONSE (1u << 20)
#define S_LIBCURL "libcurl.so.4"

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_init_rc = CURLE_FAILED_INIT;
static char s_curl_err[256];

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    void (*easy_cleanup)(CURL *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLU *(*url)(void);
    CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
    CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
    void (*url_cleanup)(CURLU *);
    void (*free)(void *);
} s_c;

#undef curl_easy_setopt  /* curl.h's own argument-count macros */
#undef curl_easy_getinfo
#define curl_global_init s_c.global_init
#define curl_easy_init s_c.easy_init
#define curl_easy_setopt s_c.easy_setopt
#define curl_easy_perform s_c.easy_perform
#define curl_easy_getinfo s_c.easy_getinfo
#define curl_easy_strerror s_c.easy_strerror
#define curl_easy_cleanup s_c.easy_cleanup
#define curl_slist_append s_c.slist_append
#define curl_slist_free_all s_c.slist_free_all
#define curl_url s_c.url
#define curl_url_set s_c.url_set
#define curl_url_get s_c.url_get
#define curl_url_cleanup s_c.url_cleanup
#define curl_free s_c.free

static int (*s_load_check)(void);

void pl_aws_set_load_check(int (*check)(void))
{
    __atomic_store_n(&s_load_check, check, __ATOMIC_RELEASE);
}

static void s_curl_init(void)
{
    int (*check)(void) = __atomic_load_n(&s_load_check, __ATOMIC_ACQUIRE);
    if (check && check()) {
        snprintf(s_curl_err, sizeof(s_curl_err), "%s not loaded: %s", S_LIBCURL,
                 pl_last_error_msg());
        return;
    }
    void *h = dlopen(S_LIBCURL, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(s_curl_err, sizeof(s_curl_err), "cannot load %s: %s", S_LIBCURL,
                 e ? e : "not found");
        return;
    }
    static const char *const names[] = {
        "curl_global_init",   "curl_easy_init",    "curl_easy_setopt", "curl_easy_perform",
        "curl_easy_getinfo",  "curl_easy_strerror", "curl_easy_cleanup", "curl_slist_append",
        "curl_slist_free_all", "curl_url",          "curl_url_set",     "curl_url_get",
        "curl_url_cleanup",   "curl_free"};
    void *syms[PL_ARRAY_LEN(names)];
    for (size_t i = 0; i < PL_ARRAY_LEN(names); i++) {
        if (!(syms[i] = dlsym(h, names[i]))) {
            snprintf(s_curl_err, sizeof(s_curl_err), "%s: no symbol %s", S_LIBCURL, names[i]);
            return;
        }
    }
    _Static_assert(sizeof(s_c) == sizeof(syms), "one pointer per name");
    memcpy(&s_c, syms, sizeof(s_c));
    s_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (s_curl_init_rc != CURLE_OK)
        snprintf(s_curl_err, sizeof(s_curl_err), "libcurl initialization failed");
}

static int s_copy_env(char *dst, size_t n, const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        dst[0] = '\0';
        return -1;
    }
    if (strlen(v) >= n)
        return pl_raise(PL_ERR_CONFIG, "%s is longer than %zu bytes", name, n - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int pl_aws_credentials_from_env(struct pl_aws_credentials *c)
{
    memset(c, 0, sizeof(*c));
    if (s_copy_env(c->access_key, sizeof(c->access_key), "AWS_ACCESS_KEY_ID") ||
        s_copy_env(c->secret_key, sizeof(c->secret_key), "AWS_SECRET_ACCESS_KEY")) {
        pl_aws_credentials_wipe(c);
        return pl_raise(PL_ERR_CONFIG,
                        "no AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
    }
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (token && *token &&
        s_copy_env(c->session_token, sizeof(c->session_token), "AWS_SESSION_TOKEN")) {
        pl_aws_credentials_wipe(c);
        return -1;
    }
    return 0;
}

void pl_aws_credentials_wipe(struct pl_aws_credentials *c)
{
    volatile char *p = (volatile char *)c;
    for (size_t i = 0; i < sizeof(*c); i++)
        p[i] = 0;
}

const char *pl_aws_region(const char *configured)
{
    if (configured && *configured)
        return configured;
    const char *r = getenv("AWS_REGION");
    if (r && *r)
        return r;
    r = getenv("AWS_DEFAULT_REGION");
    if (r && *r)
        return r;
    return "us-east-1";
}

const char *pl_aws_endpoint(const char *configured, const char *service, const char *region,
                            char *out, size_t outlen)
{
    if (configured && *configured)
        snprintf(out, outlen, "%s", configured);
    else
        snprintf(out, outlen, "https://%s.%s.amazonaws.com", service, region);
    /* no trailing slash: callers append the path */
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return out;
}

struct s_sink {
    struct pl_buf *b;
    int overflow;
};

static size_t s_write_cb(char *p, size_t size, size_t n, void *ud)
{
    struct s_sink *s = ud;
    size_t len = size * n;
    if (!s->b)
        return len;
    if (s->b->len + len > S_MAX_RESPONSE) {
        s->overflow = 1;
        return 0; /* abort the transfer */
    }
    if (pl_buf_append(s->b, p, len))
        return 0;
    return len;
}

static int s_perform(CURL *c, const char *what, long *status, struct pl_buf *resp)
{
    struct s_sink sink = {resp, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* no proxy from the environment for loopback endpoints used in tests and local runs */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        if (sink.overflow)
            return pl_raise(PL_ERR_HTTP, "%s: answer larger than %u bytes", what, S_MAX_RESPONSE);
        return pl_raise(PL_ERR_HTTP, "%s: %s", what, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* a new easy handle (libcurl initialised once per process); *status reset */
static int s_easy_new(CURL **out, long *status)
{
    pthread_once(&s_curl_once, s_curl_init);
    if (s_curl_init_rc != CURLE_OK)
        return pl_raise(PL_ERR_HTTP, "%s", s_curl_err);
    *status = 0;
    if (!(*out = curl_easy_init()))
        return pl_raise(PL_ERR_NOMEM, "curl_easy_init failed");
    return 0;
}

/* curl_slist_append returns NULL on failure and leaves the list as it was: keep it to free */
static int s_header(struct curl_slist **h, const char *line)
{
    struct curl_slist *n = curl_slist_append(*h, line);
    if (!n)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    *h = n;
    return 0;
}

int pl_aws_call(const struct pl_aws_request *rq, const struct pl_aws_credentials *cred,
                long *status, struct pl_buf *resp)
{
    int ret = -1;
    CURL *c = NULL;
    struct curl_slist *h = NULL;
    char sigv4[160], line[2200];
    if (s_easy_new(&c, status))
        return -1;
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", rq->region, rq->service);
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, cred->access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, cred->secret_key);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 2000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 2000L);
    if (rq->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
        if (s_header(&h, line))
            goto out;
    }
    if (rq->target) {
        snprintf(line, sizeof(line), "X-Amz-Target: %s", rq->target);
        if (s_header(&h, line))
            goto out;
    }
    if (cred->session_token[0]) {
        snprintf(line, sizeof(line), "X-Amz-Security-Token: %s", cred->session_token);
        if (s_header(&h, line))
            goto out;
    }
    /* no "Expect:" override here: libcurl 7.88 would sign the removed header (bodies are far
     * below the size at which it sends Expect: 100-continue) */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (!strcmp(rq->method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
        if (strcmp(rq->method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    char what[300];
    snprintf(what, sizeof(what), "%s %s %s", rq->service, rq->method, rq->url);
    ret = s_perform(c, what, status, resp);
out:
    memset(line, 0, sizeof(line));
    curl_slist_free_all(h);
    if (c)
        curl_easy_cleanup(c);
    return ret;
}

int pl_http_post_json(const char *url, const char *body, size_t len, long timeout_ms, long *status,
                      struct pl_buf *resp)
{
    int ret = -1;
    CURL *c = NULL;
    struct curl_slist *h = NULL;
    if (s_easy_new(&c, status))
        return -1;
    if (s_header(&h, "Content-Type: application/json") || s_header(&h, "Expect:"))
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 2000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 2000L);
    /* the webhook URL may carry a secret token in its path: name only the host in errors */
    char what[200] = "webhook";
    CURLU *u = curl_url();
    char *host = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        snprintf(what, sizeof(what), "webhook %s", host);
    curl_free(host);
    curl_url_cleanup(u);
    ret = s_perform(c, what, status, resp);
out:
    curl_slist_free_all(h);
    if (c)
        curl_easy_cleanup(c);
    return ret;
}

int pl_buf_append_urlencoded(struct pl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            rc = pl_buf_append_char(b, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = pl_buf_append(b, e, 3);
        }
        if (rc)
            return -1;
    }
    return 0;
}
