/* Harden: resource limits, secure temp dir, locating the monitor and the adapters, and the
 * wrapper's environment edits (docs/harden.md). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protectlambda/harden.h"
#include "protectlambda/log.h"
#include "protectlambda/monitor.h"

#ifndef PL_HARDEN_SOURCE_ADAPTERS
#define PL_HARDEN_SOURCE_ADAPTERS ""
#endif
#ifndef PL_HARDEN_BUILD_MONITOR
#define PL_HARDEN_BUILD_MONITOR ""
#endif

/* ---------------------------------------------------------------- rlimits */

int pl_harden_rlimits_from_config(const struct pl_config *cfg, const char *memory_mb,
                                  struct pl_harden_rlimits *out)
{
    memset(out, 0, sizeof(*out));
    out->as = (uint64_t)pl_config_int(cfg, PL_CFG_RLIMIT_AS);
    out->cpu = (uint64_t)pl_config_int(cfg, PL_CFG_RLIMIT_CPU);
    out->nofile = (uint64_t)pl_config_int(cfg, PL_CFG_RLIMIT_NOFILE);
    out->nproc = (uint64_t)pl_config_int(cfg, PL_CFG_RLIMIT_NPROC);
    out->fsize = (uint64_t)pl_config_int(cfg, PL_CFG_RLIMIT_FSIZE);
    int64_t pct = pl_config_int(cfg, PL_CFG_RLIMIT_AS_MEMORY_PCT);
    if (!out->as && pct > 0) {
        char *end = NULL;
        unsigned long long mb = memory_mb ? strtoull(memory_mb, &end, 10) : 0;
        if (!memory_mb || !*memory_mb || *end || mb == 0 || mb > 1024ULL * 1024)
            return pl_raise(PL_ERR_CONFIG,
                            "rlimit.as_memory_pct is set but AWS_LAMBDA_FUNCTION_MEMORY_SIZE "
                            "('%s') is not a size in MB",
                            memory_mb ? memory_mb : "");
        out->as = (uint64_t)mb * 1024 * 1024 * (uint64_t)pct / 100;
    }
    return 0;
}

static int s_setrlimit(int res, const char *name, uint64_t soft, uint64_t hard)
{
    struct rlimit cur;
    if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && hard > cur.rlim_max) {
        if (soft > cur.rlim_max)
            return pl_raise(PL_ERR_HARDEN, "rlimit %s: %llu is above the hard limit %llu", name,
                            (unsigned long long)soft, (unsigned long long)cur.rlim_max);
        hard = cur.rlim_max;
    }
    struct rlimit r = {.rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard};
    if (setrlimit(res, &r) != 0)
        return pl_raise(PL_ERR_HARDEN, "rlimit %s = %llu: %s", name, (unsigned long long)soft,
                        strerror(errno));
    return 0;
}

