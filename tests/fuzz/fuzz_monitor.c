/* Monitor: the guard-side datagram parser (untrusted: any process in the sandbox can send to
 * the socket) and the .so's allocation-free helpers, on arbitrary bytes. The parser returns 0
 * or -1 with every field NUL-terminated; the bounded JSON writer always produces JSON that
 * parses; path normalisation never leaves a ".." segment and never overflows. Inputs starting
 * with 0xFA run with allocation failures (fuzz_alloc.h). */
#include <stdlib.h>
#include <string.h>

#include "../../src/monitor/mon_util.h"
#include "fuzz_alloc.h"
#include "protectlambda/json.h"
#include "protectlambda/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int failing = pl_fuzz_alloc_begin(&data, &size);
    struct pl_event ev;
    if (pl_monitor_parse_event((const char *)data, size, &ev) == 0) {
        if (strnlen(ev.detail, sizeof(ev.detail)) == sizeof(ev.detail) ||
            strnlen(ev.path, sizeof(ev.path)) == sizeof(ev.path) ||
            strnlen(ev.rule, sizeof(ev.rule)) == sizeof(ev.rule) ||
            strnlen(ev.action, sizeof(ev.action)) == sizeof(ev.action))
            abort();
    }
    /* the helpers take C strings */
    char s[1024];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, n);
    s[n] = '\0';

    char out[512];
    bool dd;
    if (pl_mon_path_normalize(s, out, sizeof(out), &dd) == 0) {
        if (out[0] != '/' || strlen(out) >= sizeof(out) || pl_mon_path_has_dotdot(out))
            abort();
        if (!dd && pl_mon_path_has_dotdot(s))
            abort();
        (void)pl_mon_path_match(s, out);
        (void)pl_mon_path_under(s, out);
    }
    struct pl_mon_net net;
    if (pl_mon_net_parse(s, &net) == 0) {
        uint8_t a[16] = {127, 0, 0, 1};
        (void)pl_mon_net_match(&net, net.family ? net.family : 2, a, 80);
        if (net.family == 2 && net.prefix > 32)
            abort();
    }
    bool next;
    char red[300];
    const char *r = pl_mon_redact_arg(s, false, &next, red, sizeof(red));
    if (!r || strlen(r) > strlen(s) + 4)
        abort();
    (void)pl_mon_host_match(s, "a.example.com");

    /* the writer: valid JSON whatever the input and however small the buffer */
    char buf[256];
    struct pl_mon_json j;
    pl_mon_json_init(&j, buf, sizeof(buf));
    pl_mon_json_raw(&j, "{\"a\":");
    pl_mon_json_str(&j, s, size % 300);
    pl_mon_json_raw(&j, ",\"b\":[");
    pl_mon_json_str(&j, s, 0);
    pl_mon_json_raw(&j, "]}");
    struct pl_json *root = NULL;
    if (pl_json_parse(buf, pl_mon_json_len(&j), NULL, &root) == 0)
        pl_json_destroy(root);
    else if (!failing)
        abort();
    pl_fuzz_alloc_end(failing);
    return 0;
}
