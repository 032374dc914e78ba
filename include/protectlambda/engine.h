/* Engine: all rules of one target compiled into one Vectorscan database (one pass over the
 * bytes for every rule); patterns Vectorscan rejects fall back to PCRE2-JIT with match limits.
 * Knows nothing of Lambda, HTTP or JSON.
 *
 * Builds: the CLI links the Vectorscan compiler (libhs); what runs in Lambda links
 * libhs_runtime.a only (PL_ENGINE_RUNTIME_ONLY): it loads serialized databases and compiles
 * rules that are not in the database with PCRE2. */
#ifndef PROTECTLAMBDA_ENGINE_H
#define PROTECTLAMBDA_ENGINE_H

#include "protectlambda/buf.h"
#include "protectlambda/rules.h"

struct pl_engine;          /* compiled rules of one target; immutable, shared across threads */
struct pl_engine_scratch;  /* per-thread scratch */
struct pl_engine_stream;   /* streaming scan state (responses scanned chunk by chunk) */

/* Called for each match: index of the rule in the ruleset, and the end offset of the match
 * (start offset when known, else (unsigned long long)-1). Return non-zero to stop scanning. */
typedef int (*pl_engine_match_fn)(void *ctx, uint32_t rule_index, unsigned long long from,
                                  unsigned long long to);

/* Compile the rules of `target`. `report` (optional) receives one line per rule that fell
 * back to PCRE2, with the reason. The engine keeps a pointer to `set`: keep it alive. */
int pl_engine_compile(const struct pl_ruleset *set, enum pl_target target,
                      struct pl_engine **out, struct pl_buf *report);
void pl_engine_destroy(struct pl_engine *e);
size_t pl_engine_rule_count(const struct pl_engine *e);
/* how many rules run on PCRE2 */
size_t pl_engine_fallback_count(const struct pl_engine *e);

int pl_engine_scratch_new(const struct pl_engine *e, struct pl_engine_scratch **out);
void pl_engine_scratch_destroy(struct pl_engine_scratch *s);

/* Scan a block. Each (rule, end offset) is reported at most once per rule and position. */
int pl_engine_scan(const struct pl_engine *e, struct pl_engine_scratch *s, const char *data,
                   size_t len, pl_engine_match_fn fn, void *ctx);

/* Streaming: matches may span chunk boundaries; offsets are from the start of the stream. */
int pl_engine_stream_open(const struct pl_engine *e, struct pl_engine_stream **out);
int pl_engine_stream_scan(struct pl_engine_stream *st, struct pl_engine_scratch *s,
                          const char *data, size_t len, pl_engine_match_fn fn, void *ctx);
int pl_engine_stream_close(struct pl_engine_stream *st, struct pl_engine_scratch *s,
                           pl_engine_match_fn fn, void *ctx);

/* Find the first match of one rule in `data` with PCRE2 (start and end offsets): used to
 * report columns and excerpts, and to check allow-lists. Returns 1 found, 0 not, -1 error. */
int pl_engine_locate(const struct pl_engine *e, uint32_t rule_index, const char *data,
                     size_t len, size_t *from, size_t *to);
/* 1 when `text` matches one of the rule's allow-list patterns */
int pl_engine_allowed(const struct pl_engine *e, uint32_t rule_index, const char *text,
                      size_t len);

/* ---- rules database file: the engines of every target plus a hash of the ruleset ---- */
/* write all targets' databases (engines[t] may be NULL for an empty target) */
int pl_engine_db_save(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *const engines[PL_TARGET_COUNT]);
/* load; fails with PL_ERR_ENGINE_DB_STALE (ruleset hash differs), _CORRUPT, or _INCOMPATIBLE
 * (other Vectorscan version / CPU). On failure engines are untouched. */
int pl_engine_db_load(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *engines[PL_TARGET_COUNT]);
/* load when possible, else compile (logging why); what a command's --rules-db does */
int pl_engine_load_or_compile(const char *db_path, const struct pl_ruleset *set,
                              struct pl_engine *engines[PL_TARGET_COUNT], struct pl_buf *report);

#endif
