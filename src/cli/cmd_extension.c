/* protectlambda extension: the guard as a Lambda external extension
 * (/opt/extensions/protectlambda runs `protectlambda extension`).
 *
 * Order matters: listen on the proxy port, register with the Extensions API (original
 * AWS_LAMBDA_RUNTIME_API), load rules and run the cold-start checks, start serving the
 * Runtime API proxy, then call event/next. Lambda starts the runtime as soon as every
 * extension has *registered* (rapid: AwaitExternalAgentsRegistered, then the runtime's exec),
 * so the runtime's first GET /next can come while the rules are still loading: the socket
 * already listens, the request waits in its backlog and is served once the guard is ready
 * (never refused, never passed uninspected). */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protectlambda/cli.h"
#include "protectlambda/guard.h"
#include "protectlambda/http.h"
#include "protectlambda/json.h"
#include "protectlambda/log.h"

#define S_EXT_PREFIX "/2020-01-01/extension/"
#define S_NAME "protectlambda"

struct s_ext {
    const char *upstream;
    struct pl_http_conn conn;
    struct pl_http_msg resp;
    struct pl_buf head, body;
    char id[256];
};

/* Signals from anyone but the parent (Lambda's init, or the emulator) are logged with the
 * sender and ignored: function code running in the sandbox must not be able to stop the guard
 * with kill(). Lambda ends extensions with SHUTDOWN then SIGKILL, which cannot be caught: the
 * runtime then loses its Runtime API and invocations fail (fail closed, docs/robustness.md).
 * The handler only uses async-signal-safe calls. */
static void s_sig_append(char **p, const char *s)
{
    while (*s)
        *(*p)++ = *s++;
}

static void s_on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    pid_t from = si ? si->si_pid : 0;
    if (from == getppid() || (si && si->si_code > 0)) {
        /* the parent, or the kernel: default action */
        signal(sig, SIG_DFL);
        raise(sig);
        errno = saved;
        return;
    }
    char line[256], *p = line, num[24];
    const char *name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT"
                     : sig == SIGHUP ? "SIGHUP" : sig == SIGQUIT ? "SIGQUIT"
                     : sig == SIGUSR1 ? "SIGUSR1" : sig == SIGUSR2 ? "SIGUSR2" : "signal";
    int n = 0;
    unsigned long v = from > 0 ? (unsigned long)from : 0;
    do
        num[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof(num));
    s_sig_append(&p, "{\"level\":\"warn\",\"component\":\"extension\",\"msg\":\"signal ");
    s_sig_append(&p, name);
    s_sig_append(&p, " from pid ");
    char *digits = p;
    while (n)
        *p++ = num[--n];
    s_sig_append(&p, " ignored: the guard stops only on SHUTDOWN\",\"signal\":\"");
    s_sig_append(&p, name);
    s_sig_append(&p, "\",\"sender_pid\":");
    for (char *d = digits; *d >= '0' && *d <= '9'; d++)
        *p++ = *d;
    s_sig_append(&p, "}\n");
    ssize_t w = write(STDERR_FILENO, line, (size_t)(p - line));
    (void)w;
    errno = saved;
}

static void s_guard_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = s_on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* one request to the Extensions API; the answer body in x->body */
static int s_ext_call(struct s_ext *x, const char *method, const char *path,
                      const struct pl_http_field *fields, size_t n, const char *body)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = x->conn.fd >= 0;
        if (x->conn.fd < 0) {
            int fd = pl_http_connect(x->upstream);
            if (fd < 0)
                return -1;
            pl_http_conn_clean_up(&x->conn);
            pl_http_conn_init(&x->conn, fd);
        }
        pl_buf_reset(&x->head);
        size_t blen = body ? strlen(body) : 0;
        int rc = pl_http_head_request(&x->head, method, path);
        rc |= pl_http_head_add(&x->head, "Host", x->upstream);
        for (size_t i = 0; i < n; i++)
            rc |= pl_http_head_add(&x->head, fields[i].name, fields[i].value);
        if (body)
            rc |= pl_http_head_add(&x->head, "Content-Type", "application/json");
        if (body || strcmp(method, "GET"))
            rc |= pl_http_head_addf(&x->head, "Content-Length", "%zu", blen);
        rc |= pl_http_head_end(&x->head);
        if (rc)
            return -1;
        pl_buf_reset(&x->body);
        if (pl_http_send(x->conn.fd, &x->head, body, blen) == 0 &&
            pl_http_conn_read_response(&x->conn, &x->resp, false) == 0 &&
            pl_http_conn_read_body(&x->conn, &x->resp, &x->body, 1024 * 1024) == 0) {
            if (!x->resp.keep_alive) {
                pl_http_conn_clean_up(&x->conn);
                pl_http_conn_init(&x->conn, -1);
            }
            return 0;
        }
        pl_http_conn_clean_up(&x->conn);
        pl_http_conn_init(&x->conn, -1);
        if (!reused)
            return -1;
    }
    return -1;
}

