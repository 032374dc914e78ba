/* Unit tests of the guard's decisions (no network): the runtime's environment editing, and
 * the verdicts and deny answers for events, responses, errors and streams with real rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/guard.h"
#include "protectlambda/log.h"

PL_TEST(exec_env_set_get_unset)
{
    char *envp[] = {"A=1", "PATH=/bin", "B=two=2", NULL};
    struct pl_exec_env env;
    PL_CHECK_OK(pl_exec_env_init(&env, envp));
    PL_CHECK(!strcmp(pl_exec_env_get(&env, "B"), "two=2"));
    PL_CHECK(pl_exec_env_get(&env, "PAT") == NULL);
    PL_CHECK_OK(pl_exec_env_set(&env, "A", "x"));
    PL_CHECK_OK(pl_exec_env_set(&env, "NEW", ""));
    PL_CHECK(!strcmp(pl_exec_env_get(&env, "A"), "x"));
    PL_CHECK(!strcmp(pl_exec_env_get(&env, "NEW"), ""));
    PL_CHECK_OK(pl_exec_env_unset(&env, "PATH"));
    PL_CHECK_OK(pl_exec_env_unset(&env, "PATH"));
    PL_CHECK(pl_exec_env_get(&env, "PATH") == NULL);
    PL_CHECK_INT(env.n, 3);
    PL_CHECK(env.vars[env.n] == NULL);
    PL_CHECK(pl_exec_env_set(&env, "BAD=NAME", "v") == -1);
    pl_exec_env_clean_up(&env);
}

PL_TEST(exec_env_out_of_memory)
{
    char *envp[] = {"A=1", "B=2", NULL};
    struct pl_exec_env env;
    pl_test_fail_alloc_after(2);
    int rc = pl_exec_env_init(&env, envp);
    pl_test_fail_alloc_after(-1);
    PL_CHECK_INT(rc, -1);
    PL_CHECK_OK(pl_exec_env_init(&env, envp));
    pl_test_fail_alloc_after(0);
    rc = pl_exec_env_set(&env, "C", "3");
    pl_test_fail_alloc_after(-1);
    PL_CHECK_INT(rc, -1);
    PL_CHECK(pl_exec_env_get(&env, "C") == NULL);
    pl_exec_env_clean_up(&env);
}

/* ---- a guard with a small rule pack of its own ---- */
static char s_dir[256];

static void s_write(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", s_dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

struct fixture {
    struct pl_config cfg;
    struct pl_guard *g;
    struct pl_guard_session *s;
    struct pl_proxy_answer a;
    struct pl_buf rw;
};

static bool s_task_root_rules; /* in_protect.txt from the task root instead of `rules` */

static int s_setup(struct fixture *f, const char *mode, const char *extra_rules)
{
    pl_log_set_level(getenv("PL_TEST_LOG") ? PL_LOG_DEBUG : PL_LOG_OFF);
    snprintf(s_dir, sizeof(s_dir), "/tmp/pl-unit-guard-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", s_dir);
    if (system(cmd))
        return -1;
    s_write("in_protect.txt", "cat /etc/passwd\n");
    s_write("pack.yaml",
            "name: unit\nrules:\n"
            "  - id: T-OUT-DENY\n    target: out\n    category: secret-exposure\n"
            "    severity: CRITICAL\n    action: deny\n    pattern: 'SECRET[0-9]{6}'\n"
            "  - id: T-OUT-REDACT\n    target: out\n    category: pii\n    severity: LOW\n"
            "    action: redact\n    pattern: 'tok_[a-z0-9]{8}'\n");
    memset(f, 0, sizeof(*f));
    if (pl_config_init(&f->cfg))
        return -1;
    char rules[600];
    if (s_task_root_rules)
        snprintf(rules, sizeof(rules), "%s/pack.yaml", s_dir);
    else
        snprintf(rules, sizeof(rules), "%s/in_protect.txt,%s/pack.yaml%s%s", s_dir, s_dir,
                 extra_rules ? "," : "", extra_rules ? extra_rules : "");
    if (pl_config_set(&f->cfg, PL_CFG_RULES_DIR, "", PL_ORIGIN_CLI) ||
        pl_config_set(&f->cfg, PL_CFG_RULES, rules, PL_ORIGIN_CLI) ||
        pl_config_set(&f->cfg, PL_CFG_RULES_DB, "/nonexistent/rules.db", PL_ORIGIN_CLI) ||
        pl_config_set(&f->cfg, PL_CFG_TASK_ROOT, s_task_root_rules ? s_dir : "/nonexistent-task-root",
                      PL_ORIGIN_CLI) ||
        pl_config_set(&f->cfg, PL_CFG_MODE, mode, PL_ORIGIN_CLI))
        return -1;
    if (pl_guard_new(&f->cfg, &f->g))
        return -1;
    pl_guard_load_rules(f->g); /* failure puts it in deny-all: tests check that */
    if (pl_guard_session_new(f->g, &f->s))
        return -1;
    pl_proxy_answer_init(&f->a);
    pl_buf_init(&f->rw);
    return 0;
}

static void s_teardown(struct fixture *f)
{
    pl_guard_session_destroy(f->s);
    pl_guard_destroy(f->g);
    pl_config_clean_up(&f->cfg);
    pl_proxy_answer_clean_up(&f->a);
    pl_buf_clean_up(&f->rw);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s_dir);
    if (system(cmd)) {
    }
}

