/* INTEGRATION POINT — owner: harden/monitor engineer.
 * The guard calls these at fixed places (see hooks.h). */
#include "hooks.h"

#include <stdio.h>

#include "protectlambda/harden.h"
#include "protectlambda/log.h"
#include "protectlambda/monitor.h"

static const char *s_env_get(void *ctx, const char *name)
{
    return pl_exec_env_get(ctx, name);
}

static int s_env_set(void *ctx, const char *name, const char *value)
{
    return pl_exec_env_set(ctx, name, value);
}

/* Called by `protectlambda wrap` right before it execs the runtime: add the monitor
 * (LD_PRELOAD) to env, apply rlimits / seccomp to this process (inherited by the runtime). */
int pl_guard_hook_wrap(const struct pl_config *cfg, struct pl_exec_env *env)
{
    struct pl_harden_env he = {.get = s_env_get, .set = s_env_set, .ctx = env,
                               .port = (int)pl_config_int(cfg, PL_CFG_PORT)};
    return pl_harden_wrap(cfg, &he);
}

static struct pl_monitor_listener *s_listener;

static void s_on_event(void *ctx, const struct pl_event *ev)
{
    struct pl_guard *g = ctx;
    struct pl_event e = *ev;
    if (!e.request_id[0])
        pl_guard_request_id(g, e.request_id, sizeof(e.request_id));
    pl_guard_report_event(g, &e, NULL);
}

/* Deliver the monitor events already sent by the runtime (see pl_monitor_listener_drain).
 * Declared in hooks.h by the guard; call before a response or error is forwarded. */
void pl_guard_monitor_drain(void);
void pl_guard_monitor_drain(void)
{
    pl_monitor_listener_drain(__atomic_load_n(&s_listener, __ATOMIC_ACQUIRE));
}

/* Called by the extension at cold start: start the listener that receives monitor events from
 * the runtime and hands each to pl_guard_report_event(g, &ev, NULL). */
int pl_guard_hook_monitor_start(struct pl_guard *g)
{
    const struct pl_config *cfg = pl_guard_config(g);
    if (s_listener || !pl_config_bool(cfg, PL_CFG_MONITOR))
        return 0;
    char name[108];
    const char *set = pl_config_str(cfg, PL_CFG_MONITOR_SOCKET);
    if (set && *set) {
        snprintf(name, sizeof(name), "%s", set);
    } else {
        /* the wrapper derives the same name from the same port setting */
        int port = (int)pl_config_int(cfg, PL_CFG_PORT);
        if (pl_monitor_default_socket(port, name, sizeof(name)) < 0)
            return -1;
    }
    struct pl_monitor_listener *l = NULL;
    if (pl_monitor_listener_new(name, s_on_event, g, &l) < 0)
        return -1;
    __atomic_store_n(&s_listener, l, __ATOMIC_RELEASE);
    pl_log(PL_LOG_DEBUG, "guard", "monitor listener on %s", name);
    return 0;
}
