/* Shared option handling of `invoke` and `emulate` (see cli_emulator.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_emulator.h"
#include "protectlambda/cli.h"
#include "protectlambda/event.h"
#include "protectlambda/harden.h"
#include "protectlambda/http.h"
#include "protectlambda/log.h"

/* Locally the emulator is the runtime's parent, so it sees what Lambda alone sees in the
 * cloud: a runtime killed by a signal (rlimit SIGXCPU/SIGXFSZ, ...). Log it as the security
 * event the harden part makes of it. */
static void s_on_child_exit(void *ctx, const struct pl_emulator_child_exit *x)
{
    struct pl_event ev;
    if (!x->runtime || !pl_harden_event_from_status(x->status, x->pid, &ev))
        return;
    PL_EVENT_SET(&ev, request_id, x->request_id);
    struct pl_buf f = PL_BUF_INIT;
    if (pl_buf_append_str(&f, "\"type\":") == 0 &&
        pl_buf_append_json_cstr(&f, pl_event_type_name(ev.type)) == 0 &&
        pl_buf_append_str(&f, ",\"severity\":") == 0 &&
        pl_buf_append_json_cstr(&f, pl_severity_name(ev.severity)) == 0 &&
        pl_buf_append_str(&f, ",\"source\":") == 0 && pl_buf_append_json_cstr(&f, ev.source) == 0 &&
        pl_buf_append_str(&f, ",\"rule\":") == 0 && pl_buf_append_json_cstr(&f, ev.rule) == 0 &&
        pl_buf_append_str(&f, ",\"path\":") == 0 && pl_buf_append_json_cstr(&f, ev.path) == 0 &&
        pl_buf_appendf(&f, ",\"pid\":%d,\"request_id\":", x->pid) == 0 &&
        pl_buf_append_json_cstr(&f, ev.request_id) == 0)
        pl_log_fields(PL_LOG_WARN, "emulator", f.data, "%s", ev.detail);
    pl_buf_clean_up(&f);
}

static int s_need_value(struct pl_cli_emu *c, int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) {
        pl_cli_usage_error(c->cmd, "%s needs a value", argv[*i]);
        return 2;
    }
    *out = argv[++*i];
    return 1;
}

static int s_int_value(struct pl_cli_emu *c, const char *opt, const char *v, int lo, int hi,
                       int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi) {
        pl_cli_usage_error(c->cmd, "%s must be a number from %d to %d", opt, lo, hi);
        return 2;
    }
    *out = (int)n;
    return 1;
}

static int s_push(struct pl_cli_emu *c, const char **list, size_t *n, const char *v,
                  const char *opt)
{
    if (*n >= PL_CLI_EMU_MAX_LIST) {
        pl_cli_usage_error(c->cmd, "too many %s options", opt);
        return 2;
    }
    list[(*n)++] = v;
    return 1;
}

int pl_cli_emu_option(struct pl_cli_emu *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = NULL;
    int r;
#define S_VAL()                                                                                    \
    do {                                                                                           \
        if ((r = s_need_value(c, argc, argv, i, &v)) != 1)                                         \
            return r;                                                                              \
    } while (0)
    if (!strcmp(a, "--function")) {
        S_VAL();
        c->function_dir = v;
    } else if (!strcmp(a, "--handler")) {
        S_VAL();
        c->handler = v;
    } else if (!strcmp(a, "--runtime")) {
        S_VAL();
        c->runtime = v;
    } else if (!strcmp(a, "--unprotected")) {
        c->unprotected = true;
    } else if (!strcmp(a, "--verbose")) {
        c->verbose = true;
    } else if (!strcmp(a, "--env")) {
        S_VAL();
        if (!strchr(v, '=') || *v == '=') {
            pl_cli_usage_error(c->cmd, "--env needs NAME=VALUE");
            return 2;
        }
        return s_push(c, c->env, &c->n_env, v, "--env");
    } else if (!strcmp(a, "--extension")) {
        S_VAL();
        return s_push(c, c->ext_cmds, &c->n_ext_cmds, v, "--extension");
    } else if (!strcmp(a, "--extensions-dir")) {
        S_VAL();
        c->extensions_dir = v;
    } else if (!strcmp(a, "--layer")) {
        S_VAL();
        c->layer_dir = v;
    } else if (!strcmp(a, "--timeout")) {
        S_VAL();
        return s_int_value(c, a, v, 1, 900, &c->timeout_s);
    } else if (!strcmp(a, "--memory")) {
        S_VAL();
        return s_int_value(c, a, v, 128, 10240, &c->memory_mb);
    } else if (!strcmp(a, "--name")) {
        S_VAL();
        c->function_name = v;
    } else {
        return 0;
    }
#undef S_VAL
    return 1;
}

