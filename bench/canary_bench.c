// bench-libs: pl_audit pl_integrity
/* canary_bench: cost of the secret-canary out-check on a 6 MB response (the largest buffered
 * Lambda response), against baselines measured in the same run: one memmem per canary
 * pattern-value (the naive way; plain values only, so it checks fewer forms) and one memchr
 * pass (memory bandwidth floor). Prints medians (thread CPU time) and ratios.
 *
 *   ./build/bench/canary_bench */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "protectlambda/audit.h"

static uint64_t s_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define RUNS 15
#define SIZE (6u << 20)

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v)
{
    qsort(v, RUNS, sizeof(double), s_cmp);
    return v[RUNS / 2];
}

int main(void)
{
    static char *env[] = {
        "AWS_ACCESS_KEY_ID=ASIAY3KQ7ZPLM2NX4RWT",
        "AWS_SECRET_ACCESS_KEY=Jx9kQ2v8Zr+Xw4yTb6NmP1sLd9Hf3Gj7Uc5Ve0R",
        "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJrBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBByY8/+yY8/"
        "+yY8/+"
        "yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+"
        "yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+yY8/+",
        "DB_PASSWORD=hunter2/correct horse&battery",
        "GITHUB_TOKEN=ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7c",
        "SLACK=xoxb-2401234567-abcdefghijKL",
        "OPENAI=sk-proj-Zx81Lm0Pq7Ws2Ed4Rf6Tg",
        "STRIPE=sk_live_51HxYzAbCdEfGhIjKlMnOp",
        "API_KEY=0123456789abcdef0123456789abcdef",
        "WEBHOOK_SALT=Vb7Nq2Lk9Xw4Tz8Rm3Pa6Ys1Hd5",
        "PATH=/usr/bin:/bin",
        NULL,
    };
    struct pl_canaries *c = NULL;
    if (pl_canaries_new(env, &c)) {
        fprintf(stderr, "canaries: %s\n", pl_last_error_msg());
        return 2;
    }
    /* a JSON-looking response of printable text (no secret in it) */
    char *data = malloc(SIZE);
    unsigned long long x = 88172645463325252ull;
    static const char alpha[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\",:{}[] ";
    for (size_t i = 0; i < SIZE; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = alpha[x % (sizeof(alpha) - 1)];
    }
    double t_can[RUNS], t_memmem[RUNS], t_memchr[RUNS];
    volatile size_t sink = 0;
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = s_cpu_ns();
        struct pl_canary_hit hit;
        sink += (size_t)pl_canaries_scan(c, data, SIZE, &hit);
        uint64_t t1 = s_cpu_ns();
        for (size_t i = 0; env[i]; i++) {
            const char *v = strchr(env[i], '=') + 1;
            sink += memmem(data, SIZE, v, strlen(v)) != NULL;
        }
        uint64_t t2 = s_cpu_ns();
        sink += memchr(data, 0, SIZE) != NULL;
        uint64_t t3 = s_cpu_ns();
        t_can[r] = (double)(t1 - t0) / 1e6, t_memmem[r] = (double)(t2 - t1) / 1e6,
        t_memchr[r] = (double)(t3 - t2) / 1e6;
    }
    double mc = s_median(t_can), mm = s_median(t_memmem), mb = s_median(t_memchr);
    printf("canaries: %zu variables, %zu patterns; response 6 MiB (no leak)\n", pl_canaries_vars(c),
           pl_canaries_count(c));
    printf("memchr pass (bandwidth floor)          median %7.2f ms\n", mb);
    printf("memmem per plain value (%2d values)     median %7.2f ms\n", 11, mm);
    printf("canary scan (all forms, one pass)      median %7.2f ms  %.2f ns/byte  ratio %.2fx vs "
           "memmem, %.1fx vs memchr\n",
           mc, mc * 1e6 / SIZE, mc / mm, mc / mb);
    free(data);
    pl_canaries_destroy(c);
    return sink == 12345 ? 1 : 0;
}
