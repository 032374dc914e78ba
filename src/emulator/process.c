/* Child processes of the emulator: environment, spawn (own process group, dies with the
 * emulator), kill. Spawning is done only by the supervisor thread: PR_SET_PDEATHSIG fires
 * when the *thread* that forked exits, and the supervisor lives as long as the emulator. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emulator_private.h"

extern char **environ;

struct s_env {
    char **v;
    size_t n, cap;
};

static int s_env_set(struct s_env *e, const char *name, const char *value)
{
    size_t nl = strlen(name);
    struct pl_buf b = PL_BUF_INIT;
    if (pl_buf_appendf(&b, "%s=", name) || pl_buf_append_str(&b, value)) {
        pl_buf_clean_up(&b);
        return -1;
    }
    char *s = pl_buf_steal(&b, NULL);
    for (size_t i = 0; i < e->n; i++) {
        if (!strncmp(e->v[i], name, nl) && e->v[i][nl] == '=') { // NOLINT(clang-analyzer-core.NonNullParamChecker): v has n entries
            pl_free(e->v[i]);
            e->v[i] = s;
            return 0;
        }
    }
    if (pl_array_reserve((void **)&e->v, &e->cap, e->n + 2, sizeof(char *))) {
        pl_free(s);
        return -1;
    }
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

static int s_env_put(struct s_env *e, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return 0;
    char name[256];
    size_t nl = (size_t)(eq - kv);
    if (nl >= sizeof(name))
        return 0;
    memcpy(name, kv, nl);
    name[nl] = '\0';
    return s_env_set(e, name, eq + 1);
}

static const char *s_env_lookup(char *const *v, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; v && v[i]; i++)
        if (!strncmp(v[i], name, nl) && v[i][nl] == '=')
            return v[i] + nl + 1;
    return NULL;
}

char **pl_emu_child_env(struct pl_emulator *emu, bool runtime)
{
    struct s_env e = {0};
    char buf[256];
    if (pl_array_reserve((void **)&e.v, &e.cap, 1, sizeof(char *)))
        return NULL;
    e.v[0] = NULL;
    if (!emu->clean_env)
        for (char **p = environ; *p; p++)
            if (s_env_put(&e, *p))
                goto fail;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stream[128];
    unsigned char r[16];
    char uuid[S_ID_LEN];
    pl_emu_uuid(uuid);
    (void)r;
    snprintf(stream, sizeof(stream), "%04d/%02d/%02d/[$LATEST]%.8s%.4s%.4s%.12s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, uuid, uuid + 9, uuid + 14, uuid + 24);
    snprintf(buf, sizeof(buf), "/aws/lambda/%s", emu->function_name);
    if (s_env_set(&e, "AWS_LAMBDA_RUNTIME_API", emu->address) ||
        s_env_set(&e, "_HANDLER", emu->handler) ||
        s_env_set(&e, "LAMBDA_TASK_ROOT", emu->function_dir) ||
        s_env_set(&e, "AWS_LAMBDA_FUNCTION_NAME", emu->function_name) ||
        s_env_set(&e, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST") ||
        s_env_set(&e, "AWS_LAMBDA_LOG_GROUP_NAME", buf) ||
        s_env_set(&e, "AWS_LAMBDA_LOG_STREAM_NAME", stream) ||
        s_env_set(&e, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand") ||
        s_env_set(&e, "AWS_REGION", emu->region) ||
        s_env_set(&e, "AWS_DEFAULT_REGION", emu->region))
        goto fail;
    snprintf(buf, sizeof(buf), "%d", emu->memory_mb);
    if (s_env_set(&e, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", buf))
        goto fail;
    snprintf(buf, sizeof(buf), "%d", emu->timeout_s);
    if (s_env_set(&e, "AWS_LAMBDA_FUNCTION_TIMEOUT", buf))
        goto fail;
    if (!s_env_lookup(e.v, "TZ") && s_env_set(&e, "TZ", ":UTC"))
        goto fail;
    for (char **p = emu->extra_env; p && *p; p++)
        if (s_env_put(&e, *p))
            goto fail;
    if (runtime && emu->exec_wrapper && *emu->exec_wrapper &&
        s_env_set(&e, "AWS_LAMBDA_EXEC_WRAPPER", emu->exec_wrapper))
        goto fail;
    return e.v;
fail:
    pl_emu_strv_free(e.v);
    return NULL;
}

/* resolve argv0 against PATH (of the child's environment) before fork */
static char *s_resolve(const char *argv0, char *const *envp)
{
    if (strchr(argv0, '/'))
        return pl_strdup(argv0);
    const char *path = s_env_lookup(envp, "PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        struct pl_buf b = PL_BUF_INIT;
        if (pl_buf_append(&b, dl ? p : ".", dl ? dl : 1) || pl_buf_append_char(&b, '/') ||
            pl_buf_append_str(&b, argv0)) {
            pl_buf_clean_up(&b);
            return NULL;
        }
        struct stat st;
        if (stat(b.data, &st) == 0 && S_ISREG(st.st_mode) && access(b.data, X_OK) == 0)
            return pl_buf_steal(&b, NULL);
        pl_buf_clean_up(&b);
        if (!colon)
            break;
        p = colon + 1;
    }
    pl_raise(PL_ERR_NOT_FOUND, "'%s' not found in PATH", argv0);
    return NULL;
}

