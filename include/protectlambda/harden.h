/* Harden: what the wrapper (protectlambda wrap) does to the runtime before it execs it —
 * the monitor (LD_PRELOAD + its policy variables), resource limits, seccomp, a private temp
 * dir, the language adapters — and how runtime deaths become events. See docs/harden.md. */
#ifndef PROTECTLAMBDA_HARDEN_H
#define PROTECTLAMBDA_HARDEN_H

#include "protectlambda/config.h"
#include "protectlambda/event.h"

/* ---- resource limits (each 0 = off) ---- */
struct pl_harden_rlimits {
    uint64_t as;     /* bytes */
    uint64_t cpu;    /* seconds */
    uint64_t nofile;
    uint64_t nproc;
    uint64_t fsize;  /* bytes */
};
/* from the rlimit.* settings; memory_mb (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, may be NULL) feeds
 * rlimit.as_memory_pct */
int pl_harden_rlimits_from_config(const struct pl_config *cfg, const char *memory_mb,
                                  struct pl_harden_rlimits *out);
/* setrlimit on the calling process (soft = hard = value; the CPU hard limit is one second
 * above the soft one so SIGXCPU comes before SIGKILL). A limit above the current hard limit is
 * an error (it cannot be raised). */
int pl_harden_rlimits_apply(const struct pl_harden_rlimits *r);

/* ---- seccomp ---- */
enum pl_seccomp_mode { PL_SECCOMP_OFF, PL_SECCOMP_BASIC, PL_SECCOMP_STRICT };
int pl_seccomp_mode_parse(const char *s, enum pl_seccomp_mode *out);
/* the default deny-list (ptrace, process_vm_*, kexec_*, bpf, mount, modules, ...: EPERM) on
 * the calling process and its future children; sets no_new_privs. */
int pl_harden_seccomp_basic(void);
/* names of the syscalls the basic filter denies (NULL-terminated) */
const char *const *pl_harden_seccomp_denied(void);
/* is the program at path a static ELF (no PT_INTERP)? -1 when it is not a readable ELF */
int pl_harden_is_static_elf(const char *path);
/* Exec the runtime (file searched in PATH like execvp, with envp). In seccomp strict mode
 * (PROTECTLAMBDA_SECCOMP=strict in envp) a static binary cannot get the monitor (no
 * LD_PRELOAD), so the filter that makes execve/execveat fail is installed here, before the
 * exec, with a one-time exception for this very exec (see docs/harden.md, "exec ticket").
 * Returns only on failure (-1, errno of the exec). */
int pl_harden_exec(const char *file, char *const argv[], char *const envp[]);
/* is file (searched in PATH like execvp) a static ELF, where no LD_PRELOAD library enters? */
bool pl_harden_is_static_program(const char *file);
/* would pl_harden_exec use the exec ticket for this program (strict mode, static ELF)? */
bool pl_harden_wants_ticket(const char *file, char *const envp[]);

/* ---- secure temp dir ---- */
/* mkdtemp(base/protectlambda-tmp-XXXXXX) with mode 0700 into out */
int pl_harden_secure_tmp(const char *base, char *out, size_t outlen);

/* ---- locating the parts that ship beside the binary ---- */
/* libprotectlambda_monitor.so: monitor.lib, else next to /proc/self/exe (., ../lib,
 * ../lib/protectlambda, ../monitor, ../src/monitor) */
int pl_harden_find_monitor_lib(const struct pl_config *cfg, char *out, size_t outlen);
/* directory holding the Python adapter's sitecustomize.py */
int pl_harden_find_python_adapter(char *out, size_t outlen);

/* ---- CPU co-location (setting colocate, docs/harden.md "CPU co-location") ----
 * On a sandbox with several vCPUs, each hand-off between two processes on different vCPUs
 * wakes a halted vCPU (tens of microseconds in a Firecracker guest); the guard's proxy adds
 * two such hand-offs per invocation. Running the runtime and the proxy's connection threads on
 * one CPU makes them plain context switches: only the runtime's threads on the hand-off path
 * when the monitor library is in the runtime, else the whole runtime (restricted to that CPU,
 * so `auto` does that only when the function may use at most one vCPU of time anyway). */
