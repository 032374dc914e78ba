// bench-libs: pl_harden
/* What a hand-off between two processes costs on this machine (why `colocate` exists,
 * docs/harden.md "CPU co-location"): two processes pass 1 KB back and forth over loopback TCP
 * (TCP_NODELAY, as the guard's proxy and a runtime do), each round trip timed; once on two
 * CPUs (the lowest and the highest of the mask), once both on one CPU (the highest, as
 * colocate picks it). Two CPUs is where the scheduler puts two such long-lived processes when a
 * CPU is idle (select_idle_sibling); left alone for a short run it may keep them together for a
 * while, so the bench places them. The two runs alternate in slices so both see the same
 * machine load.
 *
 *   ./build/bench/handoff_bench [--quick]
 * Prints medians and p99s, the ratio, and one BENCH line (bench/run).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protectlambda/harden.h"

#define S_MSG 1024

static double s_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int s_read_all(int fd, char *b, size_t n)
{
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* a connected loopback TCP pair, TCP_NODELAY both ways */
static int s_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&sa, &sl))
        return -1;
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)))
        return -1;
    fds[1] = accept(l, NULL, NULL);
    close(l);
    int one = 1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fds[1] < 0 ? -1 : 0;
}

/* n round trips, this process on cpu_a and the other on cpu_b, into out */
static int s_run(int cpu_a, int cpu_b, int n, double *out)
{
    int fds[2];
    if (s_pair(fds))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    char buf[S_MSG];
    memset(buf, 'x', sizeof(buf));
    if (pid == 0) {
        close(fds[0]);
        if (pl_cpu_pin_self(cpu_b))
            _exit(2);
        for (int i = 0; i < n; i++)
            if (s_read_all(fds[1], buf, sizeof(buf)) || write(fds[1], buf, sizeof(buf)) != S_MSG)
                _exit(1);
        _exit(0);
    }
    close(fds[1]);
    cpu_set_t saved;
    sched_getaffinity(0, sizeof(saved), &saved);
    int rc = pl_cpu_pin_self(cpu_a);
    for (int i = 0; rc == 0 && i < n; i++) {
        double t0 = s_now_us();
        if (write(fds[0], buf, sizeof(buf)) != S_MSG || s_read_all(fds[0], buf, sizeof(buf)))
            rc = -1;
        out[i] = s_now_us() - t0;
    }
    sched_setaffinity(0, sizeof(saved), &saved);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int slices = argc > 1 && !strcmp(argv[1], "--quick") ? 4 : 20, per = 1000;
    struct pl_cpu_info ci;
    pl_cpu_info_read(&ci);
    cpu_set_t mask;
    int first = 0;
    if (sched_getaffinity(0, sizeof(mask), &mask) == 0)
        while (first < CPU_SETSIZE && !CPU_ISSET(first, &mask))
            first++;
    if (ci.n_cpus < 2) {
        printf("handoff bench: one CPU only, nothing to compare\n");
        return 0;
    }
    size_t n = (size_t)slices * (size_t)per;
    double *free_rt = malloc(n * sizeof(double)), *one_rt = malloc(n * sizeof(double));
    if (!free_rt || !one_rt)
        return 1;
    for (int s = 0; s < slices; s++) {
        if (s_run(first, ci.last_cpu, per, free_rt + (size_t)s * per) ||
            s_run(ci.last_cpu, ci.last_cpu, per, one_rt + (size_t)s * per)) {
            fprintf(stderr, "handoff bench: a run failed\n");
            return 1;
        }
    }
    qsort(free_rt, n, sizeof(double), s_cmp);
    qsort(one_rt, n, sizeof(double), s_cmp);
    double fm = free_rt[n / 2], fp = free_rt[n * 99 / 100];
    double om = one_rt[n / 2], op = one_rt[n * 99 / 100];
    printf("handoff bench: %zu round trips of 1 KB over loopback TCP between two processes, "
           "%d CPUs in the mask\n", n, ci.n_cpus);
    printf("  on CPUs %d and %-3d          median %7.1f us   p99 %7.1f us\n", first, ci.last_cpu,
           fm, fp);
    printf("  both on CPU %-3d            median %7.1f us   p99 %7.1f us\n", ci.last_cpu, om, op);
    printf("  ratio (one CPU / two)     %.2f  (per one-way hand-off: %.1f vs %.1f us)\n",
           om / fm, fm / 2, om / 2);
    printf("BENCH {\"row\":\"hand-off round trip between two processes, both on one CPU\","
           "\"input\":\"1 KB over loopback TCP\",\"unit\":\"us\",\"protectlambda\":%.1f,"
           "\"baseline\":%.1f,\"baseline_name\":\"on two CPUs (%d and %d)\","
           "\"ratio\":%.3f,\"target\":\"\"}\n", om, fm, first, ci.last_cpu, om / fm);
    free(free_rt);
    free(one_rt);
    return 0;
}
