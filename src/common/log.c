#include "protectlambda/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static enum pl_log_level s_level = PL_LOG_INFO;
static int s_fd = 2;

static const char *const s_names[] = {"debug", "info", "warn", "error", "off"};

void pl_log_set_level(enum pl_log_level level) { s_level = level; }
enum pl_log_level pl_log_get_level(void) { return s_level; }
void pl_log_set_fd(int fd) { s_fd = fd; }

int pl_log_level_parse(const char *s, enum pl_log_level *out)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(s_names); i++) {
        if (!strcasecmp(s, s_names[i])) {
            *out = (enum pl_log_level)i;
            return 0;
        }
    }
    return pl_raise(PL_ERR_INVALID_ARG, "unknown log level '%s' (debug, info, warn, error, off)", s);
}

static void s_write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(s_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* logging never fails the caller */
        }
        p += w, n -= (size_t)w;
    }
}

static void s_logv(enum pl_log_level level, const char *component, const char *fields,
                   const char *fmt, va_list ap)
{
    if (level < s_level || level >= PL_LOG_OFF)
        return;
    int saved = errno;
    char msg[4096];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    char ts[40];
    pl_format_time(pl_wall_ms(), ts, sizeof(ts));
    /* build in a heap buffer; when memory is short, fall back to a fixed line */
    char stack[128];
    struct pl_buf h = PL_BUF_INIT;
    int rc = pl_buf_appendf(&h, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":", ts,
                            s_names[level]);
    rc |= pl_buf_append_json_cstr(&h, component ? component : "protectlambda");
    rc |= pl_buf_append_str(&h, ",\"msg\":");
    rc |= pl_buf_append_json_cstr(&h, msg);
    if (fields && *fields) {
        rc |= pl_buf_append_char(&h, ',');
        rc |= pl_buf_append_str(&h, fields);
    }
    rc |= pl_buf_append_str(&h, "}\n");
    if (rc == 0) {
        s_write_all(h.data, h.len);
    } else {
        int n = snprintf(stack, sizeof(stack), "{\"level\":\"%s\",\"msg\":\"(log line lost: no memory)\"}\n",
                         s_names[level]);
        if (n > 0)
            s_write_all(stack, (size_t)n);
    }
    pl_buf_clean_up(&h);
    errno = saved;
}

void pl_log(enum pl_log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_logv(level, component, NULL, fmt, ap);
    va_end(ap);
}

void pl_log_fields(enum pl_log_level level, const char *component, const char *fields,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_logv(level, component, fields, fmt, ap);
    va_end(ap);
}
