// bench-libs: pl_monitor_util
/* Cost of the libc monitor per hooked call: open (an ordinary file; a file under /tmp, which
 * is also re-checked through /proc/self/fd), connect (UDP, loopback), read (/dev/zero: hooked
 * only to find the threads that receive on the Runtime API, colocate) and exec (posix_spawn of
 * /bin/true + wait), each without and with libprotectlambda_monitor.so, measured in the same
 * run by re-executing this program with and without LD_PRELOAD. Target: <= 1 us added per open.
 *
 *   ./build/bench/monitor_bench [--quick] [path/to/libprotectlambda_monitor.so]
 * Prints one BENCH line per call (bench/run; --quick: fewer calls per measurement).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* child mode: print "name ns_per_op" lines */
static int s_measure(bool quick)
{
    const int n_open = quick ? 40000 : 200000, n_conn = quick ? 20000 : 100000,
              n_exec = quick ? 100 : 300, n_read = quick ? 200000 : 1000000;
    char tmpf[] = "/tmp/pl-monitor-bench-XXXXXX";
    int tfd = mkstemp(tmpf);
    if (tfd < 0)
        return 1;
    close(tfd);
    double t0 = s_now();
    for (int i = 0; i < n_open; i++)
        close(open("/etc/hostname", O_RDONLY | O_CLOEXEC));
    double t1 = s_now();
    for (int i = 0; i < n_open; i++)
        close(open(tmpf, O_RDONLY | O_CLOEXEC));
    double t2 = s_now();
    unlink(tmpf);
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    double t3 = s_now();
    for (int i = 0; i < n_conn; i++)
        connect(u, (struct sockaddr *)&a, sizeof(a));
    double t4 = s_now();
    close(u);
    int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    char buf[64];
    double t3r = s_now();
    for (int i = 0; i < n_read; i++)
        if (read(z, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            return 1;
    double t4r = s_now();
    close(z);
    char *argv[] = {"true", NULL};
    struct rusage ru0, ru1;
    getrusage(RUSAGE_CHILDREN, &ru0);
    double t5 = s_now();
    for (int i = 0; i < n_exec; i++) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0)
            waitpid(pid, NULL, 0);
    }
    double t6 = s_now();
    getrusage(RUSAGE_CHILDREN, &ru1);
    double cpu = ((double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e9 +
                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) * 1e3 +
                  (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e9 +
                  (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e3);
    printf("open %.1f\nopen_tmp %.1f\nconnect %.1f\nread %.1f\nexec %.1f\nexec_cpu %.1f\n",
           (t1 - t0) / n_open, (t2 - t1) / n_open, (t4 - t3) / n_conn, (t4r - t3r) / n_read,
           (t6 - t5) / n_exec, cpu / n_exec);
    return 0;
}

#define S_N 6
static int s_run(const char *self, const char *preload, double out[S_N], bool quick)
{
    char cmd[PATH_MAX * 2 + 64];
    const char *q = quick ? " --quick" : "";
    if (preload)
        snprintf(cmd, sizeof(cmd), "LD_PRELOAD=%s %s --child%s", preload, self, q);
    else
        snprintf(cmd, sizeof(cmd), "env -u LD_PRELOAD %s --child%s", self, q);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char name[32];
    double v;
    int n = 0;
    while (fscanf(p, "%31s %lf", name, &v) == 2 && n < S_N)
        out[n++] = v;
    return pclose(p) == 0 && n == S_N ? 0 : -1;
}

int main(int argc, char **argv)
{
    /* --quick (bench/run): fewer calls per measurement */
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
    if (argc > 1 && !strcmp(argv[1], "--child"))
        return s_measure(quick);
    char self[PATH_MAX], so[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    if (argc > 1) {
        snprintf(so, sizeof(so), "%s", argv[1]);
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", self);
        *strrchr(dir, '/') = '\0';
        snprintf(so, sizeof(so), "%s/../src/monitor/libprotectlambda_monitor.so", dir);
    }
    if (access(so, R_OK) != 0) {
        fprintf(stderr, "monitor_bench: %s not found (pass its path)\n", so);
        return 2;
    }
    /* a receiver for the events (never read: a full buffer makes the monitor drop, as a
     * slow guard would) */
    char name[64];
    snprintf(name, sizeof(name), "@pl-monitor-bench-%d", (int)getpid());
    int r = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un ua = {.sun_family = AF_UNIX};
    memcpy(ua.sun_path + 1, name + 1, strlen(name) - 1);
    bind(r, (struct sockaddr *)&ua, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name)));
    setenv("PROTECTLAMBDA_MON_SOCKET", name, 1);

    double base[S_N], mon[S_N];
    if (s_run(self, NULL, base, quick) < 0 || s_run(self, so, mon, quick) < 0) {
        fprintf(stderr, "monitor_bench: a measuring run failed\n");
        return 1;
    }
    const char *what[S_N] = {"open(/etc/hostname)", "open(/tmp/file)+recheck", "connect(udp lo)",
                             "read(/dev/zero, 64 B)", "posix_spawn+wait(/bin/true)",
                             "  child CPU per spawn"};
    printf("%-30s %12s %12s %12s %8s\n", "call", "without ns", "with ns", "added ns", "ratio");
    for (int i = 0; i < S_N; i++)
        printf("%-30s %12.1f %12.1f %12.1f %8.2f\n", what[i], base[i], mon[i], mon[i] - base[i],
               mon[i] / base[i]);
    /* one BENCH line per call (bench/run); the exec row's figure includes the child's run */
    static const char *const rows[S_N] = {"monitor overhead per open", "monitor overhead per open",
                                          "monitor overhead per connect",
                                          "monitor overhead per read",
                                          "monitor overhead per exec", NULL};
    static const char *const inputs[S_N] = {"open(/etc/hostname)", "open(/tmp/file), re-checked",
                                            "connect(udp 127.0.0.1)", "read(/dev/zero, 64 B)",
                                            "posix_spawn+wait(/bin/true)", NULL};
    static const char *const targets[S_N] = {"<= +1000 ns per open", "<= +1000 ns per open", "",
                                             "", "", NULL};
    for (int i = 0; i < S_N; i++) {
        if (!rows[i])
            continue;
        printf("BENCH {\"row\":\"%s\",\"input\":\"%s\",\"unit\":\"ns\",\"protectlambda\":%.1f,"
               "\"baseline\":%.1f,\"baseline_name\":\"without the monitor (no LD_PRELOAD)\","
               "\"added\":%.1f,\"ratio\":%.3f,\"target\":\"%s\"}\n",
               rows[i], inputs[i], mon[i], base[i], mon[i] - base[i],
               base[i] > 0 ? mon[i] / base[i] : 0.0, targets[i]);
    }
    printf("target: <= 1000 ns added per open -> %s\n",
           mon[0] - base[0] <= 1000.0 ? "met" : "NOT met");
    close(r);
    return 0;
}
