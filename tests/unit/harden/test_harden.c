/* Harden: rlimits from settings, secure temp dir, ELF detection, seccomp deny-list (in a child),
 * deaths to events, the wrapper's environment edits. */
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/config.h"
#include "protectlambda/harden.h"
#include "protectlambda/monitor.h"

PL_TEST(harden_rlimits_from_settings_and_memory)
{
    struct pl_config cfg;
    PL_CHECK_OK(pl_config_init(&cfg));
    struct pl_harden_rlimits r;
    PL_CHECK_OK(pl_harden_rlimits_from_config(&cfg, "512", &r));
    PL_CHECK_INT(r.as + r.cpu + r.nofile + r.nproc + r.fsize, 0); /* all off by default */
    PL_CHECK_OK(pl_config_set(&cfg, PL_CFG_RLIMIT_AS_MEMORY_PCT, "200", PL_ORIGIN_CLI));
    PL_CHECK_OK(pl_config_set(&cfg, PL_CFG_RLIMIT_CPU, "30", PL_ORIGIN_CLI));
    PL_CHECK_OK(pl_config_set(&cfg, PL_CFG_RLIMIT_FSIZE, "10m", PL_ORIGIN_CLI));
    PL_CHECK_OK(pl_harden_rlimits_from_config(&cfg, "512", &r));
    PL_CHECK_INT(r.as, 1024ULL * 1024 * 1024);
    PL_CHECK_INT(r.cpu, 30);
    PL_CHECK_INT(r.fsize, 10 * 1024 * 1024);
    /* asked to derive but no memory size: an error, not a silent no-limit */
    PL_CHECK(pl_harden_rlimits_from_config(&cfg, NULL, &r) == -1);
    PL_CHECK(pl_harden_rlimits_from_config(&cfg, "lots", &r) == -1);
    /* an explicit size wins over the percentage */
    PL_CHECK_OK(pl_config_set(&cfg, PL_CFG_RLIMIT_AS, "3g", PL_ORIGIN_CLI));
    PL_CHECK_OK(pl_harden_rlimits_from_config(&cfg, NULL, &r));
    PL_CHECK_INT(r.as, 3ULL * 1024 * 1024 * 1024);
    pl_config_clean_up(&cfg);
    pl_error_clear();
}

PL_TEST(harden_rlimits_apply_in_child)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct pl_harden_rlimits r = {.nofile = 64, .cpu = 100, .fsize = 1 << 20};
        if (pl_harden_rlimits_apply(&r) != 0)
            _exit(10);
        struct rlimit got;
        getrlimit(RLIMIT_NOFILE, &got);
        if (got.rlim_cur != 64 || got.rlim_max != 64)
            _exit(11);
        getrlimit(RLIMIT_CPU, &got);
        if (got.rlim_cur != 100 || got.rlim_max != 101)
            _exit(12);
        /* cannot be raised above the hard limit again */
        struct pl_harden_rlimits up = {.nofile = 100000};
        if (pl_harden_rlimits_apply(&up) != -1)
            _exit(13);
        _exit(0);
    }
    int st;
    PL_CHECK(waitpid(pid, &st, 0) == pid);
    PL_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

PL_TEST(harden_secure_tmp_is_private)
{
    char dir[512];
    PL_CHECK_OK(pl_harden_secure_tmp("/tmp", dir, sizeof(dir)));
    struct stat st;
    PL_CHECK(stat(dir, &st) == 0);
    PL_CHECK(S_ISDIR(st.st_mode));
    PL_CHECK_INT(st.st_mode & 0777, 0700);
    PL_CHECK(!strncmp(dir, "/tmp/protectlambda-tmp-", 23));
    rmdir(dir);
    PL_CHECK(pl_harden_secure_tmp("/nonexistent-dir-pl", dir, sizeof(dir)) == -1);
    pl_error_clear();
}