/* split a command line on blanks; '...' and "..." group, backslash escapes in "" and bare */
static char **s_split(const char *s)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct pl_buf w = PL_BUF_INIT;
    bool in_word = false;
    for (const char *p = s;; p++) {
        char ch = *p;
        if (ch == '\0' || ch == ' ' || ch == '\t' || ch == '\n') {
            if (in_word) {
                if (pl_array_reserve((void **)&v, &cap, n + 2, sizeof(char *)))
                    goto fail;
                v[n++] = pl_buf_steal(&w, NULL);
                v[n] = NULL;
                in_word = false;
            }
            if (ch == '\0')
                break;
            continue;
        }
        in_word = true;
        if (ch == '\'' || ch == '"') {
            char q = ch;
            for (p++; *p && *p != q; p++) {
                if (q == '"' && *p == '\\' && p[1])
                    p++;
                if (pl_buf_append_char(&w, *p))
                    goto fail;
            }
            if (!*p) {
                pl_raise(PL_ERR_INVALID_ARG, "unterminated quote in '%s'", s);
                goto fail;
            }
            if (!w.data && pl_buf_reserve(&w, 0))
                goto fail;
            continue;
        }
        if (ch == '\\' && p[1])
            ch = *++p;
        if (pl_buf_append_char(&w, ch))
            goto fail;
    }
    if (!n) {
        pl_raise(PL_ERR_INVALID_ARG, "empty runtime command");
        goto fail;
    }
    return v;
fail:
    pl_buf_clean_up(&w);
    for (size_t i = 0; i < n; i++)
        pl_free(v[i]);
    pl_free(v);
    return NULL;
}

static bool s_is_file(const char *path, bool exec)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (!exec || access(path, X_OK) == 0);
}

static char *s_join(const char *a, const char *b)
{
    struct pl_buf p = PL_BUF_INIT;
    if (pl_buf_appendf(&p, "%s/%s", a, b)) {
        pl_buf_clean_up(&p);
        return NULL;
    }
    return pl_buf_steal(&p, NULL);
}

/* the repo root this binary was built from: dirname of the compiled-in rules dir */
static void s_source_root(char *out, size_t len)
{
    snprintf(out, len, "%s", PL_SOURCE_RULES_DIR);
    char *slash = strrchr(out, '/');
    if (slash && slash != out)
        *slash = '\0';
}

/* find a shipped file: $PROTECTLAMBDA_RUNTIMES_DIR, <exe>/../share/protectlambda/runtimes,
 * <source>/examples/runtimes */
static char *s_find_runtime_file(const char *self, const char *rel)
{
    char dir[PATH_MAX];
    const char *env = getenv("PROTECTLAMBDA_RUNTIMES_DIR");
    if (env && *env) {
        char *p = s_join(env, rel);
        if (p && s_is_file(p, false))
            return p;
        pl_free(p);
    }
    if (self) {
        snprintf(dir, sizeof(dir), "%s", self);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            char share[PATH_MAX + 64];
            snprintf(share, sizeof(share), "%s/../share/protectlambda/runtimes", dir);
            char *p = s_join(share, rel);
            if (p && s_is_file(p, false))
                return p;
            pl_free(p);
        }
    }
    s_source_root(dir, sizeof(dir));
    char ex[PATH_MAX + 32];
    snprintf(ex, sizeof(ex), "%s/examples/runtimes", dir);
    char *p = s_join(ex, rel);
    if (p && s_is_file(p, false))
        return p;
    pl_free(p);
    return NULL;
}

