/* Differential test of the default rule packs: for every rule of the packs in rules/ (in, out
 * and code targets), the product's Vectorscan engine (pl_engine_compile + pl_engine_scan, with
 * the scan implementation the engine picks: never AVX-512, docs/engine.md) must agree with
 * PCRE2 on the same pattern and flags (pl_engine_locate: the PCRE2 form the engine already
 * keeps for columns, excerpts and inspect confirmation) on "matches or not".
 *
 * Why: Vectorscan 5.4.9's AVX-512 scan code misses matches depending on where a match sits in
 * the line and where the buffer sits in memory (docs/engine.md, "Scan code: never AVX-512"). A
 * rule the scan code gets wrong is a false negative in production that the rules tables (one
 * placement per row) can miss. Run with the library's own dispatch on an AVX-512 machine
 * (throwaway build), this test reports 525 disagreements in 14 rules (19,366 in 15 rules with all
 * 64 offsets), every one a missed match; with the AVX2 code none.
 *
 * Inputs: every non-empty line of the corpus payloads ($PL_SHARED_DIR/corpus/payloads/NAME.txt),
 * of the held-out lists (tests/data/heldout-NAME.txt and tests/data/heldoutN/NAME.txt) and the
 * INPUT column of the rules tables (rules/tests/NAME.tests; `@FILE` inputs are whole events, not
 * lines, and are not used). Each line, after a prefix of 0, 31, 62, 63, 64, 65, 127 and 200
 * filler bytes on the same line (moves the match across the 64-byte blocks the scan code works
 * in), is scanned
 *   - by its target's database (every rule of the target, as the product runs it) at 8 of the
 *     start offsets 0..63 of a 64-byte aligned buffer (where the buffer sits in memory), chosen
 *     deterministically so that every offset is used across lines;
 *   - for out rules, also as a stream of two chunks (responses are scanned chunk by chunk);
 *   - by a database of the rule alone, at one of the 64 offsets, rotating.
 * PCRE2 does not depend on the buffer's address: it runs once per (line, prefix).
 * PL_DIFF_ALL_OFFSETS=1 scans all 64 offsets in both passes (about 140 M scans: 10 s and more).
 *
 * Not compared (printed, not silently skipped): rules the engine runs on PCRE2 (Vectorscan
 * rejects their pattern: both sides would be the same PCRE2 code; none in the default packs
 * today). A line where PCRE2 cannot decide (match limit) is reported as undecided and fails the
 * test too: the product fails closed there, but no default rule should backtrack that far on
 * one line.
 *
 * Known legitimate differences between the two engines: none is hit by the default packs (the
 * test expects zero disagreements). What differs by design is handled before this test sees it:
 *   - backreferences, lookaround, atomic groups, possessive quantifiers, patterns that can match
 *     the empty string, UTF-8 rules: Vectorscan rejects them (or the engine does not give them
 *     to it) and they run on PCRE2 (not compared, see above);
 *   - the engine scans Vectorscan rules without a leading/trailing `.*` (src/engine/engine.c,
 *     s_core): the same inputs match, only reported offsets change (only "matches or not" is
 *     compared here).
 * By hand, from the source dir: PL_BUILD_DIR=build-x PL_SHARED_DIR=../shared
 * build-x/tests/unit/engine/test_engine_differential
 */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"
#include "protectlambda/engine.h"
#include "protectlambda/inspect.h"
#include "protectlambda/rules.h"

#define S_MAX_LINE 8192u /* longer lines are not used */
#define S_OFFSETS 64u
#define S_SAMPLED_OFFSETS 8u
#define S_MAX_PRINTED 100

static const size_t s_prefixes[] = {0, 31, 62, 63, 64, 65, 127, 200};
#define S_NPREFIX (sizeof(s_prefixes) / sizeof(s_prefixes[0]))
#define S_MAX_PREFIX 200u

struct s_line {
    char *text;
    size_t len;
    char *where; /* file:line */
};

