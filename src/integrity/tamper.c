/* Tamper watch: a guard thread (never on an invocation's hot path) that reports
 *  - a new executable, ELF file or shared object appearing in a watched writable place (inotify);
 *  - a file from a writable place mapped executable by the runtime (/proc/<pid>/maps), checked
 *    every interval and after inotify events (at most once per 250 ms: coalesced);
 *  - the runtime's code-loading variables changed: its /proc/<pid>/environ (the initial
 *    environment: changes only when the runtime re-execs) and those of its child processes
 *    (a child started with LD_PRELOAD=/tmp/x.so or NODE_OPTIONS=--require ...);
 *  - the runtime's executable changed (re-exec).
 * In-process setenv() is not visible from outside the process; the monitor library (inside the
 * runtime) is the place for that. See docs/integrity.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "protectlambda/integrity.h"
#include "protectlambda/log.h"

static const unsigned char s_elf_magic[4] = {0x7f, 'E', 'L', 'F'};
#define S_MAX_WATCHES 512
#define S_MAX_SEEN 4096
#define S_MAX_DEPTH 8
#define S_MAX_CHILDREN 64
#define S_EV_BATCH 32

struct s_file_key {
    dev_t dev;
    ino_t ino;
};

struct s_wd {
    int wd;
    char *dir;
};

struct pl_tamper_watch {
    pthread_mutex_t mu;
    pthread_t thread;
    bool started;
    int ifd, stopfd;
    unsigned interval_ms;
    pl_tamper_event_fn on_event;
    void *ud;
    char *discover;
    unsigned discover_tries;
    char **dirs;
    size_t n_dirs;
    struct s_wd *wds;
    size_t n_wds, cap_wds;
    struct timespec baseline; /* files whose status changed before this are the baseline */
    struct s_file_key *seen;  /* already-reported files */
    size_t n_seen, cap_seen;
    /* runtime */
    pid_t pid;
    char exe[4096];
    struct pl_proc_maps base_maps; /* baseline + reported objects */
    struct pl_buf base_env;        /* code-loading "NAME=value\0" of the runtime at baseline */
    pid_t *reported_children;      /* child pids already reported */
    size_t n_rep_children, cap_rep_children;
    uint64_t events;
    int gone_logged;
    /* events collected under the lock, delivered after */
    struct pl_event pending[S_EV_BATCH];
    size_t n_pending;
    size_t n_dropped; /* events past the batch in one pass: counted and logged */
};

static void s_emit(struct pl_tamper_watch *w, const char *rule, const char *path, pid_t pid,
                   const char *fmt, ...) PL_PRINTF(5, 6);

static void s_emit(struct pl_tamper_watch *w, const char *rule, const char *path, pid_t pid,
                   const char *fmt, ...)
{
    if (w->n_pending >= S_EV_BATCH) {
        w->n_dropped++;
        return;
    }
    struct pl_event *ev = &w->pending[w->n_pending++];
    pl_event_init(ev, PL_EV_RUNTIME_MODIFICATION, PL_SEV_HIGH, "integrity");
    ev->pid = (int32_t)pid;
    PL_EVENT_SET(ev, rule, rule);
    PL_EVENT_SET(ev, path, path);
    PL_EVENT_SET(ev, action, "log");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->detail, sizeof(ev->detail), fmt, ap);
    va_end(ap);
}

/* deliver collected events; called without the lock held */
static void s_flush(struct pl_tamper_watch *w, struct pl_event *local, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        __atomic_fetch_add(&w->events, 1, __ATOMIC_RELAXED);
        if (w->on_event)
            w->on_event(w->ud, &local[i]);
    }
}

static size_t s_take_pending(struct pl_tamper_watch *w, struct pl_event *local)
{
    size_t n = w->n_pending;
    memcpy(local, w->pending, n * sizeof(*local));
    w->n_pending = 0;
    if (w->n_dropped) {
        pl_log(PL_LOG_WARN, "integrity",
               "tamper watch: %zu further change(s) in one pass not reported one by one",
               w->n_dropped);
        w->n_dropped = 0;
    }
    return n;
}

/* ------------------------------------------------------------- files in writable places */

static bool s_seen(struct pl_tamper_watch *w, const struct stat *st)
{
    for (size_t i = 0; i < w->n_seen; i++)
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
            return true;
    return false;
}

