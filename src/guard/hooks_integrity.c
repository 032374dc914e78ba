/* INTEGRATION POINT — owner: integrity/audit engineer.
 * Cold start: verify the function code and the layer against their manifests
 * (RUNTIME_INTEGRITY_VIOLATION, CRITICAL; deny all in block mode), audit the environment
 * (PLAINTEXT_SECRET events: name, kind, hash prefix), build the secret canaries, start the
 * tamper watch (RUNTIME_MODIFICATION events from its thread).
 * Every response, error and stream: the canaries (OUT_RULE_VIOLATION, rule PL-CANARY-<VAR>,
 * category SECRET_EXPOSURE). Nothing here logs or stores a secret value. */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "protectlambda/audit.h"
#include "protectlambda/aws.h"
#include "protectlambda/harden.h"
#include "protectlambda/integrity.h"
#include "protectlambda/log.h"
#include "protectlambda/rules.h"

#define S_COMPONENT "integrity"
#define S_MAX_DIFF_EVENTS 20

/* One guard per process (the extension). Set at cold start before the proxy serves, read-only
 * afterwards (proxy threads only read). A new cold start in the same process replaces them. */
static struct pl_canaries *s_canaries;
static struct pl_rule *s_canary_rules; /* one per variable, by the variable's index */
static size_t s_n_canary_rules;
static struct pl_tamper_watch *s_watch;

static void s_free_canaries(void)
{
    for (size_t i = 0; s_canary_rules && i < s_n_canary_rules; i++) {
        pl_free(s_canary_rules[i].id);
        pl_free(s_canary_rules[i].message);
    }
    pl_free(s_canary_rules);
    s_canary_rules = NULL;
    s_n_canary_rules = 0;
    pl_canaries_destroy(s_canaries);
    s_canaries = NULL;
}

static void s_event_detail(struct pl_guard *g, enum pl_event_type type, enum pl_severity sev,
                           const char *rule, const char *path, bool deny, const char *detail)
{
    struct pl_event ev;
    pl_event_init(&ev, type, sev, "integrity");
    PL_EVENT_SET(&ev, rule, rule);
    PL_EVENT_SET(&ev, path, path);
    PL_EVENT_SET(&ev, action, deny && !pl_guard_monitor_mode(g) ? "deny" : "log");
    PL_EVENT_SET(&ev, detail, detail);
    pl_guard_report_event(g, &ev, NULL);
}

/* an event whose detail is formatted like printf */
#define s_event(g, type, sev, rule, path, deny, ...)                                               \
    do {                                                                                           \
        char s_detail_[1024];                                                                      \
        snprintf(s_detail_, sizeof(s_detail_), __VA_ARGS__);                                       \
        s_event_detail(g, type, sev, rule, path, deny, s_detail_);                                 \
    } while (0)

static const char *s_task_root(const struct pl_config *cfg)
{
    const char *tr = pl_config_str(cfg, PL_CFG_TASK_ROOT);
    if (!tr || !*tr)
        tr = getenv("LAMBDA_TASK_ROOT");
    return tr && *tr ? tr : "/var/task";
}

/* Layer files whose content is verified off the cold start's path (integrity.layer_lazy):
 *  - the guard's own executable: hashing it by itself proves little (a replaced binary would
 *    not run this check) and it is the largest file of the layer;
 *  - the libraries beside it that only libcurl's first load brings in (the sinks, the DynamoDB
 *    store), i.e. every file of <executable's dir>/../lib except the monitor library, which
 *    the runtime loads at its start and which is hashed at cold start like everything else.
 * Their type, size and mode are compared at cold start. Their content: on an idle-priority
 * thread started at the end of the cold start, and before libcurl loads (pl_aws_set_load_check)
 * if that comes first. A difference is a RUNTIME_INTEGRITY_VIOLATION and denies all, as at cold
 * start. Paths are relative to the layer directory (integrity.layer_dir). */
