/* The store suite: the same tests for every backend. CTest runs it on SQLite; the integration
 * test tests/integration/incidents/test_store_dynamodb.py runs this same binary against dynalite
 * with PL_TEST_STORE=dynamodb PL_TEST_DDB_ENDPOINT=http://127.0.0.1:N. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/store.h"

static char s_path[256], s_fn[64], s_fn2[64];

/* the SQLite suite's directory (database, WAL, shared memory) goes when the test exits */
static void s_remove_dir(void)
{
    char cmd[320];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/pl-store-suite-%d", (int)getpid());
    if (system(cmd) != 0)
        fprintf(stderr, "test_store: could not remove /tmp/pl-store-suite-%d\n", (int)getpid());
}

static int s_open(struct pl_store **out)
{
    const char *kind = getenv("PL_TEST_STORE");
    struct pl_store_options o = {0};
    o.create = true;
    if (kind && !strcmp(kind, "dynamodb")) {
        o.kind = PL_STORE_DYNAMODB;
        o.endpoint = getenv("PL_TEST_DDB_ENDPOINT");
        o.table = getenv("PL_TEST_DDB_TABLE") ? getenv("PL_TEST_DDB_TABLE") : "pl-suite";
        o.region = "us-east-1";
    } else {
        if (!s_path[0]) {
            snprintf(s_path, sizeof(s_path), "/tmp/pl-store-suite-%d/incidents.db", (int)getpid());
            atexit(s_remove_dir);
        }
        o.kind = PL_STORE_SQLITE;
        o.path = s_path;
    }
    if (!s_fn[0]) {
        snprintf(s_fn, sizeof(s_fn), "suite-fn-%d", (int)getpid());
        snprintf(s_fn2, sizeof(s_fn2), "suite-other-%d", (int)getpid());
    }
    if (pl_store_open(&o, out))
        return -1;
    if (pl_store_init(*out)) {
        pl_store_close(*out);
        return -1;
    }
    return 0;
}

static void s_inc(struct pl_incident *inc, const char *fn, const char *id, int64_t t,
                  enum pl_event_type type)
{
    memset(inc, 0, sizeof(*inc));
    snprintf(inc->id, sizeof(inc->id), "%s", id);
    snprintf(inc->function, sizeof(inc->function), "%s", fn);
    snprintf(inc->version, sizeof(inc->version), "$LATEST");
    inc->time_ms = t;
    inc->type = type;
    inc->severity = PL_SEV_MEDIUM;
    inc->level = PL_SEV_HIGH;
    snprintf(inc->source, sizeof(inc->source), "guard");
    snprintf(inc->request_id, sizeof(inc->request_id), "req-%s", id);
    snprintf(inc->rule, sizeof(inc->rule), "rule \"x\" \\ <y> ünïcode");
    snprintf(inc->path, sizeof(inc->path), "$.body.q");
    snprintf(inc->detail, sizeof(inc->detail), "detail of %s", id);
    snprintf(inc->actions, sizeof(inc->actions), "quarantine,alert");
    snprintf(inc->correlation, sizeof(inc->correlation), "rapid");
    inc->expires_s = t / 1000 + 90 * 86400;
}

struct s_list {
    struct pl_incident got[64];
    size_t n;
};

static int s_collect(void *ctx, const struct pl_incident *inc)
{
    struct s_list *l = ctx;
    if (l->n < 64)
        l->got[l->n] = *inc;
    l->n++;
    return 0;
}

PL_TEST(store_init_is_idempotent)
{
    struct pl_store *s;
    PL_CHECK_OK(s_open(&s));
    int rc = pl_store_init(s);
    pl_store_close(s);
    PL_CHECK_OK(rc);
}