int pl_harden_rlimits_apply(const struct pl_harden_rlimits *r)
{
    int rc = 0;
    if (r->as)
        rc |= s_setrlimit(RLIMIT_AS, "as", r->as, r->as);
    if (r->cpu) /* SIGXCPU at the soft limit, SIGKILL at the hard one */
        rc |= s_setrlimit(RLIMIT_CPU, "cpu", r->cpu, r->cpu + 1);
    if (r->nofile)
        rc |= s_setrlimit(RLIMIT_NOFILE, "nofile", r->nofile, r->nofile);
    if (r->nproc)
        rc |= s_setrlimit(RLIMIT_NPROC, "nproc", r->nproc, r->nproc);
    if (r->fsize)
        rc |= s_setrlimit(RLIMIT_FSIZE, "fsize", r->fsize, r->fsize);
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- temp dir */

int pl_harden_secure_tmp(const char *base, char *out, size_t outlen)
{
    if (!base || !*base)
        base = "/tmp";
    int n = snprintf(out, outlen, "%s/protectlambda-tmp-XXXXXX", base);
    if (n < 0 || (size_t)n >= outlen)
        return pl_raise(PL_ERR_INVALID_ARG, "temp dir path too long");
    if (!mkdtemp(out))
        return pl_raise(PL_ERR_IO, "secure temp dir under %s: %s", base, strerror(errno));
    if (chmod(out, 0700) != 0)
        return pl_raise(PL_ERR_IO, "%s: chmod: %s", out, strerror(errno));
    return 0;
}

/* ---------------------------------------------------------------- locating parts */

static int s_exe_dir(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    char *s = strrchr(out, '/');
    if (!s)
        return -1;
    *s = '\0';
    return 0;
}

static int s_first_existing(const char *const *cands, size_t n, const char *base, char *out,
                            size_t outlen, bool want_dir)
{
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX];
        int w = cands[i][0] == '/' ? snprintf(p, sizeof(p), "%s", cands[i])
                                   : snprintf(p, sizeof(p), "%s/%s", base, cands[i]);
        if (w < 0 || (size_t)w >= sizeof(p))
            continue;
        struct stat st;
        if (stat(p, &st) != 0 || (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
            continue;
        char *r = realpath(p, NULL);
        if (!r)
            continue;
        int ok = strlen(r) < outlen;
        if (ok)
            memcpy(out, r, strlen(r) + 1); /* fits: checked above */
        free(r);
        if (ok)
            return 0;
    }
    return -1;
}

int pl_harden_find_monitor_lib(const struct pl_config *cfg, char *out, size_t outlen)
{
    const char *set = cfg ? pl_config_str(cfg, PL_CFG_MONITOR_LIB) : NULL;
    if (set && *set) {
        if (access(set, R_OK) != 0)
            return pl_raise(PL_ERR_NOT_FOUND, "monitor.lib %s: %s", set, strerror(errno));
        if (strlen(set) >= outlen)
            return pl_raise(PL_ERR_INVALID_ARG, "monitor.lib path too long");
        memcpy(out, set, strlen(set) + 1); /* fits: checked above */
        return 0;
    }
    char dir[PATH_MAX];
    if (s_exe_dir(dir, sizeof(dir)) < 0)
        return pl_raise(PL_ERR_NOT_FOUND, "cannot read /proc/self/exe");
    static const char *const c[] = {
        "libprotectlambda_monitor.so",           "lib/libprotectlambda_monitor.so",
        "../lib/libprotectlambda_monitor.so",
        "../lib/protectlambda/libprotectlambda_monitor.so",
        "../monitor/libprotectlambda_monitor.so", "../src/monitor/libprotectlambda_monitor.so",
        PL_HARDEN_BUILD_MONITOR};
    size_t n = PL_ARRAY_LEN(c) - (PL_HARDEN_BUILD_MONITOR[0] ? 0 : 1);
    if (s_first_existing(c, n, dir, out, outlen, false) == 0)
        return 0;
    return pl_raise(PL_ERR_NOT_FOUND,
                    "libprotectlambda_monitor.so not found beside %s (set monitor.lib)", dir);
}

int pl_harden_find_python_adapter(char *out, size_t outlen)
{
    char dir[PATH_MAX];
    if (s_exe_dir(dir, sizeof(dir)) < 0)
        return pl_raise(PL_ERR_NOT_FOUND, "cannot read /proc/self/exe");
    static const char s_source[] = PL_HARDEN_SOURCE_ADAPTERS "/python";
    static const char *const c[] = {"adapters/python", "../adapters/python",
                                    "../protectlambda/adapters/python",
                                    "../share/protectlambda/adapters/python", s_source};
    size_t n = PL_ARRAY_LEN(c) - (PL_HARDEN_SOURCE_ADAPTERS[0] ? 0 : 1);
    if (s_first_existing(c, n, dir, out, outlen, true) == 0)
        return 0;
    return pl_raise(PL_ERR_NOT_FOUND, "Python adapter not found beside %s", dir);
}

/* ---------------------------------------------------------------- the wrapper */

static int s_set(const struct pl_harden_env *env, const char *name, const char *value)
{
    return env->set(env->ctx, name, value);
}

/* prepend `first` to a separator-joined variable unless it is already in it */
static int s_prepend(const struct pl_harden_env *env, const char *name, const char *first,
                     char sep)
{
    const char *cur = env->get(env->ctx, name);
    if (cur && *cur) {
        size_t fl = strlen(first);
        for (const char *p = cur; (p = strstr(p, first)); p += fl)
            if ((p == cur || p[-1] == sep || p[-1] == ' ') && (p[fl] == '\0' || p[fl] == sep || p[fl] == ' '))
                return 0;
    }
    struct pl_buf b = PL_BUF_INIT;
    int rc = pl_buf_append_str(&b, first);
    if (cur && *cur) {
        rc |= pl_buf_append_char(&b, sep);
        rc |= pl_buf_append_str(&b, cur);
    }
    if (rc == 0)
        rc = s_set(env, name, b.data);
    pl_buf_clean_up(&b);
    return rc;
}

static int s_monitor_env(const struct pl_config *cfg, const struct pl_harden_env *env)
{
    char lib[PATH_MAX];
    if (pl_harden_find_monitor_lib(cfg, lib, sizeof(lib)) < 0)
        return -1;
    if (s_prepend(env, "LD_PRELOAD", lib, ':') || s_set(env, PL_MON_ENV_LIB, lib))
        return -1;
    char sock[108];
    const char *set = pl_config_str(cfg, PL_CFG_MONITOR_SOCKET);
    if (set && *set)
        snprintf(sock, sizeof(sock), "%s", set);
    else if (pl_monitor_default_socket(env->port, sock, sizeof(sock)) < 0)
        return -1;
    if (s_set(env, PL_MON_ENV_SOCKET, sock))
        return -1;
    /* the wrapper's pid is the runtime's (exec keeps it): its first execs before it talks
     * to the Runtime API are the runtime's own bootstrap chain (docs/monitor.md) */
    char pid[24];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    if (s_set(env, PL_MON_ENV_ROOT_PID, pid) || s_set(env, PL_MON_ENV_CHAIN, "0"))
        return -1;
    const char *proxy = env->get(env->ctx, "AWS_LAMBDA_RUNTIME_API");
    if (proxy && s_set(env, PL_MON_ENV_PROXY, proxy))
        return -1;
    /* the effective value of every monitor/harden setting, for the .so and the adapters */
    for (int id = PL_CFG_MONITOR; id <= PL_CFG_NODE_CODEGEN; id++) {
        const struct pl_setting_def *d = pl_setting_def((enum pl_setting_id)id);
        if (s_set(env, d->env, pl_config_str(cfg, (enum pl_setting_id)id)))
            return -1;
    }
    return 0;
}

int pl_harden_wrap(const struct pl_config *cfg, const struct pl_harden_env *env)
{
    int rc = 0;
    char first_err[256] = "";
#define S_STEP(expr)                                                                          \
    do {                                                                                      \
        if ((expr) < 0) {                                                                     \
            if (!first_err[0])                                                                \
                snprintf(first_err, sizeof(first_err), "%s", pl_last_error_msg());             \
            pl_log(PL_LOG_ERROR, "harden", "%s", pl_last_error_msg());                        \
            rc = -1;                                                                          \
        }                                                                                     \
    } while (0)

    if (pl_config_bool(cfg, PL_CFG_MONITOR))
        S_STEP(s_monitor_env(cfg, env));
    if (pl_config_bool(cfg, PL_CFG_SECURE_TMP)) {
        /* under the TMPDIR the runtime would have used (Lambda sets none: /tmp) */
        const char *base = env->get(env->ctx, "TMPDIR");
        struct stat bst;
        if (!base || base[0] != '/' || stat(base, &bst) != 0 || !S_ISDIR(bst.st_mode) ||
            strlen(base) > PATH_MAX - 64)
            base = "/tmp";
        char dir[PATH_MAX];
        if (pl_harden_secure_tmp(base, dir, sizeof(dir)) == 0)
            S_STEP(s_set(env, "TMPDIR", dir));
        else
            S_STEP(-1);
    }
    if (pl_config_bool(cfg, PL_CFG_PYTHON_AUDIT)) {
        char dir[PATH_MAX];
        /* the monitor library, when in LD_PRELOAD, takes it out again in a CPython 3.9+ (its
         * own C hook stands for it: no Python file compiled at each cold start) */
        if (pl_harden_find_python_adapter(dir, sizeof(dir)) == 0)
            S_STEP(s_prepend(env, "PYTHONPATH", dir, ':') | s_set(env, PL_MON_ENV_PYADAPTER, dir));
        else
            S_STEP(-1);
    }
    if (!strcmp(pl_config_str(cfg, PL_CFG_NODE_CODEGEN), "deny"))
        S_STEP(s_prepend(env, "NODE_OPTIONS", "--disallow-code-generation-from-strings", ' '));

    struct pl_harden_rlimits rl;
    if (pl_harden_rlimits_from_config(cfg, env->get(env->ctx, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                                      &rl) == 0)
        S_STEP(pl_harden_rlimits_apply(&rl));
    else
        S_STEP(-1);

    enum pl_seccomp_mode mode;
    if (pl_seccomp_mode_parse(pl_config_str(cfg, PL_CFG_SECCOMP), &mode) < 0) {
        S_STEP(-1);
    } else if (mode != PL_SECCOMP_OFF && pl_harden_seccomp_basic() < 0) {
        /* no seccomp here (old kernel, container without it): the monitor still works */
        static int once;
        pl_log_once(once, PL_LOG_WARN, "harden", "%s; going on with the monitor only",
                    pl_last_error_msg());
    }
#undef S_STEP
    if (rc < 0)
        pl_raise(PL_ERR_HARDEN, "%s", first_err);
    return rc;
}

/* ---------------------------------------------------------------- deaths */

bool pl_harden_event_from_status(int status, int pid, struct pl_event *ev)
{
    if (!WIFSIGNALED(status))
        return false;
    int sig = WTERMSIG(status);
    bool limit = sig == SIGXCPU || sig == SIGXFSZ || sig == SIGKILL;
    pl_event_init(ev, limit ? PL_EV_RESOURCE_LIMIT_EXCEEDED : PL_EV_RUNTIME_EXCEPTION,
                  limit ? PL_SEV_HIGH : PL_SEV_MEDIUM, "harden");
    ev->pid = pid;
    char what[64];
    snprintf(what, sizeof(what), "SIG%s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    PL_EVENT_SET(ev, path, what);
    PL_EVENT_SET(ev, rule, "harden.rlimit");
    PL_EVENT_SET(ev, action, "log");
    const char *why = sig == SIGXCPU   ? "runtime killed: CPU time limit (rlimit.cpu)"
                      : sig == SIGXFSZ ? "runtime killed: file size limit (rlimit.fsize)"
                      : sig == SIGKILL ? "runtime killed by SIGKILL (memory, CPU hard limit or timeout)"
                                       : "runtime died by a signal";
    PL_EVENT_SET(ev, detail, why);
    return true;
}
