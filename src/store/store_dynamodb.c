/* DynamoDB backend: JSON protocol (x-amz-json-1.0) over HTTP with libcurl, SigV4 signed.
 *
 * Table: pk (S) = function name, sk (S) = "<13-digit time ms>#<incident id>", so a Query on one
 * function with `sk BETWEEN` is a correlation window. The quarantine state is the item
 * sk = "Q#quarantine" of the same function (sorts after every digit, so windows never see it).
 * Writes are conditional (attribute_not_exists(sk)): a retried write never duplicates, and the
 * first quarantine wins. Items carry "ttl" (epoch seconds) for DynamoDB's TTL expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protectlambda/aws.h"
#include "protectlambda/json.h"
#include "protectlambda/log.h"
#include "store_impl.h"

#define S_QUARANTINE_SK "Q#quarantine"
#define S_MAX_PAGES 10000

struct s_ddb {
    char table[256];
    char endpoint[512];
    char region[64];
    long timeout_ms;
    struct pl_aws_credentials cred;
};

/* one call: 0 with *type set to the exception name ("" when 2xx) and *doc the parsed answer */
static int s_call(struct s_ddb *d, const char *op, const struct pl_buf *body, char *type,
                  size_t type_len, struct pl_json **doc)
{
    char target[96];
    struct pl_buf resp = PL_BUF_INIT;
    long status = 0;
    int ret = -1;
    type[0] = '\0';
    if (doc)
        *doc = NULL;
    snprintf(target, sizeof(target), "DynamoDB_20120810.%s", op);
    struct pl_aws_request rq = {
        .method = "POST",
        .url = d->endpoint,
        .service = "dynamodb",
        .region = d->region,
        .content_type = "application/x-amz-json-1.0",
        .target = target,
        .body = body->data ? body->data : "{}",
        .body_len = body->data ? body->len : 2,
        .timeout_ms = d->timeout_ms,
    };
    if (pl_aws_call(&rq, &d->cred, &status, &resp)) {
        char why[600];
        snprintf(why, sizeof(why), "%s", pl_last_error_msg());
        pl_raise(PL_ERR_STORE, "dynamodb %s %s: %s", op, d->table, why);
        goto out;
    }
    struct pl_json *j = NULL;
    if (resp.len && pl_json_parse(resp.data, resp.len, NULL, &j))
        j = NULL;
    if (status / 100 != 2) {
        const char *t = j ? pl_json_get_str(j, "__type") : NULL;
        const char *msg = j ? pl_json_get_str(j, "message") : NULL;
        if (!msg && j)
            msg = pl_json_get_str(j, "Message");
        if (t) {
            const char *hash = strrchr(t, '#');
            snprintf(type, type_len, "%s", hash ? hash + 1 : t);
        } else {
            snprintf(type, type_len, "HTTP%ld", status);
        }
        pl_raise(PL_ERR_STORE, "dynamodb %s %s: HTTP %ld %s%s%s", op, d->table, status, type,
                 msg ? ": " : "", msg ? msg : "");
        pl_json_destroy(j);
        ret = 0; /* an answer: the caller decides on the exception type */
        goto out;
    }
    if (!j) {
        pl_raise(PL_ERR_STORE, "dynamodb %s %s: answer is not JSON", op, d->table);
        goto out;
    }
    if (doc)
        *doc = j;
    else
        pl_json_destroy(j);
    ret = 0;
out:
    pl_buf_clean_up(&resp);
    return ret;
}

/* like s_call, but any exception is an error (its message already raised) */
static int s_call_ok(struct s_ddb *d, const char *op, const struct pl_buf *body,
                     struct pl_json **doc)
{
    char type[128];
    if (s_call(d, op, body, type, sizeof(type), doc))
        return -1;
    return type[0] ? -1 : 0;
}

static int s_attr_s(struct pl_buf *b, bool *first, const char *name, const char *v)
{
    if (!v || !*v) /* empty strings are left out: absent reads back as "" */
        return 0;
    int rc = pl_buf_appendf(b, "%s\"%s\":{\"S\":", *first ? "" : ",", name);
    rc |= pl_buf_append_json_cstr(b, v);
    rc |= pl_buf_append_char(b, '}');
    *first = false;
    return rc;
}

static int s_attr_n(struct pl_buf *b, bool *first, const char *name, long long v)
{
    int rc = pl_buf_appendf(b, "%s\"%s\":{\"N\":\"%lld\"}", *first ? "" : ",", name, v);
    *first = false;
    return rc;
}

