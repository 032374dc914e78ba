/* libprotectlambda_monitor.so: the LD_PRELOAD library the wrapper adds to the runtime.
 *
 * It interposes the libc entry points that start programs, open files, connect sockets and
 * load libraries, applies the policy the wrapper exported in PROTECTLAMBDA_* variables
 * (allow | log | deny per class), and sends one datagram per decision to the guard.
 *
 * Rules this file keeps (docs/monitor.md):
 *  - export only the hooked libc symbols (-fvisibility=hidden, PL_MON_EXPORT on hooks);
 *  - originals through dlsym(RTLD_NEXT), resolved in the constructor (never after fork);
 *  - no malloc, no locks, no stdio in hooks: everything on the stack or in static memory set
 *    up by the constructor, so the exec hooks are safe between fork/vfork and exec;
 *  - errno preserved; a denied call fails with EPERM/EACCES, nothing ever aborts;
 *  - never block: a non-blocking datagram socket, drops counted; the socket is re-created
 *    when the host closed or dup2-ed over its descriptor (fstat inode compare). */
/* glibc marks some arguments nonnull; hosts pass NULL anyway, and we must not crash on it */
#ifdef __clang__ /* clang (make sanitize, fuzz builds) names these warnings differently */
#pragma clang diagnostic ignored "-Wpointer-bool-conversion"
#pragma clang diagnostic ignored "-Wtautological-pointer-compare"
#pragma clang diagnostic ignored "-Wnonnull"
#else
#pragma GCC diagnostic ignored "-Wnonnull-compare"
#pragma GCC diagnostic ignored "-Wnonnull"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "mon_util.h"
#include "protectlambda/monitor.h"
#include "pyaudit.h"

#define EXPORT __attribute__((visibility("default")))

extern char **environ;

enum { POL_ALLOW, POL_LOG, POL_DENY };

/* policy classes ("cls" of the wire format) */
#define PL_MON_CLS_PROCESS "process"
#define PL_MON_CLS_FILES "files"
#define PL_MON_CLS_TRAVERSAL "traversal"
#define PL_MON_CLS_WRITES "writes"
#define PL_MON_CLS_SOURCE "source_read"
#define PL_MON_CLS_NETWORK "network"
#define PL_MON_CLS_LIBRARY "library"
enum { SECCOMP_OFF, SECCOMP_BASIC, SECCOMP_STRICT };

/* ------------------------------------------------------------------ originals */
typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);
typedef int (*system_fn)(const char *);
typedef FILE *(*popen_fn)(const char *, const char *);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef int (*creat_fn)(const char *, mode_t);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef FILE *(*freopen_fn)(const char *, const char *, FILE *);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef void *(*dlopen_fn)(const char *, int);
typedef int (*kill_fn)(pid_t, int);
typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef ssize_t (*recvfrom_fn)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);

static struct {
    execve_fn execve, execv_;
    execvpe_fn execvpe;
    fexecve_fn fexecve;
    execveat_fn execveat;
    spawn_fn posix_spawn, posix_spawnp;
    system_fn system;
    popen_fn popen;
    open_fn open, open64;
    openat_fn openat, openat64;
    open2_fn open_2, open64_2;
    openat2_fn openat_2, openat64_2;
    creat_fn creat, creat64;
    fopen_fn fopen, fopen64;
    freopen_fn freopen, freopen64;
    connect_fn connect;
    dlopen_fn dlopen;
    kill_fn kill;
    pthread_create_fn pthread_create;
    read_fn read;
    recv_fn recv;
    recvfrom_fn recvfrom;
    recvmsg_fn recvmsg;
    send_fn send;
    sendto_fn sendto;
    sendmsg_fn sendmsg;
} R;

/* ------------------------------------------------------------------ configuration */
#define S_MAX_LIST 64
#define S_POOL 32768

struct s_restricted {
    const char *pat;
    bool write_only;
};

static struct {
    bool active;
    int pol_process, pol_files, pol_traversal, pol_writes, pol_source, pol_network, pol_library;
    int seccomp;
    const char *proc_allow[S_MAX_LIST];
    size_t n_proc_allow;
    struct s_restricted restricted[S_MAX_LIST];
    size_t n_restricted;
    const char *write_allow[S_MAX_LIST];
    size_t n_write_allow;
    const char *lib_unsafe[S_MAX_LIST];
    size_t n_lib_unsafe;
    struct pl_mon_net net_allow[S_MAX_LIST];
    size_t n_net_allow;
    struct pl_mon_net net_susp[S_MAX_LIST];
    size_t n_net_susp;
    /* allow-list entries by name: addresses learnt from getaddrinfo */
    struct {
        const char *pat;
        int port; /* -1 any */
    } host_allow[S_MAX_LIST];
    size_t n_host_allow;
    struct pl_mon_net proxy;
    bool has_proxy;
    const char *task_root;
    /* what an opened file must be for its resolved path to matter (see s_file_recheck):
     * devices holding glob/directory entries, devices of write-only entries, and the
     * identities of the plain restricted files */
    dev_t glob_dev[16], write_dev[16];
    size_t n_glob_dev, n_write_dev;
    struct {
        dev_t dev;
        ino_t ino;
    } file_id[S_MAX_LIST];
    size_t n_file_id;
    /* event socket */
    struct sockaddr_un addr;
    socklen_t addrlen;
    bool has_socket;
    char exe[PATH_MAX];
    const char *self_lib; /* path of this .so */
    /* environment re-injected into every exec */
    const char *keep_env[S_MAX_LIST];
    size_t n_keep_env;
    const char *ld_preload; /* value at start (may be NULL) */
    pid_t root_pid; /* the process the wrapper exec'd (the runtime's pid) */
    int chain;      /* execs of the root process so far (the runtime's bootstrap chain) */
    char pool[S_POOL];
    size_t pool_used;
} C;

static atomic_int s_state;           /* 0 not yet, 1 initialising, 2 ready */
static atomic_int s_fd = -1;          /* event socket */
static atomic_ulong s_ino;
static atomic_ulong s_dev;
static atomic_int s_self_pid;         /* this process (updated in fork children) */
static atomic_ulong s_drops;
static atomic_int s_runtime_started;  /* first connect to the Runtime API proxy seen */
static atomic_int s_strict_on;        /* strict seccomp filter installed in this process */
static __thread int s_depth __attribute__((tls_model("initial-exec")));

/* dedup of logged (not denied) file events: hashes of class+path */
#define S_DEDUP 256
static atomic_ulong s_dedup[S_DEDUP];

static const char *s_pool_dup(const char *s, size_t n)
{
    if (C.pool_used + n + 1 > sizeof(C.pool))
        return NULL;
    char *d = C.pool + C.pool_used;
    memcpy(d, s, n);
    d[n] = '\0';
    C.pool_used += n + 1;
    return d;
}

/* the settings table gives the defaults, so the .so and the config library agree */
static const char *s_default(const char *key)
{
#define PL_SETTING(id, k, type, def, min, max, choices, help)                                 \
    if (!strcmp(key, k))                                                                      \
        return def;
#include "protectlambda/settings.def"
#undef PL_SETTING
    return "";
}

/* value of a setting: its PROTECTLAMBDA_* variable, else the table default */
static const char *s_setting(const char *key)
{
    char env[96] = "PROTECTLAMBDA_";
    size_t n = strlen(env);
    for (const char *k = key; *k && n + 1 < sizeof(env); k++) {
        char c = *k;
        env[n++] = (c == '.' || c == '-') ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    env[n] = '\0';
    const char *v = getenv(env);
    return v ? v : s_default(key);
}

static int s_pol(const char *key)
{
    const char *v = s_setting(key);
    if (!strcmp(v, "allow"))
        return POL_ALLOW;
    if (!strcmp(v, "deny"))
        return POL_DENY;
    return POL_LOG; /* log, and anything unparseable (fail towards reporting) */
}

/* split a comma-separated list into pool strings; calls fn for each trimmed item */
static void s_list(const char *key, void (*fn)(const char *item, size_t n))
{
    const char *v = s_setting(key);
    while (v && *v) {
        const char *e = strchr(v, ',');
        size_t n = e ? (size_t)(e - v) : strlen(v);
        const char *s = v;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n)
            fn(s, n);
        v = e ? e + 1 : NULL;
    }
}

static void s_add_proc_allow(const char *s, size_t n)
{
    if (C.n_proc_allow < S_MAX_LIST && (C.proc_allow[C.n_proc_allow] = s_pool_dup(s, n)))
        C.n_proc_allow++;
}
static void s_add_restricted(const char *s, size_t n)
{
    bool w = n > 2 && s[0] == 'w' && s[1] == ':';
    if (w) {
        s += 2;
        n -= 2;
    }
    if (C.n_restricted < S_MAX_LIST && (C.restricted[C.n_restricted].pat = s_pool_dup(s, n)))
        C.restricted[C.n_restricted++].write_only = w;
}
static void s_add_write_allow(const char *s, size_t n)
{
    if (C.n_write_allow < S_MAX_LIST && (C.write_allow[C.n_write_allow] = s_pool_dup(s, n)))
        C.n_write_allow++;
}
static void s_add_lib_unsafe(const char *s, size_t n)
{
    if (C.n_lib_unsafe < S_MAX_LIST && (C.lib_unsafe[C.n_lib_unsafe] = s_pool_dup(s, n)))
        C.n_lib_unsafe++;
}
static void s_add_net(struct pl_mon_net *arr, size_t *cnt, const char *s, size_t n)
{
    char tmp[128];
    if (n >= sizeof(tmp) || *cnt >= S_MAX_LIST)
        return;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (pl_mon_net_parse(tmp, &arr[*cnt]) == 0)
        (*cnt)++;
}
static void s_add_net_allow(const char *s, size_t n)
{
    /* "name[:port]" entries are host names, resolved through the getaddrinfo cache */
    const char *colon = memchr(s, ':', n);
    size_t hn = colon ? (size_t)(colon - s) : n;
    if (s[0] != '[' && pl_mon_is_host_pattern(s, hn) && C.n_host_allow < S_MAX_LIST) {
        int port = -1;
        if (colon) {
            port = 0;
            for (size_t i = hn + 1; i < n; i++) {
                if (s[i] < '0' || s[i] > '9' || port > 65535) {
                    port = -2;
                    break;
                }
                port = port * 10 + (s[i] - '0');
            }
            if (port < 0 || port > 65535 || hn + 1 == n)
                return;
        }
        const char *pat = s_pool_dup(s, hn);
        if (pat) {
            C.host_allow[C.n_host_allow].pat = pat;
            C.host_allow[C.n_host_allow++].port = port;
        }
        return;
    }
    s_add_net(C.net_allow, &C.n_net_allow, s, n);
}
static void s_add_net_susp(const char *s, size_t n)
{
    s_add_net(C.net_susp, &C.n_net_susp, s, n);
}