PL_TEST(harden_static_elf_detection)
{
    PL_CHECK_INT(pl_harden_is_static_elf("/bin/sh"), 0); /* dynamic */
    PL_CHECK_INT(pl_harden_is_static_elf("/etc/hostname"), -1);
    PL_CHECK_INT(pl_harden_is_static_elf("/nonexistent"), -1);
    pl_error_clear();
}

PL_TEST(harden_seccomp_basic_denies_ptrace_in_child)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (pl_harden_seccomp_basic() != 0)
            _exit(77); /* no seccomp here */
        errno = 0;
        long r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        if (r != -1 || errno != EPERM)
            _exit(20);
        /* ordinary calls still work */
        if (getpid() <= 0 || access("/", R_OK) != 0)
            _exit(21);
        _exit(0);
    }
    int st;
    PL_CHECK(waitpid(pid, &st, 0) == pid);
    PL_CHECK_MSG(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 77),
                 "child status %d", st);
    const char *const *d = pl_harden_seccomp_denied();
    bool has_bpf = false;
    for (; *d; d++)
        has_bpf |= !strcmp(*d, "bpf");
    PL_CHECK(has_bpf);
}

PL_TEST(harden_deaths_become_events)
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXCPU, SIG_DFL);
        raise(SIGXCPU);
        _exit(0);
    }
    int st;
    PL_CHECK(waitpid(pid, &st, 0) == pid);
    struct pl_event ev;
    PL_CHECK(pl_harden_event_from_status(st, pid, &ev));
    PL_CHECK_INT(ev.type, PL_EV_RESOURCE_LIMIT_EXCEEDED);
    PL_CHECK_STR(ev.path, "SIGXCPU");
    PL_CHECK_INT(ev.pid, pid);
    PL_CHECK(!pl_harden_event_from_status(0, 1, &ev)); /* exit 0 */
    PL_CHECK(pl_harden_event_from_status(SIGSEGV, 1, &ev));
    PL_CHECK_INT(ev.type, PL_EV_RUNTIME_EXCEPTION);
}

/* a tiny environment for pl_harden_wrap */
struct s_env {
    char names[64][64];
    char values[64][1024];
    int n;
};
static const char *s_get(void *ctx, const char *name)
{
    struct s_env *e = ctx;
    for (int i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name))
            return e->values[i];
    return NULL;
}
static int s_set(void *ctx, const char *name, const char *value)
{
    struct s_env *e = ctx;
    int i = 0;
    while (i < e->n && strcmp(e->names[i], name))
        i++;
    if (i == 64)
        return pl_raise(PL_ERR_LIMIT, "test env full");
    if (i == e->n)
        e->n++;
    snprintf(e->names[i], sizeof(e->names[i]), "%s", name);
    snprintf(e->values[i], sizeof(e->values[i]), "%s", value);
    return 0;
}