PL_TEST(store_put_roundtrip_and_order)
{
    struct pl_store *s;
    PL_CHECK_OK(s_open(&s));
    int64_t t0 = 1790000000000LL;
    struct pl_incident a, b, c;
    s_inc(&b, s_fn, "inc-b", t0 + 2000, PL_EV_COMMAND_INJECTION);
    s_inc(&a, s_fn, "inc-a", t0 + 1000, PL_EV_CODE_INJECTION);
    s_inc(&c, s_fn2, "inc-c", t0 + 1500, PL_EV_CODE_INJECTION);
    int rc = pl_store_put(s, &b) | pl_store_put(s, &a) | pl_store_put(s, &c);
    rc |= pl_store_put(s, &a); /* the same id again: no duplicate */
    struct s_list l = {.n = 0};
    rc |= pl_store_each(s, s_fn, t0, s_collect, &l);
    pl_store_close(s);
    PL_CHECK_OK(rc);
    PL_CHECK_INT(l.n, 2);
    PL_CHECK_STR(l.got[0].id, "inc-a");
    PL_CHECK_STR(l.got[1].id, "inc-b");
    const struct pl_incident *g = &l.got[0];
    PL_CHECK_STR(g->function, a.function);
    PL_CHECK_INT(g->time_ms, a.time_ms);
    PL_CHECK_INT(g->type, PL_EV_CODE_INJECTION);
    PL_CHECK_INT(g->severity, PL_SEV_MEDIUM);
    PL_CHECK_INT(g->level, PL_SEV_HIGH);
    PL_CHECK_STR(g->rule, a.rule);
    PL_CHECK_STR(g->path, a.path);
    PL_CHECK_STR(g->detail, a.detail);
    PL_CHECK_STR(g->actions, a.actions);
    PL_CHECK_STR(g->correlation, a.correlation);
    PL_CHECK_STR(g->request_id, a.request_id);
    PL_CHECK_STR(g->version, "$LATEST");
    PL_CHECK_INT(g->expires_s, a.expires_s);
}

PL_TEST(store_count_windows_and_types)
{
    struct pl_store *s;
    PL_CHECK_OK(s_open(&s));
    int64_t t0 = 1791000000000LL;
    int rc = 0;
    for (int i = 0; i < 12; i++) {
        struct pl_incident x;
        char id[32];
        snprintf(id, sizeof(id), "w-%02d", i);
        s_inc(&x, s_fn, id, t0 + i * 10000,
              i % 3 == 0 ? PL_EV_COMMAND_INJECTION : PL_EV_IN_RULE_VIOLATION);
        rc |= pl_store_put(s, &x);
    }
    size_t all = 0, win = 0, inj = 0, edge = 0, other = 0;
    uint64_t injmask = (1ull << PL_EV_COMMAND_INJECTION) | (1ull << PL_EV_CODE_INJECTION);
    rc |= pl_store_count(s, s_fn, t0, t0 + 110000, 0, &all);
    rc |= pl_store_count(s, s_fn, t0 + 20000, t0 + 50000, 0, &win);  /* 2,3,4,5 */
    rc |= pl_store_count(s, s_fn, t0, t0 + 110000, injmask, &inj);   /* 0,3,6,9 */
    rc |= pl_store_count(s, s_fn, t0 + 20001, t0 + 49999, 0, &edge); /* 3,4 */
    rc |= pl_store_count(s, s_fn2, t0, t0 + 110000, 0, &other);
    pl_store_close(s);
    PL_CHECK_OK(rc);
    PL_CHECK_INT(all, 12);
    PL_CHECK_INT(win, 4);
    PL_CHECK_INT(inj, 4);
    PL_CHECK_INT(edge, 2);
    PL_CHECK_INT(other, 0);
}