static bool s_keep_name(const char *kv)
{
    if (!strncmp(kv, PL_MON_ENV_CHAIN "=", sizeof(PL_MON_ENV_CHAIN)))
        return false;
    static const char *const keep[] = {"PROTECTLAMBDA_MON_", "PROTECTLAMBDA_MONITOR",
                                       "PROTECTLAMBDA_SECCOMP=", "PROTECTLAMBDA_UPSTREAM="};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (!strncmp(kv, keep[i], strlen(keep[i])))
            return true;
    return false;
}

static void s_signal_init(void);
static void s_emit_python(const char *type, const char *sev, const char *act, const char *cls,
                          const char *what, const char *why);

static void s_add_dev(dev_t *arr, size_t *n, dev_t d)
{
    for (size_t k = 0; k < *n; k++)
        if (arr[k] == d)
            return;
    if (*n < 16)
        arr[(*n)++] = d;
}

/* what identifies files a restricted entry can match, once opened */
static void s_restricted_identity(const char *pat, bool write_only)
{
    char dir[PATH_MAX];
    pl_mon_strlcpy(dir, pat, sizeof(dir));
    char *star = strchr(dir, '*');
    if (star)
        *star = '\0';
    struct stat st;
    if (!star && stat(dir, &st) == 0) {
        if (write_only)
            s_add_dev(C.write_dev, &C.n_write_dev, st.st_dev);
        else if (S_ISDIR(st.st_mode))
            s_add_dev(C.glob_dev, &C.n_glob_dev, st.st_dev);
        else if (C.n_file_id < S_MAX_LIST) {
            C.file_id[C.n_file_id].dev = st.st_dev;
            C.file_id[C.n_file_id++].ino = st.st_ino;
        }
        return;
    }
    /* a glob, or a path that does not exist (yet): anything on the device of its closest
     * existing directory may match */
    while (dir[0] && stat(dir, &st) != 0) {
        char *sl = strrchr(dir, '/');
        if (!sl)
            break;
        *sl = '\0';
    }
    if (!dir[0] && stat("/", &st) != 0)
        return;
    s_add_dev(write_only ? C.write_dev : C.glob_dev, write_only ? &C.n_write_dev : &C.n_glob_dev,
              st.st_dev);
}

/* ------------------------------------------------------------------ colocate, hand-off threads */
/* PL_MON_ENV_COLOCATE: the runtime's hand-off threads on the guard's proxy CPU, everything else
 * on the wide mask. The hand-off threads are the main thread (pinned by the constructor) and,
 * with "/h" (at most one vCPU of time), every thread that receives on a Runtime API connection
 * (pinned at its first receive: a Node runtime asks for the next event from a libuv pool
 * thread), with "/t" (above) such a thread only from its request to the answer (the pool may
 * also run the function's parallel work); a runtime's other threads (a V8
 * runtime's GC and compiler workers, the function's own) keep every CPU: pinned with the rest,
 * their parallel work queued behind one another on one CPU and the main thread waited for it
 * (docs/performance.md, session 11). Set up by the constructor of the root process's image (so
 * again after each of its in-place execs); the other processes only keep their children wide.
 * No state but the Runtime API descriptors and the per-thread flag is written outside the
 * constructor and the fork child handler (vfork children share it). */
static struct {
    int cpu;         /* -1: not configured */
    bool handoff;    /* "/h": the threads receiving on the Runtime API too, not only main */
    bool transient;  /* "/t": those threads only from a request on it to its answer */
    bool pinned;     /* this process's main thread is pinned to cpu */
    cpu_set_t one;   /* {cpu} */
    cpu_set_t wide;  /* the mask everything else keeps */
} CO = {.cpu = -1};

/* the Runtime API connections (to the guard's proxy) of the root process: a bit per descriptor
 * below S_API_FDS, set by the connect hook; s_api_any: any set (the receive hooks' fast path) */
#define S_API_FDS 1024
static atomic_ulong s_api_fd[S_API_FDS / 64];
static atomic_int s_api_any;
/* this thread is a hand-off thread pinned to CO.cpu (not the main thread) */
static __thread bool s_tl_handoff __attribute__((tls_model("initial-exec")));
/* "/t": this thread sent a request on a Runtime API connection and is pinned until a receive
 * on it returns data */
static __thread bool s_tl_wait __attribute__((tls_model("initial-exec")));
/* "/t": 1 + the descriptor this thread last found connected to the proxy (0: none) */
static __thread int s_tl_api_ok __attribute__((tls_model("initial-exec")));
/* never pinned by a receive ("/h") or while waiting ("/t"): the main thread (pinned for good),
 * a thread with a mask of its own, a thread of another process */
static __thread bool s_tl_no_wait __attribute__((tls_model("initial-exec")));

/* a fork() child owns its copy of the state: publish descriptors it creates */
static void s_atfork_child(void)
{
    atomic_store(&s_self_pid, getpid());
    if (CO.pinned) { /* the child is not the runtime: the wide mask (colocate) */
        CO.pinned = false;
        s_tl_handoff = false;
        s_tl_wait = false;
        (void)sched_setaffinity(0, sizeof(CO.wide), &CO.wide);
    }
}

static bool s_main_thread(void)
{
    return (pid_t)syscall(SYS_gettid) == getpid();
}

/* "CPU/LIST", "CPU/LIST/h" or "CPU/LIST/t": cpu, the wide mask, the hand-off threads pinned
 * for good or only while they wait; false on anything malformed */
static bool s_colo_parse(const char *v)
{
    char *end = NULL;
    long cpu = strtol(v, &end, 10);
    if (end == v || *end != '/' || cpu < 0 || cpu >= CPU_SETSIZE)
        return false;
    CPU_ZERO(&CO.wide);
    for (const char *p = end + 1; *p;) {
        long c = strtol(p, &end, 10);
        if (end == p || c < 0 || c >= CPU_SETSIZE)
            return false;
        CPU_SET((int)c, &CO.wide);
        if (!strcmp(end, "/h") || !strcmp(end, "/t")) {
            CO.handoff = end[1] == 'h';
            CO.transient = end[1] == 't';
            break;
        }
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    if (!CPU_ISSET((int)cpu, &CO.wide) || CPU_COUNT(&CO.wide) < 2)
        return false;
    CO.cpu = (int)cpu;
    CPU_ZERO(&CO.one);
    CPU_SET(CO.cpu, &CO.one);
    return true;
}

static void s_colo_init(void)
{
    const char *v = getenv(PL_MON_ENV_COLOCATE);
    if (!v || !*v || !s_colo_parse(v))
        return;
    if (getpid() == C.root_pid && s_main_thread() &&
        sched_setaffinity(0, sizeof(CO.one), &CO.one) == 0)
        CO.pinned = true;
}

/* a thread co-location pinned: the runtime's main thread, or a hand-off thread */
static bool s_colo_pinned_thread(void)
{
    return CO.pinned && (s_tl_handoff || s_tl_wait || s_main_thread());
}

/* the calling thread back to the wide mask (before it starts a program or a child): only a
 * pinned thread of the runtime, or a vfork child of one (which shares this memory); a process
 * that set its own mask (`taskset -c N prog`) keeps it */
static bool s_colo_widen_self(void)
{
    if (!s_colo_pinned_thread())
        return false;
    cpu_set_t cur;
    if (sched_getaffinity(0, sizeof(cur), &cur) != 0 || !CPU_EQUAL(&cur, &CO.one))
        return false;
    return sched_setaffinity(0, sizeof(CO.wide), &CO.wide) == 0;
}

/* after a spawn, or an exec that failed: the root process's main thread back on its CPU
 * (errno kept) */
static void s_colo_repin_self(bool widened)
{
    int saved = errno;
    if (widened && getpid() == C.root_pid && s_colo_pinned_thread())
        (void)sched_setaffinity(0, sizeof(CO.one), &CO.one);
    errno = saved;
}

/* the connect hook: fd is a Runtime API connection of the runtime (co-location configured) */
static void s_api_fd_mark(int fd)
{
    if (!CO.pinned || !(CO.handoff || CO.transient) || fd < 0 || fd >= S_API_FDS)
        return;
    atomic_fetch_or(&s_api_fd[fd / 64], 1UL << (fd % 64));
    atomic_store(&s_api_any, 1);
}

/* is fd still a connection to the proxy? (a descriptor number can be reused: the mark is
 * dropped when it is not) */
static bool s_api_peer_ok(int fd)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len = sizeof(ss);
    uint8_t addr[16] = {0};
    int port = -1, fam = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        fam = ss.ss_family;
        if (fam == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
            memcpy(addr, &in->sin_addr, 4);
            port = ntohs(in->sin_port);
        } else if (fam == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
            memcpy(addr, &in6->sin6_addr, 16);
            port = ntohs(in6->sin6_port);
        }
    }
    if (port < 0 || !C.has_proxy || !pl_mon_net_match(&C.proxy, fam, addr, port)) {
        atomic_fetch_and(&s_api_fd[fd / 64], ~(1UL << (fd % 64)));
        return false;
    }
    return true;
}