struct s_lines {
    struct s_line *v;
    size_t n, cap;
};

static int s_add_line(struct s_lines *ls, const char *text, size_t len, const char *file,
                      unsigned lineno)
{
    if (!len || len > S_MAX_LINE)
        return 0;
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 1024;
        struct s_line *v = realloc(ls->v, cap * sizeof(*v));
        if (!v)
            return -1;
        ls->v = v;
        ls->cap = cap;
    }
    struct s_line *l = &ls->v[ls->n];
    l->text = malloc(len + 1);
    size_t wl = strlen(file) + 16;
    l->where = malloc(wl);
    if (!l->text || !l->where) {
        free(l->text);
        free(l->where);
        return -1;
    }
    memcpy(l->text, text, len);
    l->text[len] = '\0';
    l->len = len;
    snprintf(l->where, wl, "%s:%u", file, lineno);
    ls->n++;
    return 0;
}

/* every non-empty line; table=true: the INPUT column of a rules table */
static int s_read_lines(struct s_lines *ls, const char *path, bool table)
{
    size_t n = 0;
    char *d = pl_test_read(path, &n);
    if (!d)
        return -1;
    unsigned lineno = 0;
    int ret = 0;
    for (size_t i = 0; i < n && !ret;) {
        size_t e = i;
        while (e < n && d[e] != '\n')
            e++;
        lineno++;
        size_t s = i, end = e;
        if (end > s && d[end - 1] == '\r')
            end--;
        i = e + 1;
        if (table) {
            if (s == end || d[s] == '#')
                continue;
            /* skip TARGET, VERDICT and RULES */
            for (int col = 0; col < 3; col++) {
                while (s < end && (d[s] == ' ' || d[s] == '\t'))
                    s++;
                while (s < end && d[s] != ' ' && d[s] != '\t')
                    s++;
            }
            while (s < end && (d[s] == ' ' || d[s] == '\t'))
                s++;
            if (s < end && d[s] == '@')
                continue; /* a whole event from a file */
        }
        ret = s_add_line(ls, d + s, end - s, path, lineno);
    }
    free(d);
    return ret;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the files of dir whose name starts with prefix and ends with suffix, sorted */
static int s_read_dir(struct s_lines *ls, const char *dir, const char *prefix, const char *suffix,
                      bool table, size_t *files)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return -1;
    char *names[256];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && nn < 256) {
        size_t l = strlen(de->d_name), pl = strlen(prefix), sl = strlen(suffix);
        if (l < pl + sl || strncmp(de->d_name, prefix, pl) || strcmp(de->d_name + l - sl, suffix))
            continue;
        names[nn] = strdup(de->d_name);
        if (names[nn])
            nn++;
    }
    closedir(dh);
    qsort(names, nn, sizeof(names[0]), s_cmp_str);
    int ret = 0;
    for (size_t k = 0; k < nn; k++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
        struct stat st;
        if (!ret && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                ret = s_read_dir(ls, path, "", ".txt", table, files);
            else if (S_ISREG(st.st_mode)) {
                ret = s_read_lines(ls, path, table);
                (*files)++;
            }
        }
        free(names[k]);
    }
    return ret;
}

static void s_free_lines(struct s_lines *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->v[i].text);
        free(ls->v[i].where);
    }
    free(ls->v);
    memset(ls, 0, sizeof(*ls));
}

struct s_hits {
    uint8_t *hit; /* by ruleset index */
};

static int s_on_hit(void *ctx, uint32_t rule, unsigned long long from, unsigned long long to)
{
    (void)from, (void)to;
    struct s_hits *h = ctx;
    h->hit[rule] = 1;
    return 0;
}

struct s_stats {
    unsigned long scans, pcre, diffs, undecided, printed;
    unsigned long extra;          /* disagreements where only Vectorscan matches */
    const struct pl_ruleset *all; /* the default packs (per-rule counts by index) */
    unsigned long *per_rule;      /* disagreements by rule of `all` */
};

