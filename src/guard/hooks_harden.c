/* INTEGRATION POINT — owner: harden/monitor engineer.
 * The guard calls these at fixed places (see hooks.h). They do nothing yet: fill them in.
 * Keep the signatures; the guard and the wrapper already call them. */
#include "hooks.h"

/* Called by `protectlambda wrap` right before it execs the runtime: add the monitor
 * (LD_PRELOAD) to env, apply rlimits / seccomp to this process (inherited by the runtime). */
int pl_guard_hook_wrap(const struct pl_config *cfg, struct pl_exec_env *env)
{
    (void)cfg;
    (void)env;
    return 0;
}

/* Called by the extension at cold start: start the listener that receives monitor events from
 * the runtime and hands each to pl_guard_report_event(g, &ev, NULL). */
int pl_guard_hook_monitor_start(struct pl_guard *g)
{
    (void)g;
    return 0;
}
