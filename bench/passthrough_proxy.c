/* The floor of any proxy in a separate process (bench helper, not a product part): a TCP
 * forwarder on 127.0.0.1 that moves bytes between the runtime and the Runtime API without
 * reading them (no HTTP parsing, no inspection), one thread per connection, TCP_NODELAY both
 * ways — the two extra loopback hops and wake-ups the guard's proxy cannot avoid. guard_bench
 * runs a sandbox through it beside the guard's, so "what the guard adds" splits into "what any
 * separate process adds" and "what the guard's work adds".
 *
 *   passthrough_proxy UPSTREAM_PORT   prints "port N" on stdout once listening; runs until
 *                                     killed */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int s_upstream_port;

static void s_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int s_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *s_conn(void *arg)
{
    int c = (int)(intptr_t)arg;
    int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_upstream_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof(a)) < 0)
        goto out;
    s_nodelay(c);
    s_nodelay(u);
    char *buf = malloc(1 << 16);
    if (!buf)
        goto out;
    struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = u, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int done = 0;
        for (int i = 0; i < 2 && !done; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(p[i].fd, buf, 1 << 16);
            if (r <= 0 || s_write_all(p[1 - i].fd, buf, (size_t)r))
                done = 1;
        }
        if (done)
            break;
    }
    free(buf);
out:
    if (u >= 0)
        close(u);
    close(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (s_upstream_port = atoi(argv[1])) <= 0 || s_upstream_port > 65535) {
        fprintf(stderr, "usage: passthrough_proxy UPSTREAM_PORT\n");
        return 2;
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 64) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) < 0) {
        perror("passthrough_proxy: listen");
        return 1;
    }
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("passthrough_proxy: accept");
            return 1;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, s_conn, (void *)(intptr_t)c) != 0) {
            close(c);
            continue;
        }
        pthread_detach(t);
    }
}