static int s_init(struct pl_store *s)
{
    struct s_ddb *d = s->impl;
    struct pl_buf b = PL_BUF_INIT;
    char type[128];
    int ret = -1;
    int rc = pl_buf_append_str(&b, "{\"TableName\":");
    rc |= pl_buf_append_json_cstr(&b, d->table);
    rc |= pl_buf_append_str(
        &b, ",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"},"
            "{\"AttributeName\":\"sk\",\"AttributeType\":\"S\"}],"
            "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},"
            "{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],"
            "\"BillingMode\":\"PAY_PER_REQUEST\"}");
    if (rc) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (s_call(d, "CreateTable", &b, type, sizeof(type), NULL))
        goto out;
    if (type[0] && strcmp(type, "ResourceInUseException") != 0)
        goto out; /* error raised */
    /* wait until the table is ACTIVE (a new table takes a moment) */
    pl_buf_reset(&b);
    rc = pl_buf_append_str(&b, "{\"TableName\":");
    rc |= pl_buf_append_json_cstr(&b, d->table);
    rc |= pl_buf_append_char(&b, '}');
    if (rc)
        goto out;
    bool active = false;
    for (int i = 0; i < 600 && !active; i++) {
        struct pl_json *j = NULL;
        if (s_call_ok(d, "DescribeTable", &b, &j))
            goto out;
        const struct pl_json *t = pl_json_get(j, "Table");
        const char *st = t ? pl_json_get_str(t, "TableStatus") : NULL;
        active = st && !strcmp(st, "ACTIVE");
        pl_json_destroy(j);
        if (!active) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (!active) {
        pl_raise(PL_ERR_STORE, "dynamodb table %s did not become ACTIVE within 60 s", d->table);
        goto out;
    }
    pl_buf_reset(&b);
    rc = pl_buf_append_str(&b, "{\"TableName\":");
    rc |= pl_buf_append_json_cstr(&b, d->table);
    rc |= pl_buf_append_str(
        &b, ",\"TimeToLiveSpecification\":{\"AttributeName\":\"ttl\",\"Enabled\":true}}");
    if (rc)
        goto out;
    if (s_call(d, "UpdateTimeToLive", &b, type, sizeof(type), NULL))
        goto out;
    if (type[0]) {
        /* already enabled is a ValidationException; an emulator without TTL support answers
         * UnknownOperationException: the table works, items just do not expire */
        if (strcmp(type, "ValidationException") != 0)
            pl_log(PL_LOG_WARN, "store", "dynamodb table %s: TTL not enabled (%s)", d->table,
                   pl_last_error_msg());
    }
    pl_error_clear();
    ret = 0;
out:
    pl_buf_clean_up(&b);
    return ret;
}

static int s_put_item(struct s_ddb *d, const struct pl_buf *item, bool *existed)
{
    char type[128];
    struct pl_buf b = PL_BUF_INIT;
    int ret = -1;
    *existed = false;
    int rc = pl_buf_append_str(&b, "{\"TableName\":");
    rc |= pl_buf_append_json_cstr(&b, d->table);
    rc |= pl_buf_append_str(&b, ",\"Item\":{");
    rc |= pl_buf_append(&b, item->data, item->len);
    rc |= pl_buf_append_str(&b, "},\"ConditionExpression\":\"attribute_not_exists(sk)\"}");
    if (rc) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (s_call(d, "PutItem", &b, type, sizeof(type), NULL))
        goto out;
    if (type[0]) {
        if (strcmp(type, "ConditionalCheckFailedException") != 0)
            goto out;
        *existed = true;
        pl_error_clear();
    }
    ret = 0;
out:
    pl_buf_clean_up(&b);
    return ret;
}

