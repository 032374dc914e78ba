/* Guard side of the monitor: receives the event datagrams of libprotectlambda_monitor.so and
 * of the language adapters, turns each into a struct pl_event, hands it to a callback.
 * Not part of the .so (library pl_monitor_listener). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "protectlambda/json.h"
#include "protectlambda/log.h"
#include "protectlambda/monitor.h"

struct pl_monitor_listener {
    int fd;
    int stop_pipe[2];
    pthread_t thread;
    bool started;
    pl_monitor_event_fn fn;
    void *ctx;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* filesystem socket to unlink */
    uint64_t received, rejected;
    pthread_mutex_t mu; /* one reader at a time: the thread or a drain */
};

int pl_monitor_default_socket(int port, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "@protectlambda-monitor-%d", port);
    if (n < 0 || (size_t)n >= outlen)
        return pl_raise(PL_ERR_INVALID_ARG, "socket name buffer too small");
    return 0;
}

static void s_append(char *dst, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > cap)
        n = cap > *len + 1 ? cap - *len - 1 : 0;
    memcpy(dst + *len, s, n);
    *len += n;
    dst[*len] = '\0';
}

int pl_monitor_parse_event(const char *data, size_t len, struct pl_event *ev)
{
    struct pl_json_limits lim = {.max_depth = 4, .max_values = 256};
    struct pl_json *root = NULL;
    int rc = -1;
    if (len == 0 || len > PL_MON_DGRAM_MAX)
        return pl_raise(PL_ERR_PARSE, "monitor datagram of %zu bytes", len);
    if (pl_json_parse(data, len, &lim, &root) < 0)
        return -1;
    if (root->type != PL_JSON_OBJECT) {
        pl_raise(PL_ERR_PARSE, "monitor datagram is not a JSON object");
        goto out;
    }
    const char *type = pl_json_get_str(root, "type");
    const char *sev = pl_json_get_str(root, "sev");
    int64_t v = 0;
    enum pl_event_type t;
    enum pl_severity s;
    if (!pl_json_get_int(root, "v", &v) || v != 1 || !type || !sev ||
        pl_event_type_parse(type, &t) < 0 || pl_severity_parse(sev, &s) < 0) {
        pl_raise(PL_ERR_PARSE, "not a monitor event (v, type, sev)");
        goto out;
    }
    const char *src = pl_json_get_str(root, "src");
    pl_event_init(ev, t, s, src && *src ? src : "monitor");
    int64_t pid = 0;
    if (pl_json_get_int(root, "pid", &pid) && pid > 0 && pid < INT32_MAX)
        ev->pid = (int32_t)pid;
    const char *cls = pl_json_get_str(root, "cls");
    if (cls && *cls) {
        char rule[64];
        snprintf(rule, sizeof(rule), "%s.%s", !strcmp(ev->source, "python") ? "python" : "monitor",
                 cls);
        PL_EVENT_SET(ev, rule, rule);
    }
    PL_EVENT_SET(ev, path, pl_json_get_str(root, "what"));
    PL_EVENT_SET(ev, action, pl_json_get_str(root, "act"));

    /* detail: exe=... argv=[...] why=... drops=N */
    char d[sizeof(ev->detail)];
    size_t dl = 0;
    d[0] = '\0';
    const char *exe = pl_json_get_str(root, "exe");
    if (exe && *exe) {
        s_append(d, sizeof(d), &dl, "exe=");
        s_append(d, sizeof(d), &dl, exe);
    }
    const struct pl_json *argv = pl_json_get(root, "argv");
    if (argv && argv->type == PL_JSON_ARRAY) {
        s_append(d, sizeof(d), &dl, dl ? " argv=[" : "argv=[");
        int i = 0;
        for (const struct pl_json *a = argv->child; a; a = a->next, i++) {
            if (a->type != PL_JSON_STRING)
                continue;
            if (i)
                s_append(d, sizeof(d), &dl, ", ");
            s_append(d, sizeof(d), &dl, a->str);
        }
        s_append(d, sizeof(d), &dl, "]");
    }
    const char *why = pl_json_get_str(root, "why");
    if (why && *why) {
        s_append(d, sizeof(d), &dl, dl ? " why=" : "why=");
        s_append(d, sizeof(d), &dl, why);
    }
    int64_t drops = 0;
    if (pl_json_get_int(root, "drops", &drops) && drops > 0) {
        char tmp[40];
        snprintf(tmp, sizeof(tmp), " drops=%lld", (long long)drops);
        s_append(d, sizeof(d), &dl, tmp);
    }
    PL_EVENT_SET(ev, detail, d);
    rc = 0;
out:
    pl_json_destroy(root);
    return rc;
}

