/* engine internals shared by engine.c (compile, scan) and engine_db.c (database files) */
#ifndef PL_ENGINE_PRIVATE_H
#define PL_ENGINE_PRIVATE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>
#ifdef PL_ENGINE_RUNTIME_ONLY
#include <hs/hs_runtime.h>
#else
#include <hs/hs.h>
#endif

#include "protectlambda/engine.h"

/* Vectorscan's fat runtime picks a scan implementation per CPU (core2, corei7, avx2, avx512,
 * avx512vbmi). The engine calls the one hs_select.c chose instead (never AVX-512: it misses
 * matches in 5.4.9, docs/engine.md), through these pointers. */
struct pl_hs_api {
    const char *name;
    hs_error_t (*scan)(const hs_database_t *, const char *, unsigned, unsigned, hs_scratch_t *,
                       match_event_handler, void *);
    hs_error_t (*open_stream)(const hs_database_t *, unsigned, hs_stream_t **);
    hs_error_t (*scan_stream)(hs_stream_t *, const char *, unsigned, unsigned, hs_scratch_t *,
                              match_event_handler, void *);
    hs_error_t (*close_stream)(hs_stream_t *, hs_scratch_t *, match_event_handler, void *);
    hs_error_t (*deserialize_database)(const char *, size_t, hs_database_t **);
    hs_error_t (*free_database)(hs_database_t *);
    hs_error_t (*serialize_database)(const hs_database_t *, char **, size_t *);
    hs_error_t (*serialized_database_info)(const char *, size_t, char **);
};
const struct pl_hs_api *pl_hs_api(void);
#define hs_scan (pl_hs_api()->scan)
#define hs_open_stream (pl_hs_api()->open_stream)
#define hs_scan_stream (pl_hs_api()->scan_stream)
#define hs_close_stream (pl_hs_api()->close_stream)
#define hs_deserialize_database (pl_hs_api()->deserialize_database)
#define hs_free_database (pl_hs_api()->free_database)
#define hs_serialize_database (pl_hs_api()->serialize_database)
#define hs_serialized_database_info (pl_hs_api()->serialized_database_info)

struct s_engine_rule {
    uint32_t set_index;
    bool fallback;
    char *reason;   /* why it runs on PCRE2 (NULL when on Vectorscan) */
    pcre2_code *re; /* PCRE2 form: compiled at build for fallback rules, lazily otherwise */
    size_t n_allow;
    pcre2_code **allow; /* allow-list patterns, compiled lazily */
};

struct pl_engine {
    const struct pl_ruleset *set;
    enum pl_target target;
    unsigned options;
    size_t n;
    struct s_engine_rule *rules;
    size_t n_fb;
    uint32_t *fb; /* local indexes of PCRE2 rules */
    hs_database_t *block;
    hs_database_t *stream; /* out target only; NULL: streams buffer and block-scan at close */
    bool from_cache;
};

void pl_engine_global_init(void);
/* an engine with the rules of `target`, no databases, nothing on PCRE2 yet */
int pl_engine_new_empty(const struct pl_ruleset *set, enum pl_target target, unsigned options,
                        struct pl_engine **out);
/* mark a rule as PCRE2 (reason copied), and compile its PCRE2 form with JIT */
int pl_engine_set_fallback(struct pl_engine *e, size_t local, const char *reason);
/* rebuild e->fb from the rules' fallback marks */
int pl_engine_index_fallbacks(struct pl_engine *e);

/* ---- file helpers shared by the database file and the cache (engine_db.c) ---- */
struct pl_edb_reader {
    const unsigned char *p;
    size_t len, pos;
    const char *path;
};
int pl_edb_put_u32(struct pl_buf *b, uint32_t v);
int pl_edb_put_u64(struct pl_buf *b, uint64_t v);
/* little-endian loads, inline: the file checksum reads a multi-megabyte cache file with them
 * (as calls they took as long as the hash itself) */
static inline uint32_t pl_edb_get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}
static inline uint64_t pl_edb_get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
int pl_edb_need(struct pl_edb_reader *r, size_t n);
int pl_edb_put_db(struct pl_buf *b, const hs_database_t *db);
int pl_edb_read_db(struct pl_edb_reader *r, hs_database_t **db);
/* a target's body: options, PCRE2 rules with reasons, block and stream databases */
int pl_edb_put_target(struct pl_buf *b, const struct pl_engine *e);
int pl_edb_read_target(struct pl_edb_reader *r, const struct pl_ruleset *set, int t, uint32_t count,
                       struct pl_engine **out);

/* ---- compile cache (engine_cache.c; full build only) ---- */
/* 1 loaded from the cache, 0 miss (or cache off), -1 error (out of memory) */
int pl_engine_cache_load(const struct pl_ruleset *set, enum pl_target target, unsigned options,
                         struct pl_engine **out);
/* best effort: failures are logged at debug level and ignored */
void pl_engine_cache_store(const struct pl_engine *e);

#endif