static int s_put(struct pl_store *s, const struct pl_incident *inc)
{
    struct s_ddb *d = s->impl;
    struct pl_buf it = PL_BUF_INIT;
    char sk[160];
    bool first = true, existed;
    int ret = -1;
    pl_store_sort_key(inc, sk, sizeof(sk));
    int rc = s_attr_s(&it, &first, "pk", inc->function);
    rc |= s_attr_s(&it, &first, "sk", sk);
    rc |= s_attr_s(&it, &first, "id", inc->id);
    rc |= s_attr_n(&it, &first, "time_ms", inc->time_ms);
    rc |= s_attr_s(&it, &first, "version", inc->version);
    rc |= s_attr_s(&it, &first, "type", pl_event_type_name(inc->type));
    rc |= s_attr_s(&it, &first, "severity", pl_severity_name(inc->severity));
    rc |= s_attr_s(&it, &first, "level", pl_severity_name(inc->level));
    rc |= s_attr_s(&it, &first, "source", inc->source);
    rc |= s_attr_s(&it, &first, "request_id", inc->request_id);
    rc |= s_attr_s(&it, &first, "rule", inc->rule);
    rc |= s_attr_s(&it, &first, "path", inc->path);
    rc |= s_attr_s(&it, &first, "detail", inc->detail);
    rc |= s_attr_s(&it, &first, "actions", inc->actions);
    rc |= s_attr_s(&it, &first, "correlation", inc->correlation);
    rc |= s_attr_n(&it, &first, "ttl", inc->expires_s);
    if (rc) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    ret = s_put_item(d, &it, &existed);
out:
    pl_buf_clean_up(&it);
    return ret;
}

/* Query one function's window; each page's items go to fn (or only Count is summed) */
typedef int (*s_page_fn)(void *ctx, const struct pl_json *item);

static int s_query(struct s_ddb *d, const char *function, const char *sk_lo, const char *sk_hi,
                   uint64_t type_mask, bool count_only, size_t *count, s_page_fn fn, void *ctx)
{
    struct pl_buf b = PL_BUF_INIT, start = PL_BUF_INIT;
    int ret = -1;
    if (!function || !*function) {
        pl_raise(PL_ERR_INVALID_ARG, "dynamodb store: a function name is needed");
        goto out;
    }
    for (int page = 0; page < S_MAX_PAGES; page++) {
        pl_buf_reset(&b);
        int rc = pl_buf_append_str(&b, "{\"TableName\":");
        rc |= pl_buf_append_json_cstr(&b, d->table);
        rc |= pl_buf_append_str(&b,
                                ",\"ConsistentRead\":true,\"ScanIndexForward\":true,"
                                "\"KeyConditionExpression\":\"pk = :p AND sk BETWEEN :a AND :b\"");
        if (count_only)
            rc |= pl_buf_append_str(&b, ",\"Select\":\"COUNT\"");
        rc |= pl_buf_append_str(&b, ",\"ExpressionAttributeValues\":{\":p\":{\"S\":");
        rc |= pl_buf_append_json_cstr(&b, function);
        rc |= pl_buf_append_str(&b, "},\":a\":{\"S\":");
        rc |= pl_buf_append_json_cstr(&b, sk_lo);
        rc |= pl_buf_append_str(&b, "},\":b\":{\"S\":");
        rc |= pl_buf_append_json_cstr(&b, sk_hi);
        rc |= pl_buf_append_char(&b, '}');
        int nt = 0;
        for (int t = 0; t < PL_EV_COUNT && type_mask; t++)
            if (type_mask & (1ull << t))
                rc |= pl_buf_appendf(&b, ",\":t%d\":{\"S\":\"%s\"}", nt++,
                                     pl_event_type_name((enum pl_event_type)t));
        rc |= pl_buf_append_char(&b, '}');
        if (nt) {
            rc |= pl_buf_append_str(&b, ",\"ExpressionAttributeNames\":{\"#t\":\"type\"},"
                                        "\"FilterExpression\":\"#t IN (");
            for (int i = 0; i < nt; i++)
                rc |= pl_buf_appendf(&b, "%s:t%d", i ? "," : "", i);
            rc |= pl_buf_append_str(&b, ")\"");
        }
        if (start.len) {
            rc |= pl_buf_append_str(&b, ",\"ExclusiveStartKey\":");
            rc |= pl_buf_append(&b, start.data, start.len);
        }
        rc |= pl_buf_append_char(&b, '}');
        if (rc) {
            pl_raise(PL_ERR_NOMEM, "out of memory");
            goto out;
        }
        struct pl_json *j = NULL;
        if (s_call_ok(d, "Query", &b, &j))
            goto out;
        int64_t n = 0;
        if (pl_json_get_int(j, "Count", &n) && count)
            *count += (size_t)n;
        const struct pl_json *items = pl_json_get(j, "Items");
        if (fn && items && items->type == PL_JSON_ARRAY) {
            for (const struct pl_json *it = items->child; it; it = it->next) {
                int r = fn(ctx, it);
                if (r) {
                    pl_json_destroy(j);
                    ret = r;
                    goto out;
                }
            }
        }
        const struct pl_json *lek = pl_json_get(j, "LastEvaluatedKey");
        pl_buf_reset(&start);
        if (lek && pl_json_write(&start, lek)) {
            pl_json_destroy(j);
            goto out;
        }
        pl_json_destroy(j);
        if (!start.len) {
            ret = 0;
            goto out;
        }
    }
    pl_raise(PL_ERR_LIMIT, "dynamodb Query %s: more than %d pages", d->table, S_MAX_PAGES);
out:
    pl_buf_clean_up(&b);
    pl_buf_clean_up(&start);
    return ret;
}