static bool s_api_marked(int fd)
{
    return fd >= 0 && fd < S_API_FDS &&
           (atomic_load_explicit(&s_api_fd[fd / 64], memory_order_relaxed) & (1UL << (fd % 64)));
}

/* the calling thread onto CO.cpu: 1 done; 0 not for this thread (the main one, pinned for
 * good; another process's; one with a mask of its own, which it keeps); -1 the call failed */
static int s_api_pin_self(void)
{
    cpu_set_t cur;
    if (!CO.pinned || getpid() != C.root_pid || s_main_thread() ||
        sched_getaffinity(0, sizeof(cur), &cur) != 0 || !CPU_EQUAL(&cur, &CO.wide))
        return 0;
    return sched_setaffinity(0, sizeof(CO.one), &CO.one) == 0 ? 1 : -1;
}

/* "/h": a receive on a marked descriptor by a thread not pinned yet pins it for good. Once
 * per thread. */
__attribute__((noinline, cold)) static void s_api_recv_slow(int fd)
{
    int saved = errno;
    if (CO.handoff && s_api_peer_ok(fd)) {
        /* decided: not asked again by this thread */
        if (s_api_pin_self() > 0)
            s_tl_handoff = true;
        else
            s_tl_no_wait = true;
    }
    errno = saved;
}

static inline void s_api_recv(int fd)
{
    if (__builtin_expect(!atomic_load_explicit(&s_api_any, memory_order_relaxed), 1) ||
        s_tl_handoff || s_tl_no_wait || !CO.handoff)
        return;
    if (s_api_marked(fd))
        s_api_recv_slow(fd);
}

/* "/t": a request sent on a marked descriptor pins the thread while it waits for the answer
 * (the proxy thread wakes it on the same CPU); the receive that returns data gives it the
 * wide mask back (s_api_recv_done): a pool thread that also runs the function's parallel work
 * (Node's libuv pool) keeps every CPU for that work */
__attribute__((noinline, cold)) static void s_api_send_slow(int fd)
{
    int saved = errno;
    if (s_tl_api_ok != fd + 1) {
        if (!s_api_peer_ok(fd)) {
            errno = saved;
            return;
        }
        s_tl_api_ok = fd + 1;
    }
    int r = s_api_pin_self();
    if (r > 0)
        s_tl_wait = true;
    else if (r == 0)
        s_tl_no_wait = true; /* decided for this thread */
    errno = saved;
}

static inline void s_api_send(int fd)
{
    if (__builtin_expect(!atomic_load_explicit(&s_api_any, memory_order_relaxed), 1) ||
        !CO.transient || s_tl_wait || s_tl_no_wait)
        return;
    if (s_api_marked(fd))
        s_api_send_slow(fd);
}

__attribute__((noinline, cold)) static void s_api_recv_done_slow(int fd)
{
    if (!s_api_marked(fd))
        return;
    int saved = errno;
    cpu_set_t cur;
    s_tl_wait = false;
    if (sched_getaffinity(0, sizeof(cur), &cur) == 0 && CPU_EQUAL(&cur, &CO.one))
        (void)sched_setaffinity(0, sizeof(CO.wide), &CO.wide);
    errno = saved;
}

/* after a receive that returned n: the wait is over */
static inline void s_api_recv_done(int fd, ssize_t n)
{
    if (__builtin_expect(!s_tl_wait, 1) || n <= 0)
        return;
    s_api_recv_done_slow(fd);
}

/* threads the pinned main thread creates start on the wide mask: their start routine and
 * argument travel in a slot of a fixed pool (no allocation in a hook); no free slot, a thread
 * that asked for its own mask, or any other creator: the call goes through unchanged */
#define S_CO_SLOTS 64
static struct {
    atomic_int used;
    void *(*fn)(void *);
    void *arg;
} s_co_slots[S_CO_SLOTS];

static void *s_colo_start(void *p)
{
    __typeof__(&s_co_slots[0]) slot = p;
    void *(*fn)(void *) = slot->fn;
    void *arg = slot->arg;
    atomic_store(&slot->used, 0);
    (void)sched_setaffinity(0, sizeof(CO.wide), &CO.wide);
    return fn(arg);
}

EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg)
{
    pthread_create_fn real = __atomic_load_n(&R.pthread_create, __ATOMIC_RELAXED);
    if (!real) {
        real = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        __atomic_store_n(&R.pthread_create, real, __ATOMIC_RELAXED);
    }
    if (!real)
        return EAGAIN;
    if (!s_colo_pinned_thread())
        return real(th, attr, fn, arg);
    cpu_set_t asked;
    if (attr && pthread_attr_getaffinity_np(attr, sizeof(asked), &asked) == 0 &&
        CPU_COUNT(&asked) != CPU_SETSIZE)
        return real(th, attr, fn, arg); /* the caller chose the thread's CPUs itself */
    for (int i = 0; i < S_CO_SLOTS; i++) {
        int expect = 0;
        if (!atomic_compare_exchange_strong(&s_co_slots[i].used, &expect, 1))
            continue;
        s_co_slots[i].fn = fn;
        s_co_slots[i].arg = arg;
        int rc = real(th, attr, s_colo_start, &s_co_slots[i]);
        if (rc != 0)
            atomic_store(&s_co_slots[i].used, 0);
        return rc;
    }
    return real(th, attr, fn, arg);
}

static void s_init(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&s_state, &expect, 1))
        return;
#define S_RESOLVE(field, name) R.field = (__typeof__(R.field))dlsym(RTLD_NEXT, name)
    S_RESOLVE(execve, "execve");
    S_RESOLVE(execv_, "execv");
    S_RESOLVE(execvpe, "execvpe");
    S_RESOLVE(fexecve, "fexecve");
    S_RESOLVE(execveat, "execveat");
    S_RESOLVE(posix_spawn, "posix_spawn");
    S_RESOLVE(posix_spawnp, "posix_spawnp");
    S_RESOLVE(system, "system");
    S_RESOLVE(popen, "popen");
    S_RESOLVE(open, "open");
    S_RESOLVE(open64, "open64");
    S_RESOLVE(openat, "openat");
    S_RESOLVE(openat64, "openat64");
    S_RESOLVE(open_2, "__open_2");
    S_RESOLVE(open64_2, "__open64_2");
    S_RESOLVE(openat_2, "__openat_2");
    S_RESOLVE(openat64_2, "__openat64_2");
    S_RESOLVE(creat, "creat");
    S_RESOLVE(creat64, "creat64");
    S_RESOLVE(fopen, "fopen");
    S_RESOLVE(fopen64, "fopen64");
    S_RESOLVE(freopen, "freopen");
    S_RESOLVE(freopen64, "freopen64");
    S_RESOLVE(connect, "connect");
    S_RESOLVE(dlopen, "dlopen");
    S_RESOLVE(pthread_create, "pthread_create");
    S_RESOLVE(read, "read");
    S_RESOLVE(recv, "recv");
    S_RESOLVE(recvfrom, "recvfrom");
    S_RESOLVE(recvmsg, "recvmsg");
    S_RESOLVE(send, "send");
    S_RESOLVE(sendto, "sendto");
    S_RESOLVE(sendmsg, "sendmsg");
#undef S_RESOLVE

    const char *on = s_setting("monitor");
    C.active = !(!strcmp(on, "false") || !strcmp(on, "0") || !strcmp(on, "no"));
    C.pol_process = s_pol("monitor.process");
    C.pol_files = s_pol("monitor.files");
    C.pol_traversal = s_pol("monitor.traversal");
    C.pol_writes = s_pol("monitor.writes");
    C.pol_source = s_pol("monitor.source_read");
    C.pol_network = s_pol("monitor.network");
    C.pol_library = s_pol("monitor.library");
    const char *sc = s_setting("seccomp");
    C.seccomp = !strcmp(sc, "strict") ? SECCOMP_STRICT : !strcmp(sc, "off") ? SECCOMP_OFF
                                                                             : SECCOMP_BASIC;
    s_list("monitor.process_allow", s_add_proc_allow);
    s_list("monitor.restricted_paths", s_add_restricted);
    s_list("monitor.write_allow", s_add_write_allow);
    s_list("monitor.library_unsafe", s_add_lib_unsafe);
    s_list("monitor.network_allow", s_add_net_allow);
    s_list("monitor.network_suspicious", s_add_net_susp);
    for (size_t i = 0; i < C.n_restricted; i++)
        s_restricted_identity(C.restricted[i].pat, C.restricted[i].write_only);
    const char *up = getenv(PL_MON_ENV_UPSTREAM);
    if (up && *up)
        s_add_net_susp(up, strlen(up));
    const char *px = getenv(PL_MON_ENV_PROXY);
    if (px && *px && pl_mon_net_parse(px, &C.proxy) == 0 && C.proxy.family)
        C.has_proxy = true;
    const char *tr = getenv("LAMBDA_TASK_ROOT");
    if (tr && tr[0] == '/' && strcmp(tr, "/") != 0)
        C.task_root = s_pool_dup(tr, strlen(tr));

    const char *sock = getenv(PL_MON_ENV_SOCKET);
    if (sock && *sock && strlen(sock) < sizeof(C.addr.sun_path)) {
        C.addr.sun_family = AF_UNIX;
        size_t n = strlen(sock);
        if (sock[0] == '@') {
            C.addr.sun_path[0] = '\0';
            memcpy(C.addr.sun_path + 1, sock + 1, n - 1);
            C.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        } else {
            memcpy(C.addr.sun_path, sock, n + 1);
            C.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        }
        C.has_socket = true;
    }

    ssize_t n = readlink("/proc/self/exe", C.exe, sizeof(C.exe) - 1);
    C.exe[n > 0 ? n : 0] = '\0';
    Dl_info info;
    if (dladdr((void *)s_init, &info) && info.dli_fname && info.dli_fname[0] == '/')
        C.self_lib = s_pool_dup(info.dli_fname, strlen(info.dli_fname));
    else if ((tr = getenv(PL_MON_ENV_LIB)) != NULL)
        C.self_lib = s_pool_dup(tr, strlen(tr));
    for (char **e = environ; e && *e; e++)
        if (s_keep_name(*e) && C.n_keep_env < S_MAX_LIST &&
            (C.keep_env[C.n_keep_env] = s_pool_dup(*e, strlen(*e))))
            C.n_keep_env++;
    const char *rp = getenv(PL_MON_ENV_ROOT_PID);
    C.root_pid = rp ? (pid_t)strtol(rp, NULL, 10) : 0;
    const char *ch = getenv(PL_MON_ENV_CHAIN);
    C.chain = ch ? (int)strtol(ch, NULL, 10) : 0;
    s_colo_init();
    const char *ld = getenv("LD_PRELOAD");
    if (ld)
        C.ld_preload = s_pool_dup(ld, strlen(ld));
    atomic_store(&s_self_pid, getpid());
    pthread_atfork(NULL, NULL, s_atfork_child);
    if (C.active)
        s_signal_init();
    /* a CPython 3.9+: the audit hook added here, before the interpreter starts */
    const char *pa = s_setting("python_audit");
    if (strcmp(pa, "false") && strcmp(pa, "0") && strcmp(pa, "no"))
        (void)pl_mon_pyaudit_init(s_setting("python.policy"),
                                  s_setting("python.restricted_modules"),
                                  getenv(PL_MON_ENV_PYADAPTER), s_emit_python);
    atomic_store(&s_state, 2);
}

