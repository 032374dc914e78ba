/* engine internals shared by engine.c (compile, scan) and engine_db.c (database files) */
#ifndef PL_ENGINE_PRIVATE_H
#define PL_ENGINE_PRIVATE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#ifdef PL_ENGINE_RUNTIME_ONLY
#include <hs/hs_runtime.h>
#else
#include <hs/hs.h>
#endif

#include "protectlambda/engine.h"

struct s_engine_rule {
    uint32_t set_index;
    bool fallback;
    char *reason;        /* why it runs on PCRE2 (NULL when on Vectorscan) */
    pcre2_code *re;      /* PCRE2 form: compiled at build for fallback rules, lazily otherwise */
    size_t n_allow;
    pcre2_code **allow;  /* allow-list patterns, compiled lazily */
};

struct pl_engine {
    const struct pl_ruleset *set;
    enum pl_target target;
    unsigned options;
    size_t n;
    struct s_engine_rule *rules;
    size_t n_fb;
    uint32_t *fb;        /* local indexes of PCRE2 rules */
    hs_database_t *block;
    hs_database_t *stream; /* out target only; NULL: streams buffer and block-scan at close */
};

void pl_engine_global_init(void);
/* an engine with the rules of `target`, no databases, nothing on PCRE2 yet */
int pl_engine_new_empty(const struct pl_ruleset *set, enum pl_target target, unsigned options,
                        struct pl_engine **out);
/* mark a rule as PCRE2 (reason copied), and compile its PCRE2 form with JIT */
int pl_engine_set_fallback(struct pl_engine *e, size_t local, const char *reason);
/* rebuild e->fb from the rules' fallback marks */
int pl_engine_index_fallbacks(struct pl_engine *e);

#endif