static void s_window(int64_t since_ms, int64_t until_ms, char *lo, size_t nlo, char *hi, size_t nhi)
{
    if (since_ms < 0)
        since_ms = 0;
    if (until_ms > 9999999999999LL)
        until_ms = 9999999999999LL;
    snprintf(lo, nlo, "%013lld", (long long)since_ms);
    snprintf(hi, nhi, "%013lld$", (long long)until_ms); /* '$' sorts after '#' */
}

static int s_count(struct pl_store *s, const char *function, int64_t since_ms, int64_t until_ms,
                   uint64_t type_mask, size_t *count)
{
    char lo[32], hi[32];
    s_window(since_ms, until_ms, lo, sizeof(lo), hi, sizeof(hi));
    return s_query(s->impl, function, lo, hi, type_mask, true, count, NULL, NULL);
}

static const char *s_get_s(const struct pl_json *item, const char *name)
{
    const struct pl_json *a = pl_json_get(item, name);
    const char *v = a ? pl_json_get_str(a, "S") : NULL;
    return v ? v : "";
}

static int64_t s_get_n(const struct pl_json *item, const char *name)
{
    const struct pl_json *a = pl_json_get(item, name);
    const char *v = a ? pl_json_get_str(a, "N") : NULL;
    return v ? strtoll(v, NULL, 10) : 0;
}

struct s_each_ctx {
    pl_store_each_fn fn;
    void *ctx;
};

static int s_each_item(void *vctx, const struct pl_json *item)
{
    struct s_each_ctx *c = vctx;
    struct pl_incident inc;
    memset(&inc, 0, sizeof(inc));
    pl_event_set(inc.id, sizeof(inc.id), s_get_s(item, "id"));
    pl_event_set(inc.function, sizeof(inc.function), s_get_s(item, "pk"));
    inc.time_ms = s_get_n(item, "time_ms");
    pl_event_set(inc.version, sizeof(inc.version), s_get_s(item, "version"));
    if (pl_event_type_parse(s_get_s(item, "type"), &inc.type))
        inc.type = PL_EV_GUARD_FAILURE;
    if (pl_severity_parse(s_get_s(item, "severity"), &inc.severity))
        inc.severity = PL_SEV_INFO;
    if (pl_severity_parse(s_get_s(item, "level"), &inc.level))
        inc.level = inc.severity;
    pl_error_clear();
    pl_event_set(inc.source, sizeof(inc.source), s_get_s(item, "source"));
    pl_event_set(inc.request_id, sizeof(inc.request_id), s_get_s(item, "request_id"));
    pl_event_set(inc.rule, sizeof(inc.rule), s_get_s(item, "rule"));
    pl_event_set(inc.path, sizeof(inc.path), s_get_s(item, "path"));
    pl_event_set(inc.detail, sizeof(inc.detail), s_get_s(item, "detail"));
    pl_event_set(inc.actions, sizeof(inc.actions), s_get_s(item, "actions"));
    pl_event_set(inc.correlation, sizeof(inc.correlation), s_get_s(item, "correlation"));
    inc.expires_s = s_get_n(item, "ttl");
    return c->fn(c->ctx, &inc);
}

static int s_each(struct pl_store *s, const char *function, int64_t since_ms, pl_store_each_fn fn,
                  void *ctx)
{
    char lo[32], hi[32];
    s_window(since_ms, 9999999999999LL, lo, sizeof(lo), hi, sizeof(hi));
    struct s_each_ctx c = {fn, ctx};
    return s_query(s->impl, function, lo, hi, 0, false, NULL, s_each_item, &c);
}