struct pl_cpu_info {
    int n_cpus;       /* CPUs in the calling thread's affinity mask (>= 1) */
    int last_cpu;     /* the highest of them: the CPU both sides choose */
    double quota;     /* CPUs' worth of time from the cgroup's quota (v2 cpu.max, v1
                       * cfs_quota_us / cfs_period_us); 0: none */
};
/* the calling thread's mask and its cgroup's quota */
void pl_cpu_info_read(struct pl_cpu_info *out);
/* The function's CPU share: the fewest of the CPUs in the mask, the quota, and the share
 * Lambda gives its memory size (memory_mb / 1769: one vCPU at 1,769 MB; NULL or not a number:
 * not counted) */
double pl_cpu_share(const struct pl_cpu_info *ci, const char *memory_mb);
/* What co-location pins (setting colocate):
 *   WHOLE    the wrapper pins the runtime's process to the CPU before the exec;
 *   HANDOFF  the monitor library in the runtime pins its hand-off threads there: the main
 *            thread, and each thread that receives on a Runtime API connection (a Node
 *            runtime asks for the next event from a libuv pool thread); its other threads (a
 *            V8 runtime's GC and compiler workers, the function's own) and its children keep
 *            every CPU;
 *   MAIN     the main thread for good; another thread only from a request it sends on a
 *            Runtime API connection to the answer (a pool thread that serves the Runtime API
 *            may also run the function's parallel work: above one vCPU it keeps every CPU for
 *            that work). */
enum pl_colocate_scope { PL_COLOCATE_NONE, PL_COLOCATE_WHOLE, PL_COLOCATE_HANDOFF, PL_COLOCATE_MAIN };
/* The CPU the runtime and the proxy share for the colocate mode ("auto", "on", "handoff",
 * "main", "off") and the scope, or -1 (scope NONE); the reason in why either way. lib_ok: the
 * monitor library will be in the runtime (monitor on, and not a static program). on: WHOLE;
 * handoff / main: HANDOFF / MAIN when lib_ok; auto: when lib_ok, HANDOFF when the function may
 * use at most one vCPU of time (pl_cpu_share <= 1), MAIN above; without it WHOLE at most one
 * vCPU, NONE above. The guard makes the same choice as the wrapper from the same mask and
 * memory size: both pick the mask's highest CPU. */
int pl_colocate_choose(const char *mode, const struct pl_cpu_info *ci, const char *memory_mb,
                       bool lib_ok, enum pl_colocate_scope *scope, char *why, size_t why_len);
/* the calling thread's mask as a CPU list ("0,1") for PL_MON_ENV_COLOCATE */
int pl_cpu_wide_list(char *out, size_t len);
/* restrict the calling thread (and what it execs or creates later) to cpu */
int pl_cpu_pin_self(int cpu);
/* the calling thread (and the threads it creates from now on) off CPU `cpu`, when its mask has
 * another: 1 done, 0 nothing to do (not in the mask, or the only one), -1 error */
int pl_cpu_avoid_self(int cpu);

/* ---- the wrapper's whole job ---- */
struct pl_harden_env {
    /* the environment the runtime will get */
    const char *(*get)(void *ctx, const char *name);
    int (*set)(void *ctx, const char *name, const char *value);
    void *ctx;
    int port; /* the guard's proxy port (default socket name) */
};
/* Edit env (LD_PRELOAD, the monitor's variables, TMPDIR, PYTHONPATH, NODE_OPTIONS) and apply
 * rlimits and the basic seccomp filter to this process. Every step is tried; -1 (first
 * error) when one failed. seccomp being unavailable is logged once, not an error. */
int pl_harden_wrap(const struct pl_config *cfg, const struct pl_harden_env *env);

/* ---- deaths ---- */
/* A runtime that died: fill ev (RESOURCE_LIMIT_EXCEEDED for SIGXCPU/SIGXFSZ/SIGKILL after a
 * CPU limit, RUNTIME_EXCEPTION for other signals). false when status is a normal exit. */
bool pl_harden_event_from_status(int status, int pid, struct pl_event *ev);

#endif