PL_TEST(store_quarantine_first_wins_and_clears)
{
    struct pl_store *s;
    PL_CHECK_OK(s_open(&s));
    struct pl_quarantine q0, q1, q2, q3, set = {.active = true, .time_ms = 1792000000000LL};
    snprintf(set.reason, sizeof(set.reason), "COMMAND_INJECTION");
    snprintf(set.incident_id, sizeof(set.incident_id), "inc-q1");
    int rc = pl_store_clear_quarantine(s, s_fn);
    rc |= pl_store_get_quarantine(s, s_fn, &q0);
    rc |= pl_store_set_quarantine(s, s_fn, &set);
    struct pl_quarantine later = set;
    later.time_ms += 5000;
    snprintf(later.reason, sizeof(later.reason), "PATH_TRAVERSAL_ATTEMPT");
    rc |= pl_store_set_quarantine(s, s_fn, &later);
    rc |= pl_store_get_quarantine(s, s_fn, &q1);
    rc |= pl_store_get_quarantine(s, s_fn2, &q2);
    rc |= pl_store_clear_quarantine(s, s_fn);
    rc |= pl_store_get_quarantine(s, s_fn, &q3);
    /* the quarantine item never shows up as an incident */
    struct s_list l = {.n = 0};
    rc |= pl_store_set_quarantine(s, s_fn2, &set);
    rc |= pl_store_each(s, s_fn2, 0, s_collect, &l);
    rc |= pl_store_clear_quarantine(s, s_fn2);
    pl_store_close(s);
    PL_CHECK_OK(rc);
    PL_CHECK(!q0.active);
    PL_CHECK(q1.active);
    PL_CHECK_STR(q1.reason, "COMMAND_INJECTION");
    PL_CHECK_STR(q1.incident_id, "inc-q1");
    PL_CHECK_INT(q1.time_ms, set.time_ms);
    PL_CHECK(!q2.active);
    PL_CHECK(!q3.active);
    for (size_t i = 0; i < l.n && i < 64; i++)
        PL_CHECK_MSG(strncmp(l.got[i].id, "Q", 1), "quarantine item listed as incident");
}

PL_TEST(store_many_incidents_page_through)
{
    /* more than DynamoDB's 1 MB Query page: 1100 incidents of ~1.3 KB */
    struct pl_store *s;
    PL_CHECK_OK(s_open(&s));
    char fn[80];
    snprintf(fn, sizeof(fn), "%s-many", s_fn);
    int64_t t0 = 1793000000000LL;
    int rc = 0;
    for (int i = 0; i < 1100 && !rc; i++) {
        struct pl_incident x;
        char id[32];
        snprintf(id, sizeof(id), "m-%04d", i);
        s_inc(&x, fn, id, t0 + i, PL_EV_IN_RULE_VIOLATION);
        memset(x.detail, 'd', sizeof(x.detail) - 1);
        x.detail[sizeof(x.detail) - 1] = '\0';
        rc |= pl_store_put(s, &x);
    }
    size_t n = 0;
    struct s_list l = {.n = 0};
    if (!rc)
        rc |= pl_store_count(s, fn, t0, t0 + 5000, 0, &n);
    if (!rc)
        rc |= pl_store_each(s, fn, t0 + 1000, s_collect, &l);
    pl_store_close(s);
    PL_CHECK_OK(rc);
    PL_CHECK_INT(n, 1100);
    PL_CHECK_INT(l.n, 100);
    PL_CHECK_STR(l.got[0].id, "m-1000");
}

PL_TEST(store_purge_retention)
{
    const char *kind = getenv("PL_TEST_STORE");
    if (kind && !strcmp(kind, "dynamodb"))
        return; /* TTL attribute: DynamoDB expires items itself */
    struct pl_store *s;
    PL_CHECK_OK(s_open(&s));
    char fn[80];
    snprintf(fn, sizeof(fn), "%s-purge", s_fn);
    struct pl_incident old, fresh;
    s_inc(&old, fn, "p-old", 1000000000000LL, PL_EV_CODE_INJECTION);
    old.expires_s = 1000000000LL + 90 * 86400;
    s_inc(&fresh, fn, "p-new", 1794000000000LL, PL_EV_CODE_INJECTION);
    size_t deleted = 0;
    int rc = pl_store_put(s, &old) | pl_store_put(s, &fresh);
    rc |= pl_store_purge(s, 1794000000LL, &deleted);
    struct s_list l = {.n = 0};
    rc |= pl_store_each(s, fn, 0, s_collect, &l);
    pl_store_close(s);
    PL_CHECK_OK(rc);
    PL_CHECK(deleted >= 1);
    PL_CHECK_INT(l.n, 1);
    PL_CHECK_STR(l.got[0].id, "p-new");
}

