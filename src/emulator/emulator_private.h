/* Private state of the emulator (src/emulator/). */
#ifndef PL_EMULATOR_PRIVATE_H
#define PL_EMULATOR_PRIVATE_H

#include <pthread.h>
#include <sys/types.h>

#include "protectlambda/emulator.h"
#include "protectlambda/http.h"

#define S_ID_LEN 40
#define S_LEDGER_RING 4096
#define S_MAX_EXTENSIONS 10 /* Lambda's limit */

/* one event waiting for an extension's event/next */
struct pl_emu_event {
    struct pl_emu_event *next;
    char *json;
    size_t len;
    bool shutdown;
};

struct pl_emu_ext {
    struct pl_emu_ext *next;
    char id[S_ID_LEN];
    char name[128];
    bool sub_invoke, sub_shutdown;
    bool in_next;       /* blocked in event/next right now */
    bool ever_next;     /* called event/next at least once */
    bool shutdown_sent; /* SHUTDOWN queued */
    bool shutdown_done; /* called event/next after SHUTDOWN, or exited */
    bool gone;          /* its process exited */
    struct pl_emu_event *q_head, *q_tail;
    struct pl_emu_child *child; /* the process we started for it (NULL: internal) */
};

enum pl_emu_child_kind { PL_EMU_CHILD_EXTENSION, PL_EMU_CHILD_RUNTIME };

struct pl_emu_child {
    struct pl_emu_child *next;
    pid_t pid; /* also its process group */
    enum pl_emu_child_kind kind;
    char name[128]; /* basename of the executable */
    bool exited;
    bool killed; /* the emulator signalled it (timeout, failed init, shutdown) */
    int status;
    struct pl_emu_ext *ext; /* registration matched to this process */
};

enum pl_emu_inv_state { PL_INV_QUEUED, PL_INV_DELIVERED, PL_INV_DONE };

struct pl_emu_inv {
    struct pl_emu_inv *next; /* queue link */
    char id[S_ID_LEN];
    struct pl_buf event;
    char *client_context;
    char *cognito;
    char trace[160];
    int64_t deadline_ms;  /* wall clock, set at delivery */
    uint64_t deadline_ns; /* monotonic */
    uint64_t delivered_ns;
    enum pl_emu_inv_state state;
    struct pl_emulator_result *res;
    bool done;
    int busy; /* a handler is writing its event to the runtime: keep it alive */
    /* invoke-URL client a streamed response is forwarded to as it arrives (-1: none) */
    int stream_fd;
    bool stream_keep;      /* the client connection stays open after the response */
    bool stream_started;   /* the response head went to the client: the invoker writes nothing */
    bool stream_client_ok; /* the client got a complete chunked response */
};

struct pl_emu_ledger_entry {
    char id[S_ID_LEN];
    bool timed_out; /* answered by the emulator (timeout, exit, unanswered) */
};

enum pl_emu_phase {
    PL_EMU_PHASE_NEW,
    PL_EMU_PHASE_INIT_EXTENSIONS,
    PL_EMU_PHASE_INIT_RUNTIME,
    PL_EMU_PHASE_READY,
    PL_EMU_PHASE_FAILED,
    PL_EMU_PHASE_SHUTTING_DOWN,
    PL_EMU_PHASE_DOWN,
};

struct pl_emu_conn {
    struct pl_emu_conn *next;
    struct pl_emulator *emu;
    int fd;
    pthread_t thread;
    bool finished;
    bool invoke_only; /* accepted on the invoke-URL listener */
};

struct pl_emulator {
    /* options (copied) */
    char *function_dir;
    char *handler;
    char **runtime_argv;
    char *exec_wrapper;
    char **wrapper_argv;
    char *extensions_dir;
    char ***extensions;
    char **extra_env;
    bool clean_env;
    char *function_name;
    char *region;
    char arn[512];
    int memory_mb, timeout_s, init_timeout_s, shutdown_ms;
    size_t max_payload, max_stream;
    int child_stdout_fd;
    bool log_invocations;
    pl_emulator_exit_fn on_child_exit;
    void *on_child_exit_ctx;

    /* sockets */
    int listen_fd, invoke_fd;
    uint16_t port, invoke_port;
    char address[64];
    int wake_pipe[2];
    pthread_t acceptor;
    bool acceptor_started;

