#include "harness.h"
#include "protectlambda/buf.h"
#include "protectlambda/event.h"

PL_TEST(buf_json_escapes_controls_quotes_and_bad_utf8)
{
    struct pl_buf b = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_json_str(&b, "a\"b\\c\n\x01\xff\xc3\xa9", 10));
    PL_CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\"");
    pl_buf_clean_up(&b);
}

PL_TEST(buf_appendf_grows)
{
    struct pl_buf b = PL_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        PL_CHECK_OK(pl_buf_appendf(&b, "%04d", i));
    PL_CHECK_INT(b.len, 4000);
    PL_CHECK(!memcmp(b.data + 3996, "0999", 4));
    pl_buf_clean_up(&b);
}

PL_TEST(alloc_failure_is_reported_not_crashed)
{
    struct pl_buf b = PL_BUF_INIT;
    pl_test_fail_alloc_after(0);
    PL_CHECK(pl_buf_append_str(&b, "x") == -1);
    pl_test_fail_alloc_after(-1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_NOMEM);
    pl_buf_clean_up(&b);
}

PL_TEST(event_names_round_trip)
{
    for (int i = 0; i < PL_EV_COUNT; i++) {
        enum pl_event_type t;
        PL_CHECK_OK(pl_event_type_parse(pl_event_type_name((enum pl_event_type)i), &t));
        PL_CHECK_INT(t, i);
    }
    enum pl_severity s;
    PL_CHECK_OK(pl_severity_parse("high", &s));
    PL_CHECK_INT(s, PL_SEV_HIGH);
    PL_CHECK(pl_severity_parse("urgent", &s) == -1);
}

PL_TEST(event_json_and_truncation)
{
    struct pl_event ev;
    pl_event_init(&ev, PL_EV_IN_RULE_VIOLATION, PL_SEV_HIGH, "guard");
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    PL_EVENT_SET(&ev, detail, big);
    PL_CHECK_INT(strlen(ev.detail), sizeof(ev.detail) - 1);
    PL_EVENT_SET(&ev, path, "$.body");
    struct pl_buf b = PL_BUF_INIT;
    PL_CHECK_OK(pl_event_to_json(&ev, &b));
    PL_CHECK(strstr(b.data, "\"type\":\"IN_RULE_VIOLATION\"") != NULL);
    PL_CHECK(strstr(b.data, "\"path\":\"$.body\"") != NULL);
    pl_buf_clean_up(&b);
}
