#include "protectlambda/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t pl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t pl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pl_format_time(int64_t wall_ms, char *out, size_t outlen)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

int pl_read_file(const char *path, char **data, size_t *len, size_t max_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pl_raise(errno == ENOENT ? PL_ERR_NOT_FOUND : PL_ERR_IO, "%s: %s", path,
                        strerror(errno));
    int ret = -1;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        pl_raise(PL_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        pl_raise(PL_ERR_IO, "%s: is a directory", path);
        goto out;
    }
    /* a regular file: its size, plus room to see EOF without growing the buffer; /proc and
     * /sys files report size 0 (and pipes none): start at 64 KB, not 1 byte doubling */
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 2 : 65536;
    if (max_len && cap > max_len + 1)
        cap = max_len + 1;
    buf = pl_malloc(cap);
    if (!buf)
        goto out;
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            if (max_len && n >= max_len) {
                pl_raise(PL_ERR_LIMIT, "%s: larger than %zu bytes", path, max_len);
                goto out;
            }
            size_t ncap = cap * 2;
            if (max_len && ncap > max_len + 1)
                ncap = max_len + 1;
            char *p = pl_realloc(buf, ncap);
            if (!p)
                goto out;
            buf = p, cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            pl_raise(PL_ERR_IO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
    ret = 0;
out:
    pl_free(buf);
    close(fd);
    return ret;
}

int pl_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return pl_raise(PL_ERR_INVALID_ARG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return pl_raise(PL_ERR_IO, "%s: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return pl_raise(PL_ERR_IO, "%s: %s", path, strerror(e));
        }
        p += w, left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return pl_raise(PL_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return pl_raise(PL_ERR_IO, "%s: %s", path, strerror(e));
    }
    return 0;
}

int pl_mkdir_p(const char *path, unsigned mode)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return pl_raise(PL_ERR_INVALID_ARG, "bad directory path");
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return pl_raise(PL_ERR_IO, "%s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return pl_raise(PL_ERR_IO, "%s: %s", tmp, strerror(errno));
    return 0;
}

uint64_t pl_hash_fnv1a(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
