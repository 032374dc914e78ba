/* The emulator: lifecycle (init, invoke, shutdown), the supervisor thread that owns the
 * children, the invocation queue and the ledger of request ids. HTTP handlers are in server.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emulator_private.h"
#include "protectlambda/log.h"

#define S_TICK_NS (20 * 1000 * 1000ull)
#define S_MS 1000000ull

const char *pl_emulator_outcome_name(enum pl_emulator_outcome o)
{
    switch (o) {
    case PL_EMU_RESPONSE:
        return "response";
    case PL_EMU_FUNCTION_ERROR:
        return "function_error";
    case PL_EMU_TIMEOUT:
        return "timeout";
    case PL_EMU_RUNTIME_EXIT:
        return "runtime_exit";
    case PL_EMU_INIT_ERROR:
        return "init_error";
    case PL_EMU_STOPPED:
        return "stopped";
    }
    return "unknown";
}

void pl_emulator_result_init(struct pl_emulator_result *r)
{
    memset(r, 0, sizeof(*r));
    pl_buf_init(&r->body);
}

void pl_emulator_result_clean_up(struct pl_emulator_result *r)
{
    pl_buf_clean_up(&r->body);
    memset(r, 0, sizeof(*r));
}

void pl_emu_timedwait_on(struct pl_emulator *emu, pthread_cond_t *cond, uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ns;
    ts.tv_sec = (time_t)(t / 1000000000ull);
    ts.tv_nsec = (long)(t % 1000000000ull);
    pthread_cond_timedwait(cond, &emu->mu, &ts);
}

void pl_emu_timedwait(struct pl_emulator *emu, uint64_t ns)
{
    pl_emu_timedwait_on(emu, &emu->cond, ns);
}

void pl_emu_notify_all_locked(struct pl_emulator *emu)
{
    pthread_cond_broadcast(&emu->cond);
    pthread_cond_broadcast(&emu->cond_inv);
    pthread_cond_broadcast(&emu->cond_ext);
    pthread_cond_broadcast(&emu->cond_sup);
}

/* ------------------------------------------------------------------------------------------ */
/* ledger and completion                                                                       */

void pl_emu_ledger_add_locked(struct pl_emulator *emu, const char *id, bool timed_out)
{
    struct pl_emu_ledger_entry *e = &emu->ledger[emu->ledger_next++ % S_LEDGER_RING];
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->timed_out = timed_out;
}

int pl_emu_ledger_find_locked(struct pl_emulator *emu, const char *id)
{
    size_t n = emu->ledger_next < S_LEDGER_RING ? emu->ledger_next : S_LEDGER_RING;
    for (size_t i = 0; i < n; i++) {
        const struct pl_emu_ledger_entry *e =
            &emu->ledger[(emu->ledger_next - 1 - i) % S_LEDGER_RING];
        if (!strcmp(e->id, id))
            return e->timed_out ? 1 : 0;
    }
    return -1;
}

/* Finish an invocation: fill the caller's result, record the id, wake the caller.
 * body (may be NULL) is moved into the result. */
void pl_emu_complete_locked(struct pl_emulator *emu, struct pl_emu_inv *inv,
                            enum pl_emulator_outcome outcome, const char *error_type,
                            struct pl_buf *body, const char *content_type, bool streamed)
{
    if (inv->state == PL_INV_DONE)
        return;
    bool was_delivered = inv->state == PL_INV_DELIVERED;
    inv->state = PL_INV_DONE;
    if (emu->in_flight == inv)
        emu->in_flight = NULL;
    bool by_runtime = outcome == PL_EMU_RESPONSE || outcome == PL_EMU_FUNCTION_ERROR;
    if (was_delivered)
        pl_emu_ledger_add_locked(emu, inv->id, !by_runtime);
    struct pl_emulator_result *r = inv->res;
    if (r) {
        r->outcome = outcome;
        snprintf(r->request_id, sizeof(r->request_id), "%s", inv->id);
        pl_buf_clean_up(&r->body);
        if (body) {
            r->body = *body;
            pl_buf_init(body);
        }
        if (!r->body.data)
            (void)pl_buf_reserve(&r->body, 0);
        snprintf(r->content_type, sizeof(r->content_type), "%s",
                 content_type ? content_type : "application/json");
        snprintf(r->error_type, sizeof(r->error_type), "%s", error_type ? error_type : "");
        r->streamed = streamed;
        r->duration_ns = inv->delivered_ns ? pl_now_ns() - inv->delivered_ns : 0;
    }
    switch (outcome) {
    case PL_EMU_RESPONSE:
        emu->stats.responses++;
        break;
    case PL_EMU_FUNCTION_ERROR:
        emu->stats.function_errors++;
        break;
    case PL_EMU_TIMEOUT:
        emu->stats.timeouts++;
        break;
    case PL_EMU_RUNTIME_EXIT:
        emu->stats.runtime_exits++;
        break;
    case PL_EMU_INIT_ERROR:
        emu->stats.init_errors++;
        break;
    case PL_EMU_STOPPED:
        break;
    }
    inv->done = true;
    pthread_cond_broadcast(&emu->cond_inv);
    pthread_cond_broadcast(&emu->cond); /* in_flight cleared: a queued invocation may go */
}

