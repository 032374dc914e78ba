/* Inspect views: paths, decoders, nested JSON, base64 bodies, S3 keys, HTTP detection, bounds. */
#include "harness.h"

#include "protectlambda/inspect.h"

static const char *s_path(const struct pl_inspect_view *v, const struct pl_inspect_item *it)
{
    return v->paths.data + it->path_off;
}

/* the item with this path, decoding and text, or NULL */
static const struct pl_inspect_item *s_find(const struct pl_inspect_view *v, const char *path,
                                           enum pl_decoding dec, const char *text)
{
    for (size_t i = 0; i < v->n_items; i++) {
        const struct pl_inspect_item *it = &v->items[i];
        if (strcmp(s_path(v, it), path) || it->decoding != dec)
            continue;
        if (!text || (it->len == strlen(text) && !memcmp(v->text.data + it->off, text, it->len)))
            return it;
    }
    return NULL;
}

static void s_dump(const struct pl_inspect_view *v)
{
    for (size_t i = 0; i < v->n_items && i < 60; i++) {
        const struct pl_inspect_item *it = &v->items[i];
        fprintf(stderr, "    %s %s kind=%d [%.*s]\n", s_path(v, it), pl_decoding_name(it->decoding),
                it->kind, (int)(it->len > 80 ? 80 : it->len), v->text.data + it->off);
    }
}

#define S_EXPECT(v, path, dec, text)                                                           \
    do {                                                                                       \
        if (!s_find(v, path, dec, text)) {                                                     \
            s_dump(v);                                                                         \
            pl_inspect_view_clean_up(v);                                                       \
            PL_CHECK_MSG(0, "no item %s %s [%s]", path, pl_decoding_name(dec), text ? text : ""); \
        }                                                                                      \
    } while (0)

static int s_view(struct pl_inspect_view *v, const char *json)
{
    return pl_inspect_json(NULL, json, strlen(json), v);
}

PL_TEST(inspect_paths)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    PL_CHECK_OK(s_view(&v, "{\"a\":{\"b\":[\"x\",1,{\"c\":\"y\"}]},\"x-y\":\"z\",\"it's\":\"q\","
                           "\"\":\"empty key\",\"$ok_1\":[[\"deep\"]]}"));
    S_EXPECT(&v, "$.a", PL_DEC_NONE, "a");
    S_EXPECT(&v, "$.a.b", PL_DEC_NONE, "b");
    S_EXPECT(&v, "$.a.b[0]", PL_DEC_NONE, "x");
    S_EXPECT(&v, "$.a.b[2].c", PL_DEC_NONE, "c");
    S_EXPECT(&v, "$.a.b[2].c", PL_DEC_NONE, "y");
    S_EXPECT(&v, "$['x-y']", PL_DEC_NONE, "x-y");
    S_EXPECT(&v, "$['x-y']", PL_DEC_NONE, "z");
    S_EXPECT(&v, "$['it\\'s']", PL_DEC_NONE, "q");
    S_EXPECT(&v, "$['']", PL_DEC_NONE, "empty key");
    S_EXPECT(&v, "$.$ok_1[0][0]", PL_DEC_NONE, "deep");
    /* keys are KEY items, values VALUE items; items are '\n'-separated in order */
    const struct pl_inspect_item *k = s_find(&v, "$['x-y']", PL_DEC_NONE, "x-y");
    const struct pl_inspect_item *val = s_find(&v, "$['x-y']", PL_DEC_NONE, "z");
    PL_CHECK(k->kind == PL_ITEM_KEY && val->kind == PL_ITEM_VALUE);
    PL_CHECK(v.text.data[k->off + k->len] == '\n');
    PL_CHECK(pl_inspect_item_at(&v, val->off) == val);
    PL_CHECK(pl_inspect_item_at(&v, val->off + val->len) == val);
    PL_CHECK(!v.non_json && !v.bound_exceeded && !v.http_event);
    /* a scalar root */
    PL_CHECK_OK(s_view(&v, "\"just a string\""));
    S_EXPECT(&v, "$", PL_DEC_NONE, "just a string");
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_item_at_binary_search)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    struct pl_buf doc = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_char(&doc, '['));
    for (int i = 0; i < 1000; i++)
        PL_CHECK_OK(pl_buf_appendf(&doc, "%s\"v%d\"", i ? "," : "", i));
    PL_CHECK_OK(pl_buf_append_char(&doc, ']'));
    PL_CHECK_OK(pl_inspect_json(NULL, doc.data, doc.len, &v));
    pl_buf_clean_up(&doc);
    PL_CHECK_INT(v.n_items, 1000);
    int ok = 1;
    for (size_t i = 0; i < v.n_items; i++) {
        const struct pl_inspect_item *it = &v.items[i];
        ok &= pl_inspect_item_at(&v, it->off) == it;
        ok &= pl_inspect_item_at(&v, it->off + it->len - 1) == it;
    }
    ok &= pl_inspect_item_at(&v, v.text.len + 5) == NULL;
    ok &= !strcmp(s_path(&v, &v.items[999]), "$[999]");
    pl_inspect_view_clean_up(&v);
    PL_CHECK(ok);
}