static int s_key(struct pl_buf *b, struct s_ddb *d, const char *function, const char *tail)
{
    int rc = pl_buf_append_str(b, "{\"TableName\":");
    rc |= pl_buf_append_json_cstr(b, d->table);
    rc |= pl_buf_append_str(b, ",\"Key\":{\"pk\":{\"S\":");
    rc |= pl_buf_append_json_cstr(b, function);
    rc |= pl_buf_append_str(b, "},\"sk\":{\"S\":\"" S_QUARANTINE_SK "\"}}");
    rc |= pl_buf_append_str(b, tail);
    rc |= pl_buf_append_char(b, '}');
    return rc;
}

static int s_get_quarantine(struct pl_store *s, const char *function, struct pl_quarantine *q)
{
    struct s_ddb *d = s->impl;
    struct pl_buf b = PL_BUF_INIT;
    struct pl_json *j = NULL;
    int ret = -1;
    if (s_key(&b, d, function, ",\"ConsistentRead\":true")) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (s_call_ok(d, "GetItem", &b, &j))
        goto out;
    const struct pl_json *item = pl_json_get(j, "Item");
    if (item && item->type == PL_JSON_OBJECT) {
        q->active = true;
        q->time_ms = s_get_n(item, "time_ms");
        pl_event_set(q->reason, sizeof(q->reason), s_get_s(item, "reason"));
        pl_event_set(q->incident_id, sizeof(q->incident_id), s_get_s(item, "incident_id"));
    }
    ret = 0;
out:
    pl_json_destroy(j);
    pl_buf_clean_up(&b);
    return ret;
}

static int s_set_quarantine(struct pl_store *s, const char *function, const struct pl_quarantine *q)
{
    struct s_ddb *d = s->impl;
    struct pl_buf it = PL_BUF_INIT;
    bool first = true, existed;
    int rc = s_attr_s(&it, &first, "pk", function);
    rc |= s_attr_s(&it, &first, "sk", S_QUARANTINE_SK);
    rc |= s_attr_n(&it, &first, "time_ms", q->time_ms);
    rc |= s_attr_s(&it, &first, "reason", q->reason);
    rc |= s_attr_s(&it, &first, "incident_id", q->incident_id);
    int ret = rc ? pl_raise(PL_ERR_NOMEM, "out of memory") : s_put_item(d, &it, &existed);
    pl_buf_clean_up(&it);
    return ret;
}

static int s_clear_quarantine(struct pl_store *s, const char *function)
{
    struct s_ddb *d = s->impl;
    struct pl_buf b = PL_BUF_INIT;
    int ret = s_key(&b, d, function, "") ? pl_raise(PL_ERR_NOMEM, "out of memory")
                                         : s_call_ok(d, "DeleteItem", &b, NULL);
    pl_buf_clean_up(&b);
    return ret;
}

static int s_purge(struct pl_store *s, int64_t now_s, size_t *deleted)
{
    return 0; /* DynamoDB deletes expired items through the table's TTL setting */
}

static void s_close(struct pl_store *s)
{
    struct s_ddb *d = s->impl;
    if (d) {
        pl_aws_credentials_wipe(&d->cred);
        pl_free(d);
    }
    s->impl = NULL;
}

static const struct pl_store_ops s_ops = {
    s_init,  s_put,  s_count, s_each, s_get_quarantine, s_set_quarantine, s_clear_quarantine,
    s_purge, s_close};

int pl_store_dynamodb_open(const struct pl_store_options *o, struct pl_store *s)
{
    if (!o->table || !*o->table)
        return pl_raise(PL_ERR_CONFIG, "dynamodb.table is empty");
    if (strlen(o->table) >= 256)
        return pl_raise(PL_ERR_CONFIG, "dynamodb.table is too long");
    struct s_ddb *d = pl_calloc(1, sizeof(*d));
    if (!d)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    if (pl_aws_credentials_from_env(&d->cred)) {
        pl_free(d);
        char why[300];
        snprintf(why, sizeof(why), "%s", pl_last_error_msg());
        return pl_raise(PL_ERR_CONFIG, "dynamodb store: %s", why);
    }
    snprintf(d->table, sizeof(d->table), "%s", o->table);
    snprintf(d->region, sizeof(d->region), "%s", pl_aws_region(o->region));
    pl_aws_endpoint(o->endpoint, "dynamodb", d->region, d->endpoint, sizeof(d->endpoint));
    size_t el = strlen(d->endpoint);
    if (el + 1 < sizeof(d->endpoint))
        memcpy(d->endpoint + el, "/", 2);
    d->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    s->impl = d;
    s->ops = &s_ops;
    snprintf(s->describe, sizeof(s->describe), "dynamodb:%s@%s", d->table, d->endpoint);
    return 0;
}