static void s_mark_seen(struct pl_tamper_watch *w, const struct stat *st)
{
    if (w->n_seen >= S_MAX_SEEN)
        memmove(w->seen, w->seen + 1, (--w->n_seen) * sizeof(w->seen[0])); /* forget oldest */
    if (pl_array_reserve((void **)&w->seen, &w->cap_seen, w->n_seen + 1, sizeof(w->seen[0])))
        return;
    w->seen[w->n_seen++] = (struct s_file_key){st->st_dev, st->st_ino};
}

/* what makes a file in a writable place code: "executable", "ELF", "shared object", or NULL */
static const char *s_code_kind(const char *path, const struct stat *st)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *so = strstr(base, ".so");
    if (so && (so[3] == '\0' || so[3] == '.'))
        return "shared object";
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0) {
        unsigned char magic[4];
        ssize_t r = read(fd, magic, 4);
        close(fd);
        if (r == 4 && !memcmp(magic, s_elf_magic, 4))
            return "ELF file";
    }
    if (st->st_mode & 0111)
        return "executable";
    return NULL;
}

static void s_check_file(struct pl_tamper_watch *w, const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    /* unchanged since the baseline (content, mode and links all update ctime) */
    if (st.st_ctim.tv_sec < w->baseline.tv_sec ||
        (st.st_ctim.tv_sec == w->baseline.tv_sec && st.st_ctim.tv_nsec < w->baseline.tv_nsec))
        return;
    if (s_seen(w, &st))
        return;
    const char *kind = s_code_kind(path, &st);
    if (!kind)
        return; /* not code (yet): a later close-write or chmod brings it back */
    s_mark_seen(w, &st);
    s_emit(w, "PL-TAMPER-TMP-EXEC", path, w->pid,
           "new %s in a writable place since the baseline: %s (mode %04o, %lld bytes)", kind, path,
           (unsigned)(st.st_mode & 07777), (long long)st.st_size);
}

static int s_add_watch(struct pl_tamper_watch *w, const char *dir, int depth, bool baseline);

/* baseline: only watch subdirectories (files are judged by ctime when they change);
 * otherwise also check the files (created before the watch on a new directory existed) */
static void s_scan_dir(struct pl_tamper_watch *w, const char *dir, int depth, bool baseline)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[4096];
    // cppcheck-suppress readdirCalled ; one DIR stream per thread
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN && (baseline || de->d_type != DT_REG))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            s_add_watch(w, path, depth + 1, baseline);
        else if (!baseline)
            s_check_file(w, path);
    }
    closedir(d);
}

/* an inotify watch on dir (no scan); 1 when it existed already */
static int s_watch_only(struct pl_tamper_watch *w, const char *dir)
{
    int wd = inotify_add_watch(w->ifd, dir,
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB | IN_CREATE | IN_ONLYDIR |
                                   IN_DONT_FOLLOW | IN_EXCL_UNLINK);
    if (wd < 0)
        return pl_raise(PL_ERR_IO, "inotify watch on %s: %s", dir, strerror(errno));
    for (size_t i = 0; i < w->n_wds; i++)
        if (w->wds[i].wd == wd)
            return 1;
    if (pl_array_reserve((void **)&w->wds, &w->cap_wds, w->n_wds + 1, sizeof(w->wds[0])))
        return -1;
    char *copy = pl_strdup(dir);
    if (!copy)
        return -1;
    w->wds[w->n_wds++] = (struct s_wd){wd, copy};
    return 0;
}

static int s_add_watch(struct pl_tamper_watch *w, const char *dir, int depth, bool baseline)
{
    if (depth > S_MAX_DEPTH || w->n_wds >= S_MAX_WATCHES)
        return 0;
    int r = s_watch_only(w, dir);
    if (r)
        return r < 0 ? -1 : 0;
    /* files created before the watch existed */
    s_scan_dir(w, dir, depth, baseline);
    return 0;
}

static int s_depth_of(struct pl_tamper_watch *w, const char *dir)
{
    int depth = 0;
    for (size_t i = 0; i < w->n_dirs; i++) {
        size_t n = strlen(w->dirs[i]);
        if (!strncmp(dir, w->dirs[i], n)) {
            for (const char *p = dir + n; *p; p++)
                depth += *p == '/';
            return depth;
        }
    }
    return S_MAX_DEPTH;
}

