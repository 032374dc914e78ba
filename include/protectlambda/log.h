/* JSON log lines on stderr: one object a line, CloudWatch-friendly.
 * {"time":"2026-...Z","level":"warn","component":"guard","msg":"In Rule violation for ...", ...fields}
 * Never pass secret values: callers redact first (see audit). */
#ifndef PROTECTLAMBDA_LOG_H
#define PROTECTLAMBDA_LOG_H

#include "protectlambda/buf.h"

enum pl_log_level { PL_LOG_DEBUG, PL_LOG_INFO, PL_LOG_WARN, PL_LOG_ERROR, PL_LOG_OFF };

void pl_log_set_level(enum pl_log_level level);
enum pl_log_level pl_log_get_level(void);
int pl_log_level_parse(const char *s, enum pl_log_level *out);
/* set where log lines go (default 2 = stderr); for tests */
void pl_log_set_fd(int fd);

/* plain message */
void pl_log(enum pl_log_level level, const char *component, const char *fmt, ...) PL_PRINTF(3, 4);

/* message plus extra fields: `fields` is a JSON fragment of members without braces,
 * e.g. "\"rule\":\"x\",\"path\":\"$.a\"" (build it with pl_buf_append_json_str). */
void pl_log_fields(enum pl_log_level level, const char *component, const char *fields,
                   const char *fmt, ...) PL_PRINTF(4, 5);

/* log a message only the first time `once` is seen unset (for degrade-and-count paths) */
#define pl_log_once(flag, level, component, ...)                                       \
    do {                                                                              \
        if (!__atomic_exchange_n(&(flag), 1, __ATOMIC_RELAXED))                       \
            pl_log(level, component, __VA_ARGS__);                                    \
    } while (0)

#endif
