/* SQLite backend: one file, WAL journal, synchronous=FULL.
 *
 * Durability: in WAL mode a commit appends to the -wal file; with synchronous=FULL SQLite
 * fsyncs the WAL at every commit, so when pl_store_put() returns the incident survives a
 * process kill AND a power loss. NORMAL would survive kill -9 (the WAL is in the page cache,
 * which the kernel keeps) but could lose the last commits on power loss; the extra fsync costs
 * about a millisecond and is paid on the incidents worker thread, never on an invocation. */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "protectlambda/log.h"
#include "store_impl.h"

struct s_sqlite {
    sqlite3 *db;
    char path[400];
    bool lazy;   /* not opened yet: the file did not exist (lazy_create) */
};

static const char s_schema[] =
    "CREATE TABLE IF NOT EXISTS incidents("
    " id TEXT PRIMARY KEY, function TEXT NOT NULL, time_ms INTEGER NOT NULL, version TEXT,"
    " type TEXT NOT NULL, severity TEXT NOT NULL, level TEXT NOT NULL, source TEXT,"
    " request_id TEXT, rule TEXT, path TEXT, detail TEXT, actions TEXT, correlation TEXT,"
    " expires_s INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS incidents_function_time ON incidents(function, time_ms);"
    "CREATE INDEX IF NOT EXISTS incidents_expires ON incidents(expires_s);"
    "CREATE TABLE IF NOT EXISTS quarantine("
    " function TEXT PRIMARY KEY, time_ms INTEGER NOT NULL, reason TEXT, incident_id TEXT);"
    "PRAGMA user_version=1;";

static int s_err(struct s_sqlite *q, const char *what)
{
    return pl_raise(PL_ERR_STORE, "%s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
}

static int s_prepare(struct s_sqlite *q, const char *sql, sqlite3_stmt **st, const char *what)
{
    if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK)
        return s_err(q, what);
    return 0;
}

