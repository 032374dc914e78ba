/* Inspect: the JSON walk with every decoder, then the whole decision (pl_checker_check) with a
 * small rule set mixing Vectorscan rules, PCRE2-only rules (back-reference, look-behind), an
 * allow-list and a rule with catastrophic backtracking (match limit: fail closed). On arbitrary
 * bytes: never crash, never leak, the view's invariants hold (items in order inside the text,
 * each followed by '\n', paths NUL-terminated inside the paths buffer, item_at finds every
 * item, bounds respected), a bound exceeded is a deny, and every match has a rule, a path and
 * a bounded excerpt. Inputs starting with 0xFA run with allocation failures (fuzz_alloc.h):
 * the check then fails cleanly, and the next input works. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_alloc.h"
#include "protectlambda/inspect.h"

static const char s_pack[] =
    "name: fuzz pack\n"
    "rules:\n"
    "  - id: sqli\n"
    "    target: in\n"
    "    pattern: 'union\\s+select'\n"
    "    flags: [caseless]\n"
    "    severity: HIGH\n"
    "    category: sqli\n"
    "  - id: traversal\n"
    "    target: in\n"
    "    pattern: '\\.\\./\\.\\./'\n"
    "    severity: HIGH\n"
    "    category: path-traversal\n"
    "  - id: script\n"
    "    target: in\n"
    "    pattern: '<script'\n"
    "    flags: [caseless]\n"
    "    severity: MEDIUM\n"
    "    category: xss\n"
    "    allow: ['<script>ok']\n"
    "  - id: lookbehind-passwd\n"
    "    target: in\n"
    "    pattern: '(?<!x)/etc/passwd'\n"
    "    severity: HIGH\n"
    "    category: path-traversal\n"
    "  - id: backref-dup-word\n"
    "    target: in\n"
    "    pattern: '\\b(\\w{3,})\\s+\\1\\b'\n"
    "    severity: LOW\n"
    "    category: test\n"
    "    action: alert\n"
    "  - id: redos\n"
    "    target: in\n"
    "    pattern: '^(a|aa)+(?<!c)$'\n"
    "    severity: LOW\n"
    "    category: test\n"
    "    action: alert\n";

static struct pl_inspect_view s_view; /* reused across inputs, as the guard does */
static struct pl_inspect_view s_kept; /* the same input with repeated values kept */
static struct pl_ruleset s_set;
static struct pl_engine *s_engine;
static struct pl_checker s_checker;
static struct pl_verdict s_verdict;
static int s_init;

static void s_setup(void)
{
    s_init = 1;
    pl_inspect_view_init(&s_view);
    pl_inspect_view_init(&s_kept);
    pl_verdict_init(&s_verdict);
    pl_engine_set_cache_dir(""); /* no files written */
    if (pl_ruleset_init(&s_set) ||
        pl_rules_load_yaml_text(&s_set, "fuzz.yaml", s_pack, sizeof(s_pack) - 1) ||
        pl_engine_compile(&s_set, PL_TARGET_IN, &s_engine, NULL) ||
        pl_checker_init(&s_checker, &s_set, s_engine))
        abort(); /* the fixed pack must load */
    s_checker.limits.max_depth = 64;
    s_checker.limits.max_items = 5000;
    s_checker.limits.max_decoded = 1 << 20;
    s_checker.deny_on_bound = true;
}

static void s_check_view(const struct pl_inspect_view *v, const struct pl_inspect_limits *lim)
{
    if (v->text.len + v->paths.len > lim->max_decoded || v->n_items > lim->max_items)
        abort();
    size_t prev_end = 0;
    for (size_t i = 0; i < v->n_items; i++) {
        const struct pl_inspect_item *it = &v->items[i];
        if (it->off < prev_end || it->off + it->len >= v->text.len + 1 ||
            v->text.data[it->off + it->len] != '\n' || it->path_off >= v->paths.len ||
            v->paths.data[0] != '$' || it->decoding >= PL_DEC_COUNT)
            abort();
        if (memchr(v->paths.data + it->path_off, '\0', v->paths.len - it->path_off) == NULL)
            abort();
        if (it->len && pl_inspect_item_at(v, it->off) != it)
            abort();
        prev_end = it->off + it->len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_init)
        s_setup();
    int failing = pl_fuzz_alloc_begin(&data, &size);
    const char *d = (const char *)data;

    /* 1. the view alone, with small limits */
    struct pl_inspect_limits lim;
    pl_inspect_limits_default(&lim);
    lim.max_depth = 64;
    lim.max_items = 5000;
    lim.max_decoded = 1 << 20;
    if (pl_inspect_json(&lim, d, size, &s_view) == 0)
        s_check_view(&s_view, &lim);
    else if (!failing)
        abort(); /* fails only when out of memory */

    /* 1b. with repeated values kept: never fewer items, never a bound the default misses */
    struct pl_inspect_limits keep = lim;
    keep.keep_repeats = true;
    if (pl_inspect_json(&keep, d, size, &s_kept) == 0) {
        s_check_view(&s_kept, &keep);
        if (!failing && pl_inspect_json(&lim, d, size, &s_view) == 0 &&
            ((s_view.bound_exceeded && !s_kept.bound_exceeded) ||
             (!s_kept.bound_exceeded && s_view.n_items > s_kept.n_items) ||
             s_view.non_json != s_kept.non_json))
            abort();
    } else if (!failing) {
        abort();
    }

    /* 2. the decision */
    if (pl_checker_check(&s_checker, d, size, &s_verdict) == 0) {
        const struct pl_verdict *v = &s_verdict;
        if (v->bound_exceeded && !v->deny)
            abort(); /* fail closed past a bound */
        for (size_t i = 0; i < v->n_matches; i++) {
            const struct pl_match *m = &v->matches[i];
            if (!m->rule || m->rule_index >= s_set.count || !m->path || m->path[0] != '$' ||
                !m->excerpt || strlen(m->excerpt) > 4 * 120 + 16)
                abort();
        }
        if (!failing)
            s_check_view(&s_checker.view, &s_checker.limits);
    } else if (!failing) {
        abort();
    }

    /* 3. decoders on the raw bytes */
    struct pl_buf b = PL_BUF_INIT;
    if (pl_decode_url(d, size, true, &b) == 1 && b.len > size)
        abort();
    pl_buf_reset(&b);
    if (pl_decode_html(d, size, &b) == 1 && b.len > size)
        abort();
    pl_buf_reset(&b);
    if (pl_decode_base64(d, size, &b) == 1 && b.len > size)
        abort();
    pl_buf_clean_up(&b);
    pl_fuzz_alloc_end(failing);
    return 0;
}
