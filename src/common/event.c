#include "protectlambda/event.h"

#include <string.h>
#include <strings.h>

#include "protectlambda/buf.h"

static const char *const s_type_names[] = {
#define PL_X_(n) #n,
    PL_EVENT_TYPES(PL_X_)
#undef PL_X_
};

static const char *const s_sev_names[] = {"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"};

const char *pl_event_type_name(enum pl_event_type t)
{
    return (unsigned)t < PL_EV_COUNT ? s_type_names[t] : "UNKNOWN";
}

int pl_event_type_parse(const char *s, enum pl_event_type *out)
{
    for (int i = 0; i < PL_EV_COUNT; i++) {
        if (!strcasecmp(s, s_type_names[i])) {
            *out = (enum pl_event_type)i;
            return 0;
        }
    }
    return pl_raise(PL_ERR_INVALID_ARG, "unknown event type '%s'", s);
}

const char *pl_severity_name(enum pl_severity s)
{
    return (unsigned)s < PL_SEV_COUNT ? s_sev_names[s] : "UNKNOWN";
}

int pl_severity_parse(const char *s, enum pl_severity *out)
{
    for (int i = 0; i < PL_SEV_COUNT; i++) {
        if (!strcasecmp(s, s_sev_names[i])) {
            *out = (enum pl_severity)i;
            return 0;
        }
    }
    return pl_raise(PL_ERR_INVALID_ARG,
                    "unknown severity '%s' (INFO, LOW, MEDIUM, HIGH, CRITICAL)", s);
}

void pl_event_set(char *field, size_t field_size, const char *value)
{
    if (!field_size)
        return;
    if (!value) {
        field[0] = '\0';
        return;
    }
    size_t n = strnlen(value, field_size - 1);
    /* do not cut a UTF-8 sequence in half */
    if (n == field_size - 1)
        while (n > 0 && ((unsigned char)value[n] & 0xC0) == 0x80)
            n--;
    memcpy(field, value, n);
    field[n] = '\0';
}

void pl_event_init(struct pl_event *ev, enum pl_event_type type, enum pl_severity sev,
                   const char *source)
{
    memset(ev, 0, sizeof(*ev));
    ev->time_ms = pl_wall_ms();
    ev->type = type;
    ev->severity = sev;
    PL_EVENT_SET(ev, source, source);
}

int pl_event_to_json(const struct pl_event *ev, struct pl_buf *out)
{
    char ts[40];
    pl_format_time(ev->time_ms, ts, sizeof(ts));
    int rc = pl_buf_appendf(out, "{\"time\":\"%s\",\"type\":\"%s\",\"severity\":\"%s\"", ts,
                            pl_event_type_name(ev->type), pl_severity_name(ev->severity));
    struct {
        const char *name;
        const char *val;
    } f[] = {{"source", ev->source}, {"request_id", ev->request_id}, {"rule", ev->rule},
             {"path", ev->path},     {"action", ev->action},         {"detail", ev->detail}};
    for (size_t i = 0; i < PL_ARRAY_LEN(f); i++) {
        if (!f[i].val[0])
            continue;
        rc |= pl_buf_appendf(out, ",\"%s\":", f[i].name);
        rc |= pl_buf_append_json_cstr(out, f[i].val);
    }
    if (ev->pid)
        rc |= pl_buf_appendf(out, ",\"pid\":%d", (int)ev->pid);
    rc |= pl_buf_append_char(out, '}');
    return rc ? -1 : 0;
}