static void s_complete_error_locked(struct pl_emulator *emu, struct pl_emu_inv *inv,
                                    enum pl_emulator_outcome outcome, const char *type,
                                    const char *msg)
{
    struct pl_buf b = PL_BUF_INIT;
    (void)pl_emu_error_json(&b, type, "RequestId: %s Error: %s", inv->id, msg);
    pl_emu_complete_locked(emu, inv, outcome, type, &b, "application/json", false);
    pl_buf_clean_up(&b);
}

/* fail every queued (not delivered) invocation */
static void s_fail_queue_locked(struct pl_emulator *emu, enum pl_emulator_outcome outcome)
{
    while (emu->q_head) {
        struct pl_emu_inv *inv = emu->q_head;
        emu->q_head = inv->next;
        inv->next = NULL;
        if (outcome == PL_EMU_INIT_ERROR) {
            struct pl_buf b = PL_BUF_INIT;
            (void)pl_buf_append(&b, emu->init_error_body.data, emu->init_error_body.len);
            pl_emu_complete_locked(emu, inv, outcome, emu->init_error_type, &b, "application/json",
                                   false);
            pl_buf_clean_up(&b);
        } else {
            s_complete_error_locked(emu, inv, outcome, "Emulator.Stopped",
                                    "the emulator stopped before the invocation ran");
        }
    }
    emu->q_tail = NULL;
}

void pl_emu_fail_init_body_locked(struct pl_emulator *emu, const char *type, const char *body,
                                  size_t len)
{
    if (emu->phase == PL_EMU_PHASE_FAILED || emu->phase >= PL_EMU_PHASE_SHUTTING_DOWN)
        return;
    snprintf(emu->init_error_type, sizeof(emu->init_error_type), "%s", type);
    pl_buf_reset(&emu->init_error_body);
    if (len)
        (void)pl_buf_append(&emu->init_error_body, body, len);
    else
        (void)pl_emu_error_json(&emu->init_error_body, type, "init failed");
    emu->phase = PL_EMU_PHASE_FAILED;
    pl_log(PL_LOG_ERROR, "emulator", "init failed: %s", type);
    if (emu->in_flight) {
        struct pl_buf b = PL_BUF_INIT;
        (void)pl_buf_append(&b, emu->init_error_body.data, emu->init_error_body.len);
        pl_emu_complete_locked(emu, emu->in_flight, PL_EMU_INIT_ERROR, type, &b, "application/json",
                               false);
        pl_buf_clean_up(&b);
    }
    s_fail_queue_locked(emu, PL_EMU_INIT_ERROR);
    pl_emu_notify_all_locked(emu);
}

void pl_emu_fail_init_locked(struct pl_emulator *emu, const char *type, const char *fmt, ...)
{
    if (emu->phase == PL_EMU_PHASE_FAILED || emu->phase >= PL_EMU_PHASE_SHUTTING_DOWN)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(emu->init_error_type, sizeof(emu->init_error_type), "%s", type);
    pl_buf_reset(&emu->init_error_body);
    (void)pl_emu_error_json(&emu->init_error_body, type, "%s", msg);
    emu->phase = PL_EMU_PHASE_FAILED;
    pl_log(PL_LOG_ERROR, "emulator", "init failed: %s: %s", type, msg);
    if (emu->in_flight)
        s_complete_error_locked(emu, emu->in_flight, PL_EMU_INIT_ERROR, type, msg);
    s_fail_queue_locked(emu, PL_EMU_INIT_ERROR);
    pl_emu_notify_all_locked(emu);
}

/* ------------------------------------------------------------------------------------------ */
/* extensions                                                                                  */

int pl_emu_queue_event_locked(struct pl_emulator *emu, struct pl_emu_ext *ext, char *json,
                              size_t len, bool shutdown)
{
    struct pl_emu_event *ev = pl_calloc(1, sizeof(*ev));
    if (!ev) {
        pl_free(json);
        return -1;
    }
    ev->json = json;
    ev->len = len;
    ev->shutdown = shutdown;
    if (ext->q_tail)
        ext->q_tail->next = ev;
    else
        ext->q_head = ev;
    ext->q_tail = ev;
    pthread_cond_broadcast(&emu->cond_ext);
    return 0;
}

bool pl_emu_exts_ready_locked(struct pl_emulator *emu)
{
    for (struct pl_emu_ext *x = emu->exts; x; x = x->next)
        if (x->sub_invoke && !x->gone && (x->q_head || !x->in_next))
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* children                                                                                    */

static struct pl_emu_child *s_spawn_child(struct pl_emulator *emu, char *const *argv,
                                          enum pl_emu_child_kind kind)
{
    char **env = pl_emu_child_env(emu, kind == PL_EMU_CHILD_RUNTIME);
    struct pl_emu_child *c = pl_calloc(1, sizeof(*c));
    pid_t pid = -1;
    if (!env || !c) {
        pl_emu_strv_free(env);
        pl_free(c);
        return NULL;
    }
    c->kind = kind;
    const char *base = strrchr(argv[0], '/');
    snprintf(c->name, sizeof(c->name), "%s", base ? base + 1 : argv[0]);
    /* Spawn and list the child under the lock: an extension that registers before its child
     * is listed would match no child, never count as ready, and fail the init with
     * Extension.TimedOut (seen under load: the parent descheduled right after the exec). */
    pthread_mutex_lock(&emu->mu);
    int rc = pl_emu_spawn(argv, env, kind == PL_EMU_CHILD_RUNTIME ? emu->function_dir : NULL,
                          emu->child_stdout_fd, &pid);
    pl_emu_strv_free(env);
    if (rc) {
        pthread_mutex_unlock(&emu->mu);
        pl_free(c);
        return NULL;
    }
    c->pid = pid;
    c->next = emu->children;
    emu->children = c;
    if (kind == PL_EMU_CHILD_RUNTIME) {
        /* here too: a fast runtime may call next before a later lock section would run */
        emu->runtime = c;
        emu->runtime_called_next = false;
        if (!emu->stats.runtime_starts)
            emu->runtime_spawn_ns = pl_now_ns();
        emu->stats.runtime_starts++;
    }
    pthread_mutex_unlock(&emu->mu);
    return c;
}

/* [wrapper..., runtime_argv...] */
static char **s_runtime_command(struct pl_emulator *emu)
{
    size_t nw = emu->wrapper_argv ? pl_emu_strv_len(emu->wrapper_argv)
                                  : (emu->exec_wrapper && *emu->exec_wrapper ? 1 : 0);
    size_t nr = pl_emu_strv_len(emu->runtime_argv);
    char **v = pl_calloc(nw + nr + 1, sizeof(char *));
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < nw; i++)
        v[k++] = emu->wrapper_argv ? emu->wrapper_argv[i] : emu->exec_wrapper;
    for (size_t i = 0; i < nr; i++)
        v[k++] = emu->runtime_argv[i];
    return v; /* borrowed strings: free only the array */
}