static void s_report(struct s_stats *st, const struct pl_rule *r, const struct s_line *l,
                     size_t prefix, const char *how, size_t off, int vs, int pc)
{
    st->diffs++;
    st->extra += vs && !pc;
    /* at most 3 lines per rule, S_MAX_PRINTED in all; the summary counts every one */
    if (++st->per_rule[r - st->all->rules] > 3 || st->printed++ >= S_MAX_PRINTED)
        return;
    fprintf(stderr, "DIFF %s (%s) %s: prefix %zu, %s %zu: vectorscan %s, pcre2 %s: %.100s%s\n",
            r->id, pl_target_name(r->target), l->where, prefix, how, off, vs ? "match" : "no match",
            pc ? "match" : "no match", l->text, l->len > 100 ? "..." : "");
}

/* compare one target's engine with PCRE2 on every line, at `per` of the 64 offsets (64: all);
 * -1 on an engine error */
static int s_check_target(const struct pl_ruleset *set, enum pl_target t, const struct s_lines *ls,
                          size_t per, struct s_stats *st, size_t *compared, size_t *fallback)
{
    struct pl_engine *e = NULL;
    struct pl_engine_scratch *s = NULL;
    struct s_hits h = {calloc(set->count ? set->count : 1, 1)};
    uint8_t *want = calloc(set->count ? set->count : 1, 1);
    uint32_t *rules = calloc(set->count ? set->count : 1, sizeof(*rules));
    char *mem = NULL;
    size_t nr = 0;
    int ret = -1;
    if (!h.hit || !want || !rules)
        goto out;
    if (posix_memalign((void **)&mem, 64, S_OFFSETS + S_MAX_PREFIX + S_MAX_LINE + 64))
        goto out;
    if (pl_engine_compile(set, t, &e, NULL) || pl_engine_scratch_new(e, &s)) {
        fprintf(stderr, "%s: %s\n", pl_target_name(t), pl_last_error_msg());
        goto out;
    }
    for (uint32_t i = 0; i < set->count; i++) {
        if (set->rules[i].target != t)
            continue;
        if (pl_engine_rule_is_fallback(e, i)) {
            if (set == st->all)
                fprintf(stderr, "note: %s runs on PCRE2 (not compared)\n", set->rules[i].id);
            (*fallback)++;
        } else {
            rules[nr++] = i;
        }
    }
    *compared += nr;
    for (size_t li = 0; li < ls->n; li++) {
        const struct s_line *l = &ls->v[li];
        for (size_t pi = 0; pi < S_NPREFIX; pi++) {
            size_t p = s_prefixes[pi], len = p + l->len;
            /* PCRE2 once: the answer does not depend on where the buffer sits */
            char *b = mem;
            memset(b, 'x', p);
            memcpy(b + p, l->text, l->len);
            for (size_t k = 0; k < nr; k++) {
                int rc = pl_engine_locate(e, rules[k], b, len, NULL, NULL);
                st->pcre++;
                if (rc < 0) {
                    st->undecided++;
                    fprintf(stderr, "UNDECIDED %s %s: prefix %zu: %s\n", set->rules[rules[k]].id,
                            l->where, p, pl_last_error_msg());
                    rc = 1;
                }
                want[rules[k]] = (uint8_t)rc;
            }
            size_t step = S_OFFSETS / per;
            for (size_t off = (li * 5 + pi * 3) % step; off < S_OFFSETS; off += step) {
                b = mem + off;
                memset(b, 'x', p);
                memcpy(b + p, l->text, l->len);
                b[len] = '\0';
                memset(h.hit, 0, set->count);
                if (pl_engine_scan(e, s, b, len, s_on_hit, &h)) {
                    fprintf(stderr, "scan failed: %s\n", pl_last_error_msg());
                    goto out;
                }
                st->scans++;
                for (size_t k = 0; k < nr; k++)
                    if (h.hit[rules[k]] != want[rules[k]])
                        s_report(st, &set->rules[rules[k]], l, p, "offset", off, h.hit[rules[k]],
                                 want[rules[k]]);
            }
            if (t != PL_TARGET_OUT)
                continue;
            /* responses are scanned chunk by chunk (the out target's stream database): the
             * same bytes in two chunks, split at a point that moves with the line */
            size_t cut = (li * 13 + pi * 7) % (len + 1);
            struct pl_engine_stream *str = NULL;
            memset(h.hit, 0, set->count);
            int src = pl_engine_stream_open(e, &str);
            if (!src)
                src = pl_engine_stream_scan(str, s, b, cut, s_on_hit, &h);
            if (!src)
                src = pl_engine_stream_scan(str, s, b + cut, len - cut, s_on_hit, &h);
            if (str && src)
                pl_engine_stream_close(str, NULL, NULL, NULL); /* only frees */
            else if (str)
                src = pl_engine_stream_close(str, s, s_on_hit, &h);
            if (src) {
                fprintf(stderr, "stream scan failed: %s\n", pl_last_error_msg());
                goto out;
            }
            st->scans++;
            for (size_t k = 0; k < nr; k++)
                if (h.hit[rules[k]] != want[rules[k]])
                    s_report(st, &set->rules[rules[k]], l, p, "stream split at", cut,
                             h.hit[rules[k]], want[rules[k]]);
        }
    }
    ret = 0;
out:
    pl_engine_scratch_destroy(s);
    pl_engine_destroy(e);
    free(mem);
    free(rules);
    free(want);
    free(h.hit);
    return ret;
}