enum { S_LAZY_EXE, S_LAZY_LIBS, S_LAZY_SETS };
static struct {
    pthread_mutex_t mu;
    struct pl_guard *g;
    bool ready;                 /* the paths below are set */
    char exe[PATH_MAX];         /* the executable, relative to the layer dir ("" none) */
    char libs[PATH_MAX];        /* lib dir prefix with its trailing '/' ("" none) */
    char monitor[PATH_MAX];     /* the monitor library, relative ("" none) */
    int state[S_LAZY_SETS];     /* 0 not verified, 1 verified, -1 differs or failed */
    bool deferred;              /* the cold start left files to verify */
    pthread_t thread;
    bool thread_started;
    bool stop;                  /* the guard goes away: the thread verifies nothing more */
} s_lazy = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* `abs` relative to `root` (both real paths): pointer into abs, or NULL when outside */
static const char *s_under(const char *abs, const char *root)
{
    size_t n = strlen(root);
    if (strncmp(abs, root, n) || abs[n] != '/')
        return NULL;
    return abs + n + 1;
}

static int s_lazy_set_of(const char *path)
{
    if (s_lazy.exe[0] && !strcmp(path, s_lazy.exe))
        return S_LAZY_EXE;
    size_t n = strlen(s_lazy.libs);
    if (n && !strncmp(path, s_lazy.libs, n) && !strchr(path + n, '/') &&
        strcmp(path, s_lazy.monitor))
        return S_LAZY_LIBS;
    return -1;
}

static bool s_defer_cb(void *ud, const char *path, const struct stat *st)
{
    (void)ud;
    (void)st;
    return s_lazy_set_of(path) >= 0;
}

/* the paths, from the configuration and where this executable lives */
static void s_lazy_paths(const struct pl_config *cfg)
{
    s_lazy.exe[0] = s_lazy.libs[0] = s_lazy.monitor[0] = '\0';
    char root[PATH_MAX], exe[PATH_MAX], buf[PATH_MAX + 16];
    const char *dir = pl_config_str(cfg, PL_CFG_LAYER_DIR);
    if (!dir || !*dir || !realpath(dir, root) || !realpath("/proc/self/exe", exe))
        return;
    const char *rel = s_under(exe, root);
    if (rel)
        snprintf(s_lazy.exe, sizeof(s_lazy.exe), "%s", rel);
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        char libdir[PATH_MAX];
        snprintf(buf, sizeof(buf), "%s/../lib", exe);
        if (realpath(buf, libdir) && (rel = s_under(libdir, root)))
            snprintf(s_lazy.libs, sizeof(s_lazy.libs), "%s/", rel);
    }
    char mon[PATH_MAX], monreal[PATH_MAX];
    if (pl_harden_find_monitor_lib(cfg, mon, sizeof(mon)) == 0 && realpath(mon, monreal) &&
        (rel = s_under(monreal, root)))
        snprintf(s_lazy.monitor, sizeof(s_lazy.monitor), "%s", rel);
}

static void s_report_diffs(struct pl_guard *g, const char *what, const char *dir,
                           struct pl_verify_report *r);

/* verify one set of deferred files (under s_lazy.mu); 0 verified, -1 differs or failed
 * (reported, all denied) */