PL_TEST(decode_url)
{
    struct pl_buf b = PL_BUF_INIT;
    PL_CHECK_INT(pl_decode_url("a%20b%2F%2e%2E", 14, false, &b), 1);
    PL_CHECK_STR(b.data, "a b/..");
    pl_buf_reset(&b);
    PL_CHECK_INT(pl_decode_url("a+b%2", 5, true, &b), 1);
    PL_CHECK_STR(b.data, "a b%2");
    pl_buf_reset(&b);
    PL_CHECK_INT(pl_decode_url("a+b", 3, false, &b), 0);
    PL_CHECK_INT(b.len, 0);
    PL_CHECK_INT(pl_decode_url("100%zz", 6, true, &b), 0);
    PL_CHECK_INT(b.len, 0);
    PL_CHECK_INT(pl_decode_url("%u002e%u002E/%00x", 17, false, &b), 1);
    PL_CHECK_INT(b.len, 5);
    PL_CHECK(!memcmp(b.data, "../\0x", 5));
    pl_buf_reset(&b);
    PL_CHECK_INT(pl_decode_url("%252e", 5, false, &b), 1);
    PL_CHECK_STR(b.data, "%2e");
    pl_buf_clean_up(&b);
}

PL_TEST(decode_html)
{
    struct pl_buf b = PL_BUF_INIT;
    const char *in = "&lt;script&gt;alert(&#39;x&#x27;)&lt;/script&gt; &amp;amp; &#60 &bogus; &";
    PL_CHECK_INT(pl_decode_html(in, strlen(in), &b), 1);
    PL_CHECK_STR(b.data, "<script>alert('x')</script> &amp; < &bogus; &");
    pl_buf_reset(&b);
    PL_CHECK_INT(pl_decode_html("a & b &c", 8, &b), 0);
    PL_CHECK_INT(b.len, 0);
    PL_CHECK_INT(pl_decode_html("&#99999999999999;&#x0;&sol;&colon;", 34, &b), 1);
    PL_CHECK_STR(b.data, "\xef\xbf\xbd\xef\xbf\xbd/:");
    pl_buf_clean_up(&b);
}

PL_TEST(decode_base64)
{
    struct pl_buf b = PL_BUF_INIT;
    PL_CHECK_INT(pl_decode_base64("Li4vZXRjL3Bhc3N3ZA==", 20, &b), 1);
    PL_CHECK_STR(b.data, "../etc/passwd");
    pl_buf_reset(&b);
    /* whitespace and URL-safe alphabet, no padding */
    PL_CHECK_INT(pl_decode_base64("P D 8-_w", 8, &b), 1);
    PL_CHECK_INT(b.len, 4);
    PL_CHECK(!memcmp(b.data, "<?>\xff", 4));
    pl_buf_reset(&b);
    PL_CHECK_INT(pl_decode_base64("", 0, &b), 0);
    PL_CHECK_INT(pl_decode_base64("!!", 2, &b), 0);
    pl_buf_clean_up(&b);
}

