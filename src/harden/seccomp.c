/* seccomp: the basic deny-list (libseccomp) and the exec ticket of strict mode (raw BPF). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protectlambda/harden.h"
#include "protectlambda/log.h"

static const char *const s_denied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kexec_load", "kexec_file_load", "bpf",
    "mount", "umount", "umount2", "mount_setattr", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "pivot_root", "chroot", "init_module", "finit_module",
    "delete_module", "swapon", "swapoff", "reboot", "acct", "quotactl", "setns", "unshare",
    "userfaultfd", "perf_event_open", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
    "add_key", "request_key", "keyctl", "iopl", "ioperm", "syslog", "vhangup", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "io_uring_setup", "io_uring_enter",
    "io_uring_register", NULL};

const char *const *pl_harden_seccomp_denied(void)
{
    return s_denied;
}

int pl_seccomp_mode_parse(const char *s, enum pl_seccomp_mode *out)
{
    if (!s || !strcmp(s, "basic"))
        *out = PL_SECCOMP_BASIC;
    else if (!strcmp(s, "strict"))
        *out = PL_SECCOMP_STRICT;
    else if (!strcmp(s, "off"))
        *out = PL_SECCOMP_OFF;
    else
        return pl_raise(PL_ERR_CONFIG, "seccomp: '%s' is not off, basic or strict", s);
    return 0;
}

int pl_harden_seccomp_basic(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;
    if (!ctx)
        return pl_raise(PL_ERR_HARDEN, "seccomp: cannot create a filter");
    for (size_t i = 0; s_denied[i]; i++) {
        int nr = seccomp_syscall_resolve_name(s_denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (r < 0 && r != -EEXIST) {
            pl_raise(PL_ERR_HARDEN, "seccomp: rule for %s: %s", s_denied[i], strerror(-r));
            goto out;
        }
    }
    int r = seccomp_load(ctx);
    if (r < 0) {
        pl_raise(PL_ERR_UNSUPPORTED, "seccomp: cannot load the filter: %s", strerror(-r));
        goto out;
    }
    rc = 0;
out:
    seccomp_release(ctx);
    return rc;
}

int pl_harden_is_static_elf(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pl_raise(PL_ERR_IO, "%s: %s", path, strerror(errno));
    int rc = -1;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum > 512) {
        pl_raise(PL_ERR_PARSE, "%s: not a 64-bit ELF program", path);
        goto out;
    }
    rc = 1;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
            (ssize_t)sizeof(ph)) {
            rc = pl_raise(PL_ERR_PARSE, "%s: truncated program headers", path);
            goto out;
        }
        if (ph.p_type == PT_INTERP) {
            rc = 0;
            break;
        }
    }
out:
    close(fd);
    return rc;
}

static const char *s_envp_get(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], name, n) && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

/* PATH search like execvp, with the wrapper's own PATH */
static int s_which(const char *file, char *out, size_t outlen)
{
    if (strchr(file, '/')) {
        if (strlen(file) >= outlen)
            return -1;
        memcpy(out, file, strlen(file) + 1); /* fits: checked above */
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *e = strchr(path, ':');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        if (n + 1 + strlen(file) + 1 <= outlen) {
            memcpy(out, n ? path : ".", n ? n : 1);
            size_t o = n ? n : 1;
            out[o++] = '/';
            memcpy(out + o, file, strlen(file) + 1); /* fits: checked above */
            if (access(out, X_OK) == 0)
                return 0;
        }
        if (!e)
            break;
        path = e + 1;
    }
    return -1;
}

#if defined(__x86_64__)
#define S_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define S_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define S_ARG_LO(i) (offsetof(struct seccomp_data, args) + (size_t)(i) * 8)
#define S_ARG_HI(i) (offsetof(struct seccomp_data, args) + (size_t)(i) * 8 + 4)

/* execve/execveat -> EPERM, except execveat(fd, ticket, ..., AT_EMPTY_PATH) with this fd and
 * this exact pointer: a page mapped at a random address of this process, gone with the exec.
 * The new program cannot read the filter (that needs CAP_SYS_ADMIN) and would have to guess a
 * 35-bit address and the descriptor to repeat it. */
static int s_exec_ticket(const char *path, char *const argv[], char *const envp[])
{
#ifdef S_AUDIT_ARCH
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint64_t)pl_now_ns() * 0x9E3779B97F4A7C15ULL;
    void *hint = (void *)(uintptr_t)(0x100000000000ULL + (rnd & 0x3FFFFFFFF000ULL));
    char *ticket = mmap(hint, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ticket == MAP_FAILED) {
        close(fd);
        return -1;
    }
    ticket[0] = '\0';
    uint64_t t = (uint64_t)(uintptr_t)ticket;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 11, 0),           /* x32 -> deny */
#else
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xFFFFFFFF, 11, 0),
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 10, 0),           /* -> deny */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, S_ARG_LO(0)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)fd, 0, 6),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, S_ARG_LO(1)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)t, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, S_ARG_HI(1)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(t >> 32), 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, S_ARG_LO(4)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AT_EMPTY_PATH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = (unsigned short)PL_ARRAY_LEN(f), .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        int e = errno;
        munmap(ticket, 4096);
        close(fd);
        errno = e;
        return -2; /* seccomp unavailable: the caller execs normally */
    }
    syscall(SYS_execveat, fd, ticket, argv, envp, AT_EMPTY_PATH);
    int e = errno;
    close(fd);
    errno = e;
    return -1;
#else
    errno = ENOSYS;
    return -2;
#endif
}

bool pl_harden_is_static_program(const char *file)
{
    char path[PATH_MAX];
    return file && s_which(file, path, sizeof(path)) == 0 && pl_harden_is_static_elf(path) == 1;
}

bool pl_harden_wants_ticket(const char *file, char *const envp[])
{
    const char *mode = s_envp_get(envp, "PROTECTLAMBDA_SECCOMP");
    char path[PATH_MAX];
    return mode && !strcmp(mode, "strict") && file && s_which(file, path, sizeof(path)) == 0 &&
           pl_harden_is_static_elf(path) == 1;
}

int pl_harden_exec(const char *file, char *const argv[], char *const envp[])
{
    const char *mode = s_envp_get(envp, "PROTECTLAMBDA_SECCOMP");
    if (mode && !strcmp(mode, "strict")) {
        char path[PATH_MAX];
        if (s_which(file, path, sizeof(path)) == 0 && pl_harden_is_static_elf(path) == 1) {
            pl_log(PL_LOG_DEBUG, "harden", "seccomp strict: %s is static, exec ticket", path);
            int r = s_exec_ticket(path, argv, envp);
            if (r == -1)
                return -1;
            pl_log(PL_LOG_WARN, "harden",
                   "seccomp unavailable (%s): strict mode not enforced for %s", strerror(errno),
                   path);
        }
    }
    execvpe(file, argv, envp);
    return -1;
}
