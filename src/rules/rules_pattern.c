/* rules: pattern validation with PCRE2 (the superset of what Vectorscan accepts; a pattern
 * PCRE2 accepts always runs, on Vectorscan or on the PCRE2 fallback). */
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