PL_TEST(inspect_event_source_base64_payloads)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    /* Kinesis data: "<script>alert(1)</script>"; Kafka value: {"q":"1' OR '1'='1"} */
    PL_CHECK_OK(s_view(&v, "{\"Records\":[{\"kinesis\":{\"data\":"
                           "\"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\"}}],"
                           "\"records\":{\"t-0\":[{\"value\":\"eyJxIjoiMScgT1IgJzEnPScxIn0=\"}]}}"));
    S_EXPECT(&v, "$.Records[0].kinesis.data", PL_DEC_BASE64, "<script>alert(1)</script>");
    /* the decoded payload's own item, with its value quotes blank (inspect_nested_json_quotes) */
    S_EXPECT(&v, "$.records['t-0'][0].value", PL_DEC_BASE64, "{\"q\": 1' OR '1'='1 }");
    S_EXPECT(&v, "$.records['t-0'][0].value.q", PL_DEC_BASE64, "1' OR '1'='1");
    /* binary payloads (a PNG header), words that merely look like base64, other keys and
     * non-strict base64 get no decoded item */
    PL_CHECK_OK(s_view(&v, "{\"data\":\"iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB\",\"value\":\"abcdefgh\","
                           "\"note\":\"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\","
                           "\"B\":\"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg\"}"));
    for (size_t i = 0; i < v.n_items; i++)
        PL_CHECK_MSG(v.items[i].decoding != PL_DEC_BASE64, "item %zu decoded as base64", i);
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_url_and_double_encoding)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    PL_CHECK_OK(s_view(&v, "{\"queryStringParameters\":{\"q\":\"1+OR+1%3D1\",\"f\":\"%252e%252e%252fetc\"},"
                           "\"rawQueryString\":\"a=b+c\",\"headers\":{\"x\":\"a+b\"}}"));
    S_EXPECT(&v, "$.queryStringParameters.q", PL_DEC_NONE, "1+OR+1%3D1");
    S_EXPECT(&v, "$.queryStringParameters.q", PL_DEC_URL, "1 OR 1=1");
    S_EXPECT(&v, "$.queryStringParameters.f", PL_DEC_URL, "%2e%2e%2fetc");
    S_EXPECT(&v, "$.queryStringParameters.f", PL_DEC_URL, "../etc");
    S_EXPECT(&v, "$.rawQueryString", PL_DEC_URL, "a=b c");
    /* '+' outside query strings is a plus: nothing decoded */
    PL_CHECK(!s_find(&v, "$.headers.x", PL_DEC_URL, NULL));
    /* decode_rounds bounds double encoding */
    struct pl_inspect_limits lim;
    pl_inspect_limits_default(&lim);
    lim.decode_rounds = 1;
    const char *j = "[\"%25252e\"]";
    PL_CHECK_OK(pl_inspect_json(&lim, j, strlen(j), &v));
    S_EXPECT(&v, "$[0]", PL_DEC_URL, "%252e");
    PL_CHECK(!s_find(&v, "$[0]", PL_DEC_URL, "%2e"));
    lim.decode_rounds = 3;
    PL_CHECK_OK(pl_inspect_json(&lim, j, strlen(j), &v));
    S_EXPECT(&v, "$[0]", PL_DEC_URL, ".");
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_html_and_mixed)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    PL_CHECK_OK(s_view(&v, "{\"c\":\"&lt;img src=x onerror=alert(1)&gt;\",\"m\":\"%26lt%3Bscript%26gt%3B\"}"));
    S_EXPECT(&v, "$.c", PL_DEC_HTML, "<img src=x onerror=alert(1)>");
    S_EXPECT(&v, "$.m", PL_DEC_URL, "&lt;script&gt;");
    S_EXPECT(&v, "$.m", PL_DEC_HTML, "<script>");
    /* nothing to decode: no extra item */
    PL_CHECK_OK(s_view(&v, "{\"plain\":\"hello world\"}"));
    PL_CHECK_INT(v.n_items, 2);
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_nested_json)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    /* API Gateway body, SQS Records[].body, SNS Message */
    PL_CHECK_OK(s_view(&v, "{\"body\":\"{\\\"cmd\\\":\\\"; cat /etc/passwd\\\",\\\"list\\\":[\\\"a%20b\\\"],"
                           "\\\"\\\\u0078y\\\":1}\","
                           "\"Records\":[{\"body\":\"{\\\"x\\\":\\\"y\\\"}\"},{\"Sns\":{\"Message\":\"[\\\"m\\\"]\"}}]}"));
    S_EXPECT(&v, "$.body.cmd", PL_DEC_JSON, "; cat /etc/passwd");
    /* a nested key written verbatim is already in the body item: no separate item; a
     * nested key with escapes is one */
    PL_CHECK(!s_find(&v, "$.body.cmd", PL_DEC_JSON, "cmd"));
    S_EXPECT(&v, "$.body.xy", PL_DEC_JSON, "xy");
    S_EXPECT(&v, "$.body.list[0]", PL_DEC_JSON, "a b");
    S_EXPECT(&v, "$.Records[0].body.x", PL_DEC_JSON, "y");
    S_EXPECT(&v, "$.Records[1].Sns.Message[0]", PL_DEC_JSON, "m");
    /* a string that only looks like JSON stays a string */
    PL_CHECK_OK(s_view(&v, "{\"t\":\"{not json}\",\"after\":\"z\"}"));
    S_EXPECT(&v, "$.t", PL_DEC_NONE, "{not json}");
    S_EXPECT(&v, "$.after", PL_DEC_NONE, "z");
    PL_CHECK(!v.bound_exceeded && !v.non_json);
    /* URL-encoded JSON in a form body */
    PL_CHECK_OK(s_view(&v, "{\"body\":\"%7B%22a%22%3A%22b%22%7D\"}"));
    S_EXPECT(&v, "$.body.a", PL_DEC_JSON, "b");
    pl_inspect_view_clean_up(&v);
}

/* The string a nested document comes from keeps its own item, but the quotes that delimit its
 * string values are blanks there: they are JSON's, not the sender's, and rules that take a
 * quote for an attacker's (' or 1=1, "sleep(5)) fired on the start of any value. Keys keep
 * their quotes; a value that is JSON text itself has every quote of its span blank; quotes
 * inside values (escaped) stay; text that only looked like JSON is left as sent. */
