/* protectlambda wrap -- CMD ARGS...: the exec wrapper (AWS_LAMBDA_EXEC_WRAPPER, or the first
 * line of a provided.* bootstrap). Points the runtime at the guard's Runtime API proxy, calls
 * the harden hook, then execs the runtime with its arguments unchanged. It must always exec:
 * it dies (exit 127) only when the runtime cannot be executed at all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protectlambda/cli.h"
#include "protectlambda/guard.h"
#include "protectlambda/log.h"
#include "../guard/hooks.h"

static void s_wrap_usage(FILE *f)
{
    fprintf(f,
            "usage: protectlambda wrap [--] RUNTIME [ARGS...]\n\n"
            "Exec wrapper for AWS Lambda (AWS_LAMBDA_EXEC_WRAPPER=/opt/protectlambda/wrapper, or\n"
            "`exec /opt/protectlambda/bin/protectlambda wrap -- ./real-bootstrap` in a provided.*\n"
            "bootstrap). Sets AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port> (setting `port`, the guard's\n"
            "proxy), keeps the original in PROTECTLAMBDA_UPSTREAM, applies hardening (monitor,\n"
            "rlimits, seccomp), then execs RUNTIME with ARGS unchanged.\n\n"
            "settings: port, wrap_strict, log_level (see protectlambda config --help)\n"
            "exit: does not return on success; 127 when RUNTIME cannot be executed, 2 on usage errors\n");
}

static int s_die(const char *fmt, const char *arg, int err)
{
    fprintf(stderr, "protectlambda wrap: ");
    fprintf(stderr, fmt, arg);
    if (err)
        fprintf(stderr, ": %s", strerror(err));
    fputc('\n', stderr);
    return 127;
}

static int s_wrap_main(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        s_wrap_usage(stdout);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--"))
        first = 2;
    if (first >= argc) {
        s_wrap_usage(stderr);
        return pl_cli_usage_error("wrap", "missing the runtime command to exec");
    }
    char **rt_argv = argv + first;

    /* Settings: on a bad configuration still exec (the function must start); the guard
     * applies the same fallback and denies in block mode. */
    struct pl_config cfg;
    if (pl_config_load_standard(&cfg)) {
        pl_log(PL_LOG_ERROR, "wrap", "settings: %s; using defaults", pl_last_error_msg());
        if (pl_config_init(&cfg))
            return s_die("%s", "out of memory", 0);
    }
    enum pl_log_level lvl;
    if (pl_log_level_parse(pl_config_str(&cfg, PL_CFG_LOG_LEVEL), &lvl) == 0)
        pl_log_set_level(lvl);

    struct pl_exec_env env;
    if (pl_exec_env_init(&env, NULL)) {
        pl_config_clean_up(&cfg);
        return s_die("%s", "out of memory", 0);
    }
    char proxy[64];
    snprintf(proxy, sizeof(proxy), "127.0.0.1:%lld", (long long)pl_config_int(&cfg, PL_CFG_PORT));
    const char *orig = pl_exec_env_get(&env, "AWS_LAMBDA_RUNTIME_API");
    if (orig && strcmp(orig, proxy) && !pl_exec_env_get(&env, "PROTECTLAMBDA_UPSTREAM")) {
        char *o = pl_strdup(orig);
        if (!o || pl_exec_env_set(&env, "PROTECTLAMBDA_UPSTREAM", o)) {
            pl_free(o);
            return s_die("%s", "out of memory", 0);
        }
        pl_free(o);
    }
    if (pl_exec_env_set(&env, "AWS_LAMBDA_RUNTIME_API", proxy))
        return s_die("%s", "out of memory", 0);

    if (pl_guard_hook_wrap(&cfg, &env)) {
        if (pl_config_bool(&cfg, PL_CFG_WRAP_STRICT)) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
            return s_die("hardening failed (wrap_strict is set, not starting the runtime): %s",
                         msg, 0);
        }
        pl_log(PL_LOG_ERROR, "wrap", "hardening failed, starting the runtime without it: %s",
               pl_last_error_msg());
    }
    pl_log(PL_LOG_DEBUG, "wrap", "exec %s with AWS_LAMBDA_RUNTIME_API=%s", rt_argv[0], proxy);
    pl_config_clean_up(&cfg);
    /* PATH lookup uses the wrapper's own PATH, as the shell would */
    execvpe(rt_argv[0], rt_argv, env.vars);
    int err = errno;
    pl_exec_env_clean_up(&env);
    return s_die("cannot execute '%s'", rt_argv[0], err);
}

PL_CLI_COMMAND(wrap, "wrap", "exec wrapper: point the runtime at the guard's proxy, harden, exec it",
               s_wrap_main)
