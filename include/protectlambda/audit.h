/* Audit: plaintext secrets in environment variables (by name and by value shape), reported by
 * name, kind and an 8-hex SHA-256 prefix — never the value; secret canaries (the values of
 * secret variables, in plain, base64, base64url, URL- and JSON-encoded forms) matched against
 * responses; and the system view (writable places, sensitive files, the runtime's loaded
 * objects and code-loading variables). See docs/audit.md. */
#ifndef PROTECTLAMBDA_AUDIT_H
#define PROTECTLAMBDA_AUDIT_H

#include <sys/types.h>

#include "protectlambda/buf.h"

#define PL_AUDIT_MAX_VARS 4096         /* environment variables examined */
#define PL_AUDIT_MAX_VALUE (64u << 10) /* longest value examined (longer: by name only) */

/* ---- environment audit ---- */
struct pl_env_finding {
    char name[128];   /* variable name (truncated to 127 bytes) */
    const char *kind; /* static: "aws_access_key_id", "github_token", ..., "name:password" */
    char hash8[9];    /* first 8 hex of SHA-256(value) */
    bool expected;    /* injected by Lambda (AWS_ACCESS_KEY_ID, ...): not a finding */
};

struct pl_env_audit {
    struct pl_env_finding *items; /* findings and expected credentials */
    size_t n, cap;
    size_t n_findings; /* items with !expected */
    size_t n_vars;     /* variables examined */
};

void pl_env_audit_init(struct pl_env_audit *a);
void pl_env_audit_clean_up(struct pl_env_audit *a);
/* envp NULL = environ */
int pl_env_audit_run(char *const *envp, struct pl_env_audit *a);
int pl_env_audit_text(const struct pl_env_audit *a, struct pl_buf *out);
int pl_env_audit_json(const struct pl_env_audit *a, struct pl_buf *out);

/* Kind of secret a value looks like ("aws_access_key_id", "github_token", "slack_token",
 * "openai_key", "stripe_key", "private_key", "jwt", "aws_secret_access_key", "google_api_key",
 * "url_credentials", "high_entropy"), or NULL. The AWS documentation keys
 * (AKIAIOSFODNN7EXAMPLE, wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY) are not secrets. */
const char *pl_secret_value_kind(const char *v, size_t len);
/* "password", "secret", "token", ... when the name says the value is a secret, or NULL */
const char *pl_secret_name_kind(const char *name, size_t len);
/* Shannon entropy in bits per byte */
double pl_shannon_entropy(const char *v, size_t len);

/* ---- canaries ---- */
#define PL_CANARY_MIN_VALUE 8     /* shorter values are not canaries (too many false hits) */
#define PL_CANARY_MAX_PATTERN 128 /* longer forms are matched by their first and last 128 bytes */

struct pl_canaries;

struct pl_canary_hit {
    const char *var;  /* variable name (owned by the canaries) */
    size_t var_index; /* index of the variable (pl_canaries_var) */
    const char *form; /* "plain", "base64", "base64url", "url", "json" */
    size_t offset;    /* of the match in the scanned data */
};

/* Build canaries from every secret variable of envp (NULL = environ): audit findings plus the
 * expected AWS credentials. Values stay in this process's memory only (wiped on destroy). */
int pl_canaries_new(char *const *envp, struct pl_canaries **out);
void pl_canaries_destroy(struct pl_canaries *c);
size_t pl_canaries_count(const struct pl_canaries *c);              /* patterns */
size_t pl_canaries_vars(const struct pl_canaries *c);               /* variables */
size_t pl_canaries_max_len(const struct pl_canaries *c);            /* longest pattern */
const char *pl_canaries_var(const struct pl_canaries *c, size_t i); /* name of variable i */
/* 1 when data contains a canary (hit filled), 0 when not. Thread-safe (read-only). */
int pl_canaries_scan(const struct pl_canaries *c, const char *data, size_t len,
                     struct pl_canary_hit *hit);

/* streaming: a canary split across chunks is found (carry-over of max_len-1 bytes) */
struct pl_canary_stream {
    const struct pl_canaries *c;
    char *carry;
    size_t n_carry;
    uint64_t consumed; /* bytes fed before the carry */
};
int pl_canary_stream_init(struct pl_canary_stream *s, const struct pl_canaries *c);
void pl_canary_stream_clean_up(struct pl_canary_stream *s);
/* 1 on a hit (offset counted from the start of the stream), 0 none, -1 error */
int pl_canary_stream_feed(struct pl_canary_stream *s, const char *data, size_t len,
                          struct pl_canary_hit *hit);

/* ---- system view (protectlambda audit) ---- */
struct pl_sys_audit_opts {
    pid_t pid;             /* runtime process (0 = self) */
    const char *task_root; /* function code (NULL = LAMBDA_TASK_ROOT or /var/task) */
    bool json;
};
/* Render the report into out; *findings receives the number of findings (a library from a
 * writable place, a writable code directory, a readable secret file, code-loading variables
 * pointing into writable places). */
int pl_sys_audit(const struct pl_sys_audit_opts *o, struct pl_buf *out, size_t *findings);

#endif