PL_TEST(harden_wrap_sets_the_runtime_environment)
{
    pid_t pid = fork(); /* it applies seccomp/rlimits to the calling process */
    if (pid == 0) {
        static struct s_env e;
        struct pl_harden_env he = {.get = s_get, .set = s_set, .ctx = &e, .port = 9123};
        s_set(&e, "LD_PRELOAD", "/opt/other.so");
        s_set(&e, "AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9123");
        s_set(&e, "NODE_OPTIONS", "--max-old-space-size=100");
        struct pl_config cfg;
        if (pl_config_init(&cfg) || pl_config_set(&cfg, PL_CFG_NODE_CODEGEN, "deny", PL_ORIGIN_CLI) ||
            pl_config_set(&cfg, PL_CFG_MONITOR_PROCESS, "deny", PL_ORIGIN_CLI))
            _exit(30);
        if (pl_harden_wrap(&cfg, &he) != 0) {
            fprintf(stderr, "wrap: %s\n", pl_last_error_msg());
            _exit(31);
        }
        const char *ld = s_get(&e, "LD_PRELOAD");
        if (!ld || !strstr(ld, "libprotectlambda_monitor.so:/opt/other.so"))
            _exit(32);
        if (strcmp(s_get(&e, PL_MON_ENV_SOCKET), "@protectlambda-monitor-9123"))
            _exit(33);
        if (strcmp(s_get(&e, PL_MON_ENV_PROXY), "127.0.0.1:9123"))
            _exit(34);
        if (strcmp(s_get(&e, "PROTECTLAMBDA_MONITOR_PROCESS"), "deny"))
            _exit(35);
        const char *tmp = s_get(&e, "TMPDIR");
        struct stat st;
        if (!tmp || stat(tmp, &st) || (st.st_mode & 0777) != 0700)
            _exit(36);
        rmdir(tmp);
        if (!strstr(s_get(&e, "NODE_OPTIONS"), "--disallow-code-generation-from-strings --max-old"))
            _exit(37);
        const char *pp = s_get(&e, "PYTHONPATH");
        if (!pp || !strstr(pp, "adapters/python"))
            _exit(38);
        /* idempotent: a second wrap (nested wrapper) does not add the library twice */
        if (pl_harden_wrap(&cfg, &he) != 0)
            _exit(39);
        ld = s_get(&e, "LD_PRELOAD");
        int count = 0;
        for (const char *p = ld; (p = strstr(p, "libprotectlambda_monitor.so")); p++)
            count++;
        if (count != 1)
            _exit(40);
        rmdir(s_get(&e, "TMPDIR"));
        pl_config_clean_up(&cfg);
        _exit(0);
    }
    int st;
    PL_CHECK(waitpid(pid, &st, 0) == pid);
    PL_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exit %d", WEXITSTATUS(st));
}

/* pl_colocate_choose gives cpu_want and the scope want (the reason in why) */
#define S_CHOOSE(mode, ci, mem, ok, want, cpu_want)                                              \
    do {                                                                                         \
        enum pl_colocate_scope sc_ = (enum pl_colocate_scope)99;                                 \
        int c_ = pl_colocate_choose(mode, ci, mem, ok, &sc_, why, sizeof(why));                  \
        PL_CHECK_MSG(sc_ == (want) && c_ == (cpu_want), "%s %s %d: cpu %d scope %d (%s)", mode,  \
                     (mem) ? (const char *)(mem) : "-", (int)(ok), c_, (int)sc_, why);           \
    } while (0)