static int s_start_runtime(struct pl_emulator *emu)
{
    char **cmd = s_runtime_command(emu);
    if (!cmd)
        return -1;
    struct pl_emu_child *c = s_spawn_child(emu, cmd, PL_EMU_CHILD_RUNTIME);
    pl_free(cmd);
    return c ? 0 : -1;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* external extensions: executables of extensions_dir (sorted), then the explicit list */
static int s_start_extensions(struct pl_emulator *emu)
{
    if (emu->extensions_dir) {
        DIR *d = opendir(emu->extensions_dir);
        if (!d)
            return pl_raise(PL_ERR_IO, "cannot open extensions dir %s: %s", emu->extensions_dir,
                            strerror(errno));
        char *names[64] = {0};
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < PL_ARRAY_LEN(names)) {
            if (de->d_name[0] == '.')
                continue;
            names[n] = pl_strdup(de->d_name);
            if (names[n])
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof(names[0]), s_cmp_str);
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            struct pl_buf p = PL_BUF_INIT;
            struct stat st;
            if (!rc && pl_buf_appendf(&p, "%s/%s", emu->extensions_dir, names[i]) == 0 &&
                stat(p.data, &st) == 0 && S_ISREG(st.st_mode) && access(p.data, X_OK) == 0) {
                char *argv[] = {p.data, NULL};
                if (s_spawn_child(emu, argv, PL_EMU_CHILD_EXTENSION))
                    emu->n_ext_spawned++;
                else
                    rc = -1;
            }
            pl_buf_clean_up(&p);
            pl_free(names[i]);
        }
        if (rc)
            return -1;
    }
    for (size_t i = 0; emu->extensions && emu->extensions[i]; i++) {
        if (!s_spawn_child(emu, emu->extensions[i], PL_EMU_CHILD_EXTENSION))
            return -1;
        emu->n_ext_spawned++;
    }
    return 0;
}

static const char *s_exit_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal: %s", strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status %d", status);
    return buf;
}

/* reap exited children (supervisor thread) */
struct s_exit_note {
    int pid, status;
    bool runtime;
    char name[128];
    char request_id[S_ID_LEN];
};

static void s_reap(struct pl_emulator *emu)
{
    struct s_exit_note notes[16];
    size_t n_notes = 0;
    pthread_mutex_lock(&emu->mu);
    for (struct pl_emu_child *c = emu->children; c; c = c->next) {
        if (c->exited)
            continue;
        int st;
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r != c->pid && !(r < 0 && errno == ECHILD))
            continue;
        c->exited = true;
        c->status = r == c->pid ? st : 0;
        if (!c->killed && emu->on_child_exit && n_notes < PL_ARRAY_LEN(notes)) {
            struct s_exit_note *x = &notes[n_notes++];
            x->pid = c->pid;
            x->status = c->status;
            x->runtime = c->kind == PL_EMU_CHILD_RUNTIME;
            snprintf(x->name, sizeof(x->name), "%s", c->name);
            snprintf(x->request_id, sizeof(x->request_id), "%s",
                     x->runtime && c == emu->runtime && emu->in_flight ? emu->in_flight->id : "");
        }
        /* whatever is left in its process group goes too */
        pl_emu_kill_group(c->pid, SIGKILL);
        char why[128];
        s_exit_text(c->status, why, sizeof(why));
        if (c->kind == PL_EMU_CHILD_EXTENSION) {
            if (c->ext) {
                c->ext->gone = true;
                c->ext->shutdown_done = true;
            }
            if (emu->phase == PL_EMU_PHASE_INIT_EXTENSIONS ||
                emu->phase == PL_EMU_PHASE_INIT_RUNTIME) {
                if (!c->ext || !c->ext->ever_next)
                    pl_emu_fail_init_locked(emu, "Extension.Crash",
                                            "extension %s exited before it was ready (%s)", c->name,
                                            why);
            } else if (emu->phase == PL_EMU_PHASE_READY) {
                pl_log(PL_LOG_WARN, "emulator", "extension %s exited (%s)", c->name, why);
            }
        } else if (c == emu->runtime) {
            emu->runtime = NULL;
            if (emu->phase == PL_EMU_PHASE_INIT_RUNTIME ||
                (emu->phase == PL_EMU_PHASE_READY && !emu->runtime_called_next)) {
                pl_emu_fail_init_locked(emu, "Runtime.ExitError",
                                        "Runtime exited before init completed (%s)", why);
            } else if (emu->phase == PL_EMU_PHASE_READY) {
                if (emu->in_flight) {
                    char msg[200];
                    snprintf(msg, sizeof(msg), "Runtime exited with error: %s", why);
                    s_complete_error_locked(emu, emu->in_flight, PL_EMU_RUNTIME_EXIT,
                                            "Runtime.ExitError", msg);
                }
                pl_log(PL_LOG_WARN, "emulator", "runtime exited (%s); restarting it", why);
                emu->runtime_restart_pending = true;
            }
        }
        pl_emu_notify_all_locked(emu);
    }
    pthread_mutex_unlock(&emu->mu);
    for (size_t i = 0; i < n_notes; i++) {
        struct pl_emulator_child_exit x = {notes[i].pid, notes[i].status, notes[i].runtime,
                                           notes[i].name, notes[i].request_id};
        emu->on_child_exit(emu->on_child_exit_ctx, &x);
    }
}