__attribute__((constructor)) static void s_ctor(void)
{
    s_init();
}

static bool s_ready(void)
{
    int st = atomic_load_explicit(&s_state, memory_order_acquire);
    if (st == 0) {
        s_init();
        st = atomic_load(&s_state);
    }
    return st == 2 && C.active;
}

/* ------------------------------------------------------------------ events */

/* the socket, re-created when the descriptor is no longer ours; *temp set when the caller
 * must close it (a child process: never publish a descriptor from a (v)fork child) */
static int s_sock(bool *temp)
{
    *temp = false;
    int fd = atomic_load(&s_fd);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_ino == atomic_load(&s_ino) && st.st_dev == atomic_load(&s_dev))
        return fd;
    int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (nfd < 0)
        return -1;
    if (getpid() != atomic_load(&s_self_pid)) { /* vfork child or clone: memory is shared */
        *temp = true;
        return nfd;
    }
    /* keep it out of the way of hosts that reuse low descriptors */
    int hi = fcntl(nfd, F_DUPFD_CLOEXEC, 700);
    if (hi >= 0) {
        close(nfd);
        nfd = hi;
    }
    if (fstat(nfd, &st) != 0) {
        close(nfd);
        return -1;
    }
    int expect = fd;
    if (!atomic_compare_exchange_strong(&s_fd, &expect, nfd)) {
        *temp = true; /* another thread won; use ours once */
        return nfd;
    }
    atomic_store(&s_ino, st.st_ino);
    atomic_store(&s_dev, st.st_dev);
    return nfd;
}

static void s_send(const char *buf, size_t len)
{
    if (!C.has_socket) {
        atomic_fetch_add(&s_drops, 1);
        return;
    }
    bool temp;
    int fd = s_sock(&temp);
    if (fd < 0) {
        atomic_fetch_add(&s_drops, 1);
        return;
    }
    if (sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&C.addr,
               C.addrlen) < 0)
        atomic_fetch_add(&s_drops, 1);
    if (temp)
        close(fd);
}

static void s_emit_src(const char *src, const char *type, const char *sev, const char *act,
                       const char *cls, const char *what, char *const *argv, const char *why)
{
    int saved = errno;
    char buf[PL_MON_DGRAM_MAX];
    struct pl_mon_json j;
    pl_mon_json_init(&j, buf, sizeof(buf));
    pl_mon_json_raw(&j, "{\"v\":1,\"src\":");
    pl_mon_json_str(&j, src, 16);
    pl_mon_json_raw(&j, ",\"type\":");
    pl_mon_json_str(&j, type, 64);
    pl_mon_json_raw(&j, ",\"sev\":");
    pl_mon_json_str(&j, sev, 16);
    pl_mon_json_raw(&j, ",\"act\":");
    pl_mon_json_str(&j, act, 16);
    pl_mon_json_raw(&j, ",\"cls\":");
    pl_mon_json_str(&j, cls, 32);
    pl_mon_json_raw(&j, ",\"pid\":");
    pl_mon_json_int(&j, (long long)getpid());
    pl_mon_json_raw(&j, ",\"drops\":");
    pl_mon_json_int(&j, (long long)atomic_load(&s_drops));
    pl_mon_json_raw(&j, ",\"exe\":");
    pl_mon_json_str(&j, C.exe, 256);
    pl_mon_json_raw(&j, ",\"what\":");
    pl_mon_json_str(&j, what ? what : "", PL_MON_MAX_FIELD);
    if (why) {
        pl_mon_json_raw(&j, ",\"why\":");
        pl_mon_json_str(&j, why, 160);
    }
    if (argv) {
        pl_mon_json_raw(&j, ",\"argv\":[");
        bool redact_next = false;
        for (int i = 0; argv[i]; i++) {
            if (i >= PL_MON_MAX_ARGV || j.cap - j.len < 200) {
                if (i)
                    pl_mon_json_raw(&j, ",");
                pl_mon_json_raw(&j, "\"...\"");
                break;
            }
            if (i)
                pl_mon_json_raw(&j, ",");
            char red[PL_MON_MAX_ARG + 8];
            const char *a = pl_mon_redact_arg(argv[i], redact_next, &redact_next, red, sizeof(red));
            pl_mon_json_str(&j, a, PL_MON_MAX_ARG);
        }
        pl_mon_json_raw(&j, "]");
    }
    pl_mon_json_raw(&j, "}");
    s_send(buf, pl_mon_json_len(&j));
    errno = saved;
}

static void s_emit(const char *type, const char *sev, const char *act, const char *cls,
                   const char *what, char *const *argv, const char *why)
{
    s_emit_src("monitor", type, sev, act, cls, what, argv, why);
}

/* the Python audit hook's events (pyaudit.c): the adapter's wire format, "src":"python" */
static void s_emit_python(const char *type, const char *sev, const char *act, const char *cls,
                          const char *what, const char *why)
{
    s_emit_src("python", type, sev, act, cls, what, NULL, why);
}