PL_TEST(inspect_nested_json_quotes)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    /* API Gateway body: value quotes blank, key quotes and escaped quotes kept */
    PL_CHECK_OK(s_view(&v, "{\"body\":\"{\\\"comment\\\": \\\"sleep(8) hours\\\", \\\"q\\\": "
                           "\\\"say \\\\\\\"hi\\\\\\\"\\\", \\\"n\\\": 1, \\\"e\\\": \\\"\\\", "
                           "\\\"$ne\\\": [\\\"or 2 > 1\\\"]}\"}"));
    S_EXPECT(&v, "$.body", PL_DEC_NONE,
             "{\"comment\":  sleep(8) hours , \"q\":  say \\\"hi\\\" , \"n\": 1, \"e\":   , "
             "\"$ne\": [ or 2 > 1 ]}");
    S_EXPECT(&v, "$.body.comment", PL_DEC_JSON, "sleep(8) hours");
    S_EXPECT(&v, "$.body.q", PL_DEC_JSON, "say \"hi\"");
    S_EXPECT(&v, "$.body.$ne[0]", PL_DEC_JSON, "or 2 > 1");
    /* JSON in a value of JSON (an SNS Message in an SQS body): every quote of its span is
     * blank in the outer item; its own item is treated the same way */
    PL_CHECK_OK(s_view(&v, "{\"Records\":[{\"body\":\"{\\\"Type\\\":\\\"Notification\\\","
                           "\\\"Message\\\":\\\"{\\\\\\\"c\\\\\\\":\\\\\\\"or 2 > 1\\\\\\\"}\\\"}\"}]}"));
    S_EXPECT(&v, "$.Records[0].body", PL_DEC_NONE,
             "{\"Type\": Notification ,\"Message\": {\\ c\\ :\\ or 2 > 1\\ } }");
    S_EXPECT(&v, "$.Records[0].body.Message", PL_DEC_JSON, "{\"c\": or 2 > 1 }");
    S_EXPECT(&v, "$.Records[0].body.Message.c", PL_DEC_JSON, "or 2 > 1");
    /* repeated values (no item of their own) are blank in the item too */
    PL_CHECK_OK(s_view(&v, "{\"body\":\"[\\\"sleep(5) is enough\\\",\\\"sleep(5) is enough\\\"]\"}"));
    S_EXPECT(&v, "$.body", PL_DEC_NONE, "[ sleep(5) is enough , sleep(5) is enough ]");
    /* not JSON after all: the item is the text as sent (a valid prefix's items stay) */
    PL_CHECK_OK(s_view(&v, "{\"body\":\"{\\\"a\\\": \\\"x\\\", \\\"b\\\": {\\\"c\\\": \\\"y\\\"}, oops}\"}"));
    S_EXPECT(&v, "$.body", PL_DEC_NONE, "{\"a\": \"x\", \"b\": {\"c\": \"y\"}, oops}");
    S_EXPECT(&v, "$.body.a", PL_DEC_JSON, "x");
    /* a document parsed: its keys and values have their decoded forms, the whole text has
     * none (it would be the raw JSON again); text that is not JSON is decoded as before */
    PL_CHECK_OK(s_view(&v, "{\"body\":\"{\\\"a\\\": \\\"x&amp;y\\\", \\\"b\\\": \\\"1+2=3%21\\\"}\"}"));
    S_EXPECT(&v, "$.body.a", PL_DEC_JSON, "x&y");
    S_EXPECT(&v, "$.body.b", PL_DEC_JSON, "1+2=3!");
    PL_CHECK(!s_find(&v, "$.body", PL_DEC_URL, NULL) && !s_find(&v, "$.body", PL_DEC_HTML, NULL));
    PL_CHECK_OK(s_view(&v, "{\"body\":\"{a=1&amp;b=2}\"}"));
    S_EXPECT(&v, "$.body", PL_DEC_HTML, "{a=1&b=2}");
    /* URL-encoded JSON (a form body): the decoded item is the one neutralised */
    PL_CHECK_OK(s_view(&v, "{\"body\":\"%7B%22a%22%3A%22or%202%20%3E%201%22%7D\"}"));
    S_EXPECT(&v, "$.body", PL_DEC_URL, "{\"a\": or 2 > 1 }");
    S_EXPECT(&v, "$.body.a", PL_DEC_JSON, "or 2 > 1");
    /* the event itself has no such item: its keys and values are the items */
    PL_CHECK_OK(s_view(&v, "{\"comment\":\"sleep(8) hours\"}"));
    PL_CHECK_INT(v.n_items, 2);
    S_EXPECT(&v, "$.comment", PL_DEC_NONE, "sleep(8) hours");
    /* a base64 body whose flag comes after it is decoded from the item: blanks and quotes
     * are both outside the alphabet, so it decodes to the same bytes as the text sent */
    const char *b = "{\"a\": \"PHNjcmlwdD4=\", \"b\": [\"QUJD\"]}";
    struct pl_buf want = PL_BUF_INIT, ev = PL_BUF_INIT;
    PL_CHECK_INT(pl_decode_base64(b, strlen(b), &want), 1);
    PL_CHECK_OK(pl_buf_appendf(&ev, "{\"body\":\"{\\\"a\\\": \\\"PHNjcmlwdD4=\\\", \\\"b\\\": "
                                    "[\\\"QUJD\\\"]}\",\"isBase64Encoded\":true}"));
    PL_CHECK_OK(pl_inspect_json(NULL, ev.data, ev.len, &v));
    const struct pl_inspect_item *it = s_find(&v, "$.body", PL_DEC_BASE64, NULL);
    PL_CHECK(it && it->len == want.len && !memcmp(v.text.data + it->off, want.data, want.len));
    pl_buf_clean_up(&want);
    pl_buf_clean_up(&ev);
    pl_inspect_view_clean_up(&v);
}

/* members of nested JSON whose keys make no item: their values still get the member path,
 * after numbers, objects and arrays too (the key's path is built only when needed); keys
 * with something to decode or with escapes are items */
