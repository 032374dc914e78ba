/* Small allocation-free helpers of the monitor library (and its unit tests): path handling,
 * glob and CIDR matching, a bounded JSON writer. Everything works on caller buffers and never
 * calls malloc, locks, or any hooked libc function, so it is safe between fork and exec. */
#ifndef PL_MON_UTIL_H
#define PL_MON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_MON_HIDDEN __attribute__((visibility("hidden")))

/* bounded string copy, always NUL-terminated; returns the length written */
PL_MON_HIDDEN size_t pl_mon_strlcpy(char *dst, const char *src, size_t size);

/* Lexically normalise an absolute path into out: collapse "//", drop "." segments, resolve
 * ".." segments. *had_dotdot is set when the input had a ".." segment. Returns -1 when the
 * path is not absolute or does not fit. */
PL_MON_HIDDEN int pl_mon_path_normalize(const char *path, char *out, size_t outlen,
                                        bool *had_dotdot);
/* true when path has a ".." segment */
PL_MON_HIDDEN bool pl_mon_path_has_dotdot(const char *path);

/* Does the normalised absolute path match pattern? '*' matches within one segment; a pattern
 * that matches a leading part of the path at a segment boundary covers everything below. */
PL_MON_HIDDEN bool pl_mon_path_match(const char *pattern, const char *path);
/* path equals prefix or is below it ("/tmp" matches "/tmp" and "/tmp/x", not "/tmpx") */
PL_MON_HIDDEN bool pl_mon_path_under(const char *prefix, const char *path);
PL_MON_HIDDEN const char *pl_mon_basename(const char *path);

/* ---- network ---- */
struct pl_mon_net {
    int family;         /* AF_INET / AF_INET6 */
    uint8_t addr[16];   /* network order */
    int prefix;         /* bits */
    int port;           /* -1 = any */
};
/* "10.0.0.0/8", "10.0.0.1:443", "0.0.0.0/0:443", "::/0", "[fd00::/8]:443", "fd00:ec2::254",
 * "*:443" (any address, that port). Returns -1 on a malformed entry. */
PL_MON_HIDDEN int pl_mon_net_parse(const char *text, struct pl_mon_net *out);
/* does family/addr/port match? (an IPv4-mapped IPv6 address also matches IPv4 entries) */
PL_MON_HIDDEN bool pl_mon_net_match(const struct pl_mon_net *n, int family, const uint8_t *addr,
                                    int port);
/* "1.2.3.4:80" / "[::1]:80" */
PL_MON_HIDDEN void pl_mon_net_format(int family, const uint8_t *addr, int port, char *out,
                                     size_t outlen);

/* host name pattern: "api.example.com" (exact) or "*.amazonaws.com" (any name below it);
 * case-insensitive, a trailing dot ignored */
PL_MON_HIDDEN bool pl_mon_host_match(const char *pattern, const char *name);
/* does text look like a host name pattern (letters, digits, '-', '.', leading "*.")? */
PL_MON_HIDDEN bool pl_mon_is_host_pattern(const char *text, size_t n);

/* Secret-looking command-line arguments never leave the process: a value after a key that
 * names a secret ("--password=x", "Authorization: Bearer x", "AWS_SECRET_ACCESS_KEY=x"), the
 * argument after such a flag ("--token x"), and values shaped like keys (AKIA/ASIA ids, ghp_,
 * xox?-, sk-, JWTs) become "***". Returns arg itself or out (the redacted copy).
 * *redact_next is set when the next argument is the value of a secret flag. */
PL_MON_HIDDEN const char *pl_mon_redact_arg(const char *arg, bool redact_this, bool *redact_next,
                                            char *out, size_t outlen);

/* ---- bounded JSON writer ---- */
struct pl_mon_json {
    char *buf;
    size_t cap, len;
    bool full; /* something was cut */
};
PL_MON_HIDDEN void pl_mon_json_init(struct pl_mon_json *j, char *buf, size_t cap);
PL_MON_HIDDEN void pl_mon_json_raw(struct pl_mon_json *j, const char *s);
/* "key": "escaped value cut at max bytes" (max 0 = no cap beyond the buffer) */
PL_MON_HIDDEN void pl_mon_json_str(struct pl_mon_json *j, const char *s, size_t max);
PL_MON_HIDDEN void pl_mon_json_int(struct pl_mon_json *j, long long v);
/* finish: returns the length, or 0 when even the closing part did not fit */
PL_MON_HIDDEN size_t pl_mon_json_len(const struct pl_mon_json *j);

#endif
