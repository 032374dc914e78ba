/* Allocation-failure injection for fuzz targets (as Suricata does in its fuzzers).
 *
 * An input whose first byte is PL_FUZZ_FAIL_MAGIC runs with a failing allocator: the second
 * byte N says how many allocations succeed before every later one fails (N = 0: fail the
 * first). The rest of the input is the real input. The target must then return an error
 * cleanly: no crash, no leak (ASan's leak checker runs at exit), and state reused across
 * inputs (views, checkers) must work again for the next input. Every other input runs with
 * the normal allocator, so seeds and the corpus keep their meaning. */
#ifndef PL_FUZZ_ALLOC_H
#define PL_FUZZ_ALLOC_H

#include <stdlib.h>

#include "protectlambda/common.h"

#define PL_FUZZ_FAIL_MAGIC 0xFA

static unsigned s_fuzz_alloc_left;
static int s_fuzz_alloc_failed;

static void *s_fuzz_malloc(size_t n)
{
    if (s_fuzz_alloc_left == 0) {
        s_fuzz_alloc_failed = 1;
        return NULL;
    }
    s_fuzz_alloc_left--;
    return malloc(n);
}

static void *s_fuzz_realloc(void *p, size_t n)
{
    if (s_fuzz_alloc_left == 0) {
        s_fuzz_alloc_failed = 1;
        return NULL;
    }
    s_fuzz_alloc_left--;
    return realloc(p, n);
}

static void s_fuzz_free(void *p) { free(p); }

static const struct pl_allocator s_fuzz_failing = {s_fuzz_malloc, s_fuzz_realloc, s_fuzz_free};

/* Strips the failure prefix from (*data, *size) and installs the failing allocator when it is
 * there. Returns 1 when failure injection is on (call pl_fuzz_alloc_end afterwards). */
static inline int pl_fuzz_alloc_begin(const uint8_t **data, size_t *size)
{
    s_fuzz_alloc_failed = 0;
    if (*size < 2 || (*data)[0] != PL_FUZZ_FAIL_MAGIC)
        return 0;
    s_fuzz_alloc_left = (*data)[1];
    *data += 2;
    *size -= 2;
    pl_set_allocator(&s_fuzz_failing);
    return 1;
}

static inline void pl_fuzz_alloc_end(int on)
{
    if (on)
        pl_set_allocator(NULL);
}

#endif
