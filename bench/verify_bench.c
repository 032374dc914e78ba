// bench-libs: pl_integrity
/* verify_bench: `protectlambda verify` over a ~250 MB tree against `sha256sum` over the same
 * files, in the same run, warm cache for both. Prints medians and the ratio (target <= 1.1).
 *
 *   ./build/bench/verify_bench [--quick] [path/to/protectlambda] [MB]
 * Prints BENCH lines for bench/run (--quick: 60 MB of generated files, one run).
 *
 * The tree is made under /tmp at bench time (a copy of /usr/lib/python3.* plus generated files
 * of mixed sizes) and removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protectlambda/integrity.h"

extern char **environ;

#define RUNS 5

static double s_now(void)
{
    return (double)pl_now_ns() / 1e9;
}

static double s_last_cpu; /* user+sys seconds of the last s_run child */

static int s_run(char *const argv[], const char *out_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        return -1;
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    s_last_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), s_cmp);
    return v[n / 2];
}

static void s_gen(const char *dir, long target_mb)
{
    /* mixed sizes: many small, some medium, a few large (like a package with a model file) */
    static const long sizes[] = {2 << 10, 16 << 10, 128 << 10, 1 << 20, 8 << 20};
    char p[4096];
    char *buf = malloc(8 << 20);
    if (!buf)
        return;
    unsigned long long x = 88172645463325252ull;
    for (size_t i = 0; i < (8u << 20); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (char)x;
    }
    long total = 0, i = 0;
    while (total < target_mb << 20) {
        long sz = sizes[i % 5];
        snprintf(p, sizeof(p), "%s/gen/d%ld", dir, i % 37);
        pl_mkdir_p(p, 0755);
        snprintf(p, sizeof(p), "%s/gen/d%ld/f%ld.bin", dir, i % 37, i);
        buf[0] = (char)i; /* distinct content */
        if (pl_write_file_atomic(p, buf, (size_t)sz, 0644))
            break;
        total += sz, i++;
    }
    free(buf);
}

int main(int argc, char **argv)
{
    /* --quick (bench/run): a 60 MB generated tree (no copy of /usr/lib/python3*), 1 run */
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
            for (int k = i; k < argc - 1; k++)
                argv[k] = argv[k + 1];
            argc--;
            i--;
        }
    }
    int runs = quick ? 1 : RUNS;
    char cli[4200];
    if (argc > 1) {
        snprintf(cli, sizeof(cli), "%s", argv[1]);
    } else if (getenv("PL_BIN")) {
        snprintf(cli, sizeof(cli), "%s", getenv("PL_BIN"));
    } else {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        self[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(cli, sizeof(cli), "%s/../src/cli/protectlambda", self);
    }
    long mb_total = argc > 2 ? atol(argv[2]) : quick ? 60 : 250;
    char dir[] = "/tmp/pl-verify-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    char cmd[16384], list[256], mf[256], out[256];
    snprintf(cmd, sizeof(cmd), "cp -a /usr/lib/python3* %s/ 2>/dev/null", dir);
    if (!quick && system(cmd) != 0)
        fprintf(stderr, "(could not copy /usr/lib/python3*: generated files only)\n");
    snprintf(cmd, sizeof(cmd), "du -sm %s | cut -f1", dir);
    FILE *du = popen(cmd, "r");
    long have = 0;
    if (du) {
        if (fscanf(du, "%ld", &have) != 1)
            have = 0;
        pclose(du);
    }
    if (have < mb_total)
        s_gen(dir, mb_total - have);
    snprintf(mf, sizeof(mf), "%s.manifest", dir);
    snprintf(list, sizeof(list), "%s.files", dir);
    snprintf(out, sizeof(out), "%s.out", dir);
    /* the same regular files for sha256sum (symlinks are not followed by verify either) */
    snprintf(cmd, sizeof(cmd), "find %s -type f -print0 > %s", dir, list);
    if (system(cmd) != 0)
        return 2;
    char *mk[] = {cli, "manifest", dir, "-o", mf, NULL};
    if (s_run(mk, out) != 0) {
        fprintf(stderr, "manifest failed (%s)\n", cli);
        return 2;
    }
    snprintf(cmd, sizeof(cmd), "du -sm %s | cut -f1; find %s -type f | wc -l", dir, dir);
    printf("tree: %s\n", dir);
    fflush(stdout);
    if (system(cmd) != 0)
        return 2;

    char *verify2[] = {cli, "verify", "--manifest", mf, dir, NULL};
    char *verify1[] = {cli, "verify", "--threads", "1", "--manifest", mf, dir, NULL};
    char *sha[] = {"xargs", "-0", "-a", list, "sha256sum", NULL};
    double tv2[RUNS], tv1[RUNS], ts[RUNS], cv2[RUNS], cv1[RUNS], cs[RUNS];
    /* warm the cache for both */
    if (s_run(sha, out) != 0 || s_run(verify2, out) != 0) {
        fprintf(stderr, "warm-up failed\n");
        return 2;
    }
    for (int r = 0; r < runs; r++) {
        double t0 = s_now();
        int a = s_run(sha, out);
        cs[r] = s_last_cpu;
        double t1 = s_now();
        int b = s_run(verify2, out);
        cv2[r] = s_last_cpu;
        double t2 = s_now();
        int c = s_run(verify1, out);
        cv1[r] = s_last_cpu;
        double t3 = s_now();
        if (a || b || c) {
            fprintf(stderr, "run failed: sha256sum %d, verify %d, verify -t1 %d\n", a, b, c);
            return 2;
        }
        ts[r] = t1 - t0, tv2[r] = t2 - t1, tv1[r] = t3 - t2;
    }
    double ms = s_median(ts, runs), mv2 = s_median(tv2, runs), mv1 = s_median(tv1, runs);
    double mcs = s_median(cs, runs), mcv2 = s_median(cv2, runs), mcv1 = s_median(cv1, runs);
    printf("medians of %d runs, warm cache          wall      ratio | cpu (user+sys) ratio\n",
           runs);
    printf("sha256sum (xargs, same files)      %7.3f s           | %7.3f s\n", ms, mcs);
    printf("protectlambda verify (2 threads)   %7.3f s   %5.2fx   | %7.3f s  %5.2fx"
           "   (target: wall <= 1.10x)\n",
           mv2, mv2 / ms, mcv2, mcv2 / mcs);
    printf("protectlambda verify (1 thread)    %7.3f s   %5.2fx   | %7.3f s  %5.2fx\n", mv1,
           mv1 / ms, mcv1, mcv1 / mcs);
    /* BENCH lines (bench/run): wall-clock medians, warm cache */
    printf("BENCH {\"row\":\"integrity verify\",\"input\":\"%ld MB tree (2 threads)\",\"unit\":\"s\","
           "\"protectlambda\":%.3f,\"baseline\":%.3f,\"baseline_name\":\"sha256sum, same files\","
           "\"ratio\":%.3f,\"target\":\"<=1.1x\"}\n", have > mb_total ? have : mb_total, mv2, ms,
           ms > 0 ? mv2 / ms : 0.0);
    printf("BENCH {\"row\":\"integrity verify\",\"input\":\"%ld MB tree (1 thread)\",\"unit\":\"s\","
           "\"protectlambda\":%.3f,\"baseline\":%.3f,\"baseline_name\":\"sha256sum, same files\","
           "\"ratio\":%.3f,\"target\":\"<=1.1x\"}\n", have > mb_total ? have : mb_total, mv1, ms,
           ms > 0 ? mv1 / ms : 0.0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s %s %s", dir, mf, list, out);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return 0;
}