/* Lambda (rapid: AwaitExternalAgentsRegistered) starts the runtime once every extension it
 * started has registered; extensions finish their own init meanwhile, and invocations wait
 * until each has called event/next */
static bool s_extensions_registered_locked(struct pl_emulator *emu)
{
    unsigned registered = 0;
    for (struct pl_emu_ext *x = emu->exts; x; x = x->next)
        if (x->child)
            registered++;
    return registered >= emu->n_ext_spawned;
}

static void s_kill_all(struct pl_emulator *emu, int sig, bool only_live)
{
    for (struct pl_emu_child *c = emu->children; c; c = c->next)
        if (!only_live || !c->exited) {
            c->killed = true;
            pl_emu_kill_group(c->pid, sig);
        }
}

static bool s_all_exited_locked(struct pl_emulator *emu, int kind /* -1 any */)
{
    for (struct pl_emu_child *c = emu->children; c; c = c->next)
        if (!c->exited && (kind < 0 || (int)c->kind == kind))
            return false;
    return true;
}

/* wait (unlocked between ticks) until cond or deadline */
#define S_WAIT_UNTIL(emu, cond, deadline_ns)                                                       \
    do {                                                                                           \
        for (;;) {                                                                                 \
            s_reap(emu);                                                                           \
            pthread_mutex_lock(&(emu)->mu);                                                        \
            bool ok_ = (cond);                                                                     \
            if (!ok_ && pl_now_ns() < (deadline_ns))                                               \
                pl_emu_timedwait(emu, S_TICK_NS / 2);                                              \
            pthread_mutex_unlock(&(emu)->mu);                                                      \
            if (ok_ || pl_now_ns() >= (deadline_ns))                                               \
                break;                                                                             \
        }                                                                                          \
    } while (0)

static void s_shutdown_sequence(struct pl_emulator *emu)
{
    pthread_mutex_lock(&emu->mu);
    enum pl_emu_phase was = emu->phase;
    emu->phase = PL_EMU_PHASE_SHUTTING_DOWN;
    s_fail_queue_locked(emu, PL_EMU_STOPPED);
    if (emu->in_flight)
        s_complete_error_locked(emu, emu->in_flight, PL_EMU_STOPPED, "Emulator.Stopped",
                                "the emulator stopped during the invocation");
    struct pl_emu_child *rt = emu->runtime;
    pl_emu_notify_all_locked(emu);
    pthread_mutex_unlock(&emu->mu);

    /* 1. the runtime: SIGTERM, then SIGKILL after 500 ms */
    if (rt) {
        pthread_mutex_lock(&emu->mu);
        rt->killed = true;
        pthread_mutex_unlock(&emu->mu);
        pl_emu_kill_group(rt->pid, SIGTERM);
        uint64_t dl = pl_now_ns() + 500 * S_MS;
        S_WAIT_UNTIL(emu, rt->exited, dl);
        pl_emu_kill_group(rt->pid, SIGKILL);
    }
    /* 2. SHUTDOWN to extensions that asked for it, within the budget */
    int64_t deadline_ms = pl_wall_ms() + emu->shutdown_ms;
    pthread_mutex_lock(&emu->mu);
    for (struct pl_emu_ext *x = emu->exts; x; x = x->next) {
        if (!x->sub_shutdown || x->gone || x->shutdown_sent) {
            x->shutdown_done = true;
            continue;
        }
        struct pl_buf b = PL_BUF_INIT;
        if (pl_buf_appendf(&b,
                           "{\"eventType\":\"SHUTDOWN\",\"shutdownReason\":\"spindown\","
                           "\"deadlineMs\":%lld}",
                           (long long)deadline_ms) == 0) {
            size_t len = b.len;
            if (pl_emu_queue_event_locked(emu, x, pl_buf_steal(&b, NULL), len, true) == 0) {
                x->shutdown_sent = true;
                emu->stats.extension_shutdown_events++;
            }
        }
        pl_buf_clean_up(&b);
        if (!x->shutdown_sent)
            x->shutdown_done = true;
    }
    pthread_mutex_unlock(&emu->mu);
    if (was != PL_EMU_PHASE_NEW) {
        uint64_t dl = pl_now_ns() + (uint64_t)emu->shutdown_ms * S_MS;
        bool done;
        S_WAIT_UNTIL(emu, ({
                         done = true;
                         for (struct pl_emu_ext *x = emu->exts; x; x = x->next)
                             if (!x->shutdown_done && !x->gone)
                                 done = false;
                         done &&s_all_exited_locked(emu, PL_EMU_CHILD_RUNTIME);
                     }),
                     dl);
        /* extensions that acknowledged get a moment to exit by themselves */
        dl = pl_now_ns() + 200 * S_MS;
        S_WAIT_UNTIL(emu, s_all_exited_locked(emu, -1), dl);
    }
    /* 3. everything left: SIGTERM, then SIGKILL */
    pthread_mutex_lock(&emu->mu);
    s_kill_all(emu, SIGTERM, true);
    pthread_mutex_unlock(&emu->mu);
    uint64_t dl = pl_now_ns() + 300 * S_MS;
    S_WAIT_UNTIL(emu, s_all_exited_locked(emu, -1), dl);
    pthread_mutex_lock(&emu->mu);
    s_kill_all(emu, SIGKILL, false);
    for (struct pl_emu_child *c = emu->children; c; c = c->next) {
        if (c->exited)
            continue;
        int st;
        while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
        }
        c->exited = true;
    }
    emu->phase = PL_EMU_PHASE_DOWN;
    pl_emu_notify_all_locked(emu);
    pthread_mutex_unlock(&emu->mu);
}

