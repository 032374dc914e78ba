/* Lambda API calls of the playbooks: remote quarantine and terminate.
 * REST-JSON protocol, SigV4 signed (service "lambda"). Blocking: worker thread or CLI only.
 * The function's environment variables may hold secrets: they are read and written back, never
 * logged. */
#include <stdio.h>
#include <string.h>

#include "protectlambda/aws.h"
#include "protectlambda/incidents.h"
#include "protectlambda/json.h"

void pl_lambda_api_init(struct pl_lambda_api *api, const struct pl_config *cfg)
{
    memset(api, 0, sizeof(*api));
    snprintf(api->region, sizeof(api->region), "%s",
             pl_aws_region(pl_config_str(cfg, PL_CFG_REGION)));
    pl_aws_endpoint(pl_config_str(cfg, PL_CFG_LAMBDA_ENDPOINT), "lambda", api->region,
                    api->endpoint, sizeof(api->endpoint));
    api->timeout_ms = (long)pl_config_int(cfg, PL_CFG_SINKS_TIMEOUT_MS);
}

static int s_url(const struct pl_lambda_api *api, const char *version, const char *function,
                 const char *tail, struct pl_buf *url)
{
    int rc = pl_buf_appendf(url, "%s/%s/functions/", api->endpoint, version);
    rc |= pl_buf_append_urlencoded(url, function);
    rc |= pl_buf_append_str(url, tail);
    return rc ? pl_raise(PL_ERR_NOMEM, "out of memory") : 0;
}

static int s_call(const struct pl_lambda_api *api, const char *op, const char *method,
                  const char *url, const struct pl_buf *body, long *status, struct pl_buf *resp)
{
    struct pl_aws_credentials cred;
    char why[600];
    if (pl_aws_credentials_from_env(&cred)) {
        snprintf(why, sizeof(why), "%s", pl_last_error_msg());
        return pl_raise(PL_ERR_CONFIG, "lambda %s: %s", op, why);
    }
    struct pl_aws_request rq = {.method = method,
                                .url = url,
                                .service = "lambda",
                                .region = api->region,
                                .content_type = body ? "application/json" : NULL,
                                .body = body ? body->data : NULL,
                                .body_len = body ? body->len : 0,
                                .timeout_ms = api->timeout_ms};
    int rc = pl_aws_call(&rq, &cred, status, resp);
    pl_aws_credentials_wipe(&cred);
    if (rc) {
        snprintf(why, sizeof(why), "%s", pl_last_error_msg());
        return pl_raise(PL_ERR_HTTP, "lambda %s: %s", op, why);
    }
    return 0;
}

static int s_status_error(const char *op, const char *function, long status,
                          const struct pl_buf *resp)
{
    /* AWS error answers: {"Type":"User","message":"..."} / {"__type":..., "Message":...}; the
     * message text never contains variable values */
    struct pl_json *j = NULL;
    const char *msg = NULL;
    if (resp->len && pl_json_parse(resp->data, resp->len, NULL, &j) == 0) {
        msg = pl_json_get_str(j, "message");
        if (!msg)
            msg = pl_json_get_str(j, "Message");
    }
    pl_raise(PL_ERR_HTTP, "lambda %s %s: HTTP %ld%s%.200s", op, function, status, msg ? ": " : "",
             msg ? msg : "");
    pl_json_destroy(j);
    return -1;
}

