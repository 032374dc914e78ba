/* CPU co-location of the runtime and the guard's proxy: see include/protectlambda/harden.h
 * and docs/harden.md "CPU co-location". */
#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protectlambda/common.h"
#include "protectlambda/harden.h"

/* Lambda's documented point: one vCPU's worth of CPU time at 1,769 MB, proportional below */
#define S_MB_PER_VCPU 1769.0

/* "<quota> <period>" (v2; "max <period>" is no quota) or two files (v1): CPUs' worth, 0 none */
static double s_cgroup_quota(void)
{
    char *text = NULL;
    size_t len = 0;
    long long quota = -1, period = 0;
    if (pl_read_file("/sys/fs/cgroup/cpu.max", &text, &len, 256) == 0) {
        char *end = NULL;
        quota = strtoll(text, &end, 10);
        if (end == text)
            quota = -1;
        else
            period = strtoll(end, NULL, 10);
    } else {
        pl_error_clear();
        if (pl_read_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", &text, &len, 64) == 0) {
            quota = strtoll(text, NULL, 10);
            pl_free(text);
            text = NULL;
            if (pl_read_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us", &text, &len, 64) == 0)
                period = strtoll(text, NULL, 10);
        }
        pl_error_clear();
    }
    pl_free(text);
    return quota > 0 && period > 0 ? (double)quota / (double)period : 0.0;
}

void pl_cpu_info_read(struct pl_cpu_info *out)
{
    memset(out, 0, sizeof(*out));
    out->n_cpus = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
        out->n_cpus = CPU_COUNT(&set);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                out->last_cpu = c;
    }
    out->quota = s_cgroup_quota();
}

/* memory_mb as Lambda sets it (a positive whole number), else 0 */
static long s_memory_mb(const char *memory_mb)
{
    if (!memory_mb || !*memory_mb)
        return 0;
    char *end = NULL;
    long mb = strtol(memory_mb, &end, 10);
    return end && !*end && mb > 0 ? mb : 0;
}

double pl_cpu_share(const struct pl_cpu_info *ci, const char *memory_mb)
{
    double share = ci->n_cpus > 0 ? (double)ci->n_cpus : 1.0;
    if (ci->quota > 0 && ci->quota < share)
        share = ci->quota;
    long mb = s_memory_mb(memory_mb);
    if (mb > 0 && (double)mb / S_MB_PER_VCPU < share)
        share = (double)mb / S_MB_PER_VCPU;
    return share;
}

static void s_share_text(char *out, size_t len, double share, const struct pl_cpu_info *ci,
                         const char *memory_mb)
{
    snprintf(out, len, "CPU share %.2f of %d CPUs (memory %s MB%s)", share, ci->n_cpus,
             memory_mb && *memory_mb ? memory_mb : "unknown", ci->quota > 0 ? ", cgroup quota" : "");
}

int pl_colocate_choose(const char *mode, const struct pl_cpu_info *ci, const char *memory_mb,
                       bool lib_ok, enum pl_colocate_scope *scope, char *why, size_t why_len)
{
    static const char *const no_lib =
        "no monitor library in the runtime (monitor off, or a static program)";
    *scope = PL_COLOCATE_NONE;
    if (!mode || !strcmp(mode, "off")) {
        snprintf(why, why_len, "colocate is off");
        return -1;
    }
    if (ci->n_cpus < 2) {
        snprintf(why, why_len, "one CPU only: nothing to co-locate");
        return -1;
    }
    double share = pl_cpu_share(ci, memory_mb);
    char sh[160];
    s_share_text(sh, sizeof(sh), share, ci, memory_mb);
    if (!strcmp(mode, "on")) {
        snprintf(why, why_len, "colocate is on (%s): the whole runtime", sh);
        *scope = PL_COLOCATE_WHOLE;
        return ci->last_cpu;
    }
    bool is_auto = !strcmp(mode, "auto");
    bool handoff = !strcmp(mode, "handoff") || (is_auto && share <= 1.0);
    if (!is_auto && !handoff && strcmp(mode, "main") != 0) {
        snprintf(why, why_len, "colocate is %s: not a mode", mode);
        return -1;
    }
    if (lib_ok && handoff) {
        snprintf(why, why_len,
                 "%s: the runtime's hand-off threads (its main thread and those that receive "
                 "on the Runtime API); its other threads and its children keep every CPU",
                 sh);
        *scope = PL_COLOCATE_HANDOFF;
        return ci->last_cpu;
    }
    if (lib_ok) {
        snprintf(why, why_len,
                 "%s: the runtime's main thread, and a thread that asks the Runtime API for the "
                 "next event until the answer; its other threads and its children keep every CPU",
                 sh);
        *scope = PL_COLOCATE_MAIN;
        return ci->last_cpu;
    }
    if (!is_auto) {
        snprintf(why, why_len, "colocate is %s, but %s can pin threads", mode, no_lib);
        return -1;
    }
    if (share > 1.0) {
        snprintf(why, why_len, "%s is above one vCPU, and %s can pin threads alone: the runtime "
                 "keeps every CPU", sh, no_lib);
        return -1;
    }
    snprintf(why, why_len, "%s: at most one vCPU of time, and %s: the whole runtime", sh, no_lib);
    *scope = PL_COLOCATE_WHOLE;
    return ci->last_cpu;
}

int pl_cpu_wide_list(char *out, size_t len)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return pl_raise(PL_ERR_HARDEN, "sched_getaffinity: %s", strerror(errno));
    size_t o = 0;
    out[0] = '\0';
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set))
            continue;
        int n = snprintf(out + o, len - o, "%s%d", o ? "," : "", c);
        if (n < 0 || (size_t)n >= len - o)
            return pl_raise(PL_ERR_HARDEN, "CPU list longer than %zu bytes", len);
        o += (size_t)n;
    }
    return 0;
}

int pl_cpu_avoid_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof(set), &set) != 0 ||
        !CPU_ISSET(cpu, &set) || CPU_COUNT(&set) < 2)
        return 0;
    CPU_CLR(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        return pl_raise(PL_ERR_HARDEN, "sched_setaffinity without CPU %d: %s", cpu,
                        strerror(errno));
    return 1;
}

int pl_cpu_pin_self(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return pl_raise(PL_ERR_HARDEN, "no such CPU: %d", cpu);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        return pl_raise(PL_ERR_HARDEN, "sched_setaffinity to CPU %d: %s", cpu, strerror(errno));
    return 0;
}
