#include "protectlambda/common.h"

#include <stdio.h>
#include <string.h>

/* the definitions below, not common.h's static-analysis macros */
#undef pl_raise
#undef pl_raisev

static _Thread_local int s_code;
static _Thread_local char s_msg[1024];

int pl_raisev(int code, const char *fmt, va_list ap)
{
    s_code = code;
    if (fmt)
        vsnprintf(s_msg, sizeof(s_msg), fmt, ap);
    else
        snprintf(s_msg, sizeof(s_msg), "%s", pl_error_name(code));
    return -1;
}

int pl_raise(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pl_raisev(code, fmt, ap);
    va_end(ap);
    return -1;
}

int pl_last_error(void) { return s_code; }
const char *pl_last_error_msg(void) { return s_code ? s_msg : "no error"; }
void pl_error_clear(void)
{
    s_code = 0;
    s_msg[0] = '\0';
}

const char *pl_error_name(int code)
{
    switch (code) {
    case PL_OK: return "ok";
    case PL_ERR_NOMEM: return "out of memory";
    case PL_ERR_INVALID_ARG: return "invalid argument";
    case PL_ERR_IO: return "i/o error";
    case PL_ERR_PARSE: return "parse error";
    case PL_ERR_INCOMPLETE: return "incomplete input";
    case PL_ERR_LIMIT: return "limit exceeded";
    case PL_ERR_CONFIG: return "configuration error";
    case PL_ERR_NOT_FOUND: return "not found";
    case PL_ERR_UNSUPPORTED: return "unsupported";
    case PL_ERR_INTERNAL: return "internal error";
    case PL_ERR_RULES_SYNTAX: return "rule syntax error";
    case PL_ERR_RULES_PATTERN: return "rule pattern error";
    case PL_ERR_ENGINE_COMPILE: return "rule compilation failed";
    case PL_ERR_ENGINE_SCAN: return "scan failed";
    case PL_ERR_ENGINE_DB_STALE: return "rules database is stale";
    case PL_ERR_ENGINE_DB_CORRUPT: return "rules database is corrupt";
    case PL_ERR_ENGINE_DB_INCOMPATIBLE: return "rules database is incompatible";
    case PL_ERR_ENGINE_MATCH_LIMIT: return "rule match limit reached";
    case PL_ERR_INSPECT: return "inspection failed";
    case PL_ERR_HTTP: return "http error";
    case PL_ERR_HTTP_UPSTREAM: return "upstream error";
    case PL_ERR_GUARD: return "guard error";
    case PL_ERR_HARDEN: return "hardening error";
    case PL_ERR_INTEGRITY: return "integrity error";
    case PL_ERR_SIGNATURE: return "signature error";
    case PL_ERR_STORE: return "store error";
    case PL_ERR_SINK: return "sink error";
    default: return "error";
    }
}
