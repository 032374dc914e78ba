/* INTEGRATION POINT — owner: harden/monitor engineer.
 * The guard calls these at fixed places (see hooks.h). */
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "protectlambda/cli.h"
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
/* the runtime's argv, as `protectlambda wrap [--] RUNTIME ARGS...` received it (the wrapper's
 * own command line: argv[1] is the command name, main.c) */
static char **s_runtime_argv(char *buf, size_t cap, char **argv, size_t max)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0 || (size_t)n >= cap - 1)
        return NULL; /* unreadable or too long to trust a partial read */
    buf[n] = '\0';
    /* `protectlambda wrap [--] RUNTIME...`, or the layer's `wrapper RUNTIME...` (main.c) */
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    size_t first = !strcmp(base, PL_CLI_WRAPPER_NAME) ? 1 : 2;
    size_t k = 0, i = 0;
    for (char *p = buf; p < buf + n && k + 1 < max; p += strlen(p) + 1, i++) {
        if (first == 2 && i == 1 && strcmp(p, "wrap") != 0)
            return NULL; /* not run as `... wrap ...`: leave the exec to the caller */
        if (i < first)
            continue;
        if (i == first && !strcmp(p, "--"))
            continue;
        argv[k++] = p;
    }
    argv[k] = NULL;
    return k ? argv : NULL;
}

int pl_guard_hook_wrap(const struct pl_config *cfg, struct pl_exec_env *env)
{
    struct pl_harden_env he = {.get = s_env_get, .set = s_env_set, .ctx = env,
                               .port = (int)pl_config_int(cfg, PL_CFG_PORT)};
    int rc = pl_harden_wrap(cfg, &he);
    /* the runtime (or its hand-off threads) on the proxy's CPU (setting colocate; the guard
     * chose the same CPU from the same mask and memory size). Not hardening: a failure is
     * logged, never stops the runtime. */
    static char buf[64 * 1024];
    char *argv[1024];
    char **rt = s_runtime_argv(buf, sizeof(buf), argv, PL_ARRAY_LEN(argv));
    struct pl_cpu_info ci;
    pl_cpu_info_read(&ci);
    char why[512];
    const char *mode = pl_config_str(cfg, PL_CFG_COLOCATE);
    const char *mem = pl_exec_env_get(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    /* the hand-off or main thread is pinned by the monitor library in the runtime: in LD_PRELOAD only
     * when pl_harden_wrap put it there, and never in a static program */
    bool lib = pl_config_bool(cfg, PL_CFG_MONITOR) && pl_exec_env_get(env, PL_MON_ENV_LIB) &&
               !(rt && pl_harden_is_static_program(rt[0]));
    enum pl_colocate_scope scope;
    int cpu = pl_colocate_choose(mode, &ci, mem, lib, &scope, why, sizeof(why));
    /* never inherited: only this wrapper says what the monitor library pins */
    (void)pl_exec_env_unset(env, PL_MON_ENV_COLOCATE);
    char wide[512], val[600];
    if (scope == PL_COLOCATE_WHOLE) {
        if (pl_cpu_pin_self(cpu) < 0)
            pl_log(PL_LOG_WARN, "wrap", "colocate: %s", pl_last_error_msg());
        else
            pl_log(PL_LOG_DEBUG, "wrap", "colocate: runtime on CPU %d (%s)", cpu, why);
    } else if (scope == PL_COLOCATE_NONE) {
        pl_log(PL_LOG_DEBUG, "wrap", "colocate: not (%s)", why);
    } else if (pl_cpu_wide_list(wide, sizeof(wide)) < 0) {
        pl_log(PL_LOG_WARN, "wrap", "colocate: %s", pl_last_error_msg());
    } else {
        bool handoff = scope == PL_COLOCATE_HANDOFF;
        snprintf(val, sizeof(val), "%d/%s/%s", cpu, wide, handoff ? "h" : "t");
        if (pl_exec_env_set(env, PL_MON_ENV_COLOCATE, val) < 0)
            pl_log(PL_LOG_WARN, "wrap", "colocate: %s", pl_last_error_msg());
        else
            pl_log(PL_LOG_DEBUG, "wrap", "colocate: the runtime's %s on CPU %d (%s)",
                   handoff ? "hand-off threads" : "main thread", cpu, why);
    }
    /* seccomp strict with a static runtime (no LD_PRELOAD can enter it): the exec-deny filter
     * must go in before the exec, with the one-time exec ticket, so this exec is done here
     * (pl_harden_exec); it returns only on failure. Any other runtime: the wrapper execs. */
    if (rt && pl_harden_wants_ticket(rt[0], env->vars)) {
        pl_harden_exec(rt[0], rt, env->vars);
        return pl_raise(PL_ERR_HARDEN, "seccomp strict: cannot exec %s: %s", rt[0],
                        strerror(errno));
    }
    return rc;
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
