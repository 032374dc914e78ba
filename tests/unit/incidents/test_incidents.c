/* The incident machinery with a fake clock: correlation rules, playbook effects, quarantine
 * persisted and honoured by a new instance (a new sandbox), dry run, reports. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/incidents.h"
#include "protectlambda/log.h"

static int64_t s_fake_ms;
static int64_t s_clock(void *ctx)
{
    (void)ctx;
    return s_fake_ms;
}

static int s_devnull(void)
{
    static int fd = -1;
    if (fd < 0)
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    return fd;
}

static int s_new(struct pl_config *cfg, const char *store, const char *path,
                 struct pl_incidents **out)
{
    if (pl_config_init(cfg))
        return -1;
    if (pl_config_set(cfg, PL_CFG_STORE, store, PL_ORIGIN_CLI) ||
        (path && pl_config_set(cfg, PL_CFG_STORE_PATH, path, PL_ORIGIN_CLI)) ||
        pl_config_set(cfg, PL_CFG_TERMINATE_REMOTE, "false", PL_ORIGIN_CLI)) {
        pl_config_clean_up(cfg);
        return -1;
    }
    struct pl_incidents_options o = {
        .cfg = cfg, .function = "fn-test", .clock = s_clock, .emf_fd = s_devnull()};
    if (pl_incidents_new(&o, out)) {
        pl_config_clean_up(cfg);
        return -1;
    }
    return 0;
}

static void s_event(struct pl_event *ev, enum pl_event_type t, enum pl_severity s)
{
    pl_event_init(ev, t, s, "guard");
    PL_EVENT_SET(ev, request_id, "req-1");
    PL_EVENT_SET(ev, rule, "test-rule");
}

PL_TEST(injection_rule_three_in_300s_escalates_to_critical)
{
    pl_log_set_fd(s_devnull());
    struct pl_config cfg;
    struct pl_incidents *x;
    PL_CHECK_OK(s_new(&cfg, "none", NULL, &x));
    struct pl_event ev;
    struct pl_incident_result r;
    s_fake_ms = 1700000000000LL;
    /* MEDIUM injections: the playbook says monitor until correlation escalates */
    s_event(&ev, PL_EV_CODE_INJECTION, PL_SEV_MEDIUM);
    pl_incidents_report(x, &ev, &r);
    int l1 = r.level;
    s_fake_ms += 100000;
    s_event(&ev, PL_EV_COMMAND_INJECTION, PL_SEV_MEDIUM);
    pl_incidents_report(x, &ev, &r);
    int l2 = r.level;
    s_fake_ms += 199999; /* third one 299.999 s after the first */
    s_event(&ev, PL_EV_CODE_INJECTION, PL_SEV_MEDIUM);
    pl_incidents_report(x, &ev, &r);
    struct pl_incident_result r3 = r;
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    pl_log_set_fd(2);
    PL_CHECK_INT(l1, PL_SEV_MEDIUM);
    PL_CHECK_INT(l2, PL_SEV_MEDIUM);
    PL_CHECK_INT(r3.level, PL_SEV_CRITICAL);
    PL_CHECK_STR(r3.correlation, "injection");
    PL_CHECK_INT(r3.actions, PL_PB_TERMINATE | PL_PB_ALERT);
    PL_CHECK(r3.deny && r3.terminate);
}

