/* The store interface: dispatch to a backend, incident JSON, options from the settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

void pl_store_options_from_config(struct pl_store_options *o, const struct pl_config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->kind = (enum pl_store_kind)pl_config_int(cfg, PL_CFG_STORE);
    const char *p = pl_config_str(cfg, PL_CFG_STORE_PATH);
    o->path = (p && *p) ? p : NULL;
    o->table = pl_config_str(cfg, PL_CFG_DYNAMODB_TABLE);
    const char *e = pl_config_str(cfg, PL_CFG_DYNAMODB_ENDPOINT);
    o->endpoint = (e && *e) ? e : NULL;
    o->region = pl_config_str(cfg, PL_CFG_REGION);
    o->timeout_ms = (long)pl_config_int(cfg, PL_CFG_SINKS_TIMEOUT_MS);
    o->create = true;
}

const char *pl_store_default_path(void)
{
    const char *fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    if (fn && *fn)
        return "/tmp/protectlambda/incidents.db";
    return "./.protectlambda/incidents.db";
}

int pl_store_open(const struct pl_store_options *o, struct pl_store **out)
{
    *out = NULL;
    struct pl_store *s = pl_calloc(1, sizeof(*s));
    if (!s)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    s->kind = o->kind;
    int rc;
    switch (o->kind) {
    case PL_STORE_SQLITE:
        rc = pl_store_sqlite_open(o, s);
        break;
    case PL_STORE_DYNAMODB:
        rc = pl_store_dynamodb_open(o, s);
        break;
    case PL_STORE_NONE:
        rc = pl_store_memory_open(o, s);
        break;
    default:
        rc = pl_raise(PL_ERR_INVALID_ARG, "unknown store kind %d", (int)o->kind);
    }
    if (rc) {
        pl_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void pl_store_close(struct pl_store *s)
{
    if (!s)
        return;
    if (s->ops && s->ops->close)
        s->ops->close(s);
    pl_free(s);
}

const char *pl_store_describe(const struct pl_store *s)
{
    return s->describe;
}
enum pl_store_kind pl_store_kind(const struct pl_store *s)
{
    return s->kind;
}

int pl_store_init(struct pl_store *s)
{
    return s->ops->init(s);
}

int pl_store_put(struct pl_store *s, const struct pl_incident *inc)
{
    if (!inc->id[0] || !inc->function[0])
        return pl_raise(PL_ERR_INVALID_ARG, "incident without id or function");
    return s->ops->put(s, inc);
}

int pl_store_count(struct pl_store *s, const char *function, int64_t since_ms, int64_t until_ms,
                   uint64_t type_mask, size_t *count)
{
    *count = 0;
    return s->ops->count(s, function, since_ms, until_ms, type_mask, count);
}

int pl_store_each(struct pl_store *s, const char *function, int64_t since_ms, pl_store_each_fn fn,
                  void *ctx)
{
    return s->ops->each(s, function, since_ms, fn, ctx);
}

int pl_store_get_quarantine(struct pl_store *s, const char *function, struct pl_quarantine *q)
{
    memset(q, 0, sizeof(*q));
    return s->ops->get_quarantine(s, function, q);
}

int pl_store_set_quarantine(struct pl_store *s, const char *function, const struct pl_quarantine *q)
{
    return s->ops->set_quarantine(s, function, q);
}

int pl_store_clear_quarantine(struct pl_store *s, const char *function)
{
    return s->ops->clear_quarantine(s, function);
}

int pl_store_purge(struct pl_store *s, int64_t now_s, size_t *deleted)
{
    *deleted = 0;
    return s->ops->purge(s, now_s, deleted);
}

void pl_store_sort_key(const struct pl_incident *inc, char *out, size_t outlen)
{
    snprintf(out, outlen, "%013lld#%s", (long long)inc->time_ms, inc->id);
}

int pl_incident_to_json(const struct pl_incident *inc, struct pl_buf *out)
{
    char ts[40];
    pl_format_time(inc->time_ms, ts, sizeof(ts));
    int rc = pl_buf_append_str(out, "{\"id\":");
    rc |= pl_buf_append_json_cstr(out, inc->id);
    rc |= pl_buf_appendf(out, ",\"time\":\"%s\",\"time_ms\":%lld,\"function\":", ts,
                         (long long)inc->time_ms);
    rc |= pl_buf_append_json_cstr(out, inc->function);
    rc |= pl_buf_append_str(out, ",\"version\":");
    rc |= pl_buf_append_json_cstr(out, inc->version);
    rc |= pl_buf_appendf(out, ",\"type\":\"%s\",\"severity\":\"%s\",\"level\":\"%s\",\"source\":",
                         pl_event_type_name(inc->type), pl_severity_name(inc->severity),
                         pl_severity_name(inc->level));
    rc |= pl_buf_append_json_cstr(out, inc->source);
    rc |= pl_buf_append_str(out, ",\"request_id\":");
    rc |= pl_buf_append_json_cstr(out, inc->request_id);
    rc |= pl_buf_append_str(out, ",\"rule\":");
    rc |= pl_buf_append_json_cstr(out, inc->rule);
    rc |= pl_buf_append_str(out, ",\"path\":");
    rc |= pl_buf_append_json_cstr(out, inc->path);
    rc |= pl_buf_append_str(out, ",\"detail\":");
    rc |= pl_buf_append_json_cstr(out, inc->detail);
    rc |= pl_buf_append_str(out, ",\"actions\":");
    rc |= pl_buf_append_json_cstr(out, inc->actions);
    rc |= pl_buf_append_str(out, ",\"correlation\":");
    rc |= pl_buf_append_json_cstr(out, inc->correlation);
    rc |= pl_buf_append_char(out, '}');
    return rc ? -1 : 0;
}