/* the compile cache keeps this test fast after its first run (about 10 s to compile the
 * default packs cold) */
__attribute__((constructor)) static void s_cache(void)
{
    static char dir[1024];
    const char *b = getenv("PL_BUILD_DIR");
    if (!b || !*b) {
        pl_engine_set_cache_dir("");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/engine-cache-differential", b);
    mkdir(dir, 0700);
    pl_engine_set_cache_dir(dir);
}

/* the default packs (into an initialised set) and the input lines: corpus payloads, held-out
 * lists, rule tables (in that order; counts of the first two and of files read) */
static int s_load_inputs(struct pl_ruleset *set, struct s_lines *ls, size_t *payload_lines,
                         size_t *heldout_lines, size_t *files)
{
    int rc = pl_rules_load(set, "rules", -1);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/corpus/payloads", pl_test_shared_dir());
    if (!rc)
        rc = s_read_dir(ls, dir, "", ".txt", false, files);
    *payload_lines = ls->n;
    if (!rc)
        rc = s_read_dir(ls, "tests/data", "heldout", "", false, files);
    *heldout_lines = ls->n - *payload_lines;
    if (!rc)
        rc = s_read_dir(ls, "rules/tests", "", ".tests", true, files);
    return rc;
}

PL_TEST(default_packs_vectorscan_agrees_with_pcre2)
{
    struct pl_ruleset set;
    struct s_lines ls = {0};
    PL_CHECK_OK(pl_ruleset_init(&set));
    size_t files = 0, payload_lines = 0, heldout_lines = 0;
    int rc = s_load_inputs(&set, &ls, &payload_lines, &heldout_lines, &files);
    if (rc) {
        s_free_lines(&ls);
        pl_ruleset_clean_up(&set);
        PL_CHECK_MSG(0, "loading rules or inputs failed (%s; shared dir %s)", pl_last_error_msg(),
                     pl_test_shared_dir());
    }
    bool all = getenv("PL_DIFF_ALL_OFFSETS") && !strcmp(getenv("PL_DIFF_ALL_OFFSETS"), "1");
    struct s_stats st = {.all = &set, .per_rule = calloc(set.count ? set.count : 1, sizeof(long))};
    size_t compared = 0, fallback = 0, alone = 0, alone_fb = 0;
    int err = st.per_rule ? 0 : -1;
    /* each target's database, as the product runs it */
    for (int t = 0; t < PL_TARGET_COUNT && !err; t++)
        err = s_check_target(&set, (enum pl_target)t, &ls, all ? S_OFFSETS : S_SAMPLED_OFFSETS, &st,
                             &compared, &fallback);
    /* each rule compiled alone (a database of one rule takes other code paths): one offset
     * per (line, prefix), rotating */
    for (size_t i = 0; i < set.count && !err; i++) {
        struct pl_ruleset one = {.rules = &set.rules[i], .count = 1, .cap = 1};
        err = s_check_target(&one, set.rules[i].target, &ls, all ? S_OFFSETS : 1, &st, &alone,
                             &alone_fb);
    }
    fprintf(stderr,
            "differential (scan code: %s): %zu rules compared (and %zu alone), %zu on PCRE2; %zu "
            "lines from %zu files (%zu payload, %zu held-out, %zu table); %lu Vectorscan scans, "
            "%lu PCRE2 matches; %lu disagreements (%lu where only Vectorscan matches), %lu "
            "undecided\n",
            pl_engine_scan_impl(), compared, alone, fallback, ls.n, files, payload_lines,
            heldout_lines, ls.n - payload_lines - heldout_lines, st.scans, st.pcre, st.diffs,
            st.extra, st.undecided);
    for (size_t i = 0; st.per_rule && i < set.count; i++)
        if (st.per_rule[i])
            fprintf(stderr, "  %s: %lu disagreements\n", set.rules[i].id, st.per_rule[i]);
    free(st.per_rule);
    size_t nlines = ls.n;
    s_free_lines(&ls);
    pl_ruleset_clean_up(&set);
    PL_CHECK_MSG(!err, "engine error");
    /* the inputs are there (a missing corpus must not make the test pass vacuously) */
    PL_CHECK(payload_lines > 100);
    PL_CHECK(heldout_lines > 500);
    PL_CHECK(nlines - payload_lines - heldout_lines > 500);
    PL_CHECK(compared > 100);
    PL_CHECK_INT(st.undecided, 0);
    PL_CHECK_INT(st.diffs, 0);
}

/* ---------------------------------------------------------------- repeated values
 * The view skips a string value repeated verbatim in the same context (docs/inspect.md,
 * "Repeated values"): checks with repeats skipped (the default) and kept must give the same
 * verdict on every input — deny, bound, the set of rules that matched — and every match of the
 * skipping run must be one of the keeping run's (same rule, same path: the first occurrence).
 * Inputs: every line above placed several times in one event — as array elements, as values of
 * a JSON document sent as a string (keys without escapes: candidates), under keys that have
 * items of their own (not candidates) — and the corpus's benign events, each alone and twice
 * as JSON strings of one event. */

/* a JSON string of text (escaped) */
static void s_jstr(struct pl_buf *b, const char *text, size_t len)
{
    pl_buf_append_json_str(b, text, len);
}

static void s_event_with(struct pl_buf *ev, const char *p, size_t n)
{
    struct pl_buf inner = PL_BUF_INIT;
    pl_buf_append_str(&inner, "{\"items\":[{\"v\":");
    s_jstr(&inner, p, n);
    pl_buf_append_str(&inner, "},{\"v\":");
    s_jstr(&inner, p, n);
    pl_buf_append_str(&inner, ",\"n\":1}],\"w\":");
    s_jstr(&inner, p, n);
    pl_buf_append_str(&inner, ",\"list\":[");
    s_jstr(&inner, p, n);
    pl_buf_append_char(&inner, ',');
    s_jstr(&inner, p, n);
    pl_buf_append_str(&inner, "]}");
    pl_buf_reset(ev);
    pl_buf_append_str(ev, "{\"q\":[");
    s_jstr(ev, p, n);
    pl_buf_append_char(ev, ',');
    s_jstr(ev, p, n);
    pl_buf_append_str(ev, "],\"m\":");
    s_jstr(ev, inner.data, inner.len);
    pl_buf_append_str(ev, ",\"again\":");
    s_jstr(ev, inner.data, inner.len);
    pl_buf_append_str(ev, ",\"queryStringParameters\":{\"a\":");
    s_jstr(ev, p, n);
    pl_buf_append_str(ev, ",\"b\":");
    s_jstr(ev, p, n);
    pl_buf_append_str(ev, "},\"h\":{\"k\":");
    s_jstr(ev, p, n);
    pl_buf_append_str(ev, ",\"k2\":");
    s_jstr(ev, p, n);
    /* the same text first under a plain key, then under keys that rules read with the value
     * ("key\nvalue"): those values have key items, they are never skipped */
    static const char *const keys[] = {"note", "password", "aws_secret_access_key",
                                       "client_secret", "Authorization", "api_key"};
    pl_buf_append_str(ev, "},\"s\":{");
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        pl_buf_appendf(ev, "%s\"%s\":", k ? "," : "", keys[k]);
        s_jstr(ev, p, n);
    }
    pl_buf_append_str(ev, "}}");
    pl_buf_clean_up(&inner);
}