PL_TEST(injection_rule_window_edge_does_not_escalate)
{
    pl_log_set_fd(s_devnull());
    struct pl_config cfg;
    struct pl_incidents *x;
    PL_CHECK_OK(s_new(&cfg, "none", NULL, &x));
    struct pl_event ev;
    struct pl_incident_result r;
    s_fake_ms = 1700000000000LL;
    s_event(&ev, PL_EV_CODE_INJECTION, PL_SEV_MEDIUM);
    pl_incidents_report(x, &ev, &r);
    s_fake_ms += 150000;
    pl_incidents_report(x, &ev, &r);
    s_fake_ms += 150000; /* exactly 300 s after the first: it left the window */
    pl_incidents_report(x, &ev, &r);
    int l3 = r.level;
    /* other types do not count toward the injection rule */
    s_event(&ev, PL_EV_PATH_TRAVERSAL_ATTEMPT, PL_SEV_MEDIUM);
    pl_incidents_report(x, &ev, &r);
    int l4 = r.level;
    unsigned a4 = r.actions;
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    pl_log_set_fd(2);
    PL_CHECK_INT(l3, PL_SEV_MEDIUM);
    PL_CHECK_INT(l4, PL_SEV_MEDIUM);
    PL_CHECK_INT(a4, PL_PB_MONITOR | PL_PB_ALERT);
}

PL_TEST(rapid_rule_ten_in_60s_escalates_to_high)
{
    pl_log_set_fd(s_devnull());
    struct pl_config cfg;
    struct pl_incidents *x;
    PL_CHECK_OK(s_new(&cfg, "none", NULL, &x));
    struct pl_event ev;
    struct pl_incident_result r;
    int levels[11];
    s_fake_ms = 1700000000000LL;
    for (int i = 0; i < 10; i++) {
        s_event(&ev, i % 2 ? PL_EV_IN_RULE_VIOLATION : PL_EV_PATH_TRAVERSAL_ATTEMPT, PL_SEV_LOW);
        pl_incidents_report(x, &ev, &r);
        levels[i] = r.level;
        s_fake_ms += 6000; /* 10 events over 54 s */
    }
    struct pl_incident_result r10 = r;
    /* 61 s after the 2nd event only 9 remain in the window: no escalation for a new one */
    s_fake_ms = 1700000000000LL + 6000 + 60000;
    s_event(&ev, PL_EV_IN_RULE_VIOLATION, PL_SEV_LOW);
    pl_incidents_report(x, &ev, &r);
    levels[10] = r.level;
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    pl_log_set_fd(2);
    for (int i = 0; i < 9; i++)
        PL_CHECK_MSG(levels[i] == PL_SEV_LOW, "event %d level %d", i, levels[i]);
    PL_CHECK_INT(levels[9], PL_SEV_HIGH);
    PL_CHECK_STR(r10.correlation, "rapid");
    /* the 10th was a PATH_TRAVERSAL? no: index 9 is odd -> IN_RULE_VIOLATION x HIGH -> monitor */
    PL_CHECK_INT(r10.actions, PL_PB_MONITOR);
    PL_CHECK_INT(levels[10], PL_SEV_LOW);
}

PL_TEST(rapid_rule_escalation_drives_the_playbook)
{
    pl_log_set_fd(s_devnull());
    struct pl_config cfg;
    struct pl_incidents *x;
    PL_CHECK_OK(s_new(&cfg, "none", NULL, &x));
    struct pl_event ev;
    struct pl_incident_result r;
    s_fake_ms = 1700000000000LL;
    for (int i = 0; i < 10; i++) {
        s_event(&ev, PL_EV_PATH_TRAVERSAL_ATTEMPT, PL_SEV_MEDIUM);
        pl_incidents_report(x, &ev, &r);
        s_fake_ms += 1000;
    }
    struct pl_quarantine q;
    bool quarantined = pl_incidents_quarantined(x, &q);
    struct pl_buf body = PL_BUF_INIT;
    bool have_body = pl_incidents_quarantine_body(x, &body);
    char text[512];
    snprintf(text, sizeof(text), "%s", body.data ? body.data : "");
    pl_buf_clean_up(&body);
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    pl_log_set_fd(2);
    /* PATH_TRAVERSAL x HIGH = quarantine,alert */
    PL_CHECK_INT(r.level, PL_SEV_HIGH);
    PL_CHECK_INT(r.actions, PL_PB_QUARANTINE | PL_PB_ALERT);
    PL_CHECK(r.deny && !r.terminate);
    PL_CHECK(quarantined);
    PL_CHECK_STR(q.reason, "PATH_TRAVERSAL_ATTEMPT");
    PL_CHECK_STR(q.incident_id, r.id);
    PL_CHECK(have_body);
    PL_CHECK(strstr(text, "\"error\":\"Function quarantined due to security incident\"") != NULL);
    PL_CHECK(strstr(text, "\"quarantine_reason\":\"PATH_TRAVERSAL_ATTEMPT\"") != NULL);
    PL_CHECK(strstr(text, "\"quarantine_timestamp\":\"2023-11-14T22:13:") != NULL);
}