int pl_emu_spawn(char *const *argv, char *const *envp, const char *cwd, int stdout_fd,
                 pid_t *pid_out)
{
    if (!argv || !argv[0])
        return pl_raise(PL_ERR_INVALID_ARG, "empty command");
    char *path = s_resolve(argv[0], envp);
    if (!path)
        return -1;
    int rc = -1;
    int errpipe[2] = {-1, -1};
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || pipe2(errpipe, O_CLOEXEC) < 0) {
        pl_raise(PL_ERR_IO, "pipe: %s", strerror(errno));
        goto out;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        pl_raise(PL_ERR_IO, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* child: async-signal-safe calls only */
        int err;
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < 32; s++)
            if (s != SIGKILL && s != SIGSTOP)
                sigaction(s, &dfl, NULL);
        dup2(devnull, 0);
        if (stdout_fd >= 0 && stdout_fd != 1)
            dup2(stdout_fd, 1);
        if (cwd && chdir(cwd) < 0) {
            err = errno;
            (void)!write(errpipe[1], &err, sizeof(err));
            _exit(127);
        }
        execve(path, argv, envp);
        err = errno;
        (void)!write(errpipe[1], &err, sizeof(err));
        _exit(127);
    }
    setpgid(pid, pid); /* also from the parent: no race with an early kill(-pid) */
    close(errpipe[1]);
    errpipe[1] = -1;
    /* Wait for the exec (the pipe closes) or its failure (errno written). A stop signal sent
     * to the emulator's process group (a terminal's Ctrl-Z, a harness freezing it) can reach
     * the child between the fork and its setpgid and stop it in its own group, where the
     * SIGCONT to the emulator's group never comes: every half second without news, continue
     * it (a no-op for a running child). */
    struct pollfd pf = {errpipe[0], POLLIN, 0};
    for (;;) {
        int r = poll(&pf, 1, 500);
        if (r == 0) {
            (void)kill(pid, SIGCONT);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        break; /* readable, closed, or poll failed: the read below tells */
    }
    int child_err = 0;
    ssize_t n;
    do {
        n = read(errpipe[0], &child_err, sizeof(child_err));
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        pl_raise(PL_ERR_IO, "cannot start %s: %s", path, strerror(child_err));
        goto out;
    }
    *pid_out = pid;
    rc = 0;
out:
    if (devnull >= 0)
        close(devnull);
    if (errpipe[0] >= 0)
        close(errpipe[0]);
    if (errpipe[1] >= 0)
        close(errpipe[1]);
    pl_free(path);
    return rc;
}

void pl_emu_kill_group(pid_t pid, int sig)
{
    if (pid > 0 && kill(-pid, sig) < 0 && errno == ESRCH)
        (void)kill(pid, sig);
}