PL_TEST(colocate_policy)
{
    char why[512];
    struct pl_cpu_info two = {.n_cpus = 2, .last_cpu = 1, .quota = 0};
    /* auto with the monitor library in the runtime: its hand-off threads at most one vCPU of
     * time (Lambda: 1,769 MB is one vCPU), its main thread alone above */
    S_CHOOSE("auto", &two, "128", true, PL_COLOCATE_HANDOFF, 1);
    PL_CHECK(strstr(why, "hand-off threads") != NULL && strstr(why, "0.07") != NULL);
    S_CHOOSE("auto", &two, "1769", true, PL_COLOCATE_HANDOFF, 1);
    S_CHOOSE("auto", &two, "1770", true, PL_COLOCATE_MAIN, 1);
    S_CHOOSE("auto", &two, "3008", true, PL_COLOCATE_MAIN, 1);
    PL_CHECK(strstr(why, "main thread, and a thread that asks") != NULL && strstr(why, "1.70") != NULL);
    S_CHOOSE("auto", &two, NULL, true, PL_COLOCATE_MAIN, 1);
    /* auto without it (monitor off, a static runtime): the whole runtime only at most one
     * vCPU of time (Lambda: 1,769 MB is one vCPU) */
    S_CHOOSE("auto", &two, NULL, false, PL_COLOCATE_NONE, -1);
    PL_CHECK(strstr(why, "above one vCPU") != NULL);
    S_CHOOSE("auto", &two, "128", false, PL_COLOCATE_WHOLE, 1);
    PL_CHECK(strstr(why, "0.07") != NULL && strstr(why, "whole runtime") != NULL);
    S_CHOOSE("auto", &two, "1769", false, PL_COLOCATE_WHOLE, 1);
    S_CHOOSE("auto", &two, "1770", false, PL_COLOCATE_NONE, -1);
    S_CHOOSE("auto", &two, "3008", false, PL_COLOCATE_NONE, -1);
    S_CHOOSE("auto", &two, "lots", false, PL_COLOCATE_NONE, -1);
    S_CHOOSE("auto", &two, "-5", false, PL_COLOCATE_NONE, -1);
    /* off: never; on: the whole runtime always */
    S_CHOOSE("off", &two, "128", true, PL_COLOCATE_NONE, -1);
    S_CHOOSE("off", &two, "128", false, PL_COLOCATE_NONE, -1);
    S_CHOOSE("on", &two, NULL, true, PL_COLOCATE_WHOLE, 1);
    S_CHOOSE("on", &two, "3008", false, PL_COLOCATE_WHOLE, 1);
    /* handoff, main: those threads whatever the size, never the whole runtime */
    S_CHOOSE("handoff", &two, "3008", true, PL_COLOCATE_HANDOFF, 1);
    S_CHOOSE("handoff", &two, "128", false, PL_COLOCATE_NONE, -1);
    S_CHOOSE("main", &two, "128", true, PL_COLOCATE_MAIN, 1);
    S_CHOOSE("main", &two, "3008", true, PL_COLOCATE_MAIN, 1);
    S_CHOOSE("main", &two, "128", false, PL_COLOCATE_NONE, -1);
    PL_CHECK(strstr(why, "monitor") != NULL);
    S_CHOOSE("bogus", &two, "128", true, PL_COLOCATE_NONE, -1);
    /* one CPU: nothing to do, whatever the mode */
    struct pl_cpu_info one = {.n_cpus = 1, .last_cpu = 0, .quota = 0};
    S_CHOOSE("on", &one, "128", true, PL_COLOCATE_NONE, -1);
    S_CHOOSE("auto", &one, "128", false, PL_COLOCATE_NONE, -1);
    S_CHOOSE("main", &one, "3008", true, PL_COLOCATE_NONE, -1);
    /* a cgroup quota counts as the share: half a CPU of 4 -> the highest CPU */
    struct pl_cpu_info quota = {.n_cpus = 4, .last_cpu = 5, .quota = 0.5};
    S_CHOOSE("auto", &quota, NULL, false, PL_COLOCATE_WHOLE, 5);
    PL_CHECK(strstr(why, "cgroup quota") != NULL);
    S_CHOOSE("auto", &quota, "3008", true, PL_COLOCATE_HANDOFF, 5);
    quota.quota = 2.0;
    S_CHOOSE("auto", &quota, NULL, false, PL_COLOCATE_NONE, -1);
    S_CHOOSE("auto", &quota, "3008", true, PL_COLOCATE_MAIN, 5);
    S_CHOOSE("auto", &quota, "1024", false, PL_COLOCATE_WHOLE, 5);
    char list[64];
    PL_CHECK_INT(pl_cpu_wide_list(list, sizeof(list)), 0);
    PL_CHECK(list[0] >= '0' && list[0] <= '9');
    /* the share: the fewest of CPUs, quota and memory */
    PL_CHECK(pl_cpu_share(&quota, NULL) == 2.0);
    PL_CHECK(pl_cpu_share(&two, "3538") == 2.0);
    PL_CHECK(pl_cpu_share(&two, "10240") == 2.0);
}

PL_TEST(colocate_pin_in_child)
{
    struct pl_cpu_info ci;
    pl_cpu_info_read(&ci);
    PL_CHECK(ci.n_cpus >= 1 && ci.last_cpu >= 0);
    PL_CHECK(pl_cpu_pin_self(-1) == -1);
    pid_t pid = fork();
    PL_CHECK(pid >= 0);
    if (pid == 0) {
        if (pl_cpu_pin_self(ci.last_cpu) < 0)
            _exit(2);
        struct pl_cpu_info after;
        pl_cpu_info_read(&after);
        _exit(after.n_cpus == 1 && after.last_cpu == ci.last_cpu ? 0 : 3);
    }
    int st = 0;
    PL_CHECK(waitpid(pid, &st, 0) == pid);
    PL_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}
