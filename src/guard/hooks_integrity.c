/* INTEGRATION POINT — owner: integrity/audit engineer.
 * The guard calls these at fixed places (see hooks.h). They do nothing yet: fill them in.
 * Keep the signatures; the guard already calls them. */
#include "hooks.h"

/* Cold start, after the rules are loaded: verify the code manifest, audit the environment;
 * call pl_guard_deny_all(g, "...") to deny every invocation, pl_guard_report_event for findings. */
int pl_guard_hook_cold_start_integrity(struct pl_guard *g)
{
    (void)g;
    return 0;
}

/* Every buffered response and error body: secret canaries. Add a pl_match to v and set
 * v->deny to deny the response. */
int pl_guard_hook_out_check(struct pl_guard *g, const char *data, size_t len,
                            struct pl_verdict *v)
{
    (void)g;
    (void)data;
    (void)len;
    (void)v;
    return 0;
}

/* Every chunk of a streamed response (window = overlap bytes of the previous chunk + chunk). */
int pl_guard_hook_out_stream_check(struct pl_guard *g, const char *window, size_t len,
                                   size_t overlap, struct pl_verdict *v)
{
    (void)g;
    (void)window;
    (void)len;
    (void)overlap;
    (void)v;
    return 0;
}
