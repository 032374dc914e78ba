/* Minimal unit test harness. Each test file defines tests with PL_TEST(name) { ... }.
 * The harness installs a counting allocator (pl_set_allocator): a test that leaves
 * allocations behind fails, and PL_TEST_FAIL_ALLOC_AFTER(n) injects an allocation failure. */
#ifndef PL_TEST_HARNESS_H
#define PL_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protectlambda/common.h"

typedef void (*pl_test_fn)(void);
void pl_test_register(const char *name, pl_test_fn fn, const char *file);
void pl_test_fail(const char *file, int line, const char *fmt, ...) PL_PRINTF(3, 4);
/* live allocations made through pl_malloc since the test started */
long pl_test_live_allocations(void);
/* the next n allocations succeed, then every one fails until reset with -1 */
void pl_test_fail_alloc_after(long n);
/* shared corpus dir (../shared beside the repo, or $PL_SHARED_DIR) */
const char *pl_test_shared_dir(void);
/* read a whole file for a test (plain malloc, free with free()) */
char *pl_test_read(const char *path, size_t *len);

#define PL_TEST(name)                                                                          \
    static void pl_test_##name(void);                                                          \
    __attribute__((constructor)) static void pl_test_reg_##name(void)                          \
    {                                                                                          \
        pl_test_register(#name, pl_test_##name, __FILE__);                                     \
    }                                                                                          \
    static void pl_test_##name(void)

#define PL_CHECK(cond)                                                                         \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            pl_test_fail(__FILE__, __LINE__, "check failed: %s", #cond);                       \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define PL_CHECK_MSG(cond, ...)                                                                \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            pl_test_fail(__FILE__, __LINE__, __VA_ARGS__);                                     \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define PL_CHECK_OK(expr)                                                                      \
    do {                                                                                       \
        if ((expr) != 0) {                                                                     \
            pl_test_fail(__FILE__, __LINE__, "%s failed: %s", #expr, pl_last_error_msg());     \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define PL_CHECK_INT(a, b)                                                                     \
    do {                                                                                       \
        long long pl_a_ = (long long)(a), pl_b_ = (long long)(b);                              \
        if (pl_a_ != pl_b_) {                                                                  \
            pl_test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, pl_a_, #b, \
                         pl_b_);                                                               \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define PL_CHECK_STR(a, b)                                                                     \
    do {                                                                                       \
        const char *pl_a_ = (a), *pl_b_ = (b);                                                 \
        if (!pl_a_ || !pl_b_ || strcmp(pl_a_, pl_b_)) {                                        \
            pl_test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,              \
                         pl_a_ ? pl_a_ : "(null)", pl_b_ ? pl_b_ : "(null)");                  \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#endif