PL_TEST(inspect_nested_member_paths)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    PL_CHECK_OK(s_view(&v, "{\"body\":\"{\\\"n\\\":1,\\\"s\\\":\\\"x\\\",\\\"o\\\":{\\\"k\\\":\\\"y\\\","
                           "\\\"m\\\":null},\\\"a\\\":[true,{\\\"z\\\":\\\"w\\\"},[\\\"v\\\"]],"
                           "\\\"e%41\\\":\\\"q\\\",\\\"p+r\\\":2,\\\"t\\\\u0041b\\\":\\\"u\\\","
                           "\\\"it's\\\":\\\"i\\\",\\\"last\\\":\\\"l\\\"}\"}"));
    S_EXPECT(&v, "$.body.s", PL_DEC_JSON, "x");
    S_EXPECT(&v, "$.body.o.k", PL_DEC_JSON, "y");
    S_EXPECT(&v, "$.body.a[1].z", PL_DEC_JSON, "w");
    S_EXPECT(&v, "$.body.a[2][0]", PL_DEC_JSON, "v");
    S_EXPECT(&v, "$.body['e%41']", PL_DEC_JSON, "e%41");
    S_EXPECT(&v, "$.body['e%41']", PL_DEC_JSON, "eA");
    S_EXPECT(&v, "$.body['e%41']", PL_DEC_JSON, "q");
    S_EXPECT(&v, "$.body['p+r']", PL_DEC_JSON, "p+r");
    S_EXPECT(&v, "$.body.tAb", PL_DEC_JSON, "tAb");
    S_EXPECT(&v, "$.body.tAb", PL_DEC_JSON, "u");
    S_EXPECT(&v, "$.body['it\\'s']", PL_DEC_JSON, "i");
    S_EXPECT(&v, "$.body.last", PL_DEC_JSON, "l");
    PL_CHECK(!s_find(&v, "$.body.n", PL_DEC_JSON, NULL));
    PL_CHECK(!s_find(&v, "$.body.s", PL_DEC_JSON, "s"));
    /* array indices of every width */
    struct pl_buf doc = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_char(&doc, '['));
    for (int i = 0; i <= 12345; i++)
        PL_CHECK_OK(pl_buf_appendf(&doc, "%s%s", i ? "," : "",
                                   i == 9 || i == 10 || i == 99 || i == 100 || i == 12345
                                       ? "{\"k\":\"v\"}" : "0"));
    PL_CHECK_OK(pl_buf_append_char(&doc, ']'));
    PL_CHECK_OK(pl_inspect_json(NULL, doc.data, doc.len, &v));
    pl_buf_clean_up(&doc);
    S_EXPECT(&v, "$[9].k", PL_DEC_NONE, "v");
    S_EXPECT(&v, "$[10].k", PL_DEC_NONE, "v");
    S_EXPECT(&v, "$[99].k", PL_DEC_NONE, "v");
    S_EXPECT(&v, "$[100].k", PL_DEC_NONE, "v");
    S_EXPECT(&v, "$[12345].k", PL_DEC_NONE, "v");
    pl_inspect_view_clean_up(&v);
}

/* a key is written .key only when every byte is [A-Za-z0-9_$] (checked 16 bytes at a time for
 * long keys): one other byte anywhere, at any length, makes it ['key'] */
PL_TEST(inspect_key_path_forms)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    struct pl_buf doc = PL_BUF_INIT, key = PL_BUF_INIT, path = PL_BUF_INIT;
    static const char odd[] = {'-', ' ', '@', '`', '[', '{', '/', ':', '\x7f', '\xc3'};
    for (size_t len = 1; len <= 70; len++) {
        for (size_t at = 0; at <= len; at++) { /* at == len: a plain key */
            pl_buf_reset(&key);
            for (size_t i = 0; i < len; i++)
                pl_buf_append_char(&key, i == at ? odd[(len + at) % sizeof(odd)]
                                                 : "aZ_$09zA"[(i + len) % 8]);
            bool ident = at == len && !(key.data[0] >= '0' && key.data[0] <= '9');
            pl_buf_reset(&doc);
            pl_buf_appendf(&doc, "{\"%s\":\"v\"}", key.data);
            pl_buf_reset(&path);
            pl_buf_appendf(&path, ident ? "$.%s" : "$['%s']", key.data);
            PL_CHECK_OK(pl_inspect_json(NULL, doc.data, doc.len, &v));
            if (!s_find(&v, path.data, PL_DEC_NONE, "v")) {
                s_dump(&v);
                pl_buf_clean_up(&doc);
                pl_buf_clean_up(&key);
                pl_buf_clean_up(&path);
                pl_inspect_view_clean_up(&v);
                PL_CHECK_MSG(0, "len %zu odd byte at %zu: no item at the expected path", len, at);
            }
        }
    }
    pl_buf_clean_up(&doc);
    pl_buf_clean_up(&key);
    pl_buf_clean_up(&path);
    pl_inspect_view_clean_up(&v);
}

/* '%', '&', '+'/'=' anywhere in strings of any length are seen (the search for them goes 8 and
 * 16 bytes at a time with an overlapping last block) */
