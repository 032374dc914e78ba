/* The monitor's allocation-free helpers: path normalisation and matching, CIDR matching, the
 * bounded JSON writer (its output must always stay valid JSON, even when cut). */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "harness.h"
#include "mon_util.h"
#include "protectlambda/json.h"

PL_TEST(mon_path_normalize_resolves_dots)
{
    char out[256];
    bool dd;
    PL_CHECK_OK(pl_mon_path_normalize("/var/task/../../etc//passwd", out, sizeof(out), &dd));
    PL_CHECK_STR(out, "/etc/passwd");
    PL_CHECK(dd);
    PL_CHECK_OK(pl_mon_path_normalize("/a/./b/", out, sizeof(out), &dd));
    PL_CHECK_STR(out, "/a/b");
    PL_CHECK(!dd);
    PL_CHECK_OK(pl_mon_path_normalize("/../..", out, sizeof(out), &dd));
    PL_CHECK_STR(out, "/");
    PL_CHECK(pl_mon_path_normalize("relative/x", out, sizeof(out), &dd) == -1);
    PL_CHECK(pl_mon_path_normalize("/abcdefgh", out, 5, &dd) == -1);
}

PL_TEST(mon_path_dotdot_segments_only)
{
    PL_CHECK(pl_mon_path_has_dotdot("../x"));
    PL_CHECK(pl_mon_path_has_dotdot("/a/../b"));
    PL_CHECK(pl_mon_path_has_dotdot("/a/.."));
    PL_CHECK(!pl_mon_path_has_dotdot("/a/..b/c"));
    PL_CHECK(!pl_mon_path_has_dotdot("/a/b../c"));
    PL_CHECK(!pl_mon_path_has_dotdot("/a/.../c"));
}

PL_TEST(mon_path_match_globs_and_prefixes)
{
    PL_CHECK(pl_mon_path_match("/proc/*/environ", "/proc/self/environ"));
    PL_CHECK(pl_mon_path_match("/proc/*/environ", "/proc/1234/environ"));
    PL_CHECK(!pl_mon_path_match("/proc/*/environ", "/proc/1234/task/1/environ"));
    PL_CHECK(pl_mon_path_match("/proc/*/task/*/environ", "/proc/1/task/1/environ"));
    PL_CHECK(pl_mon_path_match("/etc/shadow", "/etc/shadow"));
    PL_CHECK(!pl_mon_path_match("/etc/shadow", "/etc/shadow-"));
    PL_CHECK(pl_mon_path_match("/var/task", "/var/task/app.py"));
    PL_CHECK(!pl_mon_path_match("/var/task", "/var/taskforce"));
    PL_CHECK(pl_mon_path_match("/tmp/*.so", "/tmp/x.so"));
    PL_CHECK(!pl_mon_path_match("/tmp/*.so", "/tmp/x.sox"));
    PL_CHECK(pl_mon_path_under("/", "/anything"));
    PL_CHECK(pl_mon_path_under("/tmp/", "/tmp/a"));
    PL_CHECK_STR(pl_mon_basename("/usr/bin/id"), "id");
}

static bool s_match4(const char *rule, const char *ip, int port)
{
    struct pl_mon_net n;
    uint8_t a[16];
    if (pl_mon_net_parse(rule, &n) < 0 || inet_pton(AF_INET, ip, a) != 1)
        return false;
    return pl_mon_net_match(&n, AF_INET, a, port);
}

PL_TEST(mon_net_cidr_and_ports)
{
    PL_CHECK(s_match4("10.0.0.0/8", "10.1.2.3", 443));
    PL_CHECK(!s_match4("10.0.0.0/8", "11.1.2.3", 443));
    PL_CHECK(s_match4("10.0.0.0/8:443", "10.1.2.3", 443));
    PL_CHECK(!s_match4("10.0.0.0/8:443", "10.1.2.3", 80));
    PL_CHECK(s_match4("169.254.169.254", "169.254.169.254", 80));
    PL_CHECK(!s_match4("169.254.169.254", "169.254.169.253", 80));
    PL_CHECK(s_match4("0.0.0.0/0", "8.8.8.8", 53));
    PL_CHECK(s_match4("*:443", "1.2.3.4", 443));
    PL_CHECK(!s_match4("*:443", "1.2.3.4", 444));
    PL_CHECK(s_match4("127.0.0.1:9001", "127.0.0.1", 9001));
    PL_CHECK(s_match4("192.168.1.0/25", "192.168.1.127", 1));
    PL_CHECK(!s_match4("192.168.1.0/25", "192.168.1.128", 1));
    struct pl_mon_net n;
    PL_CHECK(pl_mon_net_parse("300.1.1.1", &n) == -1);
    PL_CHECK(pl_mon_net_parse("10.0.0.0/33", &n) == -1);
    PL_CHECK(pl_mon_net_parse("1.2.3.4:99999", &n) == -1);
    PL_CHECK(pl_mon_net_parse("[fd00:ec2::254]:80", &n) == 0 && n.family == AF_INET6 && n.port == 80);
    uint8_t a6[16];
    inet_pton(AF_INET6, "fd00:ec2::254", a6);
    PL_CHECK(pl_mon_net_match(&n, AF_INET6, a6, 80));
    /* an IPv4-mapped IPv6 destination matches the IPv4 rule */
    PL_CHECK(pl_mon_net_parse("169.254.169.254", &n) == 0);
    inet_pton(AF_INET6, "::ffff:169.254.169.254", a6);
    PL_CHECK(pl_mon_net_match(&n, AF_INET6, a6, 80));
    char buf[64];
    uint8_t a4[4] = {127, 0, 0, 1};
    pl_mon_net_format(AF_INET, a4, 9001, buf, sizeof(buf));
    PL_CHECK_STR(buf, "127.0.0.1:9001");
}

