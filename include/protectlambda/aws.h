/* AWS requests signed with SigV4 through libcurl (CURLOPT_AWS_SIGV4), and plain HTTP POSTs for
 * webhooks. Part of pl_store (the lowest part that talks to AWS); used by the store (DynamoDB),
 * the sinks (SNS, SQS, webhook) and the incidents (Lambda API). Blocking calls with a timeout:
 * callers run them on worker threads, never on an invocation's hot path.
 * Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and are
 * never logged; error messages name the endpoint and status, never a key. */
#ifndef PROTECTLAMBDA_AWS_H
#define PROTECTLAMBDA_AWS_H

#include "protectlambda/buf.h"

struct pl_aws_credentials {
    char access_key[128];
    char secret_key[128];
    char session_token[2048];
};

/* from the environment; -1 (PL_ERR_CONFIG) when the key id or secret is missing */
int pl_aws_credentials_from_env(struct pl_aws_credentials *c);
/* overwrite with zeros */
void pl_aws_credentials_wipe(struct pl_aws_credentials *c);

/* `configured` when non-empty, else AWS_REGION, AWS_DEFAULT_REGION, "us-east-1" */
const char *pl_aws_region(const char *configured);
/* `configured` when non-empty, else "https://<service>.<region>.amazonaws.com" into out */
const char *pl_aws_endpoint(const char *configured, const char *service, const char *region,
                            char *out, size_t outlen);

struct pl_aws_request {
    const char *method;  /* "GET", "POST", "PUT" */
    const char *url;     /* endpoint + path (+ query) */
    const char *service; /* "dynamodb", "sns", "sqs", "lambda" */
    const char *region;
    const char *content_type; /* NULL: none (GET) */
    const char *target;       /* X-Amz-Target, or NULL */
    const char *body;
    size_t body_len;
    long timeout_ms; /* 0: 2000 */
};

/* Send one signed request. Returns 0 when an HTTP answer arrived (any status: *status holds it,
 * `resp` the body, capped at 1 MiB), -1 on a transport error (PL_ERR_HTTP). */
int pl_aws_call(const struct pl_aws_request *rq, const struct pl_aws_credentials *cred,
                long *status, struct pl_buf *resp);

/* POST a JSON body to a URL (webhooks). Same return convention as pl_aws_call. */
int pl_http_post_json(const char *url, const char *body, size_t len, long timeout_ms, long *status,
                      struct pl_buf *resp);

/* append s percent-encoded as an application/x-www-form-urlencoded value (RFC 3986 unreserved
 * characters kept) */
int pl_buf_append_urlencoded(struct pl_buf *b, const char *s);

/* Called once before libcurl is first loaded (the guard: verify the layer's libraries against
 * their manifest); non-zero refuses the load for the life of the process, with
 * pl_last_error_msg() as the reason. Set it before any thread may use libcurl. */
void pl_aws_set_load_check(int (*check)(void));

#endif