/* first time this class+path is seen in this process (for logged, not denied, events) */
static bool s_first_time(const char *cls, const char *path)
{
    unsigned long h = 1469598103934665603UL;
    for (const char *p = cls; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211UL;
    for (const char *p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211UL;
    if (!h)
        h = 1;
    for (unsigned i = 0; i < 16; i++) {
        atomic_ulong *slot = &s_dedup[(h + i) % S_DEDUP];
        unsigned long cur = atomic_load(slot);
        if (cur == h)
            return false;
        if (cur == 0) {
            unsigned long expect = 0;
            if (atomic_compare_exchange_strong(slot, &expect, h))
                return true;
            if (expect == h)
                return false;
        }
    }
    return true; /* table crowded: report */
}

static const char *s_act(int pol)
{
    return pol == POL_DENY ? "deny" : pol == POL_LOG ? "log" : "allow";
}

/* ------------------------------------------------------------------ re-entrancy */

static bool s_enter(void)
{
    if (s_depth)
        return false;
    s_depth = 1;
    return true;
}
static void s_leave(void)
{
    s_depth = 0;
}

/* ------------------------------------------------------------------ paths */

/* absolute, lexically normalised path of (dirfd, path) into out; *dotdot set when the
 * given path had a ".." segment */
static int s_abs_path(int dirfd, const char *path, char *out, size_t outlen, bool *dotdot)
{
    char tmp[PATH_MAX * 2];
    *dotdot = false;
    if (!path || !*path)
        return -1;
    if (path[0] == '/')
        return pl_mon_path_normalize(path, out, outlen, dotdot);
    size_t n;
    if (dirfd == AT_FDCWD) {
        if (!getcwd(tmp, PATH_MAX))
            return -1;
        n = strlen(tmp);
    } else {
        char link[64] = "/proc/self/fd/";
        char num[16];
        int i = 15, fd = dirfd;
        num[i] = '\0';
        do {
            num[--i] = (char)('0' + fd % 10);
            fd /= 10;
        } while (fd && i > 0);
        pl_mon_strlcpy(link + 14, num + i, sizeof(link) - 14);
        ssize_t r = readlink(link, tmp, PATH_MAX - 1);
        if (r <= 0)
            return -1;
        n = (size_t)r;
        tmp[n] = '\0';
    }
    size_t pl = strlen(path);
    if (n + 1 + pl + 1 > sizeof(tmp))
        return -1;
    tmp[n] = '/';
    memcpy(tmp + n + 1, path, pl + 1);
    *dotdot = pl_mon_path_has_dotdot(path);
    bool dummy;
    return pl_mon_path_normalize(tmp, out, outlen, &dummy);
}

static bool s_under_any(const char *const *list, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (pl_mon_path_under(list[i], path))
            return true;
    return false;
}

static bool s_is_code_file(const char *p)
{
    static const char *const ext[] = {".py", ".pyc", ".js", ".mjs", ".cjs", ".ts", ".rb",
                                      ".php", ".pl", ".sh", ".java", ".class", ".jar", ".go",
                                      ".cs", ".dll", ".zip", ".env"};
    const char *b = pl_mon_basename(p);
    const char *dot = strrchr(b, '.');
    if (!dot)
        return false;
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        if (!strcmp(dot, ext[i]))
            return true;
    return false;
}

/* places where a path component may be a link an attacker controls: checked again on the
 * resolved path after a successful open */
static bool s_needs_resolve(const char *norm)
{
    return pl_mon_path_under("/proc", norm) || pl_mon_path_under("/dev/fd", norm) ||
           s_under_any(C.lib_unsafe, C.n_lib_unsafe, norm) || pl_mon_path_under("/tmp", norm);
}

static bool s_restricted_match(const char *norm, bool write, bool *write_only)
{
    for (size_t i = 0; i < C.n_restricted; i++) {
        if (C.restricted[i].write_only && !write)
            continue;
        if (pl_mon_path_match(C.restricted[i].pat, norm)) {
            *write_only = C.restricted[i].write_only;
            return true;
        }
    }
    return false;
}

/* policy for one open. Returns 0 to go on, -1 to deny (errno EACCES set). *recheck tells the
 * caller to check the resolved path after the open succeeded. */
static int s_file_check(int dirfd, const char *path, int flags, bool *recheck)
{
    *recheck = false;
    if (C.pol_files == POL_ALLOW && C.pol_traversal == POL_ALLOW && C.pol_writes == POL_ALLOW &&
        C.pol_source == POL_ALLOW)
        return 0;
    char norm[PATH_MAX];
    bool dotdot;
    if (s_abs_path(dirfd, path, norm, sizeof(norm), &dotdot) < 0)
        return 0;
    bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND));
    bool deny = false;
    bool wonly = false;
    if (C.pol_files != POL_ALLOW && s_restricted_match(norm, write, &wonly)) {
        if (C.pol_files == POL_DENY || s_first_time(PL_MON_CLS_FILES, norm))
            s_emit(wonly ? "RUNTIME_MODIFICATION" : "RESTRICTED_PATH_ACCESS",
                   wonly ? "HIGH" : "CRITICAL", s_act(C.pol_files), PL_MON_CLS_FILES, norm, NULL,
                   write ? "restricted path (write)" : "restricted path");
        deny |= C.pol_files == POL_DENY;
    }
    if (C.pol_traversal != POL_ALLOW && dotdot) {
        if (C.pol_traversal == POL_DENY || s_first_time(PL_MON_CLS_TRAVERSAL, path))
            s_emit("PATH_TRAVERSAL_ATTEMPT", "MEDIUM", s_act(C.pol_traversal),
                   PL_MON_CLS_TRAVERSAL, path, NULL, "'..' segment in path");
        deny |= C.pol_traversal == POL_DENY;
    }
    if (C.pol_writes != POL_ALLOW && write && !wonly &&
        !s_under_any(C.write_allow, C.n_write_allow, norm)) {
        if (C.pol_writes == POL_DENY || s_first_time(PL_MON_CLS_WRITES, norm))
            s_emit("RUNTIME_MODIFICATION", "LOW", s_act(C.pol_writes), PL_MON_CLS_WRITES, norm,
                   NULL, "write outside monitor.write_allow");
        deny |= C.pol_writes == POL_DENY;
    }
    if (C.pol_source != POL_ALLOW && !write && C.task_root &&
        atomic_load(&s_runtime_started) && pl_mon_path_under(C.task_root, norm) &&
        s_is_code_file(norm)) {
        if (C.pol_source == POL_DENY || s_first_time(PL_MON_CLS_SOURCE, norm))
            s_emit("RESTRICTED_PATH_ACCESS", "MEDIUM", s_act(C.pol_source), PL_MON_CLS_SOURCE,
                   norm, NULL, "function code read after init");
        deny |= C.pol_source == POL_DENY;
    }
    if (deny) {
        errno = EACCES;
        return -1;
    }
    *recheck = C.pol_files != POL_ALLOW && s_needs_resolve(norm);
    return 0;
}

/* after a successful open of a path that may go through links: check what it really is */
static int s_file_recheck(int fd, int flags)
{
    bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND));
    struct stat st;
    if (fstat(fd, &st) == 0) {
        /* one fstat decides whether the resolved name can matter at all */
        bool maybe = false;
        for (size_t k = 0; k < C.n_glob_dev && !maybe; k++)
            maybe = C.glob_dev[k] == st.st_dev;
        for (size_t k = 0; write && k < C.n_write_dev && !maybe; k++)
            maybe = C.write_dev[k] == st.st_dev;
        for (size_t k = 0; k < C.n_file_id && !maybe; k++)
            maybe = C.file_id[k].dev == st.st_dev && C.file_id[k].ino == st.st_ino;
        if (!maybe)
            return 0;
    }
    char link[64] = "/proc/self/fd/", num[16], real[PATH_MAX];
    int i = 15, v = fd;
    num[i] = '\0';
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    pl_mon_strlcpy(link + 14, num + i, sizeof(link) - 14);
    ssize_t r = readlink(link, real, sizeof(real) - 1);
    if (r <= 0 || real[0] != '/')
        return 0;
    real[r] = '\0';
    bool wonly;
    if (!s_restricted_match(real, write, &wonly))
        return 0;
    if (C.pol_files == POL_DENY || s_first_time(PL_MON_CLS_FILES, real))
        s_emit(wonly ? "RUNTIME_MODIFICATION" : "RESTRICTED_PATH_ACCESS", wonly ? "HIGH" : "CRITICAL",
               s_act(C.pol_files), PL_MON_CLS_FILES, real, NULL, "restricted path (through a link)");
    return C.pol_files == POL_DENY ? -1 : 0;
}

/* ------------------------------------------------------------------ processes */

static bool s_is_shell(const char *path)
{
    static const char *const sh[] = {"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox",
                                     "fish", "csh", "tcsh", "mksh"};
    const char *b = pl_mon_basename(path);
    for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++)
        if (!strcmp(b, sh[i]))
            return true;
    return false;
}

static bool s_proc_allowed(const char *path)
{
    for (size_t i = 0; i < C.n_proc_allow; i++) {
        const char *a = C.proc_allow[i];
        if (a[0] == '/') {
            if (pl_mon_path_match(a, path))
                return true;
        } else if (!strcmp(a, pl_mon_basename(path)) &&
                   !s_under_any(C.lib_unsafe, C.n_lib_unsafe, path) &&
                   !pl_mon_path_under("/tmp", path)) {
            return true;
        }
    }
    return false;
}