PL_TEST(dry_run_decides_but_does_not_enforce)
{
    pl_log_set_fd(s_devnull());
    struct pl_config cfg;
    PL_CHECK_OK(pl_config_init(&cfg));
    pl_config_set(&cfg, PL_CFG_STORE, "none", PL_ORIGIN_CLI);
    struct pl_incidents_options o = {
        .cfg = &cfg, .function = "fn", .clock = s_clock, .dry_run = true, .emf_fd = s_devnull()};
    struct pl_incidents *x;
    int rc = pl_incidents_new(&o, &x);
    if (rc)
        pl_config_clean_up(&cfg);
    PL_CHECK_OK(rc);
    struct pl_event ev;
    struct pl_incident_result r;
    s_event(&ev, PL_EV_COMMAND_INJECTION, PL_SEV_CRITICAL);
    pl_incidents_report(x, &ev, &r);
    bool q = pl_incidents_quarantined(x, NULL), t = pl_incidents_terminating(x);
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    pl_log_set_fd(2);
    PL_CHECK_INT(r.actions, PL_PB_TERMINATE | PL_PB_ALERT);
    PL_CHECK(!r.deny && !r.terminate && !q && !t);
}

/* every test database directory of this process goes when the test exits */
static void s_remove_tmpdbs(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/pl-test-inc-%d-*", (int)getpid());
    if (system(cmd) != 0)
        fprintf(stderr, "test_incidents: could not remove /tmp/pl-test-inc-%d-*\n", (int)getpid());
}

static void s_tmpdb(char *path, size_t n, const char *tag)
{
    static bool s_registered;
    if (!s_registered)
        s_registered = atexit(s_remove_tmpdbs) == 0;
    snprintf(path, n, "/tmp/pl-test-inc-%d-%s/incidents.db", (int)getpid(), tag);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/pl-test-inc-%d-%s", (int)getpid(), tag);
    if (system(cmd) != 0)
        return;
}

PL_TEST(quarantine_persisted_and_honoured_by_a_new_sandbox)
{
    pl_log_set_fd(s_devnull());
    char db[200];
    s_tmpdb(db, sizeof(db), "q");
    struct pl_config cfg;
    struct pl_incidents *x;
    PL_CHECK_OK(s_new(&cfg, "sqlite", db, &x));
    struct pl_event ev;
    struct pl_incident_result r;
    s_fake_ms = pl_wall_ms();
    s_event(&ev, PL_EV_COMMAND_INJECTION, PL_SEV_HIGH);
    pl_incidents_report(x, &ev, &r);
    int flushed = pl_incidents_flush(x, 5000);
    struct pl_incidents_stats st;
    pl_incidents_get_stats(x, &st);
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    PL_CHECK_OK(flushed);
    PL_CHECK_INT(st.stored, 1);
    PL_CHECK_INT(r.actions, PL_PB_QUARANTINE | PL_PB_ALERT);
    /* a new instance (new sandbox) on the same store starts quarantined */
    PL_CHECK_OK(s_new(&cfg, "sqlite", db, &x));
    struct pl_quarantine q;
    bool active = pl_incidents_quarantined(x, &q);
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    PL_CHECK(active);
    PL_CHECK_STR(q.reason, "COMMAND_INJECTION");
    PL_CHECK_STR(q.incident_id, r.id);
    /* cleared in the store (as the CLI does): a new instance serves again */
    struct pl_store_options so = {.kind = PL_STORE_SQLITE, .path = db, .create = true};
    struct pl_store *s;
    PL_CHECK_OK(pl_store_open(&so, &s));
    int crc = pl_store_clear_quarantine(s, "fn-test");
    pl_store_close(s);
    PL_CHECK_OK(crc);
    PL_CHECK_OK(s_new(&cfg, "sqlite", db, &x));
    active = pl_incidents_quarantined(x, NULL);
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    pl_log_set_fd(2);
    PL_CHECK(!active);
}

