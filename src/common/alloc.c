#include "protectlambda/common.h"

#include <stdlib.h>
#include <string.h>

static const struct pl_allocator s_libc = {malloc, realloc, free};
static const struct pl_allocator *s_alloc = &s_libc;

void pl_set_allocator(const struct pl_allocator *a) { s_alloc = a ? a : &s_libc; }

void *pl_malloc(size_t size)
{
    void *p = s_alloc->malloc_fn(size ? size : 1);
    if (!p)
        pl_raise(PL_ERR_NOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *pl_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        pl_raise(PL_ERR_NOMEM, "allocation size overflow");
        return NULL;
    }
    /* libc's calloc: a large block comes from fresh mmap pages, already zero, which stay
     * out of the resident set until written (malloc + memset made every byte of the
     * guard's 2 MB incident/sink queues resident at cold start: docs/performance.md) */
    if (s_alloc == &s_libc) {
        size_t total = n * size;
        void *p = calloc(1, total ? total : 1);
        if (!p)
            pl_raise(PL_ERR_NOMEM, "out of memory allocating %zu bytes", n * size);
        return p;
    }
    void *p = pl_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *pl_realloc(void *ptr, size_t size)
{
    void *p = s_alloc->realloc_fn(ptr, size ? size : 1);
    if (!p)
        pl_raise(PL_ERR_NOMEM, "out of memory reallocating %zu bytes", size);
    return p;
}

void pl_free(void *ptr)
{
    if (ptr)
        s_alloc->free_fn(ptr);
}

char *pl_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = pl_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

size_t pl_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    size_t k = n < size ? n : size - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}

char *pl_strdup(const char *s) { return s ? pl_strndup(s, strlen(s)) : NULL; }

int pl_array_reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem)
            return pl_raise(PL_ERR_NOMEM, "array too large");
        ncap *= 2;
    }
    void *p = pl_realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}