static char *s_find_ric(void)
{
    const char *env = getenv("PROTECTLAMBDA_NODE_RIC");
    if (env && s_is_file(env, false))
        return pl_strdup(env);
    char root[PATH_MAX];
    s_source_root(root, sizeof(root));
    char *p = s_join(root, "tests/node_modules/aws-lambda-ric/bin/index.mjs");
    if (p && s_is_file(p, false))
        return p;
    pl_free(p);
    return NULL;
}

static char **s_argv3(const char *a, const char *b, const char *c)
{
    char **v = pl_calloc(4, sizeof(char *));
    if (!v)
        return NULL;
    const char *in[3] = {a, b, c};
    for (int i = 0; i < 3 && in[i]; i++)
        if (!(v[i] = pl_strdup(in[i]))) {
            for (int k = 0; k < i; k++)
                pl_free(v[k]);
            pl_free(v);
            return NULL;
        }
    return v;
}

/* default runtime by function content */
static char **s_detect_runtime(struct pl_cli_emu *c)
{
    char *boot = s_join(c->function_dir, "bootstrap");
    if (boot && s_is_file(boot, true)) {
        char **v = s_argv3(boot, NULL, NULL);
        pl_free(boot);
        return v;
    }
    pl_free(boot);
    char module[PATH_MAX];
    snprintf(module, sizeof(module), "%s", c->handler);
    char *dot = strrchr(module, '.');
    if (dot)
        *dot = '\0';
    static const char *const node_ext[] = {".js", ".mjs", ".cjs"};
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s.py", c->function_dir, module);
    if (s_is_file(path, false)) {
        char *rt = s_find_runtime_file(c->self, "python/bootstrap.py");
        if (!rt) {
            pl_raise(PL_ERR_NOT_FOUND, "the Python runtime loop (runtimes/python/bootstrap.py) "
                                       "was not found; give --runtime");
            return NULL;
        }
        char **v = s_argv3("python3", rt, NULL);
        pl_free(rt);
        return v;
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(node_ext); i++) {
        snprintf(path, sizeof(path), "%s/%s%s", c->function_dir, module, node_ext[i]);
        if (!s_is_file(path, false))
            continue;
        char *ric = s_find_ric();
        if (!ric) {
            pl_raise(PL_ERR_NOT_FOUND, "aws-lambda-ric was not found (tests/node_modules, or "
                                       "PROTECTLAMBDA_NODE_RIC); give --runtime");
            return NULL;
        }
        char **v = s_argv3("node", ric, c->handler);
        pl_free(ric);
        return v;
    }
    snprintf(path, sizeof(path), "%s/%s.sh", c->function_dir, module);
    if (s_is_file(path, false)) {
        char *rt = s_find_runtime_file(c->self, "shell/bootstrap");
        if (!rt) {
            pl_raise(PL_ERR_NOT_FOUND, "the shell runtime (runtimes/shell/bootstrap) was not "
                                       "found; give --runtime");
            return NULL;
        }
        char **v = s_argv3("/bin/sh", rt, NULL);
        pl_free(rt);
        return v;
    }
    pl_raise(PL_ERR_NOT_FOUND,
             "cannot tell the runtime of %s (no bootstrap, no %s.py/.js/.mjs/.sh); "
             "give --runtime",
             c->function_dir, module);
    return NULL;
}

static bool s_env_has(struct pl_cli_emu *c, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < c->n_env; i++)
        if (!strncmp(c->env[i], name, nl) && c->env[i][nl] == '=')
            return true;
    return getenv(name) != NULL;
}

