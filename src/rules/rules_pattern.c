/* rules: pattern validation with PCRE2 (the superset of what Vectorscan accepts; a pattern
 * PCRE2 accepts always runs, on Vectorscan or on the PCRE2 fallback). The loaders validate
 * here at load, or leave it to pl_ruleset_check (defer_check): one place, one error text. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "protectlambda/rules.h"

static void *s_malloc(size_t n, void *ud)
{
    (void)ud;
    return pl_malloc(n);
}
static void s_free(void *p, void *ud)
{
    (void)ud;
    pl_free(p);
}

int pl_rule_flag_parse(const char *s, unsigned *flag)
{
    static const struct {
        const char *name;
        unsigned flag;
    } flags[] = {{"caseless", PL_RULE_CASELESS},
                 {"dotall", PL_RULE_DOTALL},
                 {"multiline", PL_RULE_MULTILINE},
                 {"utf8", PL_RULE_UTF8}};
    for (size_t i = 0; i < PL_ARRAY_LEN(flags); i++) {
        if (s && !strcmp(s, flags[i].name)) {
            *flag = flags[i].flag;
            return 0;
        }
    }
    return pl_raise(PL_ERR_INVALID_ARG, "unknown flag '%s' (caseless, dotall, multiline, utf8)",
                    s ? s : "");
}

int pl_rule_pattern_check(const char *pattern, unsigned flags, char *err, size_t errlen)
{
    int ret = -1;
    err[0] = '\0';
    pcre2_general_context *g = pcre2_general_context_create(s_malloc, s_free, NULL);
    pcre2_compile_context *cc = g ? pcre2_compile_context_create(g) : NULL;
    pcre2_code *re = NULL;
    pcre2_match_data *md = NULL;
    if (!cc) {
        ret = pl_raise(PL_ERR_NOMEM, "out of memory checking a pattern") - 1;
        goto out;
    }
    uint32_t opt = 0;
    if (flags & PL_RULE_CASELESS)
        opt |= PCRE2_CASELESS;
    if (flags & PL_RULE_DOTALL)
        opt |= PCRE2_DOTALL;
    if (flags & PL_RULE_MULTILINE)
        opt |= PCRE2_MULTILINE;
    if (flags & PL_RULE_UTF8)
        opt |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    int ec = 0;
    PCRE2_SIZE eo = 0;
    re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opt, &ec, &eo, cc);
    if (!re) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", ec);
        if (ec == PCRE2_ERROR_NOMEMORY || ec == PCRE2_ERROR_HEAP_FAILED)
            ret = pl_raise(PL_ERR_NOMEM, "out of memory checking a pattern") - 1;
        else
            snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)eo);
        goto out;
    }
    md = pcre2_match_data_create(1, g);
    if (!md) {
        ret = pl_raise(PL_ERR_NOMEM, "out of memory checking a pattern") - 1;
        goto out;
    }
    /* a rule that matches the empty string matches every input: refuse it */
    int rc = pcre2_match(re, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
    if (rc >= 0) {
        snprintf(err, errlen, "it matches the empty string (every input would match)");
        goto out;
    }
    ret = 0;
out:
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(g);
    return ret;
}

/* the loader's error for a bad pattern: "FILE:LINE: [allow ]pattern 'P' does not compile:
 * WHY" (a YAML pack's message goes through the same 900-byte buffer as its other errors) */
static int s_pattern_error(const struct pl_rule *r, bool allow, const char *pattern,
                           const char *why)
{
    const char *src = r->source ? r->source : "?";
    unsigned line = allow ? r->allow_line : r->pattern_line;
    const char *kind = allow ? "allow pattern" : "pattern";
    if (r->classic)
        return pl_raise(PL_ERR_RULES_PATTERN, "%s:%u: %s '%s' does not compile: %s", src, line,
                        kind, pattern, why);
    char msg[900];
    snprintf(msg, sizeof(msg), "%s '%s' does not compile: %s", kind, pattern, why);
    return pl_raise(PL_ERR_RULES_PATTERN, "%s:%u: %s", src, line, msg);
}

int pl_rule_check(const struct pl_rule *r, unsigned what)
{
    char err[256];
    if (what & PL_RULE_CHECK_PATTERN) {
        int prc = pl_rule_pattern_check(r->pattern, r->flags, err, sizeof(err));
        if (prc == -2)
            return -1;
        if (prc)
            return s_pattern_error(r, false, r->pattern, err);
    }
    for (size_t i = 0; (what & PL_RULE_CHECK_ALLOW) && r->allow && r->allow[i]; i++) {
        int prc = pl_rule_pattern_check(r->allow[i], r->flags, err, sizeof(err));
        if (prc == -2)
            return -1;
        if (prc)
            return s_pattern_error(r, true, r->allow[i], err);
    }
    return 0;
}

int pl_ruleset_check(const struct pl_ruleset *set, int target, unsigned what)
{
    for (size_t i = 0; i < set->count; i++) {
        const struct pl_rule *r = &set->rules[i];
        if (!r->unchecked || (target >= 0 && r->target != (enum pl_target)target))
            continue;
        if (pl_rule_check(r, what))
            return -1;
    }
    return 0;
}