PL_TEST(shared_correlation_counts_other_sandboxes)
{
    pl_log_set_fd(s_devnull());
    char db[200];
    s_tmpdb(db, sizeof(db), "shared");
    struct pl_config cfg_a, cfg_b;
    struct pl_incidents *a, *b;
    PL_CHECK_OK(s_new(&cfg_a, "sqlite", db, &a));
    if (s_new(&cfg_b, "sqlite", db, &b)) {
        pl_incidents_destroy(a);
        pl_config_clean_up(&cfg_a);
        PL_CHECK_MSG(0, "second instance: %s", pl_last_error_msg());
    }
    struct pl_event ev;
    struct pl_incident_result r;
    s_fake_ms = pl_wall_ms();
    /* two MEDIUM injections in sandbox A, stored */
    s_event(&ev, PL_EV_COMMAND_INJECTION, PL_SEV_MEDIUM);
    pl_incidents_report(a, &ev, &r);
    s_fake_ms += 1000;
    pl_incidents_report(a, &ev, &r);
    pl_incidents_flush(a, 5000);
    /* the third lands in sandbox B: locally its first, but the store holds two more */
    s_fake_ms += 1000;
    pl_incidents_report(b, &ev, &r);
    int local_level = r.level;
    pl_incidents_flush(b, 5000);
    struct pl_incidents_stats st;
    pl_incidents_get_stats(b, &st);
    bool term = pl_incidents_terminating(b);
    pl_incidents_destroy(a);
    pl_incidents_destroy(b);
    pl_config_clean_up(&cfg_a);
    pl_config_clean_up(&cfg_b);
    pl_log_set_fd(2);
    PL_CHECK_INT(local_level, PL_SEV_MEDIUM);
    PL_CHECK_INT(st.escalated, 1);
    PL_CHECK(term); /* COMMAND_INJECTION x CRITICAL = terminate,alert, decided by the worker */
}

PL_TEST(report_formats_from_the_store)
{
    pl_log_set_fd(s_devnull());
    char db[200];
    s_tmpdb(db, sizeof(db), "report");
    struct pl_config cfg;
    struct pl_incidents *x;
    PL_CHECK_OK(s_new(&cfg, "sqlite", db, &x));
    struct pl_event ev;
    s_fake_ms = pl_wall_ms() - 60000;
    for (int i = 0; i < 12; i++) {
        s_event(&ev, i < 3 ? PL_EV_DANGEROUS_FUNCTION_CALL : PL_EV_IN_RULE_VIOLATION,
                i < 3 ? PL_SEV_HIGH : PL_SEV_MEDIUM);
        PL_EVENT_SET(&ev, rule, i < 3 ? "eval" : "<script>");
        pl_incidents_report(x, &ev, NULL);
        s_fake_ms += 1000;
    }
    pl_incidents_flush(x, 5000);
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    pl_log_set_fd(2);
    struct pl_store_options so = {.kind = PL_STORE_SQLITE, .path = db};
    struct pl_store *s;
    PL_CHECK_OK(pl_store_open(&so, &s));
    struct pl_report_options ro = {.function = "fn-test", .now_ms = pl_wall_ms()};
    ro.since_ms = ro.now_ms - 3600000;
    struct pl_buf txt = PL_BUF_INIT, json = PL_BUF_INIT, html = PL_BUF_INIT;
    ro.format = PL_REPORT_TEXT;
    int rc = pl_report_build(s, &ro, &txt);
    ro.format = PL_REPORT_JSON;
    rc |= pl_report_build(s, &ro, &json);
    ro.format = PL_REPORT_HTML;
    rc |= pl_report_build(s, &ro, &html);
    pl_store_close(s);
    bool ok = rc == 0 && strstr(txt.data, "total events: 12") &&
              strstr(txt.data, "DANGEROUS_FUNCTION_CALL") && strstr(txt.data, "code review") &&
              strstr(txt.data, "Review the 6 HIGH/CRITICAL") && strstr(json.data, "\"total\":12") &&
              strstr(json.data, "\"correlated_total\":3") && strstr(html.data, "<svg") &&
              strstr(html.data, "&lt;script&gt;") && !strstr(html.data, "<script>");
    if (!ok)
        fprintf(stderr, "%s\n%s\n", txt.data ? txt.data : "", json.data ? json.data : "");
    /* self-contained: no external references except the SVG namespace */
    bool external =
        strstr(html.data, "src=") || strstr(html.data, "href=") || strstr(html.data, "https://");
    pl_buf_clean_up(&txt);
    pl_buf_clean_up(&json);
    pl_buf_clean_up(&html);
    PL_CHECK(ok);
    PL_CHECK(!external);
}

