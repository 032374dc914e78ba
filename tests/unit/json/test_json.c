/* JSON parser tests: escapes, surrogates, limits, invalid input, DOM round trip, allocation
 * failures. */
#include "harness.h"

#include "protectlambda/json.h"

struct s_rec {
    struct pl_buf out; /* a trace of the callbacks */
};

static int s_key(void *ctx, const char *k, size_t n, const char *raw, size_t rl)
{
    struct s_rec *r = ctx;
    return pl_buf_append_str(&r->out, "K:") || pl_buf_append(&r->out, k, n) ||
           pl_buf_append_char(&r->out, '|');
}
static int s_str(void *ctx, const char *k, size_t n, const char *raw, size_t rl)
{
    struct s_rec *r = ctx;
    return pl_buf_append_str(&r->out, "S:") || pl_buf_append(&r->out, k, n) ||
           pl_buf_append_str(&r->out, "(") || pl_buf_append(&r->out, raw, rl) ||
           pl_buf_append_str(&r->out, ")|");
}
static int s_num(void *ctx, const char *k, size_t n)
{
    struct s_rec *r = ctx;
    return pl_buf_append_str(&r->out, "N:") || pl_buf_append(&r->out, k, n) ||
           pl_buf_append_char(&r->out, '|');
}
static int s_bool(void *ctx, bool v)
{
    return pl_buf_append_str(&((struct s_rec *)ctx)->out, v ? "T|" : "F|");
}
static int s_null(void *ctx) { return pl_buf_append_str(&((struct s_rec *)ctx)->out, "0|"); }
static int s_bo(void *ctx) { return pl_buf_append_str(&((struct s_rec *)ctx)->out, "{|"); }
static int s_eo(void *ctx) { return pl_buf_append_str(&((struct s_rec *)ctx)->out, "}|"); }
static int s_ba(void *ctx) { return pl_buf_append_str(&((struct s_rec *)ctx)->out, "[|"); }
static int s_ea(void *ctx) { return pl_buf_append_str(&((struct s_rec *)ctx)->out, "]|"); }

static const struct pl_json_sax s_cb = {s_key, s_str, s_num, s_bool, s_null, s_bo, s_eo, s_ba, s_ea};

/* parse and return the trace (caller frees) or NULL with *err set */
static char *s_trace(const char *json, size_t len, const struct pl_json_limits *lim, int *err,
                     size_t *off)
{
    struct s_rec r;
    pl_buf_init(&r.out);
    pl_buf_append_str(&r.out, "");
    size_t o = 0;
    int rc = pl_json_sax_parse(json, len, lim, &s_cb, &r, &o);
    *err = rc ? pl_last_error() : 0;
    if (off)
        *off = o;
    if (rc) {
        pl_buf_clean_up(&r.out);
        return NULL;
    }
    return pl_buf_steal(&r.out, NULL);
}

PL_TEST(json_sax_structure)
{
    int err;
    const char *j = " {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {}, \"c\": []} ";
    char *t = s_trace(j, strlen(j), NULL, &err, NULL);
    PL_CHECK_MSG(t, "parse failed: %s", pl_last_error_msg());
    int ok = !strcmp(t, "{|K:a|[|N:1|N:-2.5e3|T|F|0|S:x(\"x\")|]|K:b|{|}|K:c|[|]|}|");
    if (!ok)
        fprintf(stderr, "  trace: %s\n", t);
    pl_free(t);
    PL_CHECK(ok);
}

PL_TEST(json_escapes)
{
    int err;
    const char *j = "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\"]";
    char *t = s_trace(j, strlen(j), NULL, &err, NULL);
    PL_CHECK(t);
    const char *want = "[|S:a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac(";
    int ok = !strncmp(t, want, strlen(want));
    pl_free(t);
    PL_CHECK(ok);
}

PL_TEST(json_surrogates)
{
    int err;
    /* U+1F600 as a pair; lone high; lone low; high followed by a non-low escape */
    const char *j = "[\"\\ud83d\\ude00\",\"x\\ud83dy\",\"\\ude00\",\"\\ud83d\\u0041\"]";
    char *t = s_trace(j, strlen(j), NULL, &err, NULL);
    PL_CHECK_MSG(t, "%s", pl_last_error_msg());
    const char *want = "[|S:\xf0\x9f\x98\x80(\"\\ud83d\\ude00\")|S:x\xef\xbf\xbdy(\"x\\ud83dy\")|"
                       "S:\xef\xbf\xbd(\"\\ude00\")|S:\xef\xbf\xbd" "A(\"\\ud83d\\u0041\")|]|";
    int ok = !strcmp(t, want);
    if (!ok)
        fprintf(stderr, "  trace: %s\n", t);
    pl_free(t);
    PL_CHECK(ok);
}