static bool s_valid_json(const char *s, size_t n)
{
    struct pl_json *root = NULL;
    if (pl_json_parse(s, n, NULL, &root) < 0)
        return false;
    pl_json_destroy(root);
    return true;
}

PL_TEST(mon_json_escapes_and_stays_valid_when_cut)
{
    char buf[512];
    struct pl_mon_json j;
    pl_mon_json_init(&j, buf, sizeof(buf));
    pl_mon_json_raw(&j, "{\"a\":");
    pl_mon_json_str(&j, "q\"b\\s\n\x01\xc3\xa9\xff", 0);
    pl_mon_json_raw(&j, ",\"n\":");
    pl_mon_json_int(&j, -42);
    pl_mon_json_raw(&j, "}");
    PL_CHECK_STR(buf, "{\"a\":\"q\\\"b\\\\s\\u000a\\u0001\xc3\xa9?\",\"n\":-42}");
    PL_CHECK(s_valid_json(buf, pl_mon_json_len(&j)));

    /* a huge value is cut with "..." and the document still closes */
    char big[3000];
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pl_mon_json_init(&j, buf, sizeof(buf));
    pl_mon_json_raw(&j, "{\"a\":");
    pl_mon_json_str(&j, big, 0);
    pl_mon_json_raw(&j, ",\"b\":[");
    pl_mon_json_str(&j, "x", 0);
    pl_mon_json_raw(&j, "]}");
    PL_CHECK(j.full);
    PL_CHECK(pl_mon_json_len(&j) < sizeof(buf));
    PL_CHECK_MSG(s_valid_json(buf, pl_mon_json_len(&j)), "not JSON: %s", buf);
    /* per-field cap */
    pl_mon_json_init(&j, buf, sizeof(buf));
    pl_mon_json_str(&j, "abcdef", 3);
    PL_CHECK_STR(buf, "\"abc...\"");
}

PL_TEST(mon_host_patterns)
{
    PL_CHECK(pl_mon_host_match("*.amazonaws.com", "dynamodb.us-east-1.amazonaws.com"));
    PL_CHECK(pl_mon_host_match("*.amazonaws.com", "S3.AMAZONAWS.COM."));
    PL_CHECK(!pl_mon_host_match("*.amazonaws.com", "amazonaws.com"));
    PL_CHECK(!pl_mon_host_match("*.amazonaws.com", "evilamazonaws.com"));
    PL_CHECK(pl_mon_host_match("api.example.com", "api.example.com"));
    PL_CHECK(!pl_mon_host_match("api.example.com", "x.api.example.com"));
    PL_CHECK(pl_mon_is_host_pattern("*.amazonaws.com", 15));
    PL_CHECK(pl_mon_is_host_pattern("localhost", 9));
    PL_CHECK(!pl_mon_is_host_pattern("10.0.0.1", 8));
    PL_CHECK(!pl_mon_is_host_pattern("fd00::1", 7));
    PL_CHECK(!pl_mon_is_host_pattern("*", 1));
}

static const char *s_red(const char *a, bool this_one, bool *next)
{
    static char buf[300];
    return pl_mon_redact_arg(a, this_one, next, buf, sizeof(buf));
}

PL_TEST(mon_redacts_secret_arguments)
{
    bool next;
    PL_CHECK_STR(s_red("--password=hunter2", false, &next), "--password=***");
    PL_CHECK(!next);
    PL_CHECK_STR(s_red("Authorization: Bearer abc.def", false, &next), "Authorization: Bearer ***");
    PL_CHECK_STR(s_red("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", false, &next), "AWS_SECRET_ACCESS_KEY=***");
    PL_CHECK_STR(s_red("--token", false, &next), "--token");
    PL_CHECK(next);
    PL_CHECK_STR(s_red("s3cr3tvalue", next, &next), "***");
    PL_CHECK(!next);
    PL_CHECK_STR(s_red("AKIAIOSFODNN7EXAMPLE", false, &next), "***");
    PL_CHECK_STR(s_red("ghp_0123456789abcdef0123", false, &next), "***");
    PL_CHECK_STR(s_red("-u", false, &next), "-u");
    PL_CHECK_STR(s_red("/usr/bin/id", false, &next), "/usr/bin/id");
    PL_CHECK_STR(s_red("sk-", false, &next), "sk-"); /* too short to be a key */
}

#include "protectlambda/config.h"

/* the defaults the .so compiles from settings.def must all be well-formed */
PL_TEST(mon_default_network_lists_parse)
{
    enum pl_setting_id ids[] = {PL_CFG_MONITOR_NETWORK_ALLOW, PL_CFG_MONITOR_NETWORK_SUSPICIOUS};
    for (size_t k = 0; k < PL_ARRAY_LEN(ids); k++) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s", pl_setting_def(ids[k])->def);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            struct pl_mon_net n;
            PL_CHECK_MSG(pl_mon_net_parse(t, &n) == 0, "default entry '%s' does not parse", t);
        }
    }
    /* every restricted default is absolute (after an optional w:) */
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", pl_setting_def(PL_CFG_MONITOR_RESTRICTED_PATHS)->def);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        PL_CHECK_MSG(t[0] == '/' || (t[0] == 'w' && t[1] == ':' && t[2] == '/'), "entry %s", t);
}