static void *s_supervisor_main(void *arg)
{
    struct pl_emulator *emu = arg;
    pthread_setname_np(pthread_self(), "pl-emu-super"); /* top -H, the tests */
    /* init: extensions first */
    pthread_mutex_lock(&emu->mu);
    emu->phase = PL_EMU_PHASE_INIT_EXTENSIONS;
    emu->init_deadline_ns = pl_now_ns() + (uint64_t)emu->init_timeout_s * 1000 * S_MS;
    uint64_t ext_start = pl_now_ns();
    emu->ext_start_ns = ext_start;
    pthread_mutex_unlock(&emu->mu);
    if (s_start_extensions(emu)) {
        pthread_mutex_lock(&emu->mu);
        pl_emu_fail_init_locked(emu, "Extension.LaunchError", "%s", pl_last_error_msg());
        pthread_mutex_unlock(&emu->mu);
    }
    S_WAIT_UNTIL(emu,
                 emu->shutdown_requested || emu->phase != PL_EMU_PHASE_INIT_EXTENSIONS ||
                     s_extensions_registered_locked(emu),
                 emu->init_deadline_ns);
    pthread_mutex_lock(&emu->mu);
    bool start_runtime = false;
    if (!emu->shutdown_requested && emu->phase == PL_EMU_PHASE_INIT_EXTENSIONS) {
        if (s_extensions_registered_locked(emu)) {
            emu->stats.extensions_init_us = (pl_now_ns() - ext_start) / 1000;
            emu->phase = PL_EMU_PHASE_INIT_RUNTIME;
            start_runtime = true;
        } else {
            pl_emu_fail_init_locked(emu, "Extension.TimedOut",
                                    "extensions did not register within %d s",
                                    emu->init_timeout_s);
        }
    }
    pthread_mutex_unlock(&emu->mu);
    if (start_runtime && s_start_runtime(emu)) {
        pthread_mutex_lock(&emu->mu);
        pl_emu_fail_init_locked(emu, "Runtime.InvalidEntrypoint", "%s", pl_last_error_msg());
        pthread_mutex_unlock(&emu->mu);
    }
    /* run */
    for (;;) {
        s_reap(emu);
        pthread_mutex_lock(&emu->mu);
        if (emu->shutdown_requested) {
            pthread_mutex_unlock(&emu->mu);
            break;
        }
        uint64_t now = pl_now_ns();
        if (emu->phase == PL_EMU_PHASE_INIT_RUNTIME && now > emu->init_deadline_ns)
            pl_emu_fail_init_locked(emu, "Runtime.Unknown",
                                    "the runtime did not call invocation/next within %d s",
                                    emu->init_timeout_s);
        if (emu->phase == PL_EMU_PHASE_FAILED)
            s_kill_all(emu, SIGKILL, true);
        if (emu->in_flight && now > emu->in_flight->deadline_ns) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Task timed out after %d.00 seconds", emu->timeout_s);
            pl_log(PL_LOG_WARN, "emulator", "%s (request %s); restarting the runtime", msg,
                   emu->in_flight->id);
            s_complete_error_locked(emu, emu->in_flight, PL_EMU_TIMEOUT, "Sandbox.Timedout", msg);
            if (emu->runtime) {
                emu->runtime->killed = true;
                pl_emu_kill_group(emu->runtime->pid, SIGKILL);
            }
        }
        bool restart =
            emu->runtime_restart_pending && emu->phase == PL_EMU_PHASE_READY && !emu->runtime;
        if (restart)
            emu->runtime_restart_pending = false;
        if (!restart)
            pl_emu_timedwait_on(emu, &emu->cond_sup, S_TICK_NS);
        pthread_mutex_unlock(&emu->mu);
        if (restart && s_start_runtime(emu)) {
            pthread_mutex_lock(&emu->mu);
            emu->phase = PL_EMU_PHASE_INIT_RUNTIME; /* so fail_init applies */
            pl_emu_fail_init_locked(emu, "Runtime.InvalidEntrypoint", "%s", pl_last_error_msg());
            pthread_mutex_unlock(&emu->mu);
        }
    }
    s_shutdown_sequence(emu);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* public API                                                                                  */

