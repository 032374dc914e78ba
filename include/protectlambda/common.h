/* protectlambda common: errors and the allocator hook.
 *
 * Conventions (docs/architecture.md): functions return int, 0 on success and -1 on failure
 * with a per-thread error code and message set by pl_raise(). Each part owns a range of codes.
 */
#ifndef PROTECTLAMBDA_COMMON_H
#define PROTECTLAMBDA_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_API __attribute__((visibility("default")))
#define PL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Error code ranges: one per part. */
enum pl_error {
    PL_OK = 0,
    /* common 1..99 */
    PL_ERR_NOMEM = 1,
    PL_ERR_INVALID_ARG,
    PL_ERR_IO,
    PL_ERR_PARSE,
    PL_ERR_INCOMPLETE, /* parser needs more bytes (distinct from invalid) */
    PL_ERR_LIMIT,      /* a bound on untrusted input was exceeded */
    PL_ERR_CONFIG,
    PL_ERR_NOT_FOUND,
    PL_ERR_UNSUPPORTED,
    PL_ERR_INTERNAL,
    /* rules 100.. */
    PL_ERR_RULES_SYNTAX = 100,
    PL_ERR_RULES_PATTERN,
    /* engine 200.. */
    PL_ERR_ENGINE_COMPILE = 200,
    PL_ERR_ENGINE_SCAN,
    PL_ERR_ENGINE_DB_STALE,
    PL_ERR_ENGINE_DB_CORRUPT,
    PL_ERR_ENGINE_DB_INCOMPATIBLE,
    PL_ERR_ENGINE_MATCH_LIMIT, /* a PCRE2 rule hit its match limit: undecided, fail closed */
    /* inspect 300.. */
    PL_ERR_INSPECT = 300,
    /* proxy / http 400.. */
    PL_ERR_HTTP = 400,
    PL_ERR_HTTP_UPSTREAM,
    /* guard 500.. */
    PL_ERR_GUARD = 500,
    /* monitor/harden 600.. */
    PL_ERR_HARDEN = 600,
    /* integrity/audit 700.. */
    PL_ERR_INTEGRITY = 700,
    PL_ERR_SIGNATURE,
    /* incidents/store/sinks 800.. */
    PL_ERR_STORE = 800,
    PL_ERR_SINK,
};

/* Set the calling thread's error and return -1. The message is formatted like printf and
 * should read as a sentence fragment a user can act on ("rules/in.yaml:14: pattern ...").
 * Cold: the compiler moves the paths that raise out of the hot code (the proxy's and the
 * checker's code stays denser: an invocation after an idle sandbox runs from cold caches). */
int pl_raise(int code, const char *fmt, ...) PL_PRINTF(2, 3) __attribute__((cold));
int pl_raisev(int code, const char *fmt, va_list ap) __attribute__((cold));
#ifdef __clang_analyzer__
/* Static analysis only (clang-tidy, docs/robustness.md): the analyzer cannot see across files
 * that pl_raise always returns -1, and then reports out-parameters of `return pl_raise(...)`
 * error paths as uninitialized on the success path. */
#define pl_raise(...) (pl_raise(__VA_ARGS__), -1)
#define pl_raisev(code, fmt, ap) (pl_raisev((code), (fmt), (ap)), -1)
#endif
int pl_last_error(void);
const char *pl_last_error_msg(void);
const char *pl_error_name(int code);
void pl_error_clear(void);

/* Allocator hook: every allocation of the project goes through it (and Vectorscan's, through
 * hs_set_allocator), so tests can count and fail-inject allocations. */
struct pl_allocator {
    void *(*malloc_fn)(size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
};
void pl_set_allocator(const struct pl_allocator *a); /* NULL restores libc */
void *pl_malloc(size_t size);
void *pl_calloc(size_t n, size_t size);
void *pl_realloc(void *ptr, size_t size);
void pl_free(void *ptr);
char *pl_strdup(const char *s);
char *pl_strndup(const char *s, size_t n);
/* copy src into dst[size] (size > 0), truncated, always NUL-terminated; strlen(src) */
size_t pl_strlcpy(char *dst, const char *src, size_t size);
/* grow an array: *arr has *cap elements of elem bytes; ensure room for need elements. */
int pl_array_reserve(void **arr, size_t *cap, size_t need, size_t elem);

/* cleanup helpers for locals (CLI and wrapper code) */
static inline void pl_cleanup_free(void *p) { pl_free(*(void **)p); }
#define pl_autofree __attribute__((cleanup(pl_cleanup_free)))
static inline void *pl_steal_pointer(void *pp)
{
    void **p = (void **)pp;
    void *r = *p;
    *p = NULL;
    return r;
}

/* the value of one hexadecimal digit (either case), -1 when c is not one */
static inline int pl_hex_digit(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    return -1;
}

/* time */
uint64_t pl_now_ns(void);   /* CLOCK_MONOTONIC */
int64_t pl_wall_ms(void);   /* CLOCK_REALTIME, ms since epoch */
/* ISO-8601 UTC with milliseconds into out (>= 25 bytes) */
void pl_format_time(int64_t wall_ms, char *out, size_t outlen);

/* files */
int pl_read_file(const char *path, char **data, size_t *len, size_t max_len);
int pl_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
int pl_mkdir_p(const char *path, unsigned mode);

/* hashing (SHA-256 lives in integrity; this one is a fast non-crypto hash for tables) */
uint64_t pl_hash_fnv1a(const void *data, size_t len, uint64_t seed);

#endif