PL_TEST(inspect_decode_triggers_at_every_position)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    struct pl_buf doc = PL_BUF_INIT, want = PL_BUF_INIT;
    for (size_t len = 3; len <= 700; len += (len < 40 ? 1 : 97)) {
        for (size_t at = 0; at + 3 <= len; at += (len < 40 ? 1 : 31)) {
            for (int kind = 0; kind < 3; kind++) {
                /* kind 0: %41 -> A; 1: &#9 -> tab; 2: a=b+c (form) -> "a=b c" */
                static const char *const enc[] = {"%41", "&#9", "=b+"};
                static const char *const dec[] = {"A", "\t", "=b "};
                pl_buf_reset(&doc);
                pl_buf_reset(&want);
                pl_buf_append_str(&doc, "{\"k\":\"");
                for (size_t i = 0; i < len;) {
                    if (i == at) {
                        pl_buf_append_str(&doc, enc[kind]);
                        pl_buf_append_str(&want, dec[kind]);
                        i += 3;
                    } else {
                        pl_buf_append_char(&doc, 'x');
                        pl_buf_append_char(&want, 'x');
                        i++;
                    }
                }
                pl_buf_append_str(&doc, "\"}");
                PL_CHECK_OK(pl_inspect_json(NULL, doc.data, doc.len, &v));
                enum pl_decoding d = kind == 1 ? PL_DEC_HTML : PL_DEC_URL;
                if (!s_find(&v, "$.k", d, want.data)) {
                    s_dump(&v);
                    pl_buf_clean_up(&doc);
                    pl_buf_clean_up(&want);
                    pl_inspect_view_clean_up(&v);
                    PL_CHECK_MSG(0, "len %zu at %zu kind %d: no decoded item", len, at, kind);
                }
            }
        }
    }
    pl_buf_clean_up(&doc);
    pl_buf_clean_up(&want);
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_base64_body)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    /* body before and after the flag; the decoded body is itself JSON */
    const char *j = "{\"body\":\"eyJxIjoiLi4vLi4vZXRjL3Bhc3N3ZCJ9\",\"isBase64Encoded\":true,"
                    "\"inner\":{\"isBase64Encoded\":true,\"body\":\"JTNDc2NyaXB0JTNF\"},"
                    "\"off\":{\"isBase64Encoded\":false,\"body\":\"aGVsbG8=\"}}";
    PL_CHECK_OK(s_view(&v, j));
    S_EXPECT(&v, "$.body", PL_DEC_BASE64, "{\"q\": ../../etc/passwd }");
    S_EXPECT(&v, "$.body.q", PL_DEC_BASE64, "../../etc/passwd");
    S_EXPECT(&v, "$.inner.body", PL_DEC_BASE64, "%3Cscript%3E");
    S_EXPECT(&v, "$.inner.body", PL_DEC_BASE64, "<script>");
    PL_CHECK(!s_find(&v, "$.off.body", PL_DEC_BASE64, NULL));
    S_EXPECT(&v, "$.off.body", PL_DEC_NONE, "aGVsbG8=");
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_s3_key)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    const char *j = "{\"Records\":[{\"s3\":{\"bucket\":{\"name\":\"b+1\"},\"object\":{\"key\":"
                    "\"uploads/my+file%3B+rm+-rf+%2F.txt\",\"size\":1}}}]}";
    PL_CHECK_OK(s_view(&v, j));
    S_EXPECT(&v, "$.Records[0].s3.object.key", PL_DEC_URL, "uploads/my file; rm -rf /.txt");
    PL_CHECK(!s_find(&v, "$.Records[0].s3.bucket.name", PL_DEC_URL, NULL));
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_http_event_detection)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    static const struct {
        const char *json;
        bool http;
    } cases[] = {
        {"{\"httpMethod\":\"GET\",\"requestContext\":{\"stage\":\"x\"}}", true},
        {"{\"version\":\"2.0\",\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", true},
        {"{\"requestContext\":{\"elb\":{\"targetGroupArn\":\"a\"}},\"httpMethod\":\"GET\"}", true},
        {"{\"version\":\"1.0\",\"requestContext\":{\"http\":{}}}", false},
        {"{\"Records\":[{\"httpMethod\":\"GET\",\"requestContext\":{}}]}", false},
        {"{\"httpMethod\":\"GET\"}", false},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        PL_CHECK_OK(s_view(&v, cases[i].json));
        PL_CHECK_MSG(v.http_event == cases[i].http, "case %zu", i);
    }
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_corpus_http_events)
{
    char path[1024];
    const char *files[] = {"apiGatewayProxyEvent.json", "apiGatewayProxyV2Event.json",
                           "albEvent.json", "lambdaFunctionUrlEvent.json"};
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    int checked = 0;
    for (size_t i = 0; i < PL_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/corpus/events/benign/powertools/%s", pl_test_shared_dir(),
                 files[i]);
        size_t len;
        char *d = pl_test_read(path, &len);
        if (!d)
            continue;
        int rc = pl_inspect_json(NULL, d, len, &v);
        free(d);
        PL_CHECK_OK(rc);
        PL_CHECK_MSG(v.http_event, "%s not detected as an HTTP event", files[i]);
        PL_CHECK(!v.non_json && !v.bound_exceeded && v.n_items > 5);
        checked++;
    }
    pl_inspect_view_clean_up(&v);
    PL_CHECK_MSG(checked >= 2, "corpus events not found under %s", pl_test_shared_dir());
}