static enum pl_proxy_verdict s_event(struct fixture *f, const char *ev)
{
    return pl_guard_check_event(f->s, "rid-1", ev, strlen(ev), &f->a);
}

PL_TEST(events_pass_and_deny)
{
    struct fixture f;
    PL_CHECK_OK(s_setup(&f, "block", NULL));
    PL_CHECK(!pl_guard_denying_all(f.g));
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_PASS);
    PL_CHECK_INT(s_event(&f, "{\"name\":\"x; cat /etc/passwd\"}"), PL_PROXY_DENY);
    PL_CHECK(!f.a.as_error);
    PL_CHECK(!strcmp(f.a.body.data, "\"Security Violation...\""));
    /* URL-encoded in a query string: still seen */
    PL_CHECK_INT(s_event(&f, "{\"q\":\"x%3B%20cat%20%2Fetc%2Fpasswd\"}"), PL_PROXY_DENY);
    /* an HTTP-trigger event gets a 403 proxy response */
    PL_CHECK_INT(s_event(&f, "{\"version\":\"2.0\",\"rawPath\":\"/a\",\"requestContext\":"
                             "{\"http\":{\"method\":\"GET\",\"path\":\"/a\"}},"
                             "\"queryStringParameters\":{\"f\":\"cat /etc/passwd\"}}"),
                 PL_PROXY_DENY);
    PL_CHECK_MSG(strstr(f.a.body.data, "\"statusCode\":403") != NULL, "%s", f.a.body.data);
    PL_CHECK(strstr(f.a.body.data, "Security Violation...") != NULL);
    uint64_t inv, den;
    pl_guard_stats(f.g, &inv, &den);
    PL_CHECK_INT(inv, 4);
    PL_CHECK_INT(den, 3);
    s_teardown(&f);
}

PL_TEST(monitor_mode_passes)
{
    struct fixture f;
    PL_CHECK_OK(s_setup(&f, "monitor", NULL));
    PL_CHECK_INT(s_event(&f, "{\"name\":\"x; cat /etc/passwd\"}"), PL_PROXY_PASS);
    const char *leak = "{\"k\":\"SECRET123456\"}";
    PL_CHECK_INT(pl_guard_check_out(f.s, PL_PROXY_RESPONSE, "rid-1", leak, strlen(leak), &f.rw,
                                    &f.a),
                 PL_PROXY_PASS);
    s_teardown(&f);
}

PL_TEST(responses_deny_redact_error)
{
    struct fixture f;
    PL_CHECK_OK(s_setup(&f, "block", NULL));
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_PASS);
    const char *ok = "{\"greeting\":\"hello\"}";
    PL_CHECK_INT(pl_guard_check_out(f.s, PL_PROXY_RESPONSE, "rid-1", ok, strlen(ok), &f.rw, &f.a),
                 PL_PROXY_PASS);
    const char *leak = "{\"k\":\"SECRET123456\"}";
    PL_CHECK_INT(pl_guard_check_out(f.s, PL_PROXY_RESPONSE, "rid-1", leak, strlen(leak), &f.rw,
                                    &f.a),
                 PL_PROXY_DENY);
    PL_CHECK(!strcmp(f.a.body.data, "\"Security Violation...\""));
    pl_guard_invocation_end(f.s, "rid-1");
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_PASS);
    /* an error post leaking it is replaced by a SecurityViolation error */
    PL_CHECK_INT(pl_guard_check_out(f.s, PL_PROXY_ERROR, "rid-1", leak, strlen(leak), &f.rw,
                                    &f.a),
                 PL_PROXY_DENY);
    PL_CHECK(f.a.as_error && !strcmp(f.a.error_type, "SecurityViolation"));
    PL_CHECK(strstr(f.a.body.data, "\"errorType\":\"SecurityViolation\"") != NULL);
    pl_guard_invocation_end(f.s, "rid-1");
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_PASS);
    /* redaction: every occurrence replaced, the rest unchanged */
    const char *tok = "{\"a\":\"tok_abcd1234\",\"b\":\"x tok_zzzz9999 y\"}";
    PL_CHECK_INT(pl_guard_check_out(f.s, PL_PROXY_RESPONSE, "rid-1", tok, strlen(tok), &f.rw,
                                    &f.a),
                 PL_PROXY_REWRITE);
    PL_CHECK_MSG(!strcmp(f.rw.data, "{\"a\":\"[REDACTED]\",\"b\":\"x [REDACTED] y\"}"), "%s",
                 f.rw.data);
    s_teardown(&f);
}