/* receive and deliver every datagram already queued; the caller holds l->mu */
static void s_drain_locked(struct pl_monitor_listener *l)
{
    char buf[PL_MON_DGRAM_MAX + 1];
    for (;;) {
        /* SCM_CREDENTIALS: the kernel's word for who sent it, not the sender's */
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
                            .msg_controllen = sizeof(ctl)};
        ssize_t n = recvmsg(l->fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0)
            break;
        int32_t sender = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred cr;
                memcpy(&cr, CMSG_DATA(c), sizeof(cr));
                sender = (int32_t)cr.pid;
            }
        __atomic_add_fetch(&l->received, 1, __ATOMIC_RELAXED);
        struct pl_event ev;
        if ((size_t)n > PL_MON_DGRAM_MAX || pl_monitor_parse_event(buf, (size_t)n, &ev) < 0) {
            __atomic_add_fetch(&l->rejected, 1, __ATOMIC_RELAXED);
            continue;
        }
        /* a sender may speak about another process (a vfork child, a signal handler) but
         * not pretend to be one: keep the claimed pid only when it is the sender's */
        if (sender > 0 && ev.pid != sender) {
            char tmp[48];
            snprintf(tmp, sizeof(tmp), " sender_pid=%d", (int)sender);
            size_t dl = strlen(ev.detail);
            if (dl + strlen(tmp) < sizeof(ev.detail))
                memcpy(ev.detail + dl, tmp, strlen(tmp) + 1);
            ev.pid = sender;
        }
        l->fn(l->ctx, &ev);
    }
}

void pl_monitor_listener_drain(struct pl_monitor_listener *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    s_drain_locked(l);
    pthread_mutex_unlock(&l->mu);
}

static void *s_thread(void *arg)
{
    struct pl_monitor_listener *l = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN},
                              {.fd = l->stop_pipe[0], .events = POLLIN}};
        int r = poll(p, 2, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (p[0].revents & POLLIN)
            pl_monitor_listener_drain(l);
    }
    return NULL;
}

int pl_monitor_listener_new(const char *name, pl_monitor_event_fn fn, void *ctx,
                            struct pl_monitor_listener **out)
{
    *out = NULL;
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    size_t n = name ? strlen(name) : 0;
    if (!n || n >= sizeof(a.sun_path) || !fn)
        return pl_raise(PL_ERR_INVALID_ARG, "monitor socket name '%s' is empty or too long",
                        name ? name : "");
    struct pl_monitor_listener *l = pl_calloc(1, sizeof(*l));
    if (!l)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    l->fd = -1;
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    pthread_mutex_init(&l->mu, NULL);
    l->fn = fn;
    l->ctx = ctx;
    socklen_t alen;
    if (name[0] == '@') {
        memcpy(a.sun_path + 1, name + 1, n - 1);
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(a.sun_path, name, n + 1);
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        unlink(name); /* a stale socket of an earlier run */
        memcpy(l->path, name, n + 1);
    }
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        pl_raise(PL_ERR_IO, "monitor socket: %s", strerror(errno));
        goto fail;
    }
    if (bind(l->fd, (struct sockaddr *)&a, alen) < 0) {
        pl_raise(PL_ERR_IO, "monitor socket %s: bind: %s", name, strerror(errno));
        l->path[0] = '\0';
        goto fail;
    }
    /* room for bursts: the senders never wait, so a small buffer would drop */
    int sz = 1 << 20, one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(l->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
    if (pipe2(l->stop_pipe, O_CLOEXEC) < 0) {
        pl_raise(PL_ERR_IO, "pipe: %s", strerror(errno));
        goto fail;
    }
    int err = pthread_create(&l->thread, NULL, s_thread, l);
    if (err) {
        pl_raise(PL_ERR_IO, "monitor listener thread: %s", strerror(err));
        goto fail;
    }
    l->started = true;
    *out = l;
    return 0;
fail:
    pl_monitor_listener_destroy(l);
    return -1;
}

void pl_monitor_listener_destroy(struct pl_monitor_listener *l)
{
    if (!l)
        return;
    if (l->started) {
        ssize_t w = write(l->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(l->thread, NULL);
    }
    if (l->fd >= 0)
        close(l->fd);
    if (l->path[0])
        unlink(l->path);
    for (int i = 0; i < 2; i++)
        if (l->stop_pipe[i] >= 0)
            close(l->stop_pipe[i]);
    pthread_mutex_destroy(&l->mu);
    pl_free(l);
}

void pl_monitor_listener_stats(struct pl_monitor_listener *l, uint64_t *received,
                               uint64_t *rejected)
{
    if (received)
        *received = __atomic_load_n(&l->received, __ATOMIC_RELAXED);
    if (rejected)
        *rejected = __atomic_load_n(&l->rejected, __ATOMIC_RELAXED);
}
