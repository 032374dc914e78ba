/* protectlambda emulator: a local Lambda execution environment (library pl_emulator).
 *
 * Serves on 127.0.0.1:
 *  - the Runtime API   (/2018-06-01/runtime/invocation/next, .../{id}/response (buffered and
 *    streamed with error trailers), .../{id}/error, /2018-06-01/runtime/init/error),
 *  - the Extensions API (/2020-01-01/extension/register, event/next with INVOKE and SHUTDOWN,
 *    init/error, exit/error),
 *  - the RIE invoke URL (POST /2015-03-31/functions/function/invocations).
 * and runs the function like Lambda does: external extensions first (each must register and
 * call event/next), then the runtime (through AWS_LAMBDA_EXEC_WRAPPER when set), one invocation
 * at a time, INVOKE events to extensions, SHUTDOWN (spindown) at the end, then SIGTERM/SIGKILL.
 * Every child runs in its own process group, is reaped, and dies with the emulator.
 *
 * Every request id is recorded in a ledger: a second answer to the same id, an answer to an
 * unknown id and an invocation the runtime never answered are counted (pl_emulator_stats), so
 * tests can assert "every request id answered exactly once". */
#ifndef PROTECTLAMBDA_EMULATOR_H
#define PROTECTLAMBDA_EMULATOR_H

#include <stdint.h>

#include "protectlambda/buf.h"

struct pl_emulator;

/* a child that ended by itself (not killed by the emulator: timeout, init failure, shutdown) */
struct pl_emulator_child_exit {
    int pid;
    int status;             /* waitpid status */
    bool runtime;           /* the runtime (else an extension) */
    const char *name;       /* executable basename */
    const char *request_id; /* invocation it was serving, "" if none */
};
typedef void (*pl_emulator_exit_fn)(void *ctx, const struct pl_emulator_child_exit *x);

struct pl_emulator_options {
    const char *function_dir;  /* LAMBDA_TASK_ROOT and the runtime's cwd (required) */
    const char *handler;       /* _HANDLER (required) */
    char *const *runtime_argv; /* runtime command, NULL-terminated (required) */
    /* AWS_LAMBDA_EXEC_WRAPPER: a path; the runtime is started as [wrapper, runtime_argv...] and
     * the variable is set in its environment. NULL: taken from extra_env, then from the
     * emulator's environment. "" disables. */
    const char *exec_wrapper;
    /* alternative wrapper given as an argv prefix, e.g. {"/usr/bin/protectlambda","wrap","--"}:
     * the runtime is started as [prefix..., runtime_argv...]; no variable is set */
    char *const *wrapper_argv;
    const char *extensions_dir;     /* executables in it are external extensions (may be NULL) */
    char *const *const *extensions; /* more extensions: NULL-terminated list of argv arrays */
    char *const *extra_env;         /* "NAME=value" for every child (overrides), NULL-terminated */
    bool clean_env;                 /* children do not inherit the emulator's environment */
    uint16_t port;                  /* Runtime API port, 0 = any free port */
    const char *function_name;      /* default "function" */
    const char *region;             /* default us-east-1 (or AWS_REGION) */
    int memory_mb;                  /* default 3008 */
    int timeout_s;                  /* invocation timeout, default 300 */
    int init_timeout_s;             /* extensions + runtime init, default 10 */
    int shutdown_ms;                /* SHUTDOWN budget, default 2000 */
    size_t max_payload;             /* request / buffered response cap, default 6 MB */
    size_t max_stream;              /* streamed response cap, default 20 MB */
    int child_stdout_fd;            /* children's stdout goes here; default 2 (stderr) so the
                                       CLI's stdout carries only responses; -1 = inherit */
    bool log_invocations;           /* log one line per invoke-URL invocation */
    /* called on the supervisor thread, no lock held (e.g. to report a runtime killed by an
     * rlimit signal as a security event) */
    pl_emulator_exit_fn on_child_exit;
    void *on_child_exit_ctx;
};

enum pl_emulator_outcome {
    PL_EMU_RESPONSE,       /* the runtime posted a response */
    PL_EMU_FUNCTION_ERROR, /* the runtime posted an error (or a streamed response with error
                              trailers) */
    PL_EMU_TIMEOUT,        /* no answer before the deadline (the runtime is restarted) */
    PL_EMU_RUNTIME_EXIT,   /* the runtime exited during the invocation (it is restarted) */
    PL_EMU_INIT_ERROR,     /* init failed: init/error, extension failure, runtime exit, timeout */
    PL_EMU_STOPPED,        /* the emulator was stopped before an answer */
};