/* SQLite, lazy_create (the guard's cold start): nothing is made until the first write; reads
 * see an empty store; a file made meanwhile by another process is read; a place that cannot
 * be written is refused at open, not at the first incident */
PL_TEST(sqlite_lazy_create_waits_for_the_first_write)
{
    const char *kind = getenv("PL_TEST_STORE");
    if (kind && strcmp(kind, "sqlite"))
        return; /* SQLite only */
    char dir[128], path[192];
    snprintf(dir, sizeof(dir), "/tmp/pl-store-lazy-%d", (int)getpid());
    snprintf(path, sizeof(path), "%s/sub/incidents.db", dir);
    struct pl_store_options o = {.kind = PL_STORE_SQLITE, .path = path, .create = true,
                                 .lazy_create = true};
    struct pl_store *s = NULL, *other = NULL;
    PL_CHECK_OK(pl_store_open(&o, &s));
    PL_CHECK(access(path, F_OK) != 0); /* not made at open */
    struct pl_quarantine q;
    size_t n = 99, purged = 99;
    PL_CHECK_OK(pl_store_get_quarantine(s, "fn-a", &q));
    PL_CHECK(!q.active);
    PL_CHECK_OK(pl_store_count(s, "fn-a", 0, INT64_MAX, ~0ull, &n));
    PL_CHECK_INT(n, 0);
    PL_CHECK_OK(pl_store_purge(s, 1, &purged));
    PL_CHECK_INT(purged, 0);
    PL_CHECK(access(path, F_OK) != 0); /* reads make nothing */

    /* another process (here: another handle, not lazy) quarantines: the lazy one reads it */
    struct pl_store_options o2 = o;
    o2.lazy_create = false;
    PL_CHECK_OK(pl_store_open(&o2, &other));
    struct pl_quarantine set = {.active = true, .time_ms = 1000};
    snprintf(set.reason, sizeof(set.reason), "COMMAND_INJECTION");
    snprintf(set.incident_id, sizeof(set.incident_id), "inc-1");
    PL_CHECK_OK(pl_store_set_quarantine(other, "fn-a", &set));
    pl_store_close(other);
    PL_CHECK_OK(pl_store_get_quarantine(s, "fn-a", &q));
    PL_CHECK(q.active);
    PL_CHECK_STR(q.incident_id, "inc-1");
    pl_store_close(s);

    /* a fresh lazy store: the first put makes the file, the incident is there */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    PL_CHECK(system(cmd) == 0);
    PL_CHECK_OK(pl_store_open(&o, &s));
    struct pl_incident inc;
    s_inc(&inc, "fn-a", "inc-lazy", 5000, PL_EV_COMMAND_INJECTION);
    PL_CHECK_OK(pl_store_put(s, &inc));
    PL_CHECK(access(path, F_OK) == 0);
    PL_CHECK_OK(pl_store_count(s, "fn-a", 0, INT64_MAX, ~0ull, &n));
    PL_CHECK_INT(n, 1);
    pl_store_close(s);

    /* a place that cannot be made: refused at open, with the path */
    struct pl_store_options bad = o;
    bad.path = "/etc/hostname/pl-no/incidents.db";
    PL_CHECK(pl_store_open(&bad, &s) == -1);
    PL_CHECK(strstr(pl_last_error_msg(), "/etc/hostname/pl-no/incidents.db") != NULL);
    PL_CHECK(system(cmd) == 0);
}