static char *s_dup_or(const char *s, const char *def)
{
    return pl_strdup(s ? s : def);
}

int pl_emulator_new(const struct pl_emulator_options *o, struct pl_emulator **out)
{
    *out = NULL;
    if (!o->function_dir || !o->handler || !o->runtime_argv || !o->runtime_argv[0])
        return pl_raise(PL_ERR_INVALID_ARG,
                        "emulator needs a function dir, a handler and a runtime");
    struct pl_emulator *emu = pl_calloc(1, sizeof(*emu));
    if (!emu)
        return -1;
    emu->listen_fd = emu->invoke_fd = -1;
    emu->wake_pipe[0] = emu->wake_pipe[1] = -1;
    pthread_mutex_init(&emu->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&emu->cond, &ca);
    pthread_cond_init(&emu->cond_inv, &ca);
    pthread_cond_init(&emu->cond_ext, &ca);
    pthread_cond_init(&emu->cond_sup, &ca);
    pthread_condattr_destroy(&ca);
    pl_buf_init(&emu->init_error_body);

    char *real = realpath(o->function_dir, NULL);
    if (!real) {
        pl_raise(PL_ERR_IO, "function dir %s: %s", o->function_dir, strerror(errno));
        goto fail;
    }
    emu->function_dir = pl_strdup(real);
    free(real);
    const char *env_wrapper = NULL;
    for (char *const *p = o->extra_env; p && *p; p++)
        if (!strncmp(*p, "AWS_LAMBDA_EXEC_WRAPPER=", 24))
            env_wrapper = *p + 24;
    if (!env_wrapper && !o->clean_env)
        env_wrapper = getenv("AWS_LAMBDA_EXEC_WRAPPER");
    const char *wrapper = o->exec_wrapper ? o->exec_wrapper : env_wrapper;
    const char *region = o->region ? o->region : getenv("AWS_REGION");
    emu->handler = pl_strdup(o->handler);
    emu->runtime_argv = pl_emu_strv_dup(o->runtime_argv);
    emu->exec_wrapper = wrapper && *wrapper ? pl_strdup(wrapper) : NULL;
    emu->wrapper_argv = o->wrapper_argv ? pl_emu_strv_dup(o->wrapper_argv) : NULL;
    emu->extensions_dir = o->extensions_dir ? pl_strdup(o->extensions_dir) : NULL;
    emu->extra_env = pl_emu_strv_dup(o->extra_env);
    emu->function_name = s_dup_or(o->function_name, "function");
    emu->region = s_dup_or(region && *region ? region : NULL, "us-east-1");
    if (!emu->function_dir || !emu->handler || !emu->runtime_argv || !emu->extra_env ||
        !emu->function_name || !emu->region || (wrapper && *wrapper && !emu->exec_wrapper) ||
        (o->wrapper_argv && !emu->wrapper_argv) || (o->extensions_dir && !emu->extensions_dir))
        goto fail;
    size_t n_ext = 0;
    while (o->extensions && o->extensions[n_ext])
        n_ext++;
    if (n_ext) {
        emu->extensions = pl_calloc(n_ext + 1, sizeof(char **));
        if (!emu->extensions)
            goto fail;
        for (size_t i = 0; i < n_ext; i++)
            if (!(emu->extensions[i] = pl_emu_strv_dup(o->extensions[i])))
                goto fail;
    }
    emu->clean_env = o->clean_env;
    emu->memory_mb = o->memory_mb > 0 ? o->memory_mb : 3008;
    emu->timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
    emu->init_timeout_s = o->init_timeout_s > 0 ? o->init_timeout_s : 10;
    emu->shutdown_ms = o->shutdown_ms > 0 ? o->shutdown_ms : 2000;
    emu->max_payload = o->max_payload ? o->max_payload : PL_HTTP_DEFAULT_BODY_CAP;
    emu->max_stream = o->max_stream ? o->max_stream : 20 * 1024 * 1024;
    emu->child_stdout_fd = o->child_stdout_fd ? o->child_stdout_fd : 2;
    emu->log_invocations = o->log_invocations;
    emu->on_child_exit = o->on_child_exit;
    emu->on_child_exit_ctx = o->on_child_exit_ctx;
    snprintf(emu->arn, sizeof(emu->arn),
             "arn:aws:lambda:%s:012345678912:function:%s" /* S_ACCOUNT_ID */, emu->region,
             emu->function_name);

    emu->listen_fd = pl_http_listen_loopback(o->port, &emu->port);
    if (emu->listen_fd < 0)
        goto fail;
    snprintf(emu->address, sizeof(emu->address), "127.0.0.1:%u", (unsigned)emu->port);
    if (pipe2(emu->wake_pipe, O_CLOEXEC) < 0) {
        pl_raise(PL_ERR_IO, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&emu->acceptor, NULL, pl_emu_acceptor_main, emu)) {
        pl_raise(PL_ERR_INTERNAL, "cannot start the emulator's acceptor thread");
        goto fail;
    }
    emu->acceptor_started = true;
    *out = emu;
    return 0;
fail:
    pl_emulator_destroy(emu);
    return -1;
}