static int s_exec(struct s_sqlite *q, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        pl_raise(PL_ERR_STORE, "%s: %s", q->path, msg ? msg : sqlite3_errmsg(q->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int s_init(struct pl_store *s)
{
    struct s_sqlite *q = s->impl;
    return s_exec(q, s_schema);
}

/* open (and with `create`, make the directory, file and schema) */
static int s_open_now(struct s_sqlite *q, struct pl_store *s, bool create)
{
    if (create) {
        char dir[400];
        snprintf(dir, sizeof(dir), "%s", q->path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (pl_mkdir_p(dir, 0700))
                return -1;
        }
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(q->path, &q->db, flags, NULL) != SQLITE_OK) {
        pl_raise(PL_ERR_STORE, "%s: cannot open: %s", q->path,
                 q->db ? sqlite3_errmsg(q->db) : "out of memory");
        sqlite3_close(q->db);
        q->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(q->db, 5000);
    if (s_exec(q, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") ||
        (create && s_init(s))) {
        sqlite3_close(q->db);
        q->db = NULL;
        return -1;
    }
    q->lazy = false;
    return 0;
}

/* Before an operation: 0 the database is open, 1 a read on a store not created yet (empty),
 * -1 error. A write creates it; a read opens a file another process made meanwhile. */
static int s_ready(struct pl_store *s, bool write)
{
    struct s_sqlite *q = s->impl;
    if (!q->lazy)
        return 0;
    if (!write && access(q->path, F_OK) != 0)
        return 1;
    return s_open_now(q, s, true) ? -1 : 0;
}

/* lazy_create: the directory the file will go in can be made and written (what a wrong path
 * would only show at the first incident otherwise) */
static int s_check_writable(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash) {
            snprintf(dir, sizeof(dir), ".");
        } else if (slash == dir) {
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (access(dir, F_OK) == 0)
            break;
        if (!strcmp(dir, ".") || !strcmp(dir, "/"))
            break;
    }
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return pl_raise(PL_ERR_STORE, "%s: cannot create it: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return pl_raise(PL_ERR_STORE, "%s: cannot create it: %s: %s", path, dir, strerror(errno));
    return 0;
}

static void s_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static int s_put(struct pl_store *s, const struct pl_incident *inc)
{
    struct s_sqlite *q = s->impl;
    int ready = s_ready(s, true);
    if (ready)
        return ready < 0 ? -1 : 0;
    sqlite3_stmt *st = NULL;
    int ret = -1;
    if (s_prepare(q,
                  "INSERT OR IGNORE INTO incidents(id,function,time_ms,version,type,"
                  "severity,level,source,request_id,rule,path,detail,actions,correlation,"
                  "expires_s) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  &st, "prepare insert"))
        goto out;
    s_bind_text(st, 1, inc->id);
    s_bind_text(st, 2, inc->function);
    sqlite3_bind_int64(st, 3, inc->time_ms);
    s_bind_text(st, 4, inc->version);
    s_bind_text(st, 5, pl_event_type_name(inc->type));
    s_bind_text(st, 6, pl_severity_name(inc->severity));
    s_bind_text(st, 7, pl_severity_name(inc->level));
    s_bind_text(st, 8, inc->source);
    s_bind_text(st, 9, inc->request_id);
    s_bind_text(st, 10, inc->rule);
    s_bind_text(st, 11, inc->path);
    s_bind_text(st, 12, inc->detail);
    s_bind_text(st, 13, inc->actions);
    s_bind_text(st, 14, inc->correlation);
    sqlite3_bind_int64(st, 15, inc->expires_s);
    if (sqlite3_step(st) != SQLITE_DONE) {
        s_err(q, "insert incident");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static void s_types_clause(char *out, size_t n, uint64_t mask)
{
    size_t len = 0;
    out[0] = '\0';
    if (!mask)
        return;
    len += snprintf(out + len, n - len, " AND type IN (");
    bool first = true;
    for (int t = 0; t < PL_EV_COUNT && len < n; t++) {
        if (!(mask & (1ull << t)))
            continue;
        len += snprintf(out + len, n - len, "%s'%s'", first ? "" : ",",
                        pl_event_type_name((enum pl_event_type)t));
        first = false;
    }
    if (len < n)
        snprintf(out + len, n - len, ")");
}

static int s_count(struct pl_store *s, const char *function, int64_t since_ms, int64_t until_ms,
                   uint64_t type_mask, size_t *count)
{
    struct s_sqlite *q = s->impl;
    int ready = s_ready(s, false);
    if (ready)
        return ready < 0 ? -1 : (*count = 0, 0);
    char types[1200], sql[1400];
    sqlite3_stmt *st = NULL;
    int ret = -1;
    /* the type names come from our own table, never from input: safe to inline */
    s_types_clause(types, sizeof(types), type_mask);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM incidents WHERE function=? AND time_ms>=? AND time_ms<=?%s",
             types);
    if (s_prepare(q, sql, &st, "prepare count"))
        goto out;
    s_bind_text(st, 1, function);
    sqlite3_bind_int64(st, 2, since_ms);
    sqlite3_bind_int64(st, 3, until_ms);
    if (sqlite3_step(st) != SQLITE_ROW) {
        s_err(q, "count");
        goto out;
    }
    *count = (size_t)sqlite3_column_int64(st, 0);
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static void s_col(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    pl_event_set(dst, n, v ? (const char *)v : "");
}

static int s_each(struct pl_store *s, const char *function, int64_t since_ms, pl_store_each_fn fn,
                  void *ctx)
{
    struct s_sqlite *q = s->impl;
    int ready = s_ready(s, false);
    if (ready)
        return ready < 0 ? -1 : 0;
    sqlite3_stmt *st = NULL;
    int ret = -1, rc;
    bool all = !function || !*function;
    const char *sql = all ? "SELECT id,function,time_ms,version,type,severity,level,source,"
                            "request_id,rule,path,detail,actions,correlation,expires_s FROM "
                            "incidents WHERE time_ms>=? ORDER BY time_ms,id"
                          : "SELECT id,function,time_ms,version,type,severity,level,source,"
                            "request_id,rule,path,detail,actions,correlation,expires_s FROM "
                            "incidents WHERE time_ms>=? AND function=? ORDER BY time_ms,id";
    if (s_prepare(q, sql, &st, "prepare select"))
        goto out;
    sqlite3_bind_int64(st, 1, since_ms);
    if (!all)
        s_bind_text(st, 2, function);
    struct pl_incident inc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&inc, 0, sizeof(inc));
        char buf[64];
        s_col(st, 0, inc.id, sizeof(inc.id));
        s_col(st, 1, inc.function, sizeof(inc.function));
        inc.time_ms = sqlite3_column_int64(st, 2);
        s_col(st, 3, inc.version, sizeof(inc.version));
        s_col(st, 4, buf, sizeof(buf));
        if (pl_event_type_parse(buf, &inc.type))
            inc.type = PL_EV_GUARD_FAILURE;
        s_col(st, 5, buf, sizeof(buf));
        if (pl_severity_parse(buf, &inc.severity))
            inc.severity = PL_SEV_INFO;
        s_col(st, 6, buf, sizeof(buf));
        if (pl_severity_parse(buf, &inc.level))
            inc.level = inc.severity;
        s_col(st, 7, inc.source, sizeof(inc.source));
        s_col(st, 8, inc.request_id, sizeof(inc.request_id));
        s_col(st, 9, inc.rule, sizeof(inc.rule));
        s_col(st, 10, inc.path, sizeof(inc.path));
        s_col(st, 11, inc.detail, sizeof(inc.detail));
        s_col(st, 12, inc.actions, sizeof(inc.actions));
        s_col(st, 13, inc.correlation, sizeof(inc.correlation));
        inc.expires_s = sqlite3_column_int64(st, 14);
        int r = fn(ctx, &inc);
        if (r) {
            ret = r;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        s_err(q, "select");
        goto out;
    }
    pl_error_clear();
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static int s_get_quarantine(struct pl_store *s, const char *function, struct pl_quarantine *qr)
{
    struct s_sqlite *q = s->impl;
    int ready = s_ready(s, false);
    if (ready)
        return ready < 0 ? -1 : 0;
    sqlite3_stmt *st = NULL;
    int ret = -1, rc;
    if (s_prepare(q, "SELECT time_ms,reason,incident_id FROM quarantine WHERE function=?", &st,
                  "prepare quarantine"))
        goto out;
    s_bind_text(st, 1, function);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        qr->active = true;
        qr->time_ms = sqlite3_column_int64(st, 0);
        s_col(st, 1, qr->reason, sizeof(qr->reason));
        s_col(st, 2, qr->incident_id, sizeof(qr->incident_id));
    } else if (rc != SQLITE_DONE) {
        s_err(q, "read quarantine");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static int s_set_quarantine(struct pl_store *s, const char *function,
                            const struct pl_quarantine *qr)
{
    struct s_sqlite *q = s->impl;
    int ready = s_ready(s, true);
    if (ready)
        return ready < 0 ? -1 : 0;
    sqlite3_stmt *st = NULL;
    int ret = -1;
    /* the first quarantine wins: its reason and time are what users are shown */
    if (s_prepare(q,
                  "INSERT OR IGNORE INTO quarantine(function,time_ms,reason,incident_id) "
                  "VALUES(?,?,?,?)",
                  &st, "prepare quarantine"))
        goto out;
    s_bind_text(st, 1, function);
    sqlite3_bind_int64(st, 2, qr->time_ms);
    s_bind_text(st, 3, qr->reason);
    s_bind_text(st, 4, qr->incident_id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        s_err(q, "write quarantine");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static int s_clear_quarantine(struct pl_store *s, const char *function)
{
    struct s_sqlite *q = s->impl;
    int ready = s_ready(s, false);
    if (ready)
        return ready < 0 ? -1 : 0;
    sqlite3_stmt *st = NULL;
    int ret = -1;
    if (s_prepare(q, "DELETE FROM quarantine WHERE function=?", &st, "prepare clear"))
        goto out;
    s_bind_text(st, 1, function);
    if (sqlite3_step(st) != SQLITE_DONE) {
        s_err(q, "clear quarantine");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static int s_purge(struct pl_store *s, int64_t now_s, size_t *deleted)
{
    struct s_sqlite *q = s->impl;
    int ready = s_ready(s, false);
    if (ready)
        return ready < 0 ? -1 : (*deleted = 0, 0);
    sqlite3_stmt *st = NULL;
    int ret = -1;
    if (s_prepare(q, "DELETE FROM incidents WHERE expires_s<?", &st, "prepare purge"))
        goto out;
    sqlite3_bind_int64(st, 1, now_s);
    if (sqlite3_step(st) != SQLITE_DONE) {
        s_err(q, "purge");
        goto out;
    }
    *deleted = (size_t)sqlite3_changes(q->db);
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static void s_close(struct pl_store *s)
{
    struct s_sqlite *q = s->impl;
    if (!q)
        return;
    sqlite3_close(q->db);
    pl_free(q);
    s->impl = NULL;
}

/* pl_store_init: a store not created yet is created now (with its schema) */
static int s_init_op(struct pl_store *s)
{
    struct s_sqlite *q = s->impl;
    return q->lazy ? s_open_now(q, s, true) : s_init(s);
}

static const struct pl_store_ops s_ops = {
    s_init_op, s_put,  s_count, s_each, s_get_quarantine, s_set_quarantine, s_clear_quarantine,
    s_purge, s_close};

int pl_store_sqlite_open(const struct pl_store_options *o, struct pl_store *s)
{
    const char *path = o->path && *o->path ? o->path : pl_store_default_path();
    struct s_sqlite *q = pl_calloc(1, sizeof(*q));
    if (!q)
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    if (strlen(path) >= sizeof(q->path)) {
        pl_free(q);
        return pl_raise(PL_ERR_INVALID_ARG, "store path too long");
    }
    snprintf(q->path, sizeof(q->path), "%s", path);
    s->impl = q;
    s->ops = &s_ops;
    snprintf(s->describe, sizeof(s->describe), "sqlite:%s", q->path);
    /* a new sandbox has no store yet: creating it (directory, file, WAL, schema, fsyncs:
     * ~3 ms of CPU, ~7 ms of wall) waits for the first incident, on the incidents worker */
    if (o->create && o->lazy_create && access(q->path, F_OK) != 0 &&
        (errno == ENOENT || errno == ENOTDIR)) {
        if (s_check_writable(q->path))
            goto fail;
        q->lazy = true;
        return 0;
    }
    if (s_open_now(q, s, o->create))
        goto fail;
    return 0;
fail:
    s_close(s);
    return -1;
}