static int s_lazy_verify_locked(int set)
{
    if (s_lazy.state[set])
        return s_lazy.state[set] > 0 ? 0 : -1;
    struct pl_guard *g = s_lazy.g;
    const struct pl_config *cfg = pl_guard_config(g);
    const char *manifest = pl_config_str(cfg, PL_CFG_LAYER_MANIFEST);
    const char *dir = pl_config_str(cfg, PL_CFG_LAYER_DIR);
    const char *key = pl_config_str(cfg, PL_CFG_LAYER_PUBKEY);
    const char *what = set == S_LAZY_EXE ? "layer (the guard's executable)"
                                         : "layer (libcurl's libraries)";
    uint64_t t0 = pl_now_ns();
    char *text = NULL, *pem = NULL;
    size_t text_len = 0, pem_len = 0;
    struct pl_manifest all, subset;
    pl_manifest_init(&all);
    pl_manifest_init(&subset);
    struct pl_verify_report r;
    pl_verify_report_init(&r);
    int rc = -1;
    if (pl_read_file(manifest, &text, &text_len, PL_MANIFEST_MAX_BYTES) ||
        (key && *key && pl_read_file(key, &pem, &pem_len, 64 * 1024)) ||
        pl_manifest_parse(text, text_len, pem, pem_len, 0, &all))
        goto fail;
    /* the subset: moved out of `all` (sorted stays sorted) */
    for (size_t i = 0; i < all.n; i++) {
        if (all.entries[i].type != PL_MF_FILE || s_lazy_set_of(all.entries[i].path) != set)
            continue;
        if (pl_array_reserve((void **)&subset.entries, &subset.cap, subset.n + 1,
                             sizeof(subset.entries[0])))
            goto fail;
        subset.entries[subset.n++] = all.entries[i];
        memset(&all.entries[i], 0, sizeof(all.entries[i]));
    }
    if (pl_verify_entries(dir, &subset, &r))
        goto fail;
    if (r.n) {
        s_report_diffs(g, what, dir, &r);
        pl_raise(PL_ERR_INTEGRITY, "%s differs from the layer manifest", what);
    } else {
        pl_log(PL_LOG_INFO, S_COMPONENT, "%s verified off the cold start: %zu file(s) match %s "
               "(%llu bytes in %llu ms)", what, subset.n, manifest,
               (unsigned long long)r.bytes_hashed,
               (unsigned long long)((pl_now_ns() - t0) / 1000000));
        rc = 0;
    }
    goto out;
fail:;
    char msg[700];
    snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
    s_event(g, PL_EV_RUNTIME_INTEGRITY_VIOLATION, PL_SEV_CRITICAL, "PL-INTEGRITY-MANIFEST",
            manifest, true, "%s: not verified: %s", what, msg);
    char reason[900];
    snprintf(reason, sizeof(reason), "RUNTIME_INTEGRITY_VIOLATION: %s not verified: %s", what, msg);
    pl_guard_deny_all(g, reason);
    pl_raise(PL_ERR_INTEGRITY, "%s", reason);
out:
    s_lazy.state[set] = rc ? -1 : 1;
    pl_free(text);
    pl_free(pem);
    pl_manifest_clean_up(&all);
    pl_manifest_clean_up(&subset);
    pl_verify_report_clean_up(&r);
    return rc;
}

/* libcurl's first load (any thread): its libraries verified first, if they were deferred */
static int s_libs_load_check(void)
{
    pthread_mutex_lock(&s_lazy.mu);
    int rc = s_lazy.deferred && s_lazy.g ? s_lazy_verify_locked(S_LAZY_LIBS) : 0;
    pthread_mutex_unlock(&s_lazy.mu);
    return rc;
}

static void *s_lazy_main(void *arg)
{
    (void)arg;
    /* idle priority: runs when nothing else wants the CPU (the runtime's init first) */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    for (int set = 0; set < S_LAZY_SETS; set++) {
        pthread_mutex_lock(&s_lazy.mu);
        if (!s_lazy.stop)
            s_lazy_verify_locked(set);
        pthread_mutex_unlock(&s_lazy.mu);
    }
    return NULL;
}

static void s_trees_join(void);

void pl_guard_hook_integrity_release(struct pl_guard *g)
{
    s_trees_join();
    pthread_mutex_lock(&s_lazy.mu);
    if (s_lazy.g != g) {
        pthread_mutex_unlock(&s_lazy.mu);
        return;
    }
    s_lazy.stop = true;
    bool join = s_lazy.thread_started;
    s_lazy.thread_started = false;
    pthread_mutex_unlock(&s_lazy.mu);
    if (join)
        pthread_join(s_lazy.thread, NULL);
    pthread_mutex_lock(&s_lazy.mu);
    s_lazy.g = NULL;
    s_lazy.ready = s_lazy.deferred = s_lazy.stop = false;
    memset(s_lazy.state, 0, sizeof(s_lazy.state));
    pthread_mutex_unlock(&s_lazy.mu);
}