struct s_rep_stats {
    unsigned long events, diffs, items_skip, items_keep, matches, files;
};

/* one event through both checkers; 0 same, 1 differs (printed), -1 error */
static int s_compare_repeats(struct pl_checker *skip, struct pl_checker *keep, const char *data,
                             size_t len, const char *where, struct s_rep_stats *st)
{
    struct pl_verdict a, b;
    pl_verdict_init(&a);
    pl_verdict_init(&b);
    int ret = -1;
    if (pl_checker_check(skip, data, len, &a) || pl_checker_check(keep, data, len, &b))
        goto out;
    st->events++;
    st->items_skip += skip->view.n_items;
    st->items_keep += keep->view.n_items;
    st->matches += b.n_matches;
    bool same = a.deny == b.deny && a.bound_exceeded == b.bound_exceeded &&
                a.non_json == b.non_json;
    for (size_t i = 0; same && i < a.n_matches; i++) {
        bool found = false;
        for (size_t j = 0; j < b.n_matches && !found; j++)
            found = a.matches[i].rule_index == b.matches[j].rule_index &&
                    !strcmp(a.matches[i].path, b.matches[j].path);
        same = found;
    }
    for (size_t j = 0; same && j < b.n_matches; j++) {
        bool found = false;
        for (size_t i = 0; i < a.n_matches && !found; i++)
            found = a.matches[i].rule_index == b.matches[j].rule_index;
        same = found;
    }
    ret = same ? 0 : 1;
    if (!same && st->diffs++ < S_MAX_PRINTED)
        fprintf(stderr,
                "REPEATS %s: skipped: deny %d bound %d %zu matches; kept: deny %d bound %d %zu "
                "matches\n",
                where, a.deny, a.bound_exceeded, a.n_matches, b.deny, b.bound_exceeded,
                b.n_matches);
out:
    pl_verdict_clean_up(&a);
    pl_verdict_clean_up(&b);
    return ret;
}

