/* Playbooks and correlation rules: every default, config keys, file:line errors. */
#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/incidents.h"

static unsigned s_act(const char *s)
{
    unsigned a = 0;
    pl_actions_parse(s, &a);
    return a;
}

PL_TEST(playbook_every_default)
{
    struct pl_playbook pb;
    pl_playbook_defaults(&pb);
    static const struct {
        enum pl_event_type t;
        enum pl_severity l;
        const char *want;
    } table[] = {
        {PL_EV_CODE_INJECTION, PL_SEV_HIGH, "quarantine,alert"},
        {PL_EV_CODE_INJECTION, PL_SEV_CRITICAL, "terminate,alert"},
        {PL_EV_COMMAND_INJECTION, PL_SEV_HIGH, "quarantine,alert"},
        {PL_EV_COMMAND_INJECTION, PL_SEV_CRITICAL, "terminate,alert"},
        {PL_EV_PATH_TRAVERSAL_ATTEMPT, PL_SEV_MEDIUM, "monitor,alert"},
        {PL_EV_PATH_TRAVERSAL_ATTEMPT, PL_SEV_HIGH, "quarantine,alert"},
        {PL_EV_RUNTIME_INTEGRITY_VIOLATION, PL_SEV_CRITICAL, "terminate,alert"},
        {PL_EV_RESOURCE_LIMIT_EXCEEDED, PL_SEV_HIGH, "quarantine,alert"},
    };
    int explicit_entries = 0;
    for (int t = 0; t < PL_EV_COUNT; t++) {
        for (int l = 0; l < PL_SEV_COUNT; l++) {
            const char *want = "monitor"; /* anything else */
            for (size_t i = 0; i < PL_ARRAY_LEN(table); i++)
                if ((int)table[i].t == t && (int)table[i].l == l)
                    want = table[i].want, explicit_entries++;
            unsigned got = pl_playbook_actions(&pb, (enum pl_event_type)t, (enum pl_severity)l);
            char txt[64];
            pl_actions_format(got, txt, sizeof(txt));
            PL_CHECK_MSG(got == s_act(want), "%s x %s: got %s, want %s",
                         pl_event_type_name((enum pl_event_type)t),
                         pl_severity_name((enum pl_severity)l), txt, want);
        }
    }
    PL_CHECK_INT(explicit_entries, (int)PL_ARRAY_LEN(table));
}

PL_TEST(actions_parse_and_format)
{
    unsigned a;
    PL_CHECK_OK(pl_actions_parse("quarantine, alert", &a));
    PL_CHECK_INT(a, PL_PB_QUARANTINE | PL_PB_ALERT);
    char txt[64];
    pl_actions_format(a, txt, sizeof(txt));
    PL_CHECK_STR(txt, "quarantine,alert");
    PL_CHECK_OK(pl_actions_parse("none", &a));
    PL_CHECK_INT(a, 0);
    PL_CHECK(pl_actions_parse("quarantine,explode", &a) == -1);
    PL_CHECK(strstr(pl_last_error_msg(), "explode") != NULL);
    PL_CHECK(pl_actions_parse("", &a) == -1);
}