struct pl_emulator_result {
    enum pl_emulator_outcome outcome;
    char request_id[40];
    struct pl_buf body;     /* response body; for errors the error JSON */
    char content_type[128]; /* of the response (runtime's Content-Type) */
    char error_type[128];   /* Lambda-Runtime-Function-Error-Type or the emulator's
                               (Sandbox.Timedout, Runtime.ExitError, ...) */
    bool streamed;
    uint64_t duration_ns; /* delivery to the runtime -> answer */
};

void pl_emulator_result_init(struct pl_emulator_result *r);
void pl_emulator_result_clean_up(struct pl_emulator_result *r);
const char *pl_emulator_outcome_name(enum pl_emulator_outcome o);

struct pl_emulator_invoke_options {
    const char *client_context;   /* JSON for Lambda-Runtime-Client-Context (may be NULL) */
    const char *cognito_identity; /* JSON for Lambda-Runtime-Cognito-Identity (may be NULL) */
    const char *trace_id;         /* X-Ray header value; generated when NULL */
};

struct pl_emulator_stats {
    uint64_t invocations;     /* accepted by pl_emulator_invoke / the invoke URL */
    uint64_t delivered;       /* handed to the runtime by invocation/next */
    uint64_t responses;       /* answered by .../response */
    uint64_t function_errors; /* answered by .../error (or error trailers) */
    uint64_t timeouts;
    uint64_t runtime_exits; /* runtime died during an invocation */
    uint64_t init_errors;
    uint64_t double_answers;  /* a second answer to an already answered id (an error) */
    uint64_t unknown_answers; /* answer to an id never delivered (an error) */
    uint64_t late_answers;    /* answer to an id that had timed out */
    uint64_t unanswered;      /* runtime asked for next without answering the current one */
    uint64_t too_large;       /* payloads refused with 413 */
    uint64_t runtime_starts;
    uint64_t extensions_registered;
    uint64_t extension_invoke_events;
    uint64_t extension_shutdown_events;
    uint64_t http_errors; /* malformed requests on the APIs */
    /* cold start of the first init (0 until known): extensions spawned -> every one
     * registered (the runtime starts then, as in Lambda); extensions spawned -> every one in
     * event/next (their own init done); runtime spawned -> its first invocation/next */
    uint64_t extensions_init_us;
    uint64_t extensions_ready_us;
    uint64_t runtime_init_us;
};

/* Listen on 127.0.0.1 (no child started yet). Options are copied. */
int pl_emulator_new(const struct pl_emulator_options *opts, struct pl_emulator **out);
/* "127.0.0.1:<port>" of the Runtime/Extensions API (also serves the invoke URL) */
const char *pl_emulator_address(const struct pl_emulator *emu);
uint16_t pl_emulator_port(const struct pl_emulator *emu);
/* Also serve the invoke URL on 127.0.0.1:port (0 = any); *bound receives the port. */
int pl_emulator_listen_invoke(struct pl_emulator *emu, uint16_t port, uint16_t *bound);
/* Start the init phase: extensions, then the runtime. Returns at once; init errors show up
 * as PL_EMU_INIT_ERROR outcomes. */
int pl_emulator_start(struct pl_emulator *emu);
/* Wait until init finished (runtime's first invocation/next): 0 ready, -1 failed/timeout
 * (message says why). */
int pl_emulator_wait_ready(struct pl_emulator *emu);
/* Run one invocation and wait for its outcome (0 with res filled; -1 internal error).
 * Thread-safe: concurrent callers are queued and served one at a time, like one sandbox. */
int pl_emulator_invoke(struct pl_emulator *emu, const void *event, size_t len,
                       const struct pl_emulator_invoke_options *io, struct pl_emulator_result *res);
/* SHUTDOWN (spindown) to extensions, wait up to shutdown_ms, then SIGTERM / SIGKILL every
 * child. Idempotent. */
int pl_emulator_shutdown(struct pl_emulator *emu);
void pl_emulator_get_stats(struct pl_emulator *emu, struct pl_emulator_stats *out);
/* stats as a JSON object */
int pl_emulator_stats_json(const struct pl_emulator_stats *s, struct pl_buf *out);
/* shutdown (if not done), stop serving, join threads, free */
void pl_emulator_destroy(struct pl_emulator *emu);

#endif