static void s_handle_inotify(struct pl_tamper_watch *w)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t r = read(w->ifd, buf, sizeof(buf));
        if (r <= 0)
            return;
        for (char *p = buf; p < buf + r;) {
            struct inotify_event *ie = (struct inotify_event *)p;
            p += sizeof(*ie) + ie->len;
            if (ie->mask & IN_Q_OVERFLOW) {
                for (size_t i = 0; i < w->n_dirs; i++)
                    s_scan_dir(w, w->dirs[i], 0, false);
                continue;
            }
            if (!ie->len)
                continue;
            const char *dir = NULL;
            for (size_t i = 0; i < w->n_wds; i++)
                if (w->wds[i].wd == ie->wd)
                    dir = w->wds[i].dir;
            if (!dir)
                continue;
            char path[4096];
            if (snprintf(path, sizeof(path), "%s/%s", dir, ie->name) >= (int)sizeof(path))
                continue;
            if (ie->mask & IN_ISDIR) {
                if (ie->mask & (IN_CREATE | IN_MOVED_TO))
                    s_add_watch(w, path, s_depth_of(w, path), false);
                continue;
            }
            s_check_file(w, path);
        }
    }
}

/* ------------------------------------------------------------- runtime process */

static int s_code_env(pid_t pid, struct pl_buf *out)
{
    struct pl_buf all = PL_BUF_INIT;
    size_t n = 0;
    int ret = -1;
    if (pl_proc_environ_read(pid, &all, &n))
        goto out;
    for (size_t pos = 0; pos < all.len;) {
        const char *kv = all.data + pos;
        size_t l = strlen(kv);
        const char *eq = strchr(kv, '=');
        if (eq && pl_is_code_loading_var(kv, (size_t)(eq - kv)) && pl_buf_append(out, kv, l + 1))
            goto out;
        pos += l + 1;
    }
    ret = 0;
out:
    pl_buf_clean_up(&all);
    return ret;
}

/* value of NAME in a "K=V\0K=V\0" list, or NULL */
static const char *s_env_get(const struct pl_buf *env, const char *name, size_t nlen)
{
    for (size_t pos = 0; pos < env->len;) {
        const char *kv = env->data + pos;
        if (!strncmp(kv, name, nlen) && kv[nlen] == '=')
            return kv + nlen + 1;
        pos += strlen(kv) + 1;
    }
    return NULL;
}

/* report variables of `now` that differ from the baseline (or are new); and baseline ones gone */
static void s_diff_env(struct pl_tamper_watch *w, const struct pl_buf *now, pid_t pid,
                       const char *who)
{
    for (size_t pos = 0; pos < now->len;) {
        const char *kv = now->data + pos;
        pos += strlen(kv) + 1;
        const char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        const char *old = s_env_get(&w->base_env, kv, (size_t)(eq - kv));
        if (old && !strcmp(old, eq + 1))
            continue;
        s_emit(w, "PL-TAMPER-ENV", who, pid, "%s: code-loading variable %.*s %s: '%.300s'", who,
               (int)(eq - kv), kv, old ? "changed" : "added", eq + 1);
    }
    for (size_t pos = 0; pos < w->base_env.len;) {
        const char *kv = w->base_env.data + pos;
        pos += strlen(kv) + 1;
        const char *eq = strchr(kv, '=');
        if (eq && !s_env_get(now, kv, (size_t)(eq - kv)))
            s_emit(w, "PL-TAMPER-ENV", who, pid, "%s: code-loading variable %.*s removed", who,
                   (int)(eq - kv), kv);
    }
}

static int s_read_exe(pid_t pid, char *out, size_t len)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(p, out, len - 1);
    if (n < 0)
        return -1;
    out[n] = '\0';
    return 0;
}

static int s_baseline_pid(struct pl_tamper_watch *w, pid_t pid)
{
    pl_proc_maps_clean_up(&w->base_maps);
    pl_buf_reset(&w->base_env);
    w->pid = pid;
    w->exe[0] = '\0';
    if (!pid)
        return 0;
    if (pl_proc_maps_read(pid, &w->base_maps) || s_code_env(pid, &w->base_env))
        return -1;
    s_read_exe(pid, w->exe, sizeof(w->exe));
    return 0;
}

static bool s_child_reported(struct pl_tamper_watch *w, pid_t c)
{
    for (size_t i = 0; i < w->n_rep_children; i++)
        if (w->reported_children[i] == c)
            return true;
    return false;
}

/* executable mappings from writable places in pid's maps not seen before: one event each.
 * -1 when the maps cannot be read (process gone). */