PL_TEST(inspect_non_json_is_raw)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    const char raw[] = "GET /?x=<script> HTTP/1.1\0binary\xff";
    PL_CHECK_OK(pl_inspect_json(NULL, raw, sizeof(raw) - 1, &v));
    PL_CHECK(v.non_json);
    PL_CHECK_INT(v.n_items, 1);
    PL_CHECK_INT(v.items[0].kind, PL_ITEM_RAW);
    PL_CHECK_INT(v.items[0].decoding, PL_DEC_RAW);
    PL_CHECK_INT(v.items[0].len, sizeof(raw) - 1);
    PL_CHECK(!memcmp(v.text.data, raw, sizeof(raw) - 1));
    /* invalid JSON after a valid prefix: only the raw item remains */
    PL_CHECK_OK(s_view(&v, "{\"a\":\"b\",\"c\":}"));
    PL_CHECK(v.non_json);
    PL_CHECK_INT(v.n_items, 1);
    PL_CHECK_STR(v.paths.data + v.items[0].path_off, "$");
    /* empty input */
    PL_CHECK_OK(pl_inspect_json(NULL, "", 0, &v));
    PL_CHECK(v.non_json);
    PL_CHECK_INT(v.n_items, 0);
    /* invalid UTF-8 and NUL escapes inside valid JSON are fine */
    PL_CHECK_OK(s_view(&v, "{\"k\":\"\xff\xfe\\u0000x\"}"));
    PL_CHECK(!v.non_json);
    PL_CHECK_INT(v.items[1].len, 4);
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_bounds)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    struct pl_inspect_limits lim;
    pl_inspect_limits_default(&lim);
    /* depth: 100,000 nested arrays */
    size_t n = 100000;
    char *deep = malloc(2 * n + 8);
    memset(deep, '[', n);
    memcpy(deep + n, "\"x\"", 3);
    memset(deep + n + 3, ']', n);
    PL_CHECK_OK(pl_inspect_json(&lim, deep, 2 * n + 3, &v));
    free(deep);
    PL_CHECK(v.bound_exceeded && !v.non_json);
    PL_CHECK_MSG(strstr(v.bound_reason, "nesting"), "%s", v.bound_reason);
    /* items: more keys than the bound (a million by default, more than 6 MB can carry in
     * real events); what came before the bound is kept */
    struct pl_buf doc = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_str(&doc, "{\"first\":\"kept\""));
    lim.max_items = 200000;
    for (int i = 0; i < 300000; i++)
        PL_CHECK_OK(pl_buf_appendf(&doc, ",\"k%d\":%d", i, i));
    PL_CHECK_OK(pl_buf_append_char(&doc, '}'));
    PL_CHECK_OK(pl_inspect_json(&lim, doc.data, doc.len, &v));
    PL_CHECK(v.bound_exceeded);
    PL_CHECK_INT(v.n_items, lim.max_items);
    S_EXPECT(&v, "$.first", PL_DEC_NONE, "kept");
    pl_buf_clean_up(&doc);
    /* decoded bytes: a 6 MB string of backslashes with a small budget */
    size_t m = 3 * 1024 * 1024;
    char *bs = malloc(2 * m + 8);
    memcpy(bs, "{\"a\":\"", 6);
    memset(bs + 6, '\\', 2 * m);
    memcpy(bs + 6 + 2 * m, "\"}", 2);
    lim.max_decoded = 1 << 20;
    PL_CHECK_OK(pl_inspect_json(&lim, bs, 2 * m + 8, &v));
    free(bs);
    PL_CHECK(v.bound_exceeded);
    PL_CHECK(v.text.len + v.paths.len <= lim.max_decoded);
    PL_CHECK_MSG(strstr(v.bound_reason, "decoded"), "%s", v.bound_reason);
    /* nested JSON in strings, 20 levels: bounded, no crash */
    struct pl_buf nest = PL_BUF_INIT, tmp = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_str(&nest, "[\"x\"]"));
    for (int i = 0; i < 20; i++) {
        pl_buf_reset(&tmp);
        PL_CHECK_OK(pl_buf_append_char(&tmp, '['));
        PL_CHECK_OK(pl_buf_append_json_str(&tmp, nest.data, nest.len));
        PL_CHECK_OK(pl_buf_append_char(&tmp, ']'));
        pl_buf_reset(&nest);
        PL_CHECK_OK(pl_buf_append(&nest, tmp.data, tmp.len));
    }
    pl_inspect_limits_default(&lim);
    PL_CHECK_OK(pl_inspect_json(&lim, nest.data, nest.len, &v));
    PL_CHECK(v.bound_exceeded);
    pl_buf_clean_up(&nest);
    pl_buf_clean_up(&tmp);
    /* the view is reusable after a bound */
    PL_CHECK_OK(s_view(&v, "{\"a\":\"b\"}"));
    PL_CHECK(!v.bound_exceeded && v.n_items == 2);
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_alloc_failures)
{
    const char *j = "{\"httpMethod\":\"POST\",\"requestContext\":{\"http\":{}},\"isBase64Encoded\":true,"
                    "\"body\":\"eyJhIjoiJTJlJTJlLyZsdDsifQ==\",\"q\":{\"x-y\":\"a%20b\"}}";
    int succeeded = 0;
    for (long n = 0; n < 300 && !succeeded; n++) {
        struct pl_inspect_view v;
        pl_inspect_view_init(&v);
        pl_test_fail_alloc_after(n);
        int rc = pl_inspect_json(NULL, j, strlen(j), &v);
        pl_test_fail_alloc_after(-1);
        if (rc == 0) {
            succeeded = 1;
            const struct pl_inspect_item *it = s_find(&v, "$.body.a", PL_DEC_BASE64, "../<");
            pl_inspect_view_clean_up(&v);
            PL_CHECK(it != NULL);
        } else {
            PL_CHECK_MSG(pl_last_error() == PL_ERR_NOMEM, "n=%ld: %s", n, pl_last_error_msg());
            pl_inspect_view_clean_up(&v);
        }
    }
    PL_CHECK(succeeded);
}

