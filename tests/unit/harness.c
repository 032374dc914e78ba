#include "harness.h"

#include <stdarg.h>
#include <unistd.h>

struct s_test {
    const char *name;
    pl_test_fn fn;
    const char *file;
};

static struct s_test s_tests[1024];
static int s_n_tests;
static int s_failed_current;
static long s_live;
static long s_fail_after = -1;

void pl_test_register(const char *name, pl_test_fn fn, const char *file)
{
    if (s_n_tests < (int)PL_ARRAY_LEN(s_tests))
        s_tests[s_n_tests++] = (struct s_test){name, fn, file};
}

void pl_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    s_failed_current = 1;
}

/* Counting allocator: a header before each block keeps it a valid realloc target. */
#define S_HDR 16
static void *s_malloc(size_t n)
{
    if (s_fail_after == 0)
        return NULL;
    if (s_fail_after > 0)
        s_fail_after--;
    char *p = malloc(n + S_HDR);
    if (!p)
        return NULL;
    __atomic_add_fetch(&s_live, 1, __ATOMIC_RELAXED);
    return p + S_HDR;
}
static void *s_realloc(void *ptr, size_t n)
{
    if (!ptr)
        return s_malloc(n);
    if (s_fail_after == 0)
        return NULL;
    if (s_fail_after > 0)
        s_fail_after--;
    char *p = realloc((char *)ptr - S_HDR, n + S_HDR);
    return p ? p + S_HDR : NULL;
}
static void s_free(void *ptr)
{
    if (!ptr)
        return;
    __atomic_sub_fetch(&s_live, 1, __ATOMIC_RELAXED);
    free((char *)ptr - S_HDR);
}

static const struct pl_allocator s_counting = {s_malloc, s_realloc, s_free};

long pl_test_live_allocations(void) { return __atomic_load_n(&s_live, __ATOMIC_RELAXED); }
void pl_test_fail_alloc_after(long n) { s_fail_after = n; }

const char *pl_test_shared_dir(void)
{
    const char *d = getenv("PL_SHARED_DIR");
    return d && *d ? d : "../shared";
}

char *pl_test_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    if (d) {
        d[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    fclose(f);
    return d;
}

int main(int argc, char **argv)
{
    pl_set_allocator(&s_counting);
    int failed = 0, ran = 0;
    const char *only = argc > 1 ? argv[1] : NULL;
    for (int i = 0; i < s_n_tests; i++) {
        if (only && strcmp(only, s_tests[i].name))
            continue;
        s_failed_current = 0;
        s_fail_after = -1;
        long before = pl_test_live_allocations();
        s_tests[i].fn();
        s_fail_after = -1;
        long leaked = pl_test_live_allocations() - before;
        if (!s_failed_current && leaked != 0) {
            fprintf(stderr, "  %s: %ld allocation(s) leaked\n", s_tests[i].name, leaked);
            s_failed_current = 1;
        }
        printf("%s %s\n", s_failed_current ? "FAIL" : "ok  ", s_tests[i].name);
        fflush(stdout);
        failed += s_failed_current;
        ran++;
    }
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed ? 1 : (ran ? 0 : 1);
}