static int s_check_maps(struct pl_tamper_watch *w, pid_t pid, const char *who)
{
    struct pl_proc_maps now;
    pl_proc_maps_init(&now);
    if (pl_proc_maps_read(pid, &now)) {
        pl_proc_maps_clean_up(&now);
        return -1;
    }
    for (size_t i = 0; i < now.n; i++) {
        struct pl_mapped_object *o = &now.objs[i];
        if (!o->writable_place || !o->exec)
            continue;
        size_t k;
        for (k = 0; k < w->base_maps.n; k++)
            if (!strcmp(w->base_maps.objs[k].path, o->path))
                break;
        if (k < w->base_maps.n)
            continue;
        s_emit(w, "PL-TAMPER-WRITABLE-LIB", o->path, pid,
               "%s mapped executable code from a writable place: %s", who, o->path);
        /* remember it: one event per object */
        if (pl_array_reserve((void **)&w->base_maps.objs, &w->base_maps.cap, w->base_maps.n + 1,
                             sizeof(w->base_maps.objs[0])) == 0) {
            w->base_maps.objs[w->base_maps.n] = *o;
            o->path = NULL;
            w->base_maps.n++;
        }
    }
    pl_proc_maps_clean_up(&now);
    return 0;
}

/* append the direct children of pid to out (bounded) */
static void s_children_of(pid_t pid, pid_t *out, size_t *n, size_t cap)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    // cppcheck-suppress readdirCalled ; one DIR stream per thread
    while ((de = readdir(d)) && *n < cap) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char cp[160];
        snprintf(cp, sizeof(cp), "/proc/%d/task/%.16s/children", (int)pid, de->d_name);
        char *text = NULL;
        size_t len = 0;
        if (pl_read_file(cp, &text, &len, 65536))
            continue;
        char *save = NULL;
        for (char *t = strtok_r(text, " \n", &save); t && *n < cap;
             t = strtok_r(NULL, " \n", &save)) {
            pid_t c = (pid_t)strtol(t, NULL, 10);
            if (c > 0)
                out[(*n)++] = c;
        }
        pl_free(text);
    }
    closedir(d);
    pl_error_clear();
}

/* the runtime's descendants (breadth first, at most S_MAX_CHILDREN): their code-loading
 * variables against the runtime's baseline, and their maps */
static void s_check_children(struct pl_tamper_watch *w)
{
    pid_t kids[S_MAX_CHILDREN];
    size_t n = 0;
    s_children_of(w->pid, kids, &n, S_MAX_CHILDREN);
    for (size_t i = 0; i < n; i++) {
        pid_t c = kids[i];
        s_children_of(c, kids, &n, S_MAX_CHILDREN);
        char who[64];
        snprintf(who, sizeof(who), "child process %d", (int)c);
        s_check_maps(w, c, who);
        if (s_child_reported(w, c))
            continue;
        struct pl_buf env = PL_BUF_INIT;
        if (s_code_env(c, &env) == 0) {
            size_t before = w->n_pending;
            s_diff_env(w, &env, c, who);
            if (w->n_rep_children >= S_MAX_SEEN)
                w->n_rep_children = 0; /* bounded: forget the oldest reports */
            if (w->n_pending != before &&
                pl_array_reserve((void **)&w->reported_children, &w->cap_rep_children,
                                 w->n_rep_children + 1, sizeof(pid_t)) == 0)
                w->reported_children[w->n_rep_children++] = c;
        }
        pl_buf_clean_up(&env);
    }
    pl_error_clear();
}