/* NAME=value into extra_env[*k] unless NAME is set already (--env or the environment) */
static int s_env_default(struct pl_cli_emu *c, size_t *k, const char *name, const char *value)
{
    if (s_env_has(c, name))
        return 0;
    struct pl_buf kv = PL_BUF_INIT;
    if (pl_buf_appendf(&kv, "%s=%s", name, value)) {
        pl_buf_clean_up(&kv);
        return -1;
    }
    c->extra_env[(*k)++] = pl_buf_steal(&kv, NULL);
    return 0;
}

/* --layer DIR: check it is a layer tree (usage errors name what is missing) and keep the
 * absolute paths the emulator starts. 0 ok, 2 printed. */
static int s_layer_check(struct pl_cli_emu *c)
{
    if (c->unprotected)
        return pl_cli_usage_error(c->cmd, "--layer runs the layer's guard: it cannot go with "
                                          "--unprotected");
    if (c->extensions_dir)
        return pl_cli_usage_error(c->cmd, "--layer starts DIR/extensions: it cannot go with "
                                          "--extensions-dir (--extension CMD adds one)");
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(c->layer_dir, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
        return pl_cli_usage_error(c->cmd, "--layer %s is not a directory", c->layer_dir);
    if (!(c->layer = pl_strdup(real)) || !(c->layer_extensions = s_join(real, "extensions")) ||
        !(c->layer_wrapper = s_join(real, "protectlambda/wrapper")))
        return pl_cli_error(c->cmd);
    if (stat(c->layer_extensions, &st) < 0 || !S_ISDIR(st.st_mode))
        return pl_cli_usage_error(c->cmd,
                                  "--layer %s: %s is missing (not a built layer tree: give "
                                  "build/layer or an unzipped layer zip)",
                                  c->layer_dir, c->layer_extensions);
    if (!s_is_file(c->layer_wrapper, true))
        return pl_cli_usage_error(c->cmd, "--layer %s: %s is missing or not executable",
                                  c->layer_dir, c->layer_wrapper);
    return 0;
}

/* The guard's settings that default to /opt paths, pointed into the layer tree (unless set):
 * where layers are mounted (the tree stands for /opt: a rules layer's *_protect.txt beside
 * protectlambda/), its rule packs, their precompiled database, its own manifest, and the
 * monitor library the wrap role preloads. 0 ok, -1 out of memory. */
static int s_layer_env(struct pl_cli_emu *c, size_t *k)
{
    static const struct {
        const char *env, *rel;
        bool if_present;
    } paths[] = {
        {"PROTECTLAMBDA_RULES_DIR", "protectlambda/rules", false},
        {"PROTECTLAMBDA_RULES_DB", "protectlambda/rules.db", false},
        /* found beside bin/protectlambda-wrap anyway (../lib): set so that only the layer's
         * is used, never the build tree's the binary also knows */
        {"PROTECTLAMBDA_MONITOR_LIB", "protectlambda/lib/libprotectlambda_monitor.so", true},
    };
    int rc = -1;
    char *manifest = s_join(c->layer, "protectlambda/layer.manifest");
    char *pl_dir = s_join(c->layer, "protectlambda");
    if (!manifest || !pl_dir || s_env_default(c, k, "PROTECTLAMBDA_LAYERS_ROOT", c->layer))
        goto out;
    for (size_t i = 0; i < PL_ARRAY_LEN(paths); i++) {
        char *p = s_join(c->layer, paths[i].rel);
        bool skip = p && paths[i].if_present && !s_is_file(p, false);
        int r = !p || (!skip && s_env_default(c, k, paths[i].env, p));
        pl_free(p);
        if (r)
            goto out;
    }
    /* a manifest set explicitly is required: the guard then denies everything when it is
     * gone or does not match, as it should for the layer under test. Without one in the
     * tree, nothing is verified (not some /opt/protectlambda of this machine either). */
    bool has_manifest = s_is_file(manifest, false);
    if (!has_manifest && !s_env_has(c, "PROTECTLAMBDA_INTEGRITY_LAYER_MANIFEST"))
        pl_log(PL_LOG_WARN, c->cmd,
               "the layer %s has no protectlambda/layer.manifest: the guard will not verify it",
               c->layer);
    if (s_env_default(c, k, "PROTECTLAMBDA_INTEGRITY_LAYER_MANIFEST",
                      has_manifest ? manifest : "") ||
        (has_manifest && s_env_default(c, k, "PROTECTLAMBDA_INTEGRITY_LAYER_DIR", pl_dir)))
        goto out;
    rc = 0;
out:
    pl_free(manifest);
    pl_free(pl_dir);
    return rc;
}

static int s_free_port(void)
{
    uint16_t port = 0;
    int fd = pl_http_listen_loopback(0, &port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

int pl_cli_emu_prepare(struct pl_cli_emu *c)
{
    if (!c->function_dir)
        return pl_cli_usage_error(c->cmd, "--function DIR is required");
    if (!c->handler)
        return pl_cli_usage_error(c->cmd, "--handler H is required");
    struct stat st;
    if (stat(c->function_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return pl_cli_usage_error(c->cmd, "--function %s is not a directory", c->function_dir);
    if (c->layer_dir && s_layer_check(c))
        return 2;
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl > 0) {
        self[sl] = '\0';
        c->self = pl_strdup(self);
    }
    if (c->runtime) {
        c->runtime_argv = s_split(c->runtime);
        /* the runtime starts in the function directory: a relative command path given here
         * means this directory (arguments are passed as they are) */
        char *cmd0 = c->runtime_argv ? c->runtime_argv[0] : NULL;
        char abs[PATH_MAX];
        if (cmd0 && cmd0[0] != '/' && strchr(cmd0, '/') && realpath(cmd0, abs)) {
            char *dup = pl_strdup(abs);
            if (dup) {
                pl_free(cmd0);
                c->runtime_argv[0] = dup;
            }
        }
    } else {
        c->runtime_argv = s_detect_runtime(c);
    }
    if (!c->runtime_argv)
        return pl_cli_error(c->cmd);

    /* environment: --env, then what protected mode needs */
    size_t n_env = c->n_env + 10; /* what protected mode adds (--layer: the most, 8) */
    c->extra_env = pl_calloc(n_env + 1, sizeof(char *));
    if (!c->extra_env)
        return pl_cli_error(c->cmd);
    size_t k = 0;
    for (size_t i = 0; i < c->n_env; i++)
        if (!(c->extra_env[k++] = pl_strdup(c->env[i])))
            return pl_cli_error(c->cmd);
    size_t n_ext = c->n_ext_cmds + (c->unprotected || c->layer ? 0 : 1);
    c->ext_argvs = pl_calloc(n_ext + 1, sizeof(char **));
    if (!c->ext_argvs)
        return pl_cli_error(c->cmd);
    size_t e = 0;
    if (!c->unprotected) {
        if (!c->self && !c->layer)
            return pl_cli_usage_error(c->cmd, "cannot find my own executable for protected mode");
        if (!s_env_has(c, "PROTECTLAMBDA_PORT")) {
            int port = s_free_port();
            if (port < 0)
                return pl_cli_error(c->cmd);
            char kv[64];
            snprintf(kv, sizeof(kv), "PROTECTLAMBDA_PORT=%d", port);
            if (!(c->extra_env[k++] = pl_strdup(kv)))
                return pl_cli_error(c->cmd);
        }
        /* outside Lambda the default packs are the repo's, unless told otherwise; with
         * --layer, the layer's */
        if (c->layer) {
            if (s_layer_env(c, &k))
                return pl_cli_error(c->cmd);
        } else if (!s_env_has(c, "PROTECTLAMBDA_RULES_DIR") &&
                   !s_is_file("/opt/protectlambda/rules", false)) {
            struct stat rs;
            if (stat("/opt/protectlambda/rules", &rs) < 0 && stat(PL_SOURCE_RULES_DIR, &rs) == 0) {
                char kv[PATH_MAX + 32];
                snprintf(kv, sizeof(kv), "PROTECTLAMBDA_RULES_DIR=%s", PL_SOURCE_RULES_DIR);
                if (!(c->extra_env[k++] = pl_strdup(kv)))
                    return pl_cli_error(c->cmd);
            }
        }
        /* The emulator sets AWS_LAMBDA_FUNCTION_NAME, which would make the guard use Lambda's
         * /tmp store shared by every local run on the machine. Locally, incidents go where
         * `protectlambda report` and `quarantine` look by default: ./.protectlambda/. */
        if (!s_env_has(c, "PROTECTLAMBDA_STORE_PATH") && !s_env_has(c, "PROTECTLAMBDA_CONFIG")) {
            char cwd[PATH_MAX];
            if (getcwd(cwd, sizeof(cwd))) {
                char kv[PATH_MAX + 64];
                snprintf(kv, sizeof(kv), "PROTECTLAMBDA_STORE_PATH=%s/.protectlambda/incidents.db",
                         cwd);
                if (!(c->extra_env[k++] = pl_strdup(kv)))
                    return pl_cli_error(c->cmd);
            }
        }
        /* --layer: the layer's extensions and wrapper start instead (options below) */
        if (!c->layer && !(c->ext_argvs[e++] = s_argv3(c->self, "extension", NULL)))
            return pl_cli_error(c->cmd);
        if (!c->layer && !(c->wrapper_argv = s_argv3(c->self, "wrap", "--")))
            return pl_cli_error(c->cmd);
    }
    for (size_t i = 0; i < c->n_ext_cmds; i++)
        if (!(c->ext_argvs[e++] = s_split(c->ext_cmds[i])))
            return pl_cli_error(c->cmd);

    struct pl_emulator_options *o = &c->opts;
    memset(o, 0, sizeof(*o));
    o->function_dir = c->function_dir;
    o->handler = c->handler;
    o->runtime_argv = c->runtime_argv;
    o->wrapper_argv = c->wrapper_argv;
    /* protected mode runs the runtime through `wrap` itself (or the layer's wrapper); a
     * user-set AWS_LAMBDA_EXEC_WRAPPER would wrap it twice, so it only applies unprotected */
    o->exec_wrapper = c->layer ? c->layer_wrapper : c->unprotected ? NULL : "";
    o->extensions_dir = c->layer ? c->layer_extensions : c->extensions_dir;
    o->extensions = (char *const *const *)c->ext_argvs;
    o->extra_env = c->extra_env;
    o->timeout_s = c->timeout_s;
    o->memory_mb = c->memory_mb;
    o->function_name = c->function_name;
    o->child_stdout_fd = 2;
    o->log_invocations = c->verbose;
    o->on_child_exit = s_on_child_exit;
    return 0;
}

void pl_cli_emu_clean_up(struct pl_cli_emu *c)
{
    for (size_t i = 0; c->runtime_argv && c->runtime_argv[i]; i++)
        pl_free(c->runtime_argv[i]);
    pl_free(c->runtime_argv);
    for (size_t i = 0; c->extra_env && c->extra_env[i]; i++)
        pl_free(c->extra_env[i]);
    pl_free(c->extra_env);
    for (size_t i = 0; c->wrapper_argv && c->wrapper_argv[i]; i++)
        pl_free(c->wrapper_argv[i]);
    pl_free(c->wrapper_argv);
    for (size_t e = 0; c->ext_argvs && c->ext_argvs[e]; e++) {
        for (size_t i = 0; c->ext_argvs[e][i]; i++)
            pl_free(c->ext_argvs[e][i]);
        pl_free(c->ext_argvs[e]);
    }
    pl_free(c->ext_argvs);
    pl_free(c->self);
    pl_free(c->layer);
    pl_free(c->layer_extensions);
    pl_free(c->layer_wrapper);
}