/* every *.json under dir (recursively) */
static int s_repeat_events(struct pl_checker *skip, struct pl_checker *keep, const char *dir,
                           struct pl_buf *twice, struct s_rep_stats *st, int depth)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return depth ? 0 : -1;
    struct dirent *de;
    int err = 0;
    while (!err && (de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(path, &sb))
            continue;
        if (S_ISDIR(sb.st_mode)) {
            if (depth < 4)
                err = s_repeat_events(skip, keep, path, twice, st, depth + 1);
            continue;
        }
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 5, ".json"))
            continue;
        size_t len = 0;
        char *d = pl_test_read(path, &len);
        if (!d)
            continue;
        pl_buf_reset(twice);
        pl_buf_append_str(twice, "{\"Records\":[{\"Message\":");
        s_jstr(twice, d, len);
        pl_buf_append_str(twice, "},{\"Message\":");
        s_jstr(twice, d, len);
        pl_buf_append_str(twice, "}],\"direct\":[");
        pl_buf_append(twice, d, len);
        pl_buf_append_char(twice, ',');
        pl_buf_append(twice, d, len);
        pl_buf_append_str(twice, "]}");
        st->files++;
        err = s_compare_repeats(skip, keep, d, len, path, st) < 0 ||
              s_compare_repeats(skip, keep, twice->data, twice->len, path, st) < 0;
        free(d);
    }
    closedir(dh);
    return err;
}