const char *pl_emulator_address(const struct pl_emulator *emu)
{
    return emu->address;
}
uint16_t pl_emulator_port(const struct pl_emulator *emu)
{
    return emu->port;
}

int pl_emulator_listen_invoke(struct pl_emulator *emu, uint16_t port, uint16_t *bound)
{
    uint16_t p = 0;
    int fd = pl_http_listen_loopback(port, &p);
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&emu->mu);
    if (emu->invoke_fd >= 0)
        close(emu->invoke_fd);
    emu->invoke_fd = fd;
    emu->invoke_port = p;
    pthread_mutex_unlock(&emu->mu);
    (void)!write(emu->wake_pipe[1], "x", 1); /* acceptor picks the new socket up */
    if (bound)
        *bound = p;
    return 0;
}

int pl_emulator_start(struct pl_emulator *emu)
{
    pthread_mutex_lock(&emu->mu);
    if (emu->supervisor_started) {
        pthread_mutex_unlock(&emu->mu);
        return pl_raise(PL_ERR_INVALID_ARG, "emulator already started");
    }
    int rc = pthread_create(&emu->supervisor, NULL, s_supervisor_main, emu);
    if (rc == 0)
        emu->supervisor_started = true;
    pthread_mutex_unlock(&emu->mu);
    return rc ? pl_raise(PL_ERR_INTERNAL, "cannot start the supervisor thread") : 0;
}

int pl_emulator_wait_ready(struct pl_emulator *emu)
{
    pthread_mutex_lock(&emu->mu);
    while (emu->phase < PL_EMU_PHASE_READY && !emu->closing)
        pl_emu_timedwait(emu, 100 * S_MS);
    int rc = 0;
    if (emu->phase != PL_EMU_PHASE_READY) {
        if (emu->phase == PL_EMU_PHASE_FAILED)
            rc = pl_raise(PL_ERR_INTERNAL, "init failed: %s", emu->init_error_body.data);
        else
            rc = pl_raise(PL_ERR_INTERNAL, "emulator stopped before init completed");
    }
    pthread_mutex_unlock(&emu->mu);
    return rc;
}

int pl_emulator_invoke(struct pl_emulator *emu, const void *event, size_t len,
                       const struct pl_emulator_invoke_options *io, struct pl_emulator_result *res)
{
    return pl_emu_invoke_ex(emu, event, len, io, res, -1, false, NULL, NULL);
}

int pl_emu_invoke_ex(struct pl_emulator *emu, const void *event, size_t len,
                     const struct pl_emulator_invoke_options *io, struct pl_emulator_result *res,
                     int stream_fd, bool stream_keep, bool *streamed_out, bool *client_ok)
{
    if (len > emu->max_payload)
        return pl_raise(PL_ERR_LIMIT, "event of %zu bytes exceeds the %zu-byte limit", len,
                        emu->max_payload);
    struct pl_emu_inv *inv = pl_calloc(1, sizeof(*inv));
    if (!inv)
        return -1;
    pl_buf_init(&inv->event);
    if (pl_buf_append(&inv->event, event ? event : "", event ? len : 0))
        goto fail;
    if (io && io->client_context && !(inv->client_context = pl_strdup(io->client_context)))
        goto fail;
    if (io && io->cognito_identity && !(inv->cognito = pl_strdup(io->cognito_identity)))
        goto fail;
    if (io && io->trace_id)
        snprintf(inv->trace, sizeof(inv->trace), "%s", io->trace_id);
    else
        pl_emu_trace_id(inv->trace, sizeof(inv->trace));
    pl_emu_uuid(inv->id);
    inv->res = res;
    inv->stream_fd = stream_fd;
    inv->stream_keep = stream_keep;

    pthread_mutex_lock(&emu->mu);
    emu->stats.invocations++;
    if (emu->phase == PL_EMU_PHASE_FAILED) {
        struct pl_buf b = PL_BUF_INIT;
        (void)pl_buf_append(&b, emu->init_error_body.data, emu->init_error_body.len);
        pl_emu_complete_locked(emu, inv, PL_EMU_INIT_ERROR, emu->init_error_type, &b,
                               "application/json", false);
        pl_buf_clean_up(&b);
    } else if (emu->phase >= PL_EMU_PHASE_SHUTTING_DOWN || emu->closing) {
        s_complete_error_locked(emu, inv, PL_EMU_STOPPED, "Emulator.Stopped",
                                "the emulator is stopping");
    } else {
        if (emu->q_tail)
            emu->q_tail->next = inv;
        else
            emu->q_head = inv;
        emu->q_tail = inv;
        pthread_cond_broadcast(&emu->cond); /* the runtime's invocation/next */
    }
    while (!inv->done || inv->busy)
        pthread_cond_wait(&emu->cond_inv, &emu->mu);
    if (streamed_out)
        *streamed_out = inv->stream_started;
    if (client_ok)
        *client_ok = inv->stream_client_ok;
    pthread_mutex_unlock(&emu->mu);
    pl_buf_clean_up(&inv->event);
    pl_free(inv->client_context);
    pl_free(inv->cognito);
    pl_free(inv);
    return 0;
fail:
    pl_buf_clean_up(&inv->event);
    pl_free(inv->client_context);
    pl_free(inv->cognito);
    pl_free(inv);
    return -1;
}