static void s_ext_error(struct s_ext *x, const char *what, const char *type, const char *msg)
{
    if (!x->id[0])
        return;
    struct pl_buf b = PL_BUF_INIT;
    pl_buf_append_str(&b, "{\"errorMessage\":");
    pl_buf_append_json_cstr(&b, msg);
    pl_buf_append_str(&b, ",\"errorType\":");
    pl_buf_append_json_cstr(&b, type);
    pl_buf_append_char(&b, '}');
    struct pl_http_field f[2] = {{"Lambda-Extension-Identifier", x->id},
                                 {"Lambda-Extension-Function-Error-Type", type}};
    s_ext_call(x, "POST", what, f, 2, b.data);
    pl_buf_clean_up(&b);
}

/* a playbook terminated the sandbox: report exit/error (own connection: the main thread is
 * blocked in event/next) and exit, so Lambda discards this execution environment */
struct s_term {
    const char *upstream;
    const char *id;
    struct pl_guard *g;
};

static void s_terminate(void *ctx)
{
    struct s_term *t = ctx;
    struct s_ext x = {.upstream = t->upstream};
    pl_http_conn_init(&x.conn, -1);
    pl_http_msg_init(&x.resp);
    snprintf(x.id, sizeof(x.id), "%s", t->id);
    s_ext_error(&x, S_EXT_PREFIX "exit/error", "Extension.SecurityTerminate",
                "a security playbook terminated this execution environment");
    pl_guard_shutdown(t->g, "terminated by a security playbook");
    fflush(NULL);
    _exit(1);
}

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: protectlambda extension\n\n"
            "Runs the guard as an AWS Lambda external extension (/opt/extensions/protectlambda):\n"
            "registers with the Extensions API at AWS_LAMBDA_RUNTIME_API (INVOKE, SHUTDOWN),\n"
            "loads the rules (default packs, the function's code_protect.txt / in_protect.txt /\n"
            "out_protect.txt, PROTECTLAMBDA_RULES; precompiled rules.db when present), scans the\n"
            "function code (LAMBDA_TASK_ROOT), serves the Runtime API proxy on 127.0.0.1:<port>\n"
            "for the runtime started through `protectlambda wrap`, and exits 0 on SHUTDOWN.\n\n"
            "settings: mode, fail, rules, rules_dir, rules_db, port, upstream, task_root,\n"
            "code_scan, deny_body, deny_as_error, max_body, stream_holdback, log_level\n"
            "(protectlambda config --help)\n"
            "exit: 0 after SHUTDOWN, 2 when it cannot register or listen\n");
}