PL_TEST(json_nul_in_string)
{
    struct pl_json *root = NULL;
    const char *j = "{\"k\":\"a\\u0000b\"}";
    PL_CHECK_OK(pl_json_parse(j, strlen(j), NULL, &root));
    const struct pl_json *v = pl_json_get(root, "k");
    int ok = v && v->len == 3 && !memcmp(v->str, "a\0b", 3);
    pl_json_destroy(root);
    PL_CHECK(ok);
}

PL_TEST(json_invalid_inputs)
{
    static const struct {
        const char *in;
        size_t off;
    } bad[] = {
        {"", 0}, {"   ", 3}, {"{", 1}, {"[1,]", 3}, {"{\"a\":1,}", 7}, {"{\"a\" 1}", 5},
        {"{1:2}", 1}, {"[01]", 2}, {"[1.]", 3}, {"[-]", 2}, {"[1e]", 3}, {"[.5]", 1},
        {"[\"a\\x\"]", 3}, {"[\"\\u12g4\"]", 2}, {"[\"a\tb\"]", 3}, {"[\"abc", 5},
        {"[tru]", 1}, {"nul", 0}, {"{} x", 3}, {"[1] [2]", 4}, {"[1 2]", 3}, {"\"a\" \"b\"", 4},
        {"[+1]", 1}, {"{\"a\":}", 5}, {"[\"\\", 2}, {"\xef\xbb\xbf{}", 0},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++) {
        int err;
        size_t off = 999;
        char *t = s_trace(bad[i].in, strlen(bad[i].in), NULL, &err, &off);
        pl_free(t);
        PL_CHECK_MSG(!t, "accepted invalid JSON %zu: %s", i, bad[i].in);
        PL_CHECK_MSG(err == PL_ERR_PARSE, "case %zu: error %d", i, err);
        PL_CHECK_MSG(off == bad[i].off, "case %zu (%s): offset %zu, expected %zu", i, bad[i].in,
                     off, bad[i].off);
    }
}

PL_TEST(json_valid_scalars)
{
    const char *good[] = {"0", "-0", "1.5e+10", "-1E-2", "true", "null", "\"\"", " [ ] ",
                          "\"\xff\xfe raw bytes\"", "123456789012345678901234567890"};
    for (size_t i = 0; i < PL_ARRAY_LEN(good); i++) {
        int err;
        char *t = s_trace(good[i], strlen(good[i]), NULL, &err, NULL);
        PL_CHECK_MSG(t, "rejected valid JSON %s: %s", good[i], pl_last_error_msg());
        pl_free(t);
    }
}

PL_TEST(json_deep_nesting_hits_limit)
{
    size_t n = 100000;
    char *j = malloc(2 * n);
    memset(j, '[', n);
    memset(j + n, ']', n);
    int err;
    size_t off = 0;
    char *t = s_trace(j, 2 * n, NULL, &err, &off);
    PL_CHECK(!t);
    PL_CHECK_INT(err, PL_ERR_LIMIT);
    PL_CHECK_INT(off, 256);
    /* with a limit above the nesting it parses (no recursion on the C stack) */
    struct pl_json_limits lim = {.max_depth = 200000, .max_values = 0};
    t = s_trace(j, 2 * n, &lim, &err, NULL);
    PL_CHECK_MSG(t, "%s", pl_last_error_msg());
    pl_free(t);
    /* and the DOM of it writes back the same */
    struct pl_json *root = NULL;
    PL_CHECK_OK(pl_json_parse(j, 2 * n, &lim, &root));
    struct pl_buf b = PL_BUF_INIT;
    int rc = pl_json_write(&b, root);
    int same = rc == 0 && b.len == 2 * n && !memcmp(b.data, j, 2 * n);
    pl_buf_clean_up(&b);
    pl_json_destroy(root);
    free(j);
    PL_CHECK(same);
}

PL_TEST(json_value_limit)
{
    struct pl_json_limits lim = {.max_depth = 10, .max_values = 5};
    int err;
    const char *ok = "{\"a\":1,\"b\":2}"; /* object + 2 keys + 2 values = 5 */
    char *t = s_trace(ok, strlen(ok), &lim, &err, NULL);
    PL_CHECK(t);
    pl_free(t);
    const char *bad = "[1,2,3,4,5]";
    t = s_trace(bad, strlen(bad), &lim, &err, NULL);
    PL_CHECK(!t);
    PL_CHECK_INT(err, PL_ERR_LIMIT);
}

static int s_stop(void *ctx, const char *s, size_t n, const char *raw, size_t rl)
{
    return pl_raise(PL_ERR_INSPECT, "stop here");
}

PL_TEST(json_callback_stops)
{
    struct pl_json_sax cb = {.on_string = s_stop};
    PL_CHECK(pl_json_sax_parse("[1,\"x\"]", 7, NULL, &cb, NULL, NULL) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_INSPECT);
}