void pl_guard_hook_integrity_early(struct pl_guard *g)
{
    const struct pl_config *cfg = pl_guard_config(g);
    const char *lmf = pl_config_str(cfg, PL_CFG_LAYER_MANIFEST);
    pthread_mutex_lock(&s_lazy.mu);
    s_lazy.g = g;
    s_lazy.ready = false;
    s_lazy.deferred = false;
    memset(s_lazy.state, 0, sizeof(s_lazy.state));
    if (lmf && *lmf && pl_config_bool(cfg, PL_CFG_LAYER_LAZY) && access(lmf, F_OK) == 0) {
        s_lazy_paths(cfg);
        s_lazy.ready = s_lazy.exe[0] || s_lazy.libs[0];
    }
    pthread_mutex_unlock(&s_lazy.mu);
    if (s_lazy.ready)
        pl_aws_set_load_check(s_libs_load_check);
}

/* One tree to verify against its manifest. Computed on a thread started before the rules
 * load (pl_guard_hook_integrity_begin: hashing and loading rules side by side), reported at
 * cold start (events need the incidents machinery, which is up by then). */
struct s_tree {
    const char *what;
    char manifest[4096];
    const char *pubkey;
    const char *dir;
    bool required, lazy;
    /* results */
    bool done, absent;
    int rc, err;
    char msg[700];
    struct pl_verify_report r;
    uint64_t ms;
};

static void s_tree_compute(struct s_tree *t)
{
    t->done = true;
    pl_verify_report_init(&t->r);
    if (access(t->manifest, F_OK) != 0) {
        t->absent = true;
        return;
    }
    uint64_t t0 = pl_now_ns();
    struct pl_manifest_opts o = {.defer = t->lazy ? s_defer_cb : NULL};
    t->rc = pl_verify_dir(t->manifest, t->pubkey, t->dir, &o, &t->r);
    if (t->rc) {
        t->err = pl_last_error();
        snprintf(t->msg, sizeof(t->msg), "%s", pl_last_error_msg());
    }
    t->ms = (pl_now_ns() - t0) / 1000000;
}

/* report one tree; 0 also when it differs (that is a violation, not a failure) */
static int s_tree_report(struct pl_guard *g, struct s_tree *t)
{
    const char *what = t->what, *manifest = t->manifest;
    if (t->absent) {
        if (!t->required) {
            pl_log(PL_LOG_INFO, S_COMPONENT, "%s: no manifest at %s: code integrity not verified",
                   what, manifest);
            return 0;
        }
        s_event(g, PL_EV_RUNTIME_INTEGRITY_VIOLATION, PL_SEV_CRITICAL, "PL-INTEGRITY-MANIFEST",
                manifest, true, "%s: manifest %.900s is missing (a signing key is configured)", what,
                manifest);
        char reason[600];
        snprintf(reason, sizeof(reason), "RUNTIME_INTEGRITY_VIOLATION: %s manifest missing", what);
        pl_guard_deny_all(g, reason);
        return 0;
    }
    struct pl_verify_report *r = &t->r;
    if (t->rc) {
        if (t->err == PL_ERR_NOMEM)
            return pl_raise(PL_ERR_NOMEM, "%s", t->msg);
        s_event(g, PL_EV_RUNTIME_INTEGRITY_VIOLATION, PL_SEV_CRITICAL, "PL-INTEGRITY-MANIFEST",
                manifest, true, "%s: manifest refused: %s", what, t->msg);
        char reason[900];
        snprintf(reason, sizeof(reason), "RUNTIME_INTEGRITY_VIOLATION: %s manifest refused: %s",
                 what, t->msg);
        pl_guard_deny_all(g, reason);
        return 0;
    }
    if (!r->n) {
        char later[160] = "";
        if (r->entries_deferred)
            snprintf(later, sizeof(later), "; the content of %zu file(s) verified after it "
                     "(integrity.layer_lazy)", r->entries_deferred);
        pl_log(PL_LOG_INFO, S_COMPONENT,
               "%s verified: %zu entries match %s (%llu bytes in %llu ms)%s%s", what,
               r->entries_checked, manifest, (unsigned long long)r->bytes_hashed,
               (unsigned long long)t->ms, t->pubkey && *t->pubkey ? ", signature valid" : "",
               later);
        if (t->lazy && r->entries_deferred) {
            pthread_mutex_lock(&s_lazy.mu);
            s_lazy.deferred = true;
            pthread_mutex_unlock(&s_lazy.mu);
        }
        return 0;
    }
    s_report_diffs(g, what, t->dir, r);
    return 0;
}