static int s_cfg_from(const char *text, struct pl_config *cfg, char *path, size_t n)
{
    snprintf(path, n, "/tmp/pl-test-playbook-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    if (pl_config_init(cfg))
        return -1;
    int rc = pl_config_load_file(cfg, path);
    if (rc)
        pl_config_clean_up(cfg);
    return rc;
}

PL_TEST(playbook_from_config)
{
    struct pl_config cfg;
    char path[128];
    PL_CHECK_OK(s_cfg_from("# site playbook\n"
                           "playbook.COMMAND_INJECTION.HIGH = block,alert\n"
                           "playbook.DANGEROUS_FUNCTION_CALL.HIGH = quarantine\n"
                           "playbook.RUNTIME_EXCEPTION.* = none\n",
                           &cfg, path, sizeof(path)));
    struct pl_playbook pb;
    pl_playbook_defaults(&pb);
    int rc = pl_playbook_load(&pb, &cfg);
    pl_config_clean_up(&cfg);
    unlink(path);
    PL_CHECK_OK(rc);
    PL_CHECK_INT(pl_playbook_actions(&pb, PL_EV_COMMAND_INJECTION, PL_SEV_HIGH),
                 PL_PB_BLOCK | PL_PB_ALERT);
    PL_CHECK_INT(pl_playbook_actions(&pb, PL_EV_COMMAND_INJECTION, PL_SEV_CRITICAL),
                 PL_PB_TERMINATE | PL_PB_ALERT); /* untouched default */
    PL_CHECK_INT(pl_playbook_actions(&pb, PL_EV_DANGEROUS_FUNCTION_CALL, PL_SEV_HIGH),
                 PL_PB_QUARANTINE);
    PL_CHECK_INT(pl_playbook_actions(&pb, PL_EV_RUNTIME_EXCEPTION, PL_SEV_LOW), 0);
    PL_CHECK_INT(pl_playbook_actions(&pb, PL_EV_RUNTIME_EXCEPTION, PL_SEV_CRITICAL), 0);
}

static void s_expect_error(const char *text, const char *needle, int line)
{
    struct pl_config cfg;
    char path[128];
    if (s_cfg_from(text, &cfg, path, sizeof(path))) {
        pl_test_fail(__FILE__, line, "config did not load: %s", pl_last_error_msg());
        return;
    }
    struct pl_playbook pb;
    struct pl_correlation c;
    pl_playbook_defaults(&pb);
    pl_correlation_defaults(&c);
    int rc = pl_playbook_load(&pb, &cfg);
    if (rc == 0)
        rc = pl_correlation_load(&c, &cfg);
    pl_config_clean_up(&cfg);
    char where[160];
    snprintf(where, sizeof(where), "%s:2:", path);
    if (rc == 0)
        pl_test_fail(__FILE__, line, "no error for %s", text);
    else if (!strstr(pl_last_error_msg(), where) || !strstr(pl_last_error_msg(), needle))
        pl_test_fail(__FILE__, line, "error '%s' lacks '%s' or '%s'", pl_last_error_msg(), where,
                     needle);
    unlink(path);
}

PL_TEST(config_errors_name_file_and_line)
{
    s_expect_error("# x\nplaybook.COMMAND_INJECTON.HIGH = alert\n", "unknown event type", __LINE__);
    s_expect_error("# x\nplaybook.COMMAND_INJECTION.SEVERE = alert\n", "unknown threat level",
                   __LINE__);
    s_expect_error("# x\nplaybook.COMMAND_INJECTION.HIGH = alert,nuke\n", "unknown action 'nuke'",
                   __LINE__);
    s_expect_error("# x\nplaybook.HIGH = alert\n", "expected playbook.<EVENT_TYPE>.<LEVEL>",
                   __LINE__);
    s_expect_error("# x\ncorrelation.injection.count = zero\n", "not a count", __LINE__);
    s_expect_error("# x\ncorrelation.injection.window = 5 minutes\n", "not a window", __LINE__);
    s_expect_error("# x\ncorrelation.injection.types = CODE_INJECTION,SQLI\n",
                   "unknown event type 'SQLI'", __LINE__);
    s_expect_error("# x\ncorrelation.burst.count = 5\n", "needs count, window and level", __LINE__);
    s_expect_error("# x\ncorrelation.rapid.colour = red\n", "unknown field", __LINE__);
}

PL_TEST(correlation_from_config)
{
    struct pl_config cfg;
    char path[128];
    PL_CHECK_OK(s_cfg_from("correlation.injection.count = 5\n"
                           "correlation.injection.window = 10m\n"
                           "correlation.rapid.enabled = false\n"
                           "correlation.traversal.count = 4\n"
                           "correlation.traversal.window = 120\n"
                           "correlation.traversal.types = PATH_TRAVERSAL_ATTEMPT\n"
                           "correlation.traversal.level = HIGH\n",
                           &cfg, path, sizeof(path)));
    struct pl_correlation c;
    pl_correlation_defaults(&c);
    int rc = pl_correlation_load(&c, &cfg);
    pl_config_clean_up(&cfg);
    unlink(path);
    PL_CHECK_OK(rc);
    PL_CHECK_INT(c.n, 2);
    PL_CHECK_STR(c.rules[0].name, "injection");
    PL_CHECK_INT(c.rules[0].count, 5);
    PL_CHECK_INT(c.rules[0].window_ms, 600000);
    PL_CHECK_INT(c.rules[0].level, PL_SEV_CRITICAL);
    PL_CHECK_STR(c.rules[1].name, "traversal");
    PL_CHECK_INT(c.rules[1].types, 1ull << PL_EV_PATH_TRAVERSAL_ATTEMPT);
    PL_CHECK_INT(c.rules[1].window_ms, 120000);
}

PL_TEST(correlation_defaults)
{
    struct pl_correlation c;
    pl_correlation_defaults(&c);
    PL_CHECK_INT(c.n, 2);
    PL_CHECK_INT(c.rules[0].count, 3);
    PL_CHECK_INT(c.rules[0].window_ms, 300000);
    PL_CHECK_INT(c.rules[0].level, PL_SEV_CRITICAL);
    PL_CHECK_INT(c.rules[0].types,
                 (1ull << PL_EV_CODE_INJECTION) | (1ull << PL_EV_COMMAND_INJECTION));
    PL_CHECK_INT(c.rules[1].count, 10);
    PL_CHECK_INT(c.rules[1].window_ms, 60000);
    PL_CHECK_INT(c.rules[1].level, PL_SEV_HIGH);
    PL_CHECK_INT(c.rules[1].types, 0);
}