PL_TEST(json_dom_round_trip)
{
    const char *j = "{\"s\":\"h\\u00e9llo \\\"q\\\" \\n\",\"n\":-12,\"f\":1.5,\"t\":true,\"z\":null,"
                    "\"a\":[1,[],{},[{\"x\":\"y\"}]],\"o\":{\"k\":false},\"big\":4e3}";
    struct pl_json *root = NULL;
    PL_CHECK_OK(pl_json_parse(j, strlen(j), NULL, &root));
    int64_t n = 0;
    bool ok = pl_json_get_int(root, "n", &n) && n == -12;
    ok = ok && pl_json_get_int(root, "big", &n) && n == 4000;
    ok = ok && !pl_json_get_int(root, "f", &n) && !pl_json_get_int(root, "s", &n);
    ok = ok && pl_json_get_str(root, "s") && !strcmp(pl_json_get_str(root, "s"), "h\xc3\xa9llo \"q\" \n");
    ok = ok && !pl_json_get_str(root, "n") && !pl_json_get(root, "missing");
    ok = ok && pl_json_get(root, "a")->n_children == 4 && root->n_children == 8;
    ok = ok && pl_json_get(pl_json_get(root, "o"), "k")->type == PL_JSON_FALSE;
    struct pl_buf b = PL_BUF_INIT;
    ok = ok && pl_json_write(&b, root) == 0;
    /* writing and parsing again gives the same text */
    struct pl_json *again = NULL;
    ok = ok && pl_json_parse(b.data, b.len, NULL, &again) == 0;
    struct pl_buf b2 = PL_BUF_INIT;
    ok = ok && pl_json_write(&b2, again) == 0 && b.len == b2.len && !memcmp(b.data, b2.data, b.len);
    ok = ok && strstr(b.data, "\"a\":[1,[],{},[{\"x\":\"y\"}]]") != NULL;
    if (!ok && b.data)
        fprintf(stderr, "  wrote: %s\n", b.data);
    /* a scalar subtree writes alone */
    pl_buf_reset(&b2);
    ok = ok && pl_json_write(&b2, pl_json_get(root, "n")) == 0 && !strcmp(b2.data, "-12");
    pl_buf_reset(&b2);
    ok = ok && pl_json_write(&b2, pl_json_get(root, "o")) == 0 && !strcmp(b2.data, "{\"k\":false}");
    pl_buf_clean_up(&b);
    pl_buf_clean_up(&b2);
    pl_json_destroy(again);
    pl_json_destroy(root);
    PL_CHECK(ok);
}

PL_TEST(json_alloc_failures_never_crash_or_leak)
{
    /* escapes force the scratch buffer; depth > 4096 forces a heap stack; many nodes force
     * several arena blocks */
    struct pl_buf doc = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_str(&doc, "{\"k\\u00e9\":\"v\\n\",\"arr\":["));
    for (int i = 0; i < 400; i++)
        PL_CHECK_OK(pl_buf_appendf(&doc, "%s{\"i\":%d,\"s\":\"x\\ty\"}", i ? "," : "", i));
    PL_CHECK_OK(pl_buf_append_str(&doc, "]}"));
    struct pl_json_limits lim = {.max_depth = 8000, .max_values = 0};
    int succeeded = 0;
    for (long n = 0; n < 200 && !succeeded; n++) {
        struct pl_json *root = NULL;
        pl_test_fail_alloc_after(n);
        int rc = pl_json_parse(doc.data, doc.len, &lim, &root);
        pl_test_fail_alloc_after(-1);
        if (rc == 0) {
            struct pl_buf w = PL_BUF_INIT;
            for (long m = 0; m < 40; m++) {
                pl_buf_reset(&w);
                pl_test_fail_alloc_after(m);
                int wr = pl_json_write(&w, root);
                pl_test_fail_alloc_after(-1);
                if (wr == 0)
                    break;
                PL_CHECK_INT(pl_last_error(), PL_ERR_NOMEM);
            }
            pl_buf_clean_up(&w);
            pl_json_destroy(root);
            succeeded = 1;
        } else {
            PL_CHECK_MSG(pl_last_error() == PL_ERR_NOMEM, "n=%ld: %s", n, pl_last_error_msg());
            PL_CHECK(root == NULL);
        }
    }
    pl_buf_clean_up(&doc);
    PL_CHECK(succeeded);
}