/* the trees of this cold start: the function code, the layer */
static struct {
    struct s_tree t[2];
    size_t n;
    pthread_t thread;
    bool started;
} s_trees;

static void s_trees_clean_up(void)
{
    for (size_t i = 0; i < s_trees.n; i++)
        if (s_trees.t[i].done)
            pl_verify_report_clean_up(&s_trees.t[i].r);
    s_trees.n = 0;
}

static void s_trees_plan(struct pl_guard *g)
{
    const struct pl_config *cfg = pl_guard_config(g);
    const char *task_root = s_task_root(cfg);
    const char *pubkey = pl_config_str(cfg, PL_CFG_MANIFEST_PUBKEY);
    if (pubkey && !*pubkey)
        pubkey = NULL;
    s_trees_clean_up();
    memset(&s_trees.t, 0, sizeof(s_trees.t));
    /* code and layer against their manifests: verified when present; required when a key
     * is configured or the path was set explicitly (a deleted manifest is then caught) */
    const char *mf = pl_config_str(cfg, PL_CFG_MANIFEST);
    if (mf && *mf) {
        struct s_tree *t = &s_trees.t[s_trees.n++];
        t->what = "function code";
        if (mf[0] == '/')
            snprintf(t->manifest, sizeof(t->manifest), "%s", mf);
        else
            snprintf(t->manifest, sizeof(t->manifest), "%s/%s", task_root, mf);
        t->pubkey = pubkey;
        t->dir = task_root;
        t->required = pubkey || cfg->v[PL_CFG_MANIFEST].origin != PL_ORIGIN_DEFAULT;
    }
    const char *lmf = pl_config_str(cfg, PL_CFG_LAYER_MANIFEST);
    const char *lkey = pl_config_str(cfg, PL_CFG_LAYER_PUBKEY);
    if (lmf && *lmf) {
        struct s_tree *t = &s_trees.t[s_trees.n++];
        t->what = "layer";
        snprintf(t->manifest, sizeof(t->manifest), "%s", lmf);
        t->pubkey = lkey && *lkey ? lkey : NULL;
        t->dir = pl_config_str(cfg, PL_CFG_LAYER_DIR);
        t->required = (lkey && *lkey) || cfg->v[PL_CFG_LAYER_MANIFEST].origin != PL_ORIGIN_DEFAULT;
        t->lazy = s_lazy.ready && s_lazy.g == g;
    }
}

static void *s_trees_main(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < s_trees.n; i++)
        s_tree_compute(&s_trees.t[i]);
    return NULL;
}

static void s_trees_join(void)
{
    if (s_trees.started) {
        pthread_join(s_trees.thread, NULL);
        s_trees.started = false;
        s_trees_clean_up();
    }
}

void pl_guard_hook_integrity_begin(struct pl_guard *g)
{
    if (s_trees.started)
        return;
    s_trees_plan(g);
    if (s_trees.n && pthread_create(&s_trees.thread, NULL, s_trees_main, NULL) == 0)
        s_trees.started = true;
}

static void s_report_diffs(struct pl_guard *g, const char *what, const char *dir,
                           struct pl_verify_report *r0)
{
    struct pl_verify_report r = *r0;
    struct pl_buf line = PL_BUF_INIT;
    for (size_t i = 0; i < r.n && i < S_MAX_DIFF_EVENTS; i++) {
        struct pl_verify_report one = r;
        one.diffs = &r.diffs[i];
        one.n = 1;
        pl_buf_reset(&line);
        if (pl_verify_report_text(&one, &line) == 0 && line.len)
            line.data[--line.len] = '\0'; /* drop the newline */
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, r.diffs[i].path);
        s_event(g, PL_EV_RUNTIME_INTEGRITY_VIOLATION, PL_SEV_CRITICAL, "PL-INTEGRITY-DIFF", path,
                true, "%s differs from its manifest: %s", what, line.data ? line.data : "");
    }
    pl_buf_clean_up(&line);
    char reason[400];
    snprintf(reason, sizeof(reason),
             "RUNTIME_INTEGRITY_VIOLATION: %s differs from its manifest (%zu added, %zu missing, "
             "%zu changed)",
             what, r.n_added, r.n_missing, r.n_changed);
    pl_guard_deny_all(g, reason);
}