static int s_quarantine_once(const struct pl_lambda_api *api, const char *function,
                             const char *reason, const char *timestamp, long *update_status)
{
    struct pl_buf url = PL_BUF_INIT, resp = PL_BUF_INIT, body = PL_BUF_INIT;
    struct pl_json *cfgj = NULL;
    long status = 0;
    int ret = -1;
    *update_status = 0;
    if (s_url(api, "2015-03-31", function, "/configuration", &url))
        goto out;
    if (s_call(api, "GetFunctionConfiguration", "GET", url.data, NULL, &status, &resp))
        goto out;
    if (status != 200) {
        s_status_error("GetFunctionConfiguration", function, status, &resp);
        goto out;
    }
    struct pl_json_limits lim = {64, 100000};
    if (pl_json_parse(resp.data, resp.len, &lim, &cfgj)) {
        pl_raise(PL_ERR_HTTP, "lambda GetFunctionConfiguration %s: answer is not JSON", function);
        goto out;
    }
    const struct pl_json *env = pl_json_get(cfgj, "Environment");
    const struct pl_json *vars = env ? pl_json_get(env, "Variables") : NULL;
    const char *rev = pl_json_get_str(cfgj, "RevisionId");
    int rc = pl_buf_append_str(&body, "{\"Environment\":{\"Variables\":{");
    bool first = true;
    if (vars && vars->type == PL_JSON_OBJECT) {
        for (const struct pl_json *v = vars->child; v; v = v->next) {
            if (v->type != PL_JSON_STRING)
                continue;
            if (!strcmp(v->key, "QUARANTINE_MODE") || !strcmp(v->key, "QUARANTINE_REASON") ||
                !strcmp(v->key, "QUARANTINE_TIMESTAMP"))
                continue; /* replaced below */
            if (!first)
                rc |= pl_buf_append_char(&body, ',');
            rc |= pl_buf_append_json_str(&body, v->key, v->key_len);
            rc |= pl_buf_append_char(&body, ':');
            rc |= pl_buf_append_json_str(&body, v->str, v->len);
            first = false;
        }
    }
    rc |= pl_buf_appendf(&body,
                         "%s\"QUARANTINE_MODE\":\"true\",\"QUARANTINE_REASON\":", first ? "" : ",");
    rc |= pl_buf_append_json_cstr(&body, reason);
    rc |= pl_buf_append_str(&body, ",\"QUARANTINE_TIMESTAMP\":");
    rc |= pl_buf_append_json_cstr(&body, timestamp);
    rc |= pl_buf_append_str(&body, "}}");
    if (rev) {
        rc |= pl_buf_append_str(&body, ",\"RevisionId\":");
        rc |= pl_buf_append_json_cstr(&body, rev);
    }
    rc |= pl_buf_append_char(&body, '}');
    if (rc) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    pl_buf_reset(&resp);
    if (s_call(api, "UpdateFunctionConfiguration", "PUT", url.data, &body, &status, &resp))
        goto out;
    *update_status = status;
    if (status != 200) {
        s_status_error("UpdateFunctionConfiguration", function, status, &resp);
        goto out;
    }
    ret = 0;
out:
    /* the body held the function's variables: clear before freeing */
    if (body.data)
        memset(body.data, 0, body.cap);
    if (resp.data)
        memset(resp.data, 0, resp.cap);
    pl_json_destroy(cfgj);
    pl_buf_clean_up(&url);
    pl_buf_clean_up(&resp);
    pl_buf_clean_up(&body);
    return ret;
}

int pl_lambda_quarantine(const struct pl_lambda_api *api, const char *function, const char *reason,
                         const char *timestamp)
{
    long st = 0;
    int rc = s_quarantine_once(api, function, reason, timestamp, &st);
    if (rc && (st == 412 || st == 409)) /* the configuration changed in between: once more */
        rc = s_quarantine_once(api, function, reason, timestamp, &st);
    return rc;
}

int pl_lambda_put_concurrency(const struct pl_lambda_api *api, const char *function, int n)
{
    struct pl_buf url = PL_BUF_INIT, resp = PL_BUF_INIT, body = PL_BUF_INIT;
    long status = 0;
    int ret = -1;
    if (s_url(api, "2017-10-31", function, "/concurrency", &url))
        goto out;
    if (pl_buf_appendf(&body, "{\"ReservedConcurrentExecutions\":%d}", n)) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (s_call(api, "PutFunctionConcurrency", "PUT", url.data, &body, &status, &resp))
        goto out;
    if (status != 200) {
        s_status_error("PutFunctionConcurrency", function, status, &resp);
        goto out;
    }
    ret = 0;
out:
    pl_buf_clean_up(&url);
    pl_buf_clean_up(&resp);
    pl_buf_clean_up(&body);
    return ret;
}