static pid_t s_discover(const char *api)
{
    char want[512];
    if (snprintf(want, sizeof(want), "AWS_LAMBDA_RUNTIME_API=%s", api) >= (int)sizeof(want))
        return 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    pid_t best = 0, self = getpid();
    struct dirent *de;
    // cppcheck-suppress readdirCalled ; one DIR stream per thread
    while ((de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        pid_t p = (pid_t)strtol(de->d_name, NULL, 10);
        if (p == self || (best && p > best))
            continue;
        struct pl_buf env = PL_BUF_INIT;
        size_t n;
        if (pl_proc_environ_read(p, &env, &n) == 0) {
            for (size_t pos = 0; pos < env.len;) {
                if (!strcmp(env.data + pos, want)) {
                    best = p;
                    break;
                }
                pos += strlen(env.data + pos) + 1;
            }
        }
        pl_buf_clean_up(&env);
    }
    closedir(d);
    pl_error_clear();
    return best;
}

static void s_check_runtime(struct pl_tamper_watch *w)
{
    if (!w->pid && w->discover) {
        /* every interval for the first 30, then every 10th: no runtime may ever come */
        if (w->discover_tries++ >= 30 && w->discover_tries % 10)
            return;
        pid_t p = s_discover(w->discover);
        if (p && s_baseline_pid(w, p) == 0)
            pl_log(PL_LOG_INFO, "integrity",
                   "tamper watch: runtime is pid %d (%zu mapped "
                   "files in the baseline)",
                   (int)p, w->base_maps.n);
        return;
    }
    if (!w->pid)
        return;
    char who[64];
    snprintf(who, sizeof(who), "runtime pid %d", (int)w->pid);
    if (s_check_maps(w, w->pid, who)) {
        if (!w->gone_logged++)
            pl_log(PL_LOG_INFO, "integrity", "tamper watch: runtime pid %d not readable: %s",
                   (int)w->pid, pl_last_error_msg());
        pl_error_clear();
        return;
    }

    char exe[4096];
    if (w->exe[0] && s_read_exe(w->pid, exe, sizeof(exe)) == 0 && strcmp(exe, w->exe)) {
        s_emit(w, "PL-TAMPER-EXE", exe, w->pid, "runtime pid %d now runs %s (was %s)", (int)w->pid,
               exe, w->exe);
        snprintf(w->exe, sizeof(w->exe), "%s", exe);
    }

    struct pl_buf env = PL_BUF_INIT;
    if (s_code_env(w->pid, &env) == 0) {
        size_t before = w->n_pending;
        s_diff_env(w, &env, w->pid, who);
        if (w->n_pending != before) { /* new baseline: report each change once */
            pl_buf_reset(&w->base_env);
            pl_buf_append(&w->base_env, env.data, env.len);
        }
    }
    pl_buf_clean_up(&env);
    s_check_children(w);
}

/* ------------------------------------------------------------- thread */

/* File events are handled as they come (an lstat per event). The runtime pass (its maps,
 * environment, children: a few /proc reads) runs every interval and after file events, but at
 * most once per S_MIN_GAP_MS: a function that writes to /tmp on every invocation (or the
 * incident store's own journal there) must not cost a pass per invocation. Events within the
 * gap are coalesced into one pass at its end. */
#define S_MIN_GAP_MS 250u

static void *s_thread(void *arg)
{
    struct pl_tamper_watch *w = arg;
    struct pl_event local[S_EV_BATCH];
    uint64_t interval = (uint64_t)w->interval_ms * 1000000u;
    uint64_t gap = (uint64_t)(w->interval_ms < S_MIN_GAP_MS ? w->interval_ms : S_MIN_GAP_MS) *
                   1000000u;
    /* the subdirectories of the watched places, off the cold start's path (a crowded /tmp
     * took ~20 ms): their files are judged by ctime against the baseline time taken in
     * pl_tamper_watch_new, so what appears meanwhile is still reported */
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->n_dirs; i++) {
        if (s_watch_only(w, w->dirs[i]) < 0) {
            pl_log(PL_LOG_WARN, "integrity", "tamper watch: %s", pl_last_error_msg());
            continue;
        }
        s_scan_dir(w, w->dirs[i], 0, false);
    }
    size_t n0 = s_take_pending(w, local);
    pthread_mutex_unlock(&w->mu);
    s_flush(w, local, n0);
    uint64_t last = pl_now_ns(); /* the baseline was taken at start */
    bool due = false;            /* file events since the last runtime pass */
    for (;;) {
        uint64_t now = pl_now_ns();
        uint64_t at = last + (due ? gap : interval);
        int timeout = at <= now ? 0 : (int)((at - now + 999999u) / 1000000u);
        struct pollfd p[2] = {{w->stopfd, POLLIN, 0}, {w->ifd, POLLIN, 0}};
        int r = poll(p, w->ifd >= 0 ? 2 : 1, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && p[0].revents)
            break;
        pthread_mutex_lock(&w->mu);
        if (r > 0 && (p[1].revents & POLLIN)) {
            s_handle_inotify(w);
            due = true;
        }
        now = pl_now_ns();
        if (now - last >= (due ? gap : interval)) {
            s_check_runtime(w);
            last = now;
            due = false;
        }
        size_t n = s_take_pending(w, local);
        pthread_mutex_unlock(&w->mu);
        s_flush(w, local, n);
    }
    return NULL;
}