/* resolve `file` through PATH (as execvp does) into out; falls back to file itself */
static void s_which(const char *file, char *out, size_t outlen)
{
    bool dd;
    if (strchr(file, '/')) {
        if (s_abs_path(AT_FDCWD, file, out, outlen, &dd) < 0)
            pl_mon_strlcpy(out, file, outlen);
        return;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/bin:/usr/bin";
    size_t fl = strlen(file);
    while (*path) {
        const char *e = strchr(path, ':');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        char cand[PATH_MAX];
        if (n + 1 + fl + 1 <= sizeof(cand)) {
            if (n == 0) {
                cand[0] = '.';
                n = 1;
            } else {
                memcpy(cand, path, n);
            }
            cand[n] = '/';
            memcpy(cand + n + 1, file, fl + 1);
            if (access(cand, X_OK) == 0) {
                if (s_abs_path(AT_FDCWD, cand, out, outlen, &dd) < 0)
                    pl_mon_strlcpy(out, cand, outlen);
                return;
            }
        }
        if (!e)
            break;
        path = e + 1;
    }
    pl_mon_strlcpy(out, file, outlen);
}

/* The JDK starts every program through its own helper (<java.home>/lib/jspawnhelper), which
 * then execs the real one: the helper is not reported; the real program is checked inside it
 * (it inherits the monitor), and a denial there reaches Java as an IOException. */
static bool s_is_trampoline(const char *path)
{
    if (strcmp(pl_mon_basename(path), "jspawnhelper") != 0)
        return false;
    /* C.exe = <home>/bin/java, path = <home>/lib/jspawnhelper */
    const char *b = strrchr(C.exe, '/');
    if (!b || strcmp(b + 1, "java") != 0)
        return false;
    size_t bin = (size_t)(b - C.exe); /* <home>/bin */
    if (bin < 4 || strncmp(C.exe + bin - 4, "/bin", 4) != 0)
        return false;
    size_t home = bin - 4;
    return !strncmp(path, C.exe, home) && !strcmp(path + home, "/lib/jspawnhelper");
}

#define S_MAX_CHAIN 16
/* policy for starting `path` with argv. 0 = go on, 1 = go on (the runtime's own bootstrap
 * chain), -1 = denied (errno EACCES). */
static int s_exec_check(const char *path, char *const *argv, const char *how, bool replaces)
{
    /* callers (Python's subprocess, libuv) try each PATH entry with execve: a program that
     * does not exist cannot run, the real call fails with ENOENT, nothing to report */
    if (access(path, F_OK) != 0)
        return 0;
    if (atomic_load(&s_strict_on)) {
        s_emit("PROCESS_EXECUTION", "HIGH", "deny", PL_MON_CLS_PROCESS, path, argv,
               "seccomp strict: no new programs once the runtime has started");
        errno = EACCES;
        return -1;
    }
    /* the runtime starting: the process the wrapper exec'd replacing itself (a bootstrap
     * script exec-ing the interpreter) before it ever talked to the Runtime API; bounded */
    if (replaces && C.root_pid && getpid() == C.root_pid && !atomic_load(&s_runtime_started) &&
        C.chain < S_MAX_CHAIN)
        return 1;
    if (C.pol_process == POL_ALLOW || s_proc_allowed(path) || s_is_trampoline(path))
        return 0;
    char why[96] = "not on monitor.process_allow (";
    size_t n = strlen(why);
    n += pl_mon_strlcpy(why + n, how, sizeof(why) - n - 2);
    why[n++] = ')';
    why[n] = '\0';
    s_emit("PROCESS_EXECUTION", s_is_shell(path) ? "HIGH" : "MEDIUM", s_act(C.pol_process),
           PL_MON_CLS_PROCESS, path, argv, why);
    if (C.pol_process == POL_DENY) {
        errno = EACCES; /* Node's child_process emits 'error' for EACCES (throws for EPERM) */
        return -1;
    }
    return 0;
}

#define S_ENV_CAP 1024
/* The environment a new program gets: the monitor's own variables (as they were at start)
 * replace whatever the caller passed, and LD_PRELOAD keeps this library, so a child
 * started with a scrubbed or edited environment is still monitored with the same policy. */
static char *const *s_env_fix(char *const *envp, char **out, char *ld, size_t ldlen,
                              bool chain, char *chainbuf, size_t chainlen)
{
    static char *const empty[] = {NULL};
    if (!envp)
        envp = empty;
    if (!C.self_lib)
        return envp;
    size_t n = 0;
    const char *their_ld = NULL;
    for (size_t i = 0; envp[i]; i++) {
        if (s_keep_name(envp[i]) || !strncmp(envp[i], PL_MON_ENV_CHAIN "=", sizeof(PL_MON_ENV_CHAIN)))
            continue;
        if (!strncmp(envp[i], "LD_PRELOAD=", 11)) {
            their_ld = envp[i];
            continue;
        }
        if (n + C.n_keep_env + 3 >= S_ENV_CAP)
            return envp; /* too large to rebuild on the stack: leave it as it is */
        out[n++] = envp[i];
    }
    for (size_t k = 0; k < C.n_keep_env; k++)
        out[n++] = (char *)C.keep_env[k];
    if (C.root_pid) {
        /* how far the bootstrap chain went: the next program continues (or ends) it */
        int next = chain ? C.chain + 1 : S_MAX_CHAIN;
        size_t o = pl_mon_strlcpy(chainbuf, PL_MON_ENV_CHAIN "=", chainlen);
        if (o + 3 < chainlen) {
            if (next >= 10)
                chainbuf[o++] = (char)('0' + next / 10 % 10);
            chainbuf[o++] = (char)('0' + next % 10);
            chainbuf[o] = '\0';
        }
        out[n++] = chainbuf;
    }
    if (their_ld && strstr(their_ld, C.self_lib)) {
        out[n++] = (char *)their_ld;
    } else {
        size_t o = pl_mon_strlcpy(ld, "LD_PRELOAD=", ldlen);
        o += pl_mon_strlcpy(ld + o, C.self_lib, ldlen - o);
        const char *rest = their_ld ? their_ld + 11 : NULL;
        if (rest && *rest && o + 2 < ldlen) {
            ld[o++] = ' ';
            pl_mon_strlcpy(ld + o, rest, ldlen - o);
        }
        out[n++] = ld;
    }
    out[n] = NULL;
    return out;
}

static void *s_real(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(slot, f, __ATOMIC_RELAXED);
    }
    return f;
}
#define S_REAL(field, name) ((__typeof__(R.field))s_real((void **)&R.field, name))

/* the environment handed to the real exec call: on the hook's stack, no allocation */
struct s_exec_buf {
    char *env[S_ENV_CAP];
    char ld[PATH_MAX * 2];
    char chain[48];
};

/* shared tail of the exec hooks, called inside s_enter(): check the resolved program, rebuild
 * the environment into b, leave and restore the caller's errno. Returns the environment for the
 * real call, or NULL when denied (after s_leave, errno from s_exec_check). */
static char *const *s_exec_prepare(const char *abs, char *const argv[], char *const envp[],
                                   const char *how, bool replaces, int saved, struct s_exec_buf *b)
{
    int chk = s_exec_check(abs, argv, how, replaces);
    if (chk < 0) {
        s_leave();
        return NULL;
    }
    char *const *e =
        s_env_fix(envp, b->env, b->ld, sizeof(b->ld), chk == 1, b->chain, sizeof(b->chain));
    s_leave();
    errno = saved;
    return e;
}

/* execve (use_path false) and execvpe (true): the same signature, the program found as the
 * real call will find it */
