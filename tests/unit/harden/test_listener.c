/* The guard-side listener: datagrams in, struct pl_event out; garbage counted, never fatal. */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/monitor.h"

PL_TEST(monitor_parse_event_fields)
{
    const char *d = "{\"v\":1,\"src\":\"monitor\",\"type\":\"PROCESS_EXECUTION\",\"sev\":\"HIGH\","
                    "\"act\":\"deny\",\"cls\":\"process\",\"pid\":4242,\"drops\":3,"
                    "\"exe\":\"/usr/bin/python3\",\"what\":\"/usr/bin/id\",\"why\":\"not allowed\","
                    "\"argv\":[\"id\",\"-u\"],\"future\":{\"x\":1}}";
    struct pl_event ev;
    PL_CHECK_OK(pl_monitor_parse_event(d, strlen(d), &ev));
    PL_CHECK_INT(ev.type, PL_EV_PROCESS_EXECUTION);
    PL_CHECK_INT(ev.severity, PL_SEV_HIGH);
    PL_CHECK_INT(ev.pid, 4242);
    PL_CHECK_STR(ev.source, "monitor");
    PL_CHECK_STR(ev.rule, "monitor.process");
    PL_CHECK_STR(ev.path, "/usr/bin/id");
    PL_CHECK_STR(ev.action, "deny");
    PL_CHECK_STR(ev.detail, "exe=/usr/bin/python3 argv=[id, -u] why=not allowed drops=3");
}

PL_TEST(monitor_parse_event_rejects_non_events)
{
    struct pl_event ev;
    const char *bad[] = {"", "[]", "{\"v\":2,\"type\":\"PROCESS_EXECUTION\",\"sev\":\"HIGH\"}",
                         "{\"v\":1,\"type\":\"NOPE\",\"sev\":\"HIGH\"}",
                         "{\"v\":1,\"type\":\"PROCESS_EXECUTION\",\"sev\":\"LOUD\"}",
                         "{\"v\":1,\"type\":\"PROCESS_EXECUTION\"", "\xff\xfe"};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++)
        PL_CHECK_MSG(pl_monitor_parse_event(bad[i], strlen(bad[i]), &ev) == -1, "accepted %s",
                     bad[i]);
}

struct s_got {
    pthread_mutex_t mu;
    int n;
    struct pl_event last;
};

static void s_on_event(void *ctx, const struct pl_event *ev)
{
    struct s_got *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->n++;
    g->last = *ev;
    pthread_mutex_unlock(&g->mu);
}

static void s_send(const char *name, const char *msg)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(a.sun_path + 1, name + 1, n - 1);
    sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    close(fd);
}

PL_TEST(monitor_listener_delivers_and_counts_garbage)
{
    char name[64];
    snprintf(name, sizeof(name), "@pl-test-listener-%d", (int)getpid());
    struct s_got got = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct pl_monitor_listener *l = NULL;
    PL_CHECK_OK(pl_monitor_listener_new(name, s_on_event, &got, &l));
    s_send(name, "not json at all");
    s_send(name, "{\"v\":1,\"src\":\"python\",\"type\":\"RESTRICTED_MODULE_IMPORT\",\"sev\":\"MEDIUM\","
                 "\"act\":\"log\",\"cls\":\"import\",\"pid\":7,\"what\":\"ctypes\"}");
    int n = 0;
    for (int i = 0; i < 200 && n < 1; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&got.mu);
        n = got.n;
        pthread_mutex_unlock(&got.mu);
    }
    uint64_t rx = 0, rej = 0;
    pl_monitor_listener_stats(l, &rx, &rej);
    pl_monitor_listener_destroy(l);
    PL_CHECK_INT(n, 1);
    PL_CHECK_STR(got.last.path, "ctypes");
    PL_CHECK_STR(got.last.rule, "python.import");
    /* the datagram claimed pid 7: the kernel's credentials say who really sent it */
    PL_CHECK_INT(got.last.pid, getpid());
    PL_CHECK(strstr(got.last.detail, "sender_pid=") != NULL);
    PL_CHECK_INT(rx, 2);
    PL_CHECK_INT(rej, 1);
    /* the name is free again */
    PL_CHECK_OK(pl_monitor_listener_new(name, s_on_event, &got, &l));
    pl_monitor_listener_destroy(l);
}

PL_TEST(monitor_default_socket_name)
{
    char b[64];
    PL_CHECK_OK(pl_monitor_default_socket(9009, b, sizeof(b)));
    PL_CHECK_STR(b, "@protectlambda-monitor-9009");
    PL_CHECK(pl_monitor_default_socket(9009, b, 8) == -1);
}
