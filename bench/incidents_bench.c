// bench-libs: pl_incidents
/* How long pl_incidents_report() (the part of an invocation's path the incident machinery
 * owns) takes when the webhook sink is healthy, slow (answers after 500 ms) or down, measured
 * in one run against a baseline with no webhook. Printed as figures and ratios; never a test.
 *   ./build/bench/incidents_bench [N]        (default 300 reports per case)
 * The webhook server is a thread of this program on 127.0.0.1. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protectlambda/incidents.h"
#include "protectlambda/log.h"

static int s_listen_fd;
static int s_delay_ms;
static volatile int s_stop;

static void *s_server(void *arg)
{
    (void)arg;
    while (!s_stop) {
        int c = accept(s_listen_fd, NULL, NULL);
        if (c < 0)
            continue;
        char buf[8192];
        ssize_t n = 0, got;
        /* read the headers and the (small) body: enough for curl to have sent everything */
        while ((got = read(c, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0) {
            n += got;
            buf[n] = '\0';
            char *hdr_end = strstr(buf, "\r\n\r\n");
            char *cl = strcasestr(buf, "content-length:");
            if (hdr_end && cl && (size_t)(n - (hdr_end + 4 - buf)) >= (size_t)atol(cl + 15))
                break;
            if (n >= (ssize_t)sizeof(buf) - 1)
                break;
        }
        usleep((useconds_t)s_delay_ms * 1000);
        static const char ok[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        if (write(c, ok, sizeof(ok) - 1) < 0) {
        }
        close(c);
    }
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct s_result {
    double median_us, p99_us, max_us, total_ms;
    uint64_t dropped, sent, failed, pending;
};

static int s_case(const char *webhook, int n, struct s_result *res)
{
    struct pl_config cfg;
    if (pl_config_init(&cfg))
        return -1;
    pl_config_set(&cfg, PL_CFG_STORE, "none", PL_ORIGIN_CLI);
    pl_config_set(&cfg, PL_CFG_EMF, "false", PL_ORIGIN_CLI);
    pl_config_set(&cfg, PL_CFG_SINKS_TIMEOUT_MS, "1000", PL_ORIGIN_CLI);
    if (webhook)
        pl_config_set(&cfg, PL_CFG_WEBHOOK_URL, webhook, PL_ORIGIN_CLI);
    /* every event alerts: PATH_TRAVERSAL_ATTEMPT x MEDIUM = monitor,alert; correlation off so
     * the level and actions stay the same for the whole run */
    struct pl_config_extra none = {(char *)"correlation.rapid.enabled", (char *)"false",
                                   (char *)"bench"};
    struct pl_config_extra none2 = {(char *)"correlation.injection.enabled", (char *)"false",
                                    (char *)"bench"};
    struct pl_config_extra extras[2] = {none, none2};
    cfg.extra = extras;
    cfg.n_extra = 2;
    struct pl_incidents_options o = {.cfg = &cfg, .function = "bench"};
    struct pl_incidents *x;
    int rc = pl_incidents_new(&o, &x);
    cfg.extra = NULL;
    cfg.n_extra = 0;
    if (rc) {
        pl_config_clean_up(&cfg);
        return -1;
    }
    uint64_t *lat = calloc((size_t)n, sizeof(*lat));
    uint64_t t_all = pl_now_ns();
    for (int i = 0; i < n; i++) {
        struct pl_event ev;
        pl_event_init(&ev, PL_EV_PATH_TRAVERSAL_ATTEMPT, PL_SEV_MEDIUM, "bench");
        PL_EVENT_SET(&ev, rule, "PL-IN-LFI-001");
        PL_EVENT_SET(&ev, path, "$.queryStringParameters.file");
        uint64_t t0 = pl_now_ns();
        pl_incidents_report(x, &ev, NULL);
        lat[i] = pl_now_ns() - t0;
    }
    res->total_ms = (double)(pl_now_ns() - t_all) / 1e6;
    qsort(lat, (size_t)n, sizeof(*lat), s_cmp);
    res->median_us = (double)lat[n / 2] / 1000.0;
    res->p99_us = (double)lat[(n * 99) / 100] / 1000.0;
    res->max_us = (double)lat[n - 1] / 1000.0;
    free(lat);
    pl_incidents_flush(x, 1500);
    struct pl_sinks_stats ss;
    pl_sinks_get_stats(pl_incidents_sinks(x), &ss);
    res->dropped = ss.dropped;
    res->sent = ss.sent[PL_SINK_WEBHOOK];
    res->failed = ss.failed[PL_SINK_WEBHOOK];
    res->pending = ss.pending;
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 300;
    for (int i = 1; i < argc; i++)
        n = !strcmp(argv[i], "--quick") ? 100 : atoi(argv[i]);
    if (n < 10)
        n = 10;
    int devnull = open("/dev/null", O_WRONLY);
    pl_log_set_fd(devnull); /* the incident log lines would dominate the terminal */

    s_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (bind(s_listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(s_listen_fd, 64) ||
        getsockname(s_listen_fd, (struct sockaddr *)&a, &al)) {
        perror("bench: listen");
        return 2;
    }
    pthread_t th;
    pthread_create(&th, NULL, s_server, NULL);
    char url[128], dead[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/webhook", ntohs(a.sin_port));
    int d = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t bl = sizeof(b);
    bind(d, (struct sockaddr *)&b, sizeof(b));
    getsockname(d, (struct sockaddr *)&b, &bl);
    close(d); /* nothing listens there now */
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/webhook", ntohs(b.sin_port));

    struct s_result base, fast, slow, down;
    s_delay_ms = 0;
    if (s_case(NULL, n, &base) || s_case(url, n, &fast))
        return 2;
    s_delay_ms = 500;
    if (s_case(url, n, &slow) || s_case(dead, n, &down))
        return 2;
    s_stop = 1;
    shutdown(s_listen_fd, SHUT_RDWR);
    close(s_listen_fd);

    printf("pl_incidents_report() latency, %d reports per case, every one an alert\n", n);
    printf("%-34s %10s %10s %10s %10s   %s\n", "case", "median us", "p99 us", "max us", "ratio p99",
           "webhook sent/failed/dropped/still queued");
    const struct {
        const char *name;
        struct s_result *r;
    } rows[] = {{"baseline (no webhook)", &base},
                {"webhook answering at once", &fast},
                {"webhook answering after 500 ms", &slow},
                {"webhook down (connection refused)", &down}};
    for (size_t i = 0; i < PL_ARRAY_LEN(rows); i++) {
        struct s_result *r = rows[i].r;
        printf("%-34s %10.1f %10.1f %10.1f %10.2f   %llu/%llu/%llu/%llu\n", rows[i].name,
               r->median_us, r->p99_us, r->max_us, base.p99_us > 0 ? r->p99_us / base.p99_us : 0.0,
               (unsigned long long)r->sent, (unsigned long long)r->failed,
               (unsigned long long)r->dropped, (unsigned long long)r->pending);
    }
    for (size_t i = 1; i < PL_ARRAY_LEN(rows); i++)
        printf("BENCH {\"row\":\"incident report() p99, %s\",\"input\":\"%d alerts\","
               "\"unit\":\"us\",\"protectlambda\":%.1f,\"baseline\":%.1f,\"baseline_name\":"
               "\"report() without webhook\",\"ratio\":%.2f,\"target\":\"~1 (never waits for the "
               "sink)\"}\n",
               rows[i].name, n, rows[i].r->p99_us, base.p99_us,
               base.p99_us > 0 ? rows[i].r->p99_us / base.p99_us : 0.0);
    printf("(a slow or dead webhook changes delivery counts, not report() latency: the request "
           "runs on the sinks' worker thread)\n");
    close(devnull);
    return 0;
}