static int s_exec_impl(bool use_path, const char *path, char *const argv[], char *const envp[])
{
    execve_fn real = use_path ? S_REAL(execvpe, "execvpe") : S_REAL(execve, "execve");
    char *const *e = envp;
    struct s_exec_buf b;
    if (s_ready() && s_enter()) {
        int saved = errno;
        char abs[PATH_MAX];
        s_which(path ? path : "", abs, sizeof(abs));
        e = s_exec_prepare(abs, argv, envp, use_path ? "execvp" : "execve", true, saved, &b);
        if (!e)
            return -1;
    }
    bool w = s_colo_widen_self(); /* the program starts wide; the runtime's image re-pins */
    int rc = real(path, argv, e);
    s_colo_repin_self(w);
    return rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return s_exec_impl(false, path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    return s_exec_impl(false, path, argv, environ);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    return s_exec_impl(true, file, argv, environ);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return s_exec_impl(true, file, argv, envp);
}

#define S_MAX_LARGS 4096
/* collect the variadic arguments of execl* on the stack */
#define S_COLLECT_ARGS(first, last_arg, args, want_env, envp_out)                             \
    do {                                                                                      \
        va_list ap;                                                                           \
        size_t n_ = 0;                                                                        \
        (args)[n_++] = (char *)(first);                                                       \
        va_start(ap, last_arg);                                                               \
        if (first) {                                                                          \
            char *a_;                                                                         \
            while ((a_ = va_arg(ap, char *)) != NULL) {                                       \
                if (n_ + 1 >= S_MAX_LARGS) {                                                  \
                    va_end(ap);                                                               \
                    errno = E2BIG;                                                            \
                    return -1;                                                                \
                }                                                                             \
                (args)[n_++] = a_;                                                            \
            }                                                                                 \
        }                                                                                     \
        (args)[n_] = NULL;                                                                    \
        if (want_env)                                                                         \
            (envp_out) = va_arg(ap, char **);                                                 \
        va_end(ap);                                                                           \
    } while (0)

EXPORT int execl(const char *path, const char *arg, ...)
{
    char *args[S_MAX_LARGS];
    char **unused = NULL;
    S_COLLECT_ARGS(arg, arg, args, false, unused);
    (void)unused;
    return s_exec_impl(false, path, args, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    char *args[S_MAX_LARGS];
    char **unused = NULL;
    S_COLLECT_ARGS(arg, arg, args, false, unused);
    (void)unused;
    return s_exec_impl(true, file, args, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char *args[S_MAX_LARGS];
    char **envp = NULL;
    S_COLLECT_ARGS(arg, arg, args, true, envp);
    return s_exec_impl(false, path, args, envp);
}

static void s_fd_path(int fd, char *out, size_t outlen)
{
    char link[64] = "/proc/self/fd/", num[16];
    int i = 15, v = fd < 0 ? 0 : fd;
    num[i] = '\0';
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    pl_mon_strlcpy(link + 14, num + i, sizeof(link) - 14);
    ssize_t r = readlink(link, out, outlen - 1);
    out[r > 0 ? r : 0] = '\0';
    if (r <= 0)
        pl_mon_strlcpy(out, link, outlen);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    if (!R.fexecve)
        R.fexecve = (fexecve_fn)dlsym(RTLD_NEXT, "fexecve");
    char *const *e = envp;
    struct s_exec_buf b;
    if (s_ready() && s_enter()) {
        int saved = errno;
        char path[PATH_MAX];
        s_fd_path(fd, path, sizeof(path));
        e = s_exec_prepare(path, argv, envp, "fexecve", true, saved, &b);
        if (!e)
            return -1;
    }
    bool w = s_colo_widen_self();
    int rc = R.fexecve(fd, argv, e);
    s_colo_repin_self(w);
    return rc;
}

EXPORT int execveat(int dirfd, const char *pathname, char *const argv[], char *const envp[],
                    int flags)
{
    if (!s_ready() || !s_enter()) {
        if (R.execveat)
            return R.execveat(dirfd, pathname, argv, envp, flags);
        return (int)syscall(SYS_execveat, dirfd, pathname, argv, envp, flags);
    }
    int saved = errno;
    char path[PATH_MAX];
    bool dd;
    if ((flags & AT_EMPTY_PATH) && pathname && !*pathname)
        s_fd_path(dirfd, path, sizeof(path));
    else if (s_abs_path(dirfd, pathname, path, sizeof(path), &dd) < 0)
        pl_mon_strlcpy(path, pathname ? pathname : "", sizeof(path));
    struct s_exec_buf b;
    char *const *e = s_exec_prepare(path, argv, envp, "execveat", true, saved, &b);
    if (!e)
        return -1;
    bool w = s_colo_widen_self();
    int rc = R.execveat ? R.execveat(dirfd, pathname, argv, e, flags)
                        : (int)syscall(SYS_execveat, dirfd, pathname, argv, e, flags);
    s_colo_repin_self(w);
    return rc;
}

static int s_spawn(bool use_path, pid_t *pid, const char *file,
                   const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                   char *const argv[], char *const envp[])
{
    spawn_fn real = use_path ? R.posix_spawnp : R.posix_spawn;
    if (!real)
        real = (spawn_fn)dlsym(RTLD_NEXT, use_path ? "posix_spawnp" : "posix_spawn");
    char *const *e = envp;
    struct s_exec_buf b;
    if (s_ready() && s_enter()) {
        int saved = errno;
        char abs[PATH_MAX];
        if (use_path)
            s_which(file ? file : "", abs, sizeof(abs));
        else {
            bool dd;
            if (s_abs_path(AT_FDCWD, file, abs, sizeof(abs), &dd) < 0)
                pl_mon_strlcpy(abs, file ? file : "", sizeof(abs));
        }
        e = s_exec_prepare(abs, argv, envp, use_path ? "posix_spawnp" : "posix_spawn", false,
                           saved, &b);
        if (!e) {
            errno = EACCES; /* posix_spawn reports through its result; some callers read errno */
            return EACCES;
        }
    }
    bool w = s_colo_widen_self(); /* the child inherits the caller's mask */
    int rc = real(pid, file, fa, attr, argv, e);
    s_colo_repin_self(w);
    return rc;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return s_spawn(false, pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return s_spawn(true, pid, file, fa, attr, argv, envp);
}

/* system/popen, called inside s_enter(): the command runs as /bin/sh -c. Leaves; true when
 * denied (errno from s_exec_check), else the caller's errno is restored. */
static bool s_shell_denied(const char *command, const char *how)
{
    int saved = errno;
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    int chk = s_exec_check("/bin/sh", argv, how, false);
    s_leave();
    if (chk < 0)
        return true;
    errno = saved;
    return false;
}

EXPORT int system(const char *command)
{
    if (!R.system)
        R.system = (system_fn)dlsym(RTLD_NEXT, "system");
    if (command && s_ready() && s_enter() && s_shell_denied(command, "system"))
        return -1;
    bool w = s_colo_widen_self(); /* the shell inherits the caller's mask */
    int rc = R.system(command);
    s_colo_repin_self(w);
    return rc;
}

EXPORT FILE *popen(const char *command, const char *type)
{
    if (!R.popen)
        R.popen = (popen_fn)dlsym(RTLD_NEXT, "popen");
    if (command && s_ready() && s_enter() && s_shell_denied(command, "popen"))
        return NULL;
    bool w = s_colo_widen_self();
    FILE *f = R.popen(command, type);
    s_colo_repin_self(w);
    return f;
}

/* ------------------------------------------------------------------ files */

static bool s_has_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* the optional mode argument of open/openat: read only where the call takes one */
#define S_VA_MODE(flags, mode)                                                                \
    do {                                                                                      \
        if (s_has_mode(flags)) {                                                              \
            va_list ap_;                                                                      \
            va_start(ap_, flags);                                                             \
            (mode) = (mode_t)va_arg(ap_, int);                                                \
            va_end(ap_);                                                                      \
        }                                                                                     \
    } while (0)

/* common body of the open and fopen families: check, call, re-check the resolved path.
 * T: the call's result type; OK(r): it succeeded; FD(r): its descriptor; CLOSE(r): release it
 * when the re-check denies; FAIL: the result of a denied call (errno set) */
#define S_CHECKED_OPEN(T, OK, FD, CLOSE, FAIL, dirfd, path, flags, call)                      \
    do {                                                                                      \
        if (!s_ready() || !s_enter())                                                         \
            return call;                                                                      \
        int saved_ = errno;                                                                   \
        int flags_ = (flags);                                                                 \
        bool recheck_;                                                                        \
        if (s_file_check(dirfd, path, flags_, &recheck_) < 0) {                               \
            s_leave();                                                                        \
            return FAIL;                                                                      \
        }                                                                                     \
        s_leave();                                                                            \
        errno = saved_;                                                                       \
        T r_ = call;                                                                          \
        if (OK(r_) && recheck_ && s_enter()) {                                                \
            int e_ = errno;                                                                   \
            int c_ = s_file_recheck(FD(r_), flags_);                                          \
            s_leave();                                                                        \
            if (c_ < 0) {                                                                     \
                CLOSE(r_);                                                                    \
                errno = EACCES;                                                               \
                return FAIL;                                                                  \
            }                                                                                 \
            errno = e_;                                                                       \
        }                                                                                     \
        return r_;                                                                            \
    } while (0)

#define S_FD_OK(fd) ((fd) >= 0)
#define S_FD_ID(fd) (fd)
#define S_OPEN_BODY(dirfd, path, flags, call)                                                 \
    S_CHECKED_OPEN(int, S_FD_OK, S_FD_ID, close, -1, dirfd, path, flags, call)

EXPORT int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_VA_MODE(flags, mode);
    S_OPEN_BODY(AT_FDCWD, path, flags, S_REAL(open, "open")(path, flags, mode));
}

EXPORT int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_VA_MODE(flags, mode);
    S_OPEN_BODY(AT_FDCWD, path, flags, S_REAL(open64, "open64")(path, flags, mode));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_VA_MODE(flags, mode);
    S_OPEN_BODY(dirfd, path, flags, S_REAL(openat, "openat")(dirfd, path, flags, mode));
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_VA_MODE(flags, mode);
    S_OPEN_BODY(dirfd, path, flags, S_REAL(openat64, "openat64")(dirfd, path, flags, mode));
}

EXPORT int __open_2(const char *path, int flags)
{
    S_OPEN_BODY(AT_FDCWD, path, flags, S_REAL(open_2, "__open_2")(path, flags));
}

EXPORT int __open64_2(const char *path, int flags)
{
    S_OPEN_BODY(AT_FDCWD, path, flags, S_REAL(open64_2, "__open64_2")(path, flags));
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    S_OPEN_BODY(dirfd, path, flags, S_REAL(openat_2, "__openat_2")(dirfd, path, flags));
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    S_OPEN_BODY(dirfd, path, flags, S_REAL(openat64_2, "__openat64_2")(dirfd, path, flags));
}

EXPORT int creat(const char *path, mode_t mode)
{
    S_OPEN_BODY(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, S_REAL(creat, "creat")(path, mode));
}

EXPORT int creat64(const char *path, mode_t mode)
{
    S_OPEN_BODY(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC,
                S_REAL(creat64, "creat64")(path, mode));
}

static int s_fopen_flags(const char *mode)
{
    if (!mode)
        return O_RDONLY;
    bool plus = strchr(mode, '+') != NULL;
    switch (mode[0]) {
    case 'w':
        return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
    case 'a':
        return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
    default:
        return plus ? O_RDWR : O_RDONLY;
    }
}

#define S_FILE_OK(f) ((f) != NULL)
#define S_FOPEN_BODY(path, mode, call)                                                        \
    S_CHECKED_OPEN(FILE *, S_FILE_OK, fileno, fclose, NULL, AT_FDCWD, path, s_fopen_flags(mode), \
                   call)

EXPORT FILE *fopen(const char *path, const char *mode)
{
    S_FOPEN_BODY(path, mode, S_REAL(fopen, "fopen")(path, mode));
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
    S_FOPEN_BODY(path, mode, S_REAL(fopen64, "fopen64")(path, mode));
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
    if (!path)
        return S_REAL(freopen, "freopen")(path, mode, stream);
    S_FOPEN_BODY(path, mode, S_REAL(freopen, "freopen")(path, mode, stream));
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
    if (!path)
        return S_REAL(freopen64, "freopen64")(path, mode, stream);
    S_FOPEN_BODY(path, mode, S_REAL(freopen64, "freopen64")(path, mode, stream));
}

/* ------------------------------------------------------------------ seccomp strict */

#if defined(__x86_64__)
#define S_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define S_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* execve/execveat -> EPERM for this process and every thread (TSYNC), kernel-enforced from
 * now on (also for static binaries it would start and for direct syscalls). Raw BPF: the
 * library links nothing but libc. */
static int s_strict_install(void)
{
#ifdef S_AUDIT_ARCH
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM), /* foreign ABI (i386, ...) */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 2, 0), /* x32 */
#else
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xFFFFFFFF, 2, 0),
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0)
        return 0;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* the runtime connected to the Runtime API proxy: init is over */
static void s_runtime_start(void)
{
    if (atomic_exchange(&s_runtime_started, 1))
        return;
    if (C.seccomp != SECCOMP_STRICT)
        return;
    if (s_strict_install() == 0) {
        atomic_store(&s_strict_on, 1);
        s_emit("RUNTIME_MODIFICATION", "INFO", "allow", "seccomp", "seccomp strict", NULL,
               "execve/execveat now fail with EPERM in this runtime");
    } else {
        s_emit("GUARD_FAILURE", "MEDIUM", "log", "seccomp", "seccomp strict", NULL,
               "seccomp unavailable: strict mode not enforced, the monitor goes on");
    }
}

/* ------------------------------------------------------------------ network */

static bool s_cache_has(int family, const uint8_t *addr, int port);

static bool s_net_any(const struct pl_mon_net *arr, size_t n, int fam, const uint8_t *a,
                      int port)
{
    for (size_t i = 0; i < n; i++)
        if (pl_mon_net_match(&arr[i], fam, a, port))
            return true;
    return false;
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    connect_fn real = S_REAL(connect, "connect");
    if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || !s_ready() ||
        !s_enter())
        return real(fd, sa, len);
    int saved = errno;
    uint8_t addr[16];
    int port, fam = sa->sa_family;
    if (fam == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(addr, &in->sin_addr, 4);
        port = ntohs(in->sin_port);
    } else if (fam == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(addr, &in6->sin6_addr, 16);
        port = ntohs(in6->sin6_port);
    } else {
        s_leave();
        return real(fd, sa, len);
    }
    if (C.has_proxy && pl_mon_net_match(&C.proxy, fam, addr, port)) {
        s_runtime_start(); /* the runtime's own connection: always allowed */
        s_api_fd_mark(fd);
        s_leave();
        errno = saved;
        return real(fd, sa, len);
    }
    int deny = 0;
    if (C.pol_network != POL_ALLOW) {
        bool susp = s_net_any(C.net_susp, C.n_net_susp, fam, addr, port);
        bool allowed = s_net_any(C.net_allow, C.n_net_allow, fam, addr, port) ||
                       (C.n_host_allow && s_cache_has(fam, addr, port));
        if (susp || !allowed) {
            char what[80];
            pl_mon_net_format(fam, addr, port, what, sizeof(what));
            s_emit("SUSPICIOUS_NETWORK", susp ? "HIGH" : "MEDIUM", s_act(C.pol_network),
                   PL_MON_CLS_NETWORK, what, NULL,
                   susp ? "suspicious destination (metadata service or the real Runtime API)"
                        : "not on monitor.network_allow");
            deny = C.pol_network == POL_DENY;
        }
    }
    s_leave();
    if (deny) {
        errno = EPERM;
        return -1;
    }
    errno = saved;
    return real(fd, sa, len);
}

