/* Test helper: the guard-side listener alone. Binds the monitor socket given as argv[1] and
 * prints every event as one JSON line on stdout (pl_event_to_json), until stdin closes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "protectlambda/buf.h"
#include "protectlambda/monitor.h"

static void s_print(void *ctx, const struct pl_event *ev)
{
    (void)ctx;
    struct pl_buf b = PL_BUF_INIT;
    if (pl_event_to_json(ev, &b) == 0) {
        fprintf(stdout, "%s\n", b.data);
        fflush(stdout);
    }
    pl_buf_clean_up(&b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET (@abstract or path)\n", argv[0]);
        return 2;
    }
    struct pl_monitor_listener *l;
    if (pl_monitor_listener_new(argv[1], s_print, NULL, &l) < 0) {
        fprintf(stderr, "monitor_listen: %s\n", pl_last_error_msg());
        return 2;
    }
    fprintf(stdout, "{\"ready\":true}\n");
    fflush(stdout);
    char buf[256];
    while (read(0, buf, sizeof(buf)) > 0)
        ;
    pl_monitor_listener_destroy(l);
    return 0;
}