PL_TEST(stream_split_secret)
{
    struct fixture f;
    PL_CHECK_OK(s_setup(&f, "block", NULL));
    PL_CHECK_OK(pl_guard_stream_begin(f.s, "rid-1"));
    PL_CHECK_INT(pl_guard_stream_chunk(f.s, "hello SECR", 10), PL_PROXY_PASS);
    enum pl_proxy_verdict v = pl_guard_stream_chunk(f.s, "ET123456 bye", 12);
    if (v == PL_PROXY_PASS)
        v = pl_guard_stream_end(f.s, &f.a);
    else
        PL_CHECK_INT(pl_guard_stream_end(f.s, &f.a), PL_PROXY_DENY);
    PL_CHECK_INT(v, PL_PROXY_DENY);
    PL_CHECK(f.a.as_error);
    /* a clean stream passes */
    PL_CHECK_OK(pl_guard_stream_begin(f.s, "rid-1"));
    PL_CHECK_INT(pl_guard_stream_chunk(f.s, "all ", 4), PL_PROXY_PASS);
    PL_CHECK_INT(pl_guard_stream_chunk(f.s, "fine", 4), PL_PROXY_PASS);
    PL_CHECK_INT(pl_guard_stream_end(f.s, &f.a), PL_PROXY_PASS);
    s_teardown(&f);
}

PL_TEST(fail_closed_on_bad_rules)
{
    struct fixture f;
    PL_CHECK_OK(s_setup(&f, "block", "/nonexistent/rules.yaml"));
    PL_CHECK(pl_guard_denying_all(f.g));
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_DENY);
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Bob\"}"), PL_PROXY_DENY);
    s_teardown(&f);
}

PL_TEST(deny_all_and_custom_body)
{
    struct fixture f;
    PL_CHECK_OK(s_setup(&f, "block", NULL));
    PL_CHECK_OK(pl_config_set(&f.cfg, PL_CFG_DENY_BODY, "Nope", PL_ORIGIN_CLI));
    pl_guard_deny_all(f.g, "integrity check failed");
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_DENY);
    PL_CHECK(!strcmp(f.a.body.data, "\"Nope\""));
    s_teardown(&f);
}

PL_TEST(function_rules_beside_the_packs)
{
    /* the function's own in_protect.txt (task root) is a second rule set: both apply */
    struct fixture f;
    s_task_root_rules = true;
    int rc = s_setup(&f, "block", NULL);
    s_task_root_rules = false;
    PL_CHECK_OK(rc);
    PL_CHECK(!pl_guard_denying_all(f.g));
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_PASS);
    PL_CHECK_INT(s_event(&f, "{\"name\":\"x; cat /etc/passwd\"}"), PL_PROXY_DENY);
    const char *leak = "{\"k\":\"SECRET123456\"}";
    pl_guard_invocation_end(f.s, "rid-1");
    PL_CHECK_INT(s_event(&f, "{\"name\":\"Ada\"}"), PL_PROXY_PASS);
    PL_CHECK_INT(pl_guard_check_out(f.s, PL_PROXY_RESPONSE, "rid-1", leak, strlen(leak), &f.rw,
                                    &f.a),
                 PL_PROXY_DENY);
    s_teardown(&f);
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

PL_TEST(serve_and_stop_frees_everything)
{
    /* the proxy listens, takes connections (sessions are pooled), and stops cleanly: the
     * harness fails this test if anything is left allocated */
    struct fixture f;
    PL_CHECK_OK(s_setup(&f, "block", NULL));
    PL_CHECK_OK(pl_guard_serve(f.g, "127.0.0.1:1", 0));
    int port = pl_guard_port(f.g);
    PL_CHECK(port > 0);
    for (int i = 0; i < 3; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        PL_CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
        /* an unknown path: the upstream is unreachable, the proxy answers 502 itself */
        const char req[] = "GET /2018-06-01/runtime/x HTTP/1.1\r\nHost: x\r\n\r\n";
        PL_CHECK(write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
        char buf[512];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        PL_CHECK(n > 12);
        buf[n] = '\0';
        PL_CHECK_MSG(!strncmp(buf, "HTTP/1.1 502", 12), "%s", buf);
        close(fd);
    }
    s_teardown(&f); /* pl_guard_destroy stops the proxy and frees the pooled sessions */
}