static int s_extension_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return 0;
        }
        return pl_cli_usage_error("extension", "unknown argument '%s'", argv[i]);
    }
    int ret = 2;
    uint64_t t0 = pl_now_ns();
    s_guard_signals();
    struct pl_config cfg;
    bool cfg_failed = false;
    char cfg_err[512] = "";
    if (pl_config_load_standard(&cfg)) {
        snprintf(cfg_err, sizeof(cfg_err), "settings: %s", pl_last_error_msg());
        cfg_failed = true;
        if (pl_config_init(&cfg))
            return pl_cli_error("extension");
    }
    enum pl_log_level lvl;
    if (pl_log_level_parse(pl_config_str(&cfg, PL_CFG_LOG_LEVEL), &lvl) == 0)
        pl_log_set_level(lvl);

    const char *upstream = pl_config_str(&cfg, PL_CFG_UPSTREAM);
    if (!*upstream)
        upstream = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!upstream || !*upstream) {
        pl_config_clean_up(&cfg);
        return pl_cli_usage_error("extension", "AWS_LAMBDA_RUNTIME_API is not set (not running "
                                               "in Lambda or the emulator?)");
    }
    /* 0. the proxy's socket, before the runtime can exist */
    long long port = pl_config_int(&cfg, PL_CFG_PORT);
    uint16_t bound = 0;
    char listen_err[512] = "";
    int lfd = pl_http_listen_loopback((uint16_t)port, &bound);
    if (lfd < 0)
        snprintf(listen_err, sizeof(listen_err),
                 "cannot listen for the Runtime API proxy on 127.0.0.1:%lld: %s", port,
                 pl_last_error_msg());
    struct s_ext x = {.upstream = upstream};
    pl_http_conn_init(&x.conn, -1);
    pl_http_msg_init(&x.resp);
    struct pl_guard *g = NULL;

    /* 1. register, for SHUTDOWN only: the guard sees every invocation through its proxy, so
     * INVOKE events would only wake this thread on every invocation, at the very moment the
     * proxy forwards the event (and, in Lambda, make the invocation wait for our next call) */
    struct pl_http_field rf[1] = {{"Lambda-Extension-Name", S_NAME}};
    if (s_ext_call(&x, "POST", S_EXT_PREFIX "register", rf, 1,
                   "{\"events\":[\"SHUTDOWN\"]}")) {
        pl_log(PL_LOG_ERROR, "extension", "cannot register with the Extensions API at %s: %s",
               upstream, pl_last_error_msg());
        goto out;
    }
    const char *id = pl_http_msg_header(&x.resp, "Lambda-Extension-Identifier");
    if (x.resp.status != 200 || !id) {
        pl_log(PL_LOG_ERROR, "extension", "register answered %d%s", x.resp.status,
               id ? "" : " without Lambda-Extension-Identifier");
        goto out;
    }
    snprintf(x.id, sizeof(x.id), "%s", id);
    /* the runtime starts now, pinned (colocate): the guard's own work beside it, not on it */
    pl_guard_keep_off_runtime_cpu(&cfg);
    if (lfd < 0) {
        /* registered only to say why: Lambda fails the init, the function never runs bare */
        pl_log(PL_LOG_ERROR, "extension", "%s", listen_err);
        s_ext_error(&x, S_EXT_PREFIX "init/error", "Extension.ProxyListen", listen_err);
        goto out;
    }

    /* 2. rules and cold-start checks (failures deny, they do not stop the guard) */
    if (pl_guard_new(&cfg, &g)) {
        s_ext_error(&x, S_EXT_PREFIX "init/error", "Extension.GuardInit", pl_last_error_msg());
        goto out;
    }
    if (cfg_failed) {
        pl_log(PL_LOG_ERROR, "extension", "%s", cfg_err);
        pl_guard_deny_all(g, cfg_err);
    }
    pl_guard_incidents_begin(g);
    pl_guard_load_rules(g);
    pl_guard_cold_start(g);
    static struct s_term term;
    term = (struct s_term){.upstream = upstream, .id = x.id, .g = g};
    pl_guard_on_terminate(g, s_terminate, &term);

    /* 3. the proxy: start accepting (the runtime may be waiting in the backlog already) */
    int serve = pl_guard_serve_fd(g, upstream, lfd);
    lfd = -1; /* the guard's now, closed by it even on failure */
    if (serve) {
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot serve the Runtime API proxy on 127.0.0.1:%u: %s",
                 (unsigned)bound, pl_last_error_msg());
        pl_log(PL_LOG_ERROR, "extension", "%s", msg);
        s_ext_error(&x, S_EXT_PREFIX "init/error", "Extension.ProxyListen", msg);
        goto out;
    }
    pl_log(PL_LOG_DEBUG, "extension", "ready in %llu us: proxy 127.0.0.1:%d -> %s",
           (unsigned long long)((pl_now_ns() - t0) / 1000), pl_guard_port(g), upstream);

    /* 4. events: SHUTDOWN (an INVOKE from an API that sends it anyway is skipped) */
    struct pl_http_field nf[1] = {{"Lambda-Extension-Identifier", x.id}};
    for (;;) {
        if (s_ext_call(&x, "GET", S_EXT_PREFIX "event/next", nf, 1, NULL)) {
            pl_log(PL_LOG_ERROR, "extension", "event/next failed: %s", pl_last_error_msg());
            pl_guard_shutdown(g, "Extensions API gone");
            ret = 1;
            goto out;
        }
        if (x.resp.status != 200) {
            pl_log(PL_LOG_ERROR, "extension", "event/next answered %d", x.resp.status);
            pl_guard_shutdown(g, "event/next error");
            ret = 1;
            goto out;
        }
        struct pl_json *ev = NULL;
        const char *type = NULL;
        if (pl_json_parse(x.body.data ? x.body.data : "", x.body.len, NULL, &ev) == 0)
            type = pl_json_get_str(ev, "eventType");
        bool shutdown = type && !strcmp(type, "SHUTDOWN");
        char reason[64] = "shutdown";
        if (shutdown) {
            const char *r = pl_json_get_str(ev, "shutdownReason");
            if (r)
                snprintf(reason, sizeof(reason), "%s", r);
        }
        pl_json_destroy(ev);
        if (shutdown) {
            pl_guard_shutdown(g, reason);
            ret = 0;
            goto out;
        }
        if (pl_guard_terminate_requested(g)) {
            s_ext_error(&x, S_EXT_PREFIX "exit/error", "Extension.SecurityTerminate",
                        "a security playbook terminated this execution environment");
            pl_guard_shutdown(g, "terminated by a security playbook");
            ret = 1;
            goto out;
        }
    }
out:
    if (lfd >= 0)
        close(lfd);
    /* the proxy threads may be blocked on the runtime: exit without joining them */
    pl_http_conn_clean_up(&x.conn);
    pl_http_msg_clean_up(&x.resp);
    pl_buf_clean_up(&x.head);
    pl_buf_clean_up(&x.body);
    fflush(NULL);
    _exit(ret);
}

PL_CLI_COMMAND(extension, "extension",
               "run the guard as a Lambda extension: register, cold-start checks, Runtime API proxy",
               s_extension_main)