int pl_tamper_watch_new(const struct pl_tamper_opts *opts, struct pl_tamper_watch **out)
{
    struct pl_tamper_watch *w = pl_calloc(1, sizeof(*w));
    if (!w)
        return -1;
    pthread_mutex_init(&w->mu, NULL);
    w->ifd = w->stopfd = -1;
    w->interval_ms = opts->interval_ms ? opts->interval_ms : 2000;
    w->on_event = opts->on_event;
    w->ud = opts->ud;
    static const char *const def_dirs[] = {"/tmp"};
    const char *const *dirs = opts->dirs ? opts->dirs : def_dirs;
    size_t n_dirs = opts->dirs ? opts->n_dirs : 1;
    if (opts->discover_runtime_api && !(w->discover = pl_strdup(opts->discover_runtime_api)))
        goto fail;
    w->dirs = pl_calloc(n_dirs ? n_dirs : 1, sizeof(char *));
    if (!w->dirs)
        goto fail;
    for (size_t i = 0; i < n_dirs; i++) {
        if (!(w->dirs[i] = pl_strdup(dirs[i])))
            goto fail;
        w->n_dirs++;
    }
    /* the kernel stamps ctime from the coarse clock: take the baseline from the same clock */
    clock_gettime(CLOCK_REALTIME_COARSE, &w->baseline);
    w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stopfd < 0) {
        pl_raise(PL_ERR_IO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (w->ifd < 0) {
        pl_raise(PL_ERR_IO, "inotify: %s", strerror(errno));
        goto fail;
    }
    /* the places must exist (an error is the caller's to report); the watches themselves are
     * added by the thread: the first inotify watch on a directory makes the kernel visit every
     * cached entry of it (a crowded /tmp: 11 ms here), which the cold start need not wait for.
     * Whatever changes before the watch exists is judged by ctime against the baseline. */
    for (size_t i = 0; i < w->n_dirs; i++) {
        struct stat st;
        if (stat(w->dirs[i], &st) < 0) {
            pl_raise(PL_ERR_IO, "tamper watch on %s: %s", w->dirs[i], strerror(errno));
            goto fail;
        }
        if (!S_ISDIR(st.st_mode)) {
            pl_raise(PL_ERR_IO, "tamper watch on %s: not a directory", w->dirs[i]);
            goto fail;
        }
    }
    if (s_baseline_pid(w, opts->pid))
        goto fail;
    if (pthread_create(&w->thread, NULL, s_thread, w) != 0) {
        pl_raise(PL_ERR_INTERNAL, "cannot start the tamper watch thread");
        goto fail;
    }
    w->started = true;
    *out = w;
    return 0;
fail:
    pl_tamper_watch_destroy(w);
    return -1;
}

int pl_tamper_watch_set_pid(struct pl_tamper_watch *w, pid_t pid)
{
    pthread_mutex_lock(&w->mu);
    int rc = s_baseline_pid(w, pid);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int pl_tamper_watch_check_now(struct pl_tamper_watch *w)
{
    struct pl_event local[S_EV_BATCH];
    pthread_mutex_lock(&w->mu);
    s_handle_inotify(w);
    s_check_runtime(w);
    size_t n = s_take_pending(w, local);
    pthread_mutex_unlock(&w->mu);
    s_flush(w, local, n);
    return 0;
}

uint64_t pl_tamper_watch_events(struct pl_tamper_watch *w)
{
    return __atomic_load_n(&w->events, __ATOMIC_RELAXED);
}

void pl_tamper_watch_destroy(struct pl_tamper_watch *w)
{
    if (!w)
        return;
    if (w->started) {
        uint64_t one = 1;
        if (write(w->stopfd, &one, sizeof(one)) < 0) {
            /* eventfd write cannot fail for a counter of 1; nothing else to do */
        }
        pthread_join(w->thread, NULL);
    }
    if (w->ifd >= 0)
        close(w->ifd);
    if (w->stopfd >= 0)
        close(w->stopfd);
    for (size_t i = 0; i < w->n_wds; i++)
        pl_free(w->wds[i].dir);
    pl_free(w->wds);
    for (size_t i = 0; i < w->n_dirs; i++)
        pl_free(w->dirs[i]); // NOLINT(clang-analyzer-core.NullDereference): dirs has n_dirs entries
    pl_free(w->dirs);
    pl_free(w->discover);
    pl_free(w->seen);
    pl_free(w->reported_children);
    pl_proc_maps_clean_up(&w->base_maps);
    pl_buf_clean_up(&w->base_env);
    pthread_mutex_destroy(&w->mu);
    pl_free(w);
}