    pthread_mutex_t mu;
    /* One mutex; a condition per kind of waiter, so an invocation's hand-offs wake the one
     * thread that waits for them (as rapid's channels do), not every thread of the emulator:
     * each spurious wake-up is a context switch, on a 2-vCPU guest often on the CPU the
     * measured runtime runs on. pl_emu_notify_all_locked wakes them all (any rare change). */
    pthread_cond_t cond;     /* the runtime's invocation/next, readiness, shutdown waits */
    pthread_cond_t cond_inv; /* invoke callers: an invocation done (inv->done, inv->busy) */
    pthread_cond_t cond_ext; /* extensions in event/next: an event queued */
    pthread_cond_t cond_sup; /* the supervisor (ticks; woken early by notify_all only) */
    bool closing;        /* destroy in progress: every waiter returns */

    /* lifecycle */
    enum pl_emu_phase phase;
    char init_error_type[128];
    struct pl_buf init_error_body;
    uint64_t init_deadline_ns;
    pthread_t supervisor;
    bool supervisor_started;
    bool shutdown_requested;
    bool runtime_ever_ready;
    bool runtime_restart_pending;
    bool runtime_called_next;  /* the current runtime process reached invocation/next */
    uint64_t runtime_spawn_ns; /* first runtime start, for runtime_init_us */
    uint64_t ext_start_ns;     /* extensions spawned, for extensions_{init,ready}_us */
    struct pl_emu_child *children;
    struct pl_emu_child *runtime; /* current runtime process */
    unsigned n_ext_spawned;
    struct pl_emu_ext *exts;
    unsigned n_exts;
    uint64_t ext_wait_since_ns; /* when delivery started waiting for extensions */
    int ext_wait_warned;

    /* invocations */
    struct pl_emu_inv *q_head, *q_tail;
    struct pl_emu_inv *in_flight;
    struct pl_emu_ledger_entry ledger[S_LEDGER_RING];
    size_t ledger_next;

    struct pl_emu_conn *conns;
    struct pl_emulator_stats stats;
};

/* util.c */
void pl_emu_uuid(char out[S_ID_LEN]);
void pl_emu_trace_id(char *out, size_t len);
/* standard base64 decode (padding optional); -1 on invalid input */
int pl_emu_base64_decode(const char *in, size_t len, struct pl_buf *out);
int pl_emu_error_json(struct pl_buf *out, const char *type, const char *fmt, ...) PL_PRINTF(3, 4);
char **pl_emu_strv_dup(char *const *v);
void pl_emu_strv_free(char **v);
size_t pl_emu_strv_len(char *const *v);

/* pl_emulator_invoke, optionally forwarding a streamed response to stream_fd as it arrives;
 * *streamed_out (may be NULL) tells whether the response was already written there, and
 * *client_ok whether it was written completely */
int pl_emu_invoke_ex(struct pl_emulator *emu, const void *event, size_t len,
                     const struct pl_emulator_invoke_options *io, struct pl_emulator_result *res,
                     int stream_fd, bool stream_keep, bool *streamed_out, bool *client_ok);

/* process.c */
int pl_emu_spawn(char *const *argv, char *const *envp, const char *cwd, int stdout_fd,
                 pid_t *pid_out);
void pl_emu_kill_group(pid_t pid, int sig);
/* environment for a child: inherited (unless clean) + Lambda variables + extra; caller frees
 * with pl_emu_strv_free */
char **pl_emu_child_env(struct pl_emulator *emu, bool runtime);

/* server.c */
void *pl_emu_conn_main(void *arg);
void *pl_emu_acceptor_main(void *arg);

/* emulator.c (called with mu held unless said otherwise) */
void pl_emu_complete_locked(struct pl_emulator *emu, struct pl_emu_inv *inv,
                            enum pl_emulator_outcome outcome, const char *error_type,
                            struct pl_buf *body, const char *content_type, bool streamed);
void pl_emu_ledger_add_locked(struct pl_emulator *emu, const char *id, bool timed_out);
/* -1 unknown, 0 found answered, 1 found timed out */
int pl_emu_ledger_find_locked(struct pl_emulator *emu, const char *id);
bool pl_emu_exts_ready_locked(struct pl_emulator *emu);
int pl_emu_queue_event_locked(struct pl_emulator *emu, struct pl_emu_ext *ext, char *json,
                              size_t len, bool shutdown);
/* init failed with a body posted by the runtime or an extension (JSON, used as is) */
void pl_emu_fail_init_body_locked(struct pl_emulator *emu, const char *type, const char *body,
                                  size_t len);
void pl_emu_fail_init_locked(struct pl_emulator *emu, const char *type, const char *fmt, ...)
    PL_PRINTF(3, 4);
void pl_emu_timedwait(struct pl_emulator *emu, uint64_t ns); /* on emu->cond */
void pl_emu_timedwait_on(struct pl_emulator *emu, pthread_cond_t *cond, uint64_t ns);
/* wake every waiter of every kind (phase changes, failures, exits, shutdown) */
void pl_emu_notify_all_locked(struct pl_emulator *emu);

#endif