int pl_emulator_shutdown(struct pl_emulator *emu)
{
    pthread_mutex_lock(&emu->mu);
    emu->shutdown_requested = true;
    pl_emu_notify_all_locked(emu);
    bool started = emu->supervisor_started;
    if (!started) {
        emu->phase = PL_EMU_PHASE_DOWN;
        s_fail_queue_locked(emu, PL_EMU_STOPPED);
    }
    while (started && emu->phase != PL_EMU_PHASE_DOWN)
        pl_emu_timedwait(emu, 100 * S_MS);
    pthread_mutex_unlock(&emu->mu);
    return 0;
}

void pl_emulator_get_stats(struct pl_emulator *emu, struct pl_emulator_stats *out)
{
    pthread_mutex_lock(&emu->mu);
    *out = emu->stats;
    pthread_mutex_unlock(&emu->mu);
}

int pl_emulator_stats_json(const struct pl_emulator_stats *s, struct pl_buf *out)
{
    return pl_buf_appendf(
        out,
        "{\"invocations\":%llu,\"delivered\":%llu,\"responses\":%llu,\"function_errors\":%llu,"
        "\"timeouts\":%llu,\"runtime_exits\":%llu,\"init_errors\":%llu,\"double_answers\":%llu,"
        "\"unknown_answers\":%llu,\"late_answers\":%llu,\"unanswered\":%llu,\"too_large\":%llu,"
        "\"runtime_starts\":%llu,\"extensions_registered\":%llu,"
        "\"extension_invoke_events\":%llu,\"extension_shutdown_events\":%llu,"
        "\"http_errors\":%llu,\"extensions_init_us\":%llu,\"extensions_ready_us\":%llu,"
        "\"runtime_init_us\":%llu}",
        (unsigned long long)s->invocations, (unsigned long long)s->delivered,
        (unsigned long long)s->responses, (unsigned long long)s->function_errors,
        (unsigned long long)s->timeouts, (unsigned long long)s->runtime_exits,
        (unsigned long long)s->init_errors, (unsigned long long)s->double_answers,
        (unsigned long long)s->unknown_answers, (unsigned long long)s->late_answers,
        (unsigned long long)s->unanswered, (unsigned long long)s->too_large,
        (unsigned long long)s->runtime_starts, (unsigned long long)s->extensions_registered,
        (unsigned long long)s->extension_invoke_events,
        (unsigned long long)s->extension_shutdown_events, (unsigned long long)s->http_errors,
        (unsigned long long)s->extensions_init_us, (unsigned long long)s->extensions_ready_us,
        (unsigned long long)s->runtime_init_us);
}

void pl_emulator_destroy(struct pl_emulator *emu)
{
    if (!emu)
        return;
    if (emu->supervisor_started) {
        pl_emulator_shutdown(emu);
        pthread_join(emu->supervisor, NULL);
    }
    /* stop serving: wake the acceptor, unblock every connection thread */
    pthread_mutex_lock(&emu->mu);
    emu->closing = true;
    pl_emu_notify_all_locked(emu);
    for (struct pl_emu_conn *c = emu->conns; c; c = c->next)
        if (!c->finished)
            shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&emu->mu);
    if (emu->wake_pipe[1] >= 0)
        (void)!write(emu->wake_pipe[1], "x", 1);
    if (emu->acceptor_started)
        pthread_join(emu->acceptor, NULL);
    /* the acceptor no longer adds connections: join them all */
    for (;;) {
        pthread_mutex_lock(&emu->mu);
        struct pl_emu_conn *c = emu->conns;
        if (c) {
            emu->conns = c->next;
            if (!c->finished)
                shutdown(c->fd, SHUT_RDWR);
        }
        pthread_mutex_unlock(&emu->mu);
        if (!c)
            break;
        pthread_join(c->thread, NULL);
        pl_free(c);
    }
    if (emu->listen_fd >= 0)
        close(emu->listen_fd);
    if (emu->invoke_fd >= 0)
        close(emu->invoke_fd);
    for (int i = 0; i < 2; i++)
        if (emu->wake_pipe[i] >= 0)
            close(emu->wake_pipe[i]);
    while (emu->children) {
        struct pl_emu_child *c = emu->children;
        emu->children = c->next;
        if (!c->exited) {
            int st;
            pl_emu_kill_group(c->pid, SIGKILL);
            while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
            }
        }
        pl_free(c);
    }
    while (emu->exts) {
        struct pl_emu_ext *x = emu->exts;
        emu->exts = x->next;
        while (x->q_head) {
            struct pl_emu_event *ev = x->q_head;
            x->q_head = ev->next;
            pl_free(ev->json);
            pl_free(ev);
        }
        pl_free(x);
    }
    pl_buf_clean_up(&emu->init_error_body);
    pl_free(emu->function_dir);
    pl_free(emu->handler);
    pl_emu_strv_free(emu->runtime_argv);
    pl_free(emu->exec_wrapper);
    pl_emu_strv_free(emu->wrapper_argv);
    pl_free(emu->extensions_dir);
    for (size_t i = 0; emu->extensions && emu->extensions[i]; i++)
        pl_emu_strv_free(emu->extensions[i]);
    pl_free(emu->extensions);
    pl_emu_strv_free(emu->extra_env);
    pl_free(emu->function_name);
    pl_free(emu->region);
    pthread_mutex_destroy(&emu->mu);
    pthread_cond_destroy(&emu->cond);
    pthread_cond_destroy(&emu->cond_inv);
    pthread_cond_destroy(&emu->cond_ext);
    pthread_cond_destroy(&emu->cond_sup);
    pl_free(emu);
}