PL_TEST(json_huge_backslash_string_is_linear)
{
    /* 6 MB of escaped backslashes (the ctest timeout catches quadratic work) */
    size_t n = 3 * 1024 * 1024;
    char *j = malloc(2 * n + 4);
    j[0] = '[';
    j[1] = '"';
    for (size_t i = 0; i < n; i++)
        j[2 + 2 * i] = '\\', j[3 + 2 * i] = '\\';
    j[2 + 2 * n] = '"';
    j[3 + 2 * n] = ']';
    int err;
    char *t = s_trace(j, 2 * n + 4, NULL, &err, NULL);
    free(j);
    PL_CHECK(t);
    /* the trace holds n unescaped backslashes */
    int ok = strlen(t) > n && t[4] == '\\' && t[4 + n - 1] == '\\' && t[4 + n] == '(';
    pl_free(t);
    PL_CHECK(ok);
}

/* long strings with escapes everywhere (the parser unescapes 16 and 64 bytes at a time, and
 * hands blocks it cannot take whole to a byte-by-byte loop): against the expected text built
 * alongside, for lengths and offsets that put escapes on every block boundary */
PL_TEST(json_long_escaped_strings)
{
    static const struct {
        const char *json, *text;
    } frags[] = {
        {"a", "a"}, {"plain text run ", "plain text run "}, {"\\\"", "\""}, {"\\\\", "\\"},
        {"\\/", "/"}, {"\\n", "\n"}, {"\\t", "\t"}, {"\\r", "\r"}, {"\\b", "\b"}, {"\\f", "\f"},
        {"\\u00e9", "\xc3\xa9"}, {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"}, {"\\udc00", "\xef\xbf\xbd"},
        {"\xc3\xa9", "\xc3\xa9"}, {"\\\\\\\"", "\\\""}, {"0123456789abcdefghijklmnopqrstuvwxyz",
                                                         "0123456789abcdefghijklmnopqrstuvwxyz"},
    };
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    struct pl_buf doc = PL_BUF_INIT, want = PL_BUF_INIT;
    int bad = 0;
    for (int iter = 0; iter < 3000 && !bad; iter++) {
        pl_buf_reset(&doc);
        pl_buf_reset(&want);
        pl_buf_append_str(&doc, "[");
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        for (uint64_t pad = seed % 70; pad; pad--) /* move the string across block boundaries */
            pl_buf_append_char(&doc, ' ');
        pl_buf_append_str(&doc, "\"");
        pl_buf_append_str(&want, "[|S:");
        size_t n = (size_t)(seed >> 8) % 300;
        bool dense = (seed >> 20) & 1; /* mostly \" and short runs, as JSON sent as a string */
        for (size_t i = 0; i < n; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            size_t f = dense ? ((seed % 4) ? (seed % 2 ? 0 : 2) : (size_t)(seed >> 32) % PL_ARRAY_LEN(frags))
                             : (size_t)(seed >> 32) % PL_ARRAY_LEN(frags);
            pl_buf_append_str(&doc, frags[f].json);
            pl_buf_append_str(&want, frags[f].text);
        }
        pl_buf_append_str(&doc, "\",\"after\"]");
        pl_buf_append_str(&want, "(");
        int err;
        char *t = s_trace(doc.data, doc.len, NULL, &err, NULL);
        if (!t || strncmp(t, want.data, want.len)) {
            fprintf(stderr, "  iteration %d: %s\n  input: %s\n", iter, t ? t : pl_last_error_msg(),
                    doc.data);
            bad = 1;
        }
        pl_free(t);
    }
    pl_buf_clean_up(&doc);
    pl_buf_clean_up(&want);
    PL_CHECK(!bad);
}

/* errors deep inside long escaped strings are found at their exact offset */
PL_TEST(json_long_string_errors)
{
    struct pl_buf doc = PL_BUF_INIT;
    for (size_t at = 60; at < 200; at += 7) {
        for (int kind = 0; kind < 4; kind++) {
            pl_buf_reset(&doc);
            pl_buf_append_str(&doc, "[\"");
            while (doc.len < at)
                pl_buf_append_str(&doc, doc.len % 3 ? "\\\"" : "x");
            size_t off = doc.len;
            pl_buf_append_str(&doc, kind == 0 ? "\x01" : kind == 1 ? "\\x" : kind == 2 ? "\\u12" : "");
            if (kind != 3)
                for (int i = 0; i < 100; i++)
                    pl_buf_append_str(&doc, "\\\"y");
            if (kind == 3)
                off = doc.len; /* unterminated: the error is at the end */
            else
                pl_buf_append_str(&doc, "\"]");
            int err;
            size_t got = 0;
            char *t = s_trace(doc.data, doc.len, NULL, &err, &got);
            pl_free(t);
            PL_CHECK_MSG(!t && err == PL_ERR_PARSE, "at %zu kind %d: accepted", at, kind);
            PL_CHECK_MSG(got == off, "at %zu kind %d: offset %zu, expected %zu", at, kind, got, off);
        }
    }
    pl_buf_clean_up(&doc);
}