/* one PLAINTEXT_SECRET event for all findings (one per finding would feed the incidents'
 * "rapid" correlation at every cold start): names, kinds and hash prefixes, never values */
static int s_audit_env(struct pl_guard *g)
{
    struct pl_env_audit a;
    pl_env_audit_init(&a);
    if (pl_env_audit_run(NULL, &a)) {
        pl_env_audit_clean_up(&a);
        return -1;
    }
    if (a.n_findings) {
        struct pl_buf names = PL_BUF_INIT, detail = PL_BUF_INIT;
        int rc = 0;
        for (size_t i = 0; i < a.n; i++) {
            const struct pl_env_finding *f = &a.items[i];
            if (f->expected)
                continue;
            rc |= pl_buf_appendf(&names, "%s%s", names.len ? "," : "", f->name);
            rc |= pl_buf_appendf(&detail, "%s%s (%s, sha256 %s)", detail.len ? ", " : "", f->name,
                                 f->kind, f->hash8);
        }
        if (rc == 0)
            s_event(g, PL_EV_PLAINTEXT_SECRET, PL_SEV_MEDIUM, "PL-ENV-SECRET", names.data, false,
                    "%zu environment variable(s) hold plaintext secrets: %s; use a secrets "
                    "manager",
                    a.n_findings, detail.data);
        pl_buf_clean_up(&names);
        pl_buf_clean_up(&detail);
    }
    pl_log(PL_LOG_INFO, S_COMPONENT, "environment audit: %zu finding(s) in %zu variables",
           a.n_findings, a.n_vars);
    pl_env_audit_clean_up(&a);
    return 0;
}

/* canaries and one rule per variable (the deny log names the variable; never the value) */
static int s_build_canaries(void)
{
    s_free_canaries();
    if (pl_canaries_new(NULL, &s_canaries))
        return -1;
    size_t n = pl_canaries_vars(s_canaries);
    s_canary_rules = pl_calloc(n ? n : 1, sizeof(*s_canary_rules));
    if (!s_canary_rules)
        goto fail;
    s_n_canary_rules = n;
    for (size_t i = 0; i < n; i++) {
        struct pl_rule *r = &s_canary_rules[i];
        struct pl_buf id = PL_BUF_INIT, msg = PL_BUF_INIT;
        if (pl_buf_appendf(&id, "PL-CANARY-%s", pl_canaries_var(s_canaries, i)) ||
            pl_buf_appendf(&msg,
                           "the value of the secret environment variable %s left in a "
                           "response",
                           pl_canaries_var(s_canaries, i))) {
            pl_buf_clean_up(&id);
            pl_buf_clean_up(&msg);
            goto fail;
        }
        r->id = pl_buf_steal(&id, NULL);
        r->message = pl_buf_steal(&msg, NULL);
        r->target = PL_TARGET_OUT;
        r->severity = PL_SEV_CRITICAL;
        r->category = (char *)"SECRET_EXPOSURE";
        r->action = PL_ACTION_DENY;
    }
    return 0;
fail:
    s_free_canaries();
    return -1;
}

static void s_on_tamper(void *ud, const struct pl_event *ev)
{
    struct pl_guard *g = ud;
    struct pl_event copy = *ev;
    pl_guard_request_id(g, copy.request_id, sizeof(copy.request_id));
    pl_guard_report_event(g, &copy, NULL);
}

