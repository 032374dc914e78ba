/* INTEGRATION POINT — owner: incidents/stores/sinks engineer.
 * The guard calls these at fixed places (see hooks.h). They do nothing yet: fill them in.
 * Keep the signatures; the guard already calls them. */
#include "hooks.h"

/* Cold start, before every other hook: load playbooks, open the store, start sinks. */
int pl_guard_hook_incidents_init(struct pl_guard *g)
{
    (void)g;
    return 0;
}

/* Every security event (already logged by the guard). d is pre-filled with the guard's
 * default; a playbook may set block / quarantine / terminate. */
int pl_guard_hook_event(struct pl_guard *g, const struct pl_event *ev,
                        struct pl_guard_decision *d)
{
    (void)g;
    (void)ev;
    (void)d;
    return 0;
}

/* Every invocation, before the rules: a quarantined sandbox answers without the handler
 * (deny->deny = true, deny->status = 503, deny->reason, deny->body). */
int pl_guard_hook_invocation_start(struct pl_guard *g, const char *request_id,
                                   struct pl_guard_deny *deny)
{
    (void)g;
    (void)request_id;
    (void)deny;
    return 0;
}

/* SHUTDOWN (about 2 s left): flush stores and sinks. */
void pl_guard_hook_shutdown(struct pl_guard *g)
{
    (void)g;
}