PL_TEST(inspect_repeated_values)
{
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    const char *x = "a value of twenty bytes";
    char j[512];
    /* array elements and members whose key has no item (keys of JSON nested in a string,
     * written without escapes) are skipped when repeated; values whose key has an item are
     * not (the checker reads "key\nvalue"), nor short ones, nor bodies */
    snprintf(j, sizeof(j),
             "{\"a\":[\"%s\",\"%s\"],\"k\":\"%s\",\"short\":[\"tiny\",\"tiny\"],"
             "\"m\":\"{\\\"n\\\":\\\"%s\\\",\\\"p\\\":\\\"%s\\\","
             "\\\"o\\\":[\\\"%s\\\"]}\"}",
             x, x, x, x, x, x);
    PL_CHECK_OK(s_view(&v, j));
    size_t n = 0;
    for (size_t i = 0; i < v.n_items; i++)
        n += v.items[i].len == strlen(x) && !memcmp(v.text.data + v.items[i].off, x, strlen(x));
    /* the same text in another context (the document inside $.m, another depth) is a first
     * occurrence there: $.a[0], $.k, $.m.n, $.m.o[0]; skipped: $.a[1], $.m.p */
    PL_CHECK_INT(n, 4);
    PL_CHECK(s_find(&v, "$.a[0]", PL_DEC_NONE, x));
    PL_CHECK(!s_find(&v, "$.a[1]", PL_DEC_NONE, NULL));
    PL_CHECK(s_find(&v, "$.k", PL_DEC_NONE, x));
    PL_CHECK(s_find(&v, "$.m.n", PL_DEC_JSON, x));
    PL_CHECK(!s_find(&v, "$.m.p", PL_DEC_JSON, NULL));
    PL_CHECK(s_find(&v, "$.m.o[0]", PL_DEC_JSON, x));
    PL_CHECK(s_find(&v, "$.short[1]", PL_DEC_NONE, "tiny"));
    size_t with_skips = v.n_items;
    /* kept on request: every occurrence has its item */
    struct pl_inspect_limits lim;
    pl_inspect_limits_default(&lim);
    lim.keep_repeats = true;
    PL_CHECK_OK(pl_inspect_json(&lim, j, strlen(j), &v));
    PL_CHECK_INT(v.n_items, with_skips + 2);
    PL_CHECK(s_find(&v, "$.a[1]", PL_DEC_NONE, x));
    PL_CHECK(s_find(&v, "$.m.p", PL_DEC_JSON, x));
    /* a skipped value still counts toward max_items */
    snprintf(j, sizeof(j), "[\"%s\",\"%s\",\"%s\"]", x, x, x);
    pl_inspect_limits_default(&lim);
    lim.max_items = 2;
    PL_CHECK_OK(pl_inspect_json(&lim, j, strlen(j), &v));
    PL_CHECK(v.bound_exceeded);
    PL_CHECK_INT(v.n_items, 1);
    lim.max_items = 3;
    PL_CHECK_OK(pl_inspect_json(&lim, j, strlen(j), &v));
    PL_CHECK(!v.bound_exceeded);
    /* a new event forgets the previous one's values */
    PL_CHECK_OK(s_view(&v, "[\"a value of twenty bytes\"]"));
    PL_CHECK_INT(v.n_items, 1);
    /* JSON text in a string: its item is changed (value quotes blank, inspect_nested_json_quotes),
     * so a repeat is recognised by the text as sent; text equal to the changed item is not
     * JSON, and is no repeat of it: it gets its own item (and its decoded forms) */
    PL_CHECK_OK(s_view(&v, "[\"{\\\"q\\\": \\\"a&lt;b and more\\\"}\", "
                           "\"{\\\"q\\\": \\\"a&lt;b and more\\\"}\", "
                           "\"{\\\"q\\\":  a&lt;b and more }\"]"));
    S_EXPECT(&v, "$[0]", PL_DEC_NONE, "{\"q\":  a&lt;b and more }");
    S_EXPECT(&v, "$[0].q", PL_DEC_JSON, "a<b and more");
    PL_CHECK(!s_find(&v, "$[1]", PL_DEC_NONE, NULL));
    S_EXPECT(&v, "$[2]", PL_DEC_NONE, "{\"q\":  a&lt;b and more }");
    S_EXPECT(&v, "$[2]", PL_DEC_HTML, "{\"q\":  a<b and more }");
    pl_inspect_view_clean_up(&v);
}

PL_TEST(inspect_repeated_values_table_bound)
{
    /* 10,000 distinct values, then the first and the last again: the first is remembered and
     * skipped; past 8,192 values the table stops remembering, so the last one's repeat gets its
     * item (inspected, as without skipping) */
    struct pl_buf j = PL_BUF_INIT;
    PL_CHECK_OK(pl_buf_append_char(&j, '['));
    for (int i = 0; i < 10000; i++)
        PL_CHECK_OK(pl_buf_appendf(&j, "%s\"distinct value %06d\"", i ? "," : "", i));
    PL_CHECK_OK(pl_buf_append_str(&j, ",\"distinct value 000000\",\"distinct value 009999\"]"));
    struct pl_inspect_view v;
    pl_inspect_view_init(&v);
    PL_CHECK_OK(pl_inspect_json(NULL, j.data, j.len, &v));
    PL_CHECK(!v.bound_exceeded);
    PL_CHECK_INT(v.n_items, 10001);
    PL_CHECK(!s_find(&v, "$[10000]", PL_DEC_NONE, NULL));
    PL_CHECK(s_find(&v, "$[10001]", PL_DEC_NONE, "distinct value 009999"));
    pl_inspect_view_clean_up(&v);
    pl_buf_clean_up(&j);
}