int pl_guard_hook_cold_start_integrity(struct pl_guard *g)
{
    const struct pl_config *cfg = pl_guard_config(g);

    /* 1. code and layer against their manifests (hashed on their thread while the rules
     * loaded, or here) */
    if (s_trees.started) {
        pthread_join(s_trees.thread, NULL);
        s_trees.started = false;
    } else {
        s_trees_plan(g);
        s_trees_main(NULL);
    }
    int trc = 0;
    for (size_t i = 0; i < s_trees.n && !trc; i++)
        trc = s_tree_report(g, &s_trees.t[i]);
    s_trees_clean_up();
    if (trc)
        return -1;

    /* the files left for later: an idle-priority thread */
    pthread_mutex_lock(&s_lazy.mu);
    if (s_lazy.deferred && !s_lazy.thread_started &&
        pthread_create(&s_lazy.thread, NULL, s_lazy_main, NULL) == 0) {
        s_lazy.thread_started = true;
    }
    pthread_mutex_unlock(&s_lazy.mu);

    /* 2. plaintext secrets in the environment */
    if (pl_config_bool(cfg, PL_CFG_AUDIT_ENV) && s_audit_env(g))
        return -1;

    /* 3. canaries */
    if (pl_config_bool(cfg, PL_CFG_CANARIES)) {
        if (s_build_canaries())
            return -1;
        pl_log(PL_LOG_INFO, S_COMPONENT, "secret canaries: %zu variable(s), %zu pattern(s)",
               pl_canaries_vars(s_canaries), pl_canaries_count(s_canaries));
    }

    /* 4. tamper watch (its own thread) */
    if (pl_config_bool(cfg, PL_CFG_TAMPER_WATCH) && !s_watch) {
        size_t n_dirs = 0;
        char *const *dirs = pl_config_list(cfg, PL_CFG_TAMPER_DIRS, &n_dirs);
        char api[64];
        snprintf(api, sizeof(api), "127.0.0.1:%lld", (long long)pl_config_int(cfg, PL_CFG_PORT));
        struct pl_tamper_opts o = {
            .dirs = (const char *const *)dirs,
            .n_dirs = n_dirs,
            .discover_runtime_api = api,
            .interval_ms = (unsigned)pl_config_int(cfg, PL_CFG_TAMPER_INTERVAL),
            .on_event = s_on_tamper,
            .ud = g,
        };
        if (pl_tamper_watch_new(&o, &s_watch)) {
            /* degraded, not fatal: the other protections stand */
            pl_log(PL_LOG_WARN, S_COMPONENT, "tamper watch not started: %s", pl_last_error_msg());
            s_watch = NULL;
        } else {
            pl_log(PL_LOG_INFO, S_COMPONENT, "tamper watch started on %zu place(s)", n_dirs);
        }
    }
    return 0;
}

static int s_add_hit(const struct pl_canary_hit *hit, size_t base, struct pl_verdict *v)
{
    if (pl_array_reserve((void **)&v->matches, &v->cap_matches, v->n_matches + 1,
                         sizeof(v->matches[0])))
        return -1;
    struct pl_match *m = &v->matches[v->n_matches];
    memset(m, 0, sizeof(*m));
    m->rule = hit->var_index < s_n_canary_rules ? &s_canary_rules[hit->var_index] : NULL;
    m->rule_index = UINT32_MAX;
    m->decoding = PL_DEC_RAW;
    char where[96];
    snprintf(where, sizeof(where), "@%zu", base + hit->offset);
    struct pl_buf ex = PL_BUF_INIT;
    if (pl_buf_appendf(&ex, "secret canary (%s form) of %s", hit->form, hit->var))
        return -1;
    m->path = pl_strdup(where);
    m->excerpt = pl_buf_steal(&ex, NULL);
    if (!m->path || !m->excerpt) {
        pl_free(m->path);
        pl_free(m->excerpt);
        return -1;
    }
    v->n_matches++;
    v->deny = true;
    return 0;
}

int pl_guard_hook_out_check(struct pl_guard *g, const char *data, size_t len, struct pl_verdict *v)
{
    (void)g;
    if (!s_canaries || !data)
        return 0;
    struct pl_canary_hit hit;
    if (pl_canaries_scan(s_canaries, data, len, &hit) != 1)
        return 0;
    return s_add_hit(&hit, 0, v);
}

int pl_guard_hook_out_stream_check(struct pl_guard *g, const char *window, size_t len,
                                   size_t overlap, struct pl_verdict *v)
{
    (void)g;
    (void)overlap; /* patterns are at most PL_CANARY_MAX_PATTERN <= overlap + 1 bytes */
    if (!s_canaries || !window)
        return 0;
    struct pl_canary_hit hit;
    if (pl_canaries_scan(s_canaries, window, len, &hit) != 1)
        return 0;
    return s_add_hit(&hit, 0, v);
}