/* ------------------------------------------------------------------ receives, sends (colocate) */
/* Only to find the threads that wait on the Runtime API (s_api_recv, s_api_send,
 * s_api_recv_done): nothing is checked or reported; before any Runtime API connection exists,
 * one relaxed load (and a thread-local flag after a receive). */

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    s_api_recv(fd);
    read_fn real = S_REAL(read, "read");
    ssize_t r = real ? real(fd, buf, n) : syscall(SYS_read, fd, buf, n);
    s_api_recv_done(fd, r);
    return r;
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    s_api_recv(fd);
    recv_fn real = S_REAL(recv, "recv");
    ssize_t r = real ? real(fd, buf, n, flags) : syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
    s_api_recv_done(fd, r);
    return r;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
                        socklen_t *salen)
{
    s_api_recv(fd);
    recvfrom_fn real = S_REAL(recvfrom, "recvfrom");
    ssize_t r = real ? real(fd, buf, n, flags, sa, salen)
                     : syscall(SYS_recvfrom, fd, buf, n, flags, sa, salen);
    s_api_recv_done(fd, r);
    return r;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    s_api_recv(fd);
    recvmsg_fn real = S_REAL(recvmsg, "recvmsg");
    ssize_t r = real ? real(fd, msg, flags) : syscall(SYS_recvmsg, fd, msg, flags);
    s_api_recv_done(fd, r);
    return r;
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    s_api_send(fd);
    send_fn real = S_REAL(send, "send");
    return real ? real(fd, buf, n, flags) : syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                      socklen_t salen)
{
    s_api_send(fd);
    sendto_fn real = S_REAL(sendto, "sendto");
    return real ? real(fd, buf, n, flags, sa, salen)
                : syscall(SYS_sendto, fd, buf, n, flags, sa, salen);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    s_api_send(fd);
    sendmsg_fn real = S_REAL(sendmsg, "sendmsg");
    return real ? real(fd, msg, flags) : syscall(SYS_sendmsg, fd, msg, flags);
}

/* ------------------------------------------------------------------ signals to the guard */

/* Is `pid` the protectlambda guard (`protectlambda extension`)? Reads /proc/<pid>/cmdline with
 * raw syscalls: no allocation, no stdio, no recursion into the open hooks. */
static bool s_is_guard(pid_t pid)
{
    char path[40] = "/proc/";
    size_t n = 6;
    char digits[16];
    size_t nd = 0;
    for (unsigned long v = (unsigned long)pid; v && nd < sizeof(digits); v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    while (nd)
        path[n++] = digits[--nd];
    memcpy(path + n, "/cmdline", 9);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[512];
    ssize_t r = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    syscall(SYS_close, fd);
    if (r <= 0)
        return false;
    buf[r] = '\0';
    /* argv[0] ends in "protectlambda" (or -lambda), one later argument is "extension" */
    const char *a0 = buf, *slash = strrchr(a0, '/');
    const char *base = slash ? slash + 1 : a0;
    if (strncmp(base, "protectlambda", 13) != 0)
        return false;
    for (ssize_t i = (ssize_t)strlen(buf) + 1; i < r; i += (ssize_t)strlen(buf + i) + 1)
        if (!strcmp(buf + i, "extension"))
            return true;
    return false;
}

/* Function code must not switch the guard off: signals to it fail with EPERM and are reported.
 * (SIGKILL through a raw syscall bypasses this hook; then the guard is gone and every
 * invocation fails closed: docs/robustness.md.) */
EXPORT int kill(pid_t pid, int sig)
{
    kill_fn real = S_REAL(kill, "kill");
    if (pid <= 0 || sig == 0 || pid == getpid() || !s_ready() || !s_enter())
        return real(pid, sig);
    int saved = errno;
    bool guard = s_is_guard(pid);
    if (guard)
        s_emit("RUNTIME_MODIFICATION", "HIGH", "deny", PL_MON_CLS_PROCESS, "kill", NULL,
               "signal to the protectlambda guard refused");
    s_leave();
    if (guard) {
        errno = EPERM;
        return -1;
    }
    errno = saved;
    return real(pid, sig);
}

/* ------------------------------------------------------------------ name cache */

/* Addresses that allow-listed names resolved to (getaddrinfo), so "*.amazonaws.com:443" allows
 * the connects that follow. A ring of slots, each behind a sequence counter (seqlock): no locks,
 * no allocation; an overwritten slot only makes a later connect fall back to the CIDR list. */
#define S_NCACHE 256
struct s_cache_slot {
    atomic_uint seq;
    int family;
    uint8_t addr[16];
    int port;
};
static struct s_cache_slot s_cache[S_NCACHE];
static atomic_uint s_cache_next;

static void s_cache_add(int family, const uint8_t *addr, int port)
{
    struct s_cache_slot *sl = &s_cache[atomic_fetch_add(&s_cache_next, 1) % S_NCACHE];
    unsigned q = atomic_load(&sl->seq);
    if (q & 1)
        return; /* another writer is on it */
    if (!atomic_compare_exchange_strong(&sl->seq, &q, q + 1))
        return;
    sl->family = family;
    memcpy(sl->addr, addr, family == AF_INET ? 4 : 16);
    sl->port = port;
    atomic_store(&sl->seq, q + 2);
}

static bool s_cache_has(int family, const uint8_t *addr, int port)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (family == AF_INET6 && !memcmp(addr, v4mapped, 12)) {
        family = AF_INET;
        addr += 12;
    }
    size_t alen = family == AF_INET ? 4 : 16;
    for (unsigned i = 0; i < S_NCACHE; i++) {
        struct s_cache_slot *sl = &s_cache[i];
        unsigned q1 = atomic_load(&sl->seq);
        if (!q1 || (q1 & 1))
            continue;
        bool hit = sl->family == family && (sl->port < 0 || sl->port == port) &&
                   !memcmp(sl->addr, addr, alen);
        if (hit && atomic_load(&sl->seq) == q1)
            return true;
    }
    return false;
}

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
static gai_fn s_real_gai;

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    gai_fn real = s_real_gai;
    if (!real) {
        real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
        s_real_gai = real;
    }
    int rc = real(node, service, hints, res);
    if (rc != 0 || !node || !res || !*res || !s_ready() || !C.n_host_allow ||
        C.pol_network == POL_ALLOW || !s_enter())
        return rc;
    int saved = errno;
    for (size_t i = 0; i < C.n_host_allow; i++) {
        if (!pl_mon_host_match(C.host_allow[i].pat, node))
            continue;
        for (struct addrinfo *ai = *res; ai; ai = ai->ai_next) {
            if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in))
                s_cache_add(AF_INET, (const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr,
                            C.host_allow[i].port);
            else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6))
                s_cache_add(AF_INET6,
                            (const uint8_t *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
                            C.host_allow[i].port);
        }
    }
    s_leave();
    errno = saved;
    return rc;
}

/* ------------------------------------------------------------------ libraries */

static const char s_denied_lib[] = "/protectlambda: loading a library from a writable place is "
                                   "denied by monitor.library";

EXPORT void *dlopen(const char *file, int mode)
{
    dlopen_fn real = S_REAL(dlopen, "dlopen");
    if (file && strchr(file, '/') && C.pol_library != POL_ALLOW && s_ready() && s_enter()) {
        int saved = errno;
        char norm[PATH_MAX];
        bool dd;
        bool deny = false;
        if (s_abs_path(AT_FDCWD, file, norm, sizeof(norm), &dd) == 0 &&
            s_under_any(C.lib_unsafe, C.n_lib_unsafe, norm)) {
            s_emit("UNSAFE_LIBRARY_LOAD", "HIGH", s_act(C.pol_library), PL_MON_CLS_LIBRARY, norm,
                   NULL, "library from a writable place");
            deny = C.pol_library == POL_DENY;
        }
        s_leave();
        errno = saved;
        if (deny)
            file = s_denied_lib; /* fails with a dlerror() message naming the reason */
    }
    /* a tail call: the real dlopen sees the caller's return address (for $ORIGIN/RUNPATH) */
    return real(file, mode);
}

/* ------------------------------------------------------------------ signals */

static void s_on_limit(int sig)
{
    s_emit("RESOURCE_LIMIT_EXCEEDED", "HIGH", "log", "rlimit",
           sig == SIGXCPU ? "SIGXCPU" : "SIGXFSZ", NULL,
           sig == SIGXCPU ? "CPU time limit (rlimit.cpu) reached" :
                            "file size limit (rlimit.fsize) reached");
    /* then what would have happened without us: the default action */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* only where the runtime has not chosen a disposition itself (it may replace ours later) */
static void s_signal_init(void)
{
    int sigs[] = {SIGXCPU, SIGXFSZ};
    for (size_t i = 0; i < 2; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
            (old.sa_flags & SA_SIGINFO))
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = s_on_limit;
        sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}