PL_TEST(since_parsing)
{
    int64_t s;
    PL_CHECK_OK(pl_report_parse_since("24h", 100000000, &s));
    PL_CHECK_INT(s, 100000000 - 86400000);
    PL_CHECK_OK(pl_report_parse_since("30m", 10000000, &s));
    PL_CHECK_INT(s, 10000000 - 1800000);
    PL_CHECK_OK(pl_report_parse_since("2026-11-22", 0, &s));
    PL_CHECK_INT(s, 1795305600000LL);
    PL_CHECK_OK(pl_report_parse_since("2026-11-22T08:00:00Z", 0, &s));
    PL_CHECK_INT(s, 1795305600000LL + 8 * 3600000LL);
    PL_CHECK(pl_report_parse_since("yesterday", 0, &s) == -1);
    PL_CHECK(pl_report_parse_since("5x", 0, &s) == -1);
}

PL_TEST(allocation_failures_are_clean)
{
    /* every allocation of new/report/flush/destroy failing in turn: errors, never crashes or
     * leaks (the harness counts live allocations) */
    pl_log_set_fd(s_devnull());
    int ok_runs = 0;
    for (long n = 0; n < 60; n++) {
        struct pl_config cfg;
        if (pl_config_init(&cfg))
            break;
        pl_config_set(&cfg, PL_CFG_STORE, "none", PL_ORIGIN_CLI);
        pl_config_set(&cfg, PL_CFG_INCIDENTS_QUEUE, "8", PL_ORIGIN_CLI);
        pl_config_set(&cfg, PL_CFG_SINKS_QUEUE, "8", PL_ORIGIN_CLI);
        struct pl_incidents_options o = {
            .cfg = &cfg, .function = "fn", .clock = s_clock, .emf_fd = s_devnull()};
        struct pl_incidents *x = NULL;
        pl_test_fail_alloc_after(n);
        int rc = pl_incidents_new(&o, &x);
        if (rc == 0) {
            struct pl_event ev;
            s_event(&ev, PL_EV_COMMAND_INJECTION, PL_SEV_HIGH);
            pl_incidents_report(x, &ev, NULL);
            struct pl_buf body = PL_BUF_INIT;
            pl_incidents_quarantine_body(x, &body);
            pl_buf_clean_up(&body);
            pl_incidents_flush(x, 1000);
            pl_incidents_destroy(x);
            ok_runs++;
        }
        pl_test_fail_alloc_after(-1);
        pl_config_clean_up(&cfg);
    }
    pl_log_set_fd(2);
    PL_CHECK(ok_runs > 0);
}