PL_TEST(repeated_values_skipped_same_verdicts)
{
    struct pl_ruleset set;
    struct s_lines ls = {0};
    PL_CHECK_OK(pl_ruleset_init(&set));
    size_t files = 0, payload_lines = 0, heldout_lines = 0;
    int rc = s_load_inputs(&set, &ls, &payload_lines, &heldout_lines, &files);
    struct pl_engine *eng[2] = {NULL, NULL};
    const enum pl_target targets[2] = {PL_TARGET_IN, PL_TARGET_OUT};
    for (int t = 0; t < 2 && !rc; t++)
        rc = pl_engine_compile(&set, targets[t], &eng[t], NULL);
    if (rc) {
        s_free_lines(&ls);
        pl_ruleset_clean_up(&set);
        PL_CHECK_MSG(0, "loading rules or inputs failed (%s)", pl_last_error_msg());
    }
    struct s_rep_stats st = {0};
    struct pl_buf ev = PL_BUF_INIT, twice = PL_BUF_INIT;
    int err = 0;
    for (int t = 0; t < 2 && !err; t++) {
        struct pl_checker skip, keep;
        if (pl_checker_init(&skip, &set, eng[t]) || pl_checker_init(&keep, &set, eng[t])) {
            err = 1;
            break;
        }
        keep.limits.keep_repeats = true;
        for (size_t i = 0; i < ls.n && !err; i++) {
            s_event_with(&ev, ls.v[i].text, ls.v[i].len);
            err = s_compare_repeats(&skip, &keep, ev.data, ev.len, ls.v[i].where, &st) < 0;
        }
        /* the benign events (the corpus's and the project's survey), alone and twice inside
         * one event as strings */
        char edirs[2][1024];
        snprintf(edirs[0], sizeof(edirs[0]), "%s/corpus/events/benign", pl_test_shared_dir());
        snprintf(edirs[1], sizeof(edirs[1]), "tests/data/events-benign");
        for (int k = 0; k < 2 && !err; k++)
            err = s_repeat_events(&skip, &keep, edirs[k], &twice, &st, 0);
        pl_checker_clean_up(&skip);
        pl_checker_clean_up(&keep);
    }
    printf("repeated values: %lu checks (%lu event files), %lu matches (kept run), items %lu "
           "skipped-run vs %lu kept-run, %lu verdicts differ\n",
           st.events, st.files, st.matches, st.items_skip, st.items_keep, st.diffs);
    pl_buf_clean_up(&ev);
    pl_buf_clean_up(&twice);
    for (int t = 0; t < 2; t++)
        pl_engine_destroy(eng[t]);
    s_free_lines(&ls);
    pl_ruleset_clean_up(&set);
    PL_CHECK_MSG(!err, "engine or checker error: %s", pl_last_error_msg());
    PL_CHECK(st.events > 4000);
    PL_CHECK(st.files > 200);
    PL_CHECK(st.matches > 1000);                      /* the attacks matched */
    PL_CHECK(st.items_skip * 10 < st.items_keep * 8); /* and repeats were skipped */
    PL_CHECK_INT(st.diffs, 0);
}
