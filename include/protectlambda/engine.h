/* Engine: all rules of one target compiled into one Vectorscan database (one pass over the
 * bytes for every rule); patterns Vectorscan rejects fall back to PCRE2-JIT with match limits.
 * Knows nothing of Lambda, HTTP or JSON. Details: docs/engine.md.
 *
 * Builds: the CLI links the Vectorscan compiler (libhs); what runs in Lambda links
 * libhs_runtime.a only (PL_ENGINE_RUNTIME_ONLY): it loads serialized databases and compiles
 * rules that are not in the database with PCRE2 (pl_engine_compile there puts EVERY rule on
 * PCRE2). */
#ifndef PROTECTLAMBDA_ENGINE_H
#define PROTECTLAMBDA_ENGINE_H

#include "protectlambda/buf.h"
#include "protectlambda/rules.h"

/* Error of pl_engine_scan / pl_engine_stream_* / pl_engine_locate / pl_engine_allowed when a
 * PCRE2 rule hit its match limit (catastrophic backtracking, or input too large for it): the
 * rule could not be decided. Callers fail closed: treat it like a match of that rule (the
 * message names the rule). Every other rule was still scanned and reported before the call
 * returned -1. */

/* PCRE2 limits of fallback rules (per match attempt) */
#define PL_ENGINE_PCRE2_MATCH_LIMIT 1000000u
#define PL_ENGINE_PCRE2_DEPTH_LIMIT 10000u
#define PL_ENGINE_PCRE2_HEAP_LIMIT_KIB 16384u
/* A stream buffers its bytes for the PCRE2 rules (scanned at close) up to this size; past it
 * the close reports PL_ERR_ENGINE_MATCH_LIMIT (those rules saw only the first bytes). */
#define PL_ENGINE_STREAM_BUFFER_MAX ((size_t)16 * 1024 * 1024)

/* `from` when the start of a match is not known (Vectorscan rules) */
#define PL_ENGINE_NO_OFFSET (~0ULL)

struct pl_engine;         /* compiled rules of one target; immutable, shared across threads */
struct pl_engine_scratch; /* per-thread scratch */
struct pl_engine_stream;  /* streaming scan state (responses scanned chunk by chunk) */

/* Called for each match: index of the rule in the ruleset, and the end offset of the match
 * (start offset when known, else PL_ENGINE_NO_OFFSET). Return non-zero to stop scanning.
 * Offsets are hints: a Vectorscan rule whose pattern starts or ends with `.*` is scanned
 * without them (same inputs match, far fewer reports), so `to` is the end of that core;
 * use pl_engine_locate for exact offsets. */
typedef int (*pl_engine_match_fn)(void *ctx, uint32_t rule_index, unsigned long long from,
                                  unsigned long long to);

/* compile options (pl_engine_compile_ex) */
#define PL_ENGINE_SINGLEMATCH 0x01u /* report each rule at most once per scan (or stream) */
/* tune for this machine's CPU (AVX2/AVX-512 when present); such engines cannot be saved
 * (pl_engine_db_save refuses them) */
#define PL_ENGINE_HOST_TUNED 0x02u

/* Compile the rules of `target`; rules loaded with defer_check are validated first
 * (pl_ruleset_check: a bad pattern fails with the loader's file:line error, before any
 * compile). `report` (optional) receives one line per rule that fell
 * back to PCRE2, with the reason ("rules/x.yaml:3: rule 'id' runs on PCRE2: <why>").
 * The engine keeps a pointer to `set`: keep it alive. A target without rules gives an
 * engine that matches nothing. Databases are compiled for a baseline x86-64 platform
 * (generic tuning, no AVX2/AVX-512) so that they can be saved and loaded on any CPU, unless
 * PL_ENGINE_HOST_TUNED. */
int pl_engine_compile(const struct pl_ruleset *set, enum pl_target target, struct pl_engine **out,
                      struct pl_buf *report);
int pl_engine_compile_ex(const struct pl_ruleset *set, enum pl_target target, unsigned options,
                         struct pl_engine **out, struct pl_buf *report);
void pl_engine_destroy(struct pl_engine *e);
/* Compile cache (full build): pl_engine_compile first looks for the target's databases in a
 * cache directory keyed by a hash of the target's rules, and stores them there after a
 * compile. The directory comes from the setting engine_cache (environment
 * PROTECTLAMBDA_ENGINE_CACHE; "auto" = $XDG_CACHE_HOME/protectlambda or
 * ~/.cache/protectlambda; "" = off) unless set here (NULL or "" = off). Files are trusted only
 * in a directory of this user that others cannot write. */
void pl_engine_set_cache_dir(const char *dir);
/* whether the engine's databases came from the cache */
bool pl_engine_from_cache(const struct pl_engine *e);
size_t pl_engine_rule_count(const struct pl_engine *e);
/* how many rules run on PCRE2 */
size_t pl_engine_fallback_count(const struct pl_engine *e);
/* the Vectorscan scan implementation in use ("avx2", "corei7", "core2", or "vectorscan
 * dispatch" when the library has no per-CPU implementations): never AVX-512 (docs/engine.md) */
const char *pl_engine_scan_impl(void);
/* append the report lines of pl_engine_compile (one per PCRE2 rule) */
int pl_engine_fallback_report(const struct pl_engine *e, struct pl_buf *report);
/* whether the rule (index in the ruleset) runs on PCRE2 */
bool pl_engine_rule_is_fallback(const struct pl_engine *e, uint32_t rule_index);
enum pl_target pl_engine_target(const struct pl_engine *e);

/* One scratch per thread and per engine (it may only be used with the engine it was made
 * for, by one thread at a time). */
int pl_engine_scratch_new(const struct pl_engine *e, struct pl_engine_scratch **out);
void pl_engine_scratch_destroy(struct pl_engine_scratch *s);
/* a copy for another thread */
int pl_engine_scratch_clone(const struct pl_engine_scratch *s, struct pl_engine_scratch **out);

/* Scan a block. A Vectorscan rule is reported at most once per distinct end offset; a
 * PCRE2 rule is reported once (its first, leftmost match, with the start offset); with
 * PL_ENGINE_SINGLEMATCH every rule at most once. 0 ok (also when the callback stopped
 * the scan); -1 error, PL_ERR_ENGINE_MATCH_LIMIT included (see above). */
int pl_engine_scan(const struct pl_engine *e, struct pl_engine_scratch *s, const char *data,
                   size_t len, pl_engine_match_fn fn, void *ctx);

/* Streaming: matches may span chunk boundaries; offsets are from the start of the stream.
 * Vectorscan rules are reported as the chunks arrive; PCRE2 rules (and every rule when the
 * engine has no stream database) run over the buffered stream at close (buffer cap above).
 * Close always frees the stream; with fn == NULL it only frees it (s may then be NULL). */
int pl_engine_stream_open(const struct pl_engine *e, struct pl_engine_stream **out);
int pl_engine_stream_scan(struct pl_engine_stream *st, struct pl_engine_scratch *s,
                          const char *data, size_t len, pl_engine_match_fn fn, void *ctx);
int pl_engine_stream_close(struct pl_engine_stream *st, struct pl_engine_scratch *s,
                           pl_engine_match_fn fn, void *ctx);

/* Find the first match of one rule in `data` with PCRE2 (start and end offsets): used to
 * report columns and excerpts, and to check allow-lists. Returns 1 found, 0 not, -1 error
 * (PL_ERR_ENGINE_MATCH_LIMIT: undecided, fail closed). Thread-safe (compiles the rule's
 * PCRE2 form on first use). */
int pl_engine_locate(const struct pl_engine *e, uint32_t rule_index, const char *data, size_t len,
                     size_t *from, size_t *to);
/* 1 when `text` matches one of the rule's allow-list patterns (unanchored search: write
 * ^...$ for an exact match), 0 not, -1 error (treat as not allowed). Thread-safe. */
int pl_engine_allowed(const struct pl_engine *e, uint32_t rule_index, const char *text, size_t len);

/* ---- rules database file: the engines of every target plus a hash of the ruleset ---- */
/* write all targets' databases (engines[t] may be NULL for an empty target) */
int pl_engine_db_save(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *const engines[PL_TARGET_COUNT]);
/* load; fails with PL_ERR_ENGINE_DB_STALE (ruleset hash differs), _CORRUPT (bad magic,
 * truncated, checksum), or _INCOMPATIBLE (other file format, Vectorscan version or CPU);
 * PL_ERR_NOT_FOUND when the file does not exist. On failure engines are untouched; on
 * success every target has an engine (one without rules matches nothing).
 * Rules loaded with defer_check: a matching database stands for the validation of their
 * patterns (it was compiled from them), and of their allow patterns when those are the ones
 * it was compiled with (it records their hash); other allow patterns are validated here
 * (PL_ERR_RULES_PATTERN, the loader's error). The file is mapped while it loads: replace it
 * (rename, as `protectlambda compile` does), never truncate it in place. */
int pl_engine_db_load(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *engines[PL_TARGET_COUNT]);
/* load when possible, else compile every target (logging one warn line saying why);
 * what a command's --rules-db does. db_path NULL or "" just compiles. `report` (optional)
 * gets the PCRE2 rules either way. A bad rule (PL_ERR_RULES_PATTERN) fails, database or
 * not. */
int pl_engine_load_or_compile(const char *db_path, const struct pl_ruleset *set,
                              struct pl_engine *engines[PL_TARGET_COUNT], struct pl_buf *report);
/* destroy every engine of the array and set them NULL */
void pl_engine_destroy_all(struct pl_engine *engines[PL_TARGET_COUNT]);

/* XXH64 (seed 0): the checksum that ends an engine cache file (of every byte before it) */
uint64_t pl_engine_db_checksum(const void *data, size_t len);
/* The checksum that ends a rules database file, of its `len` bytes before it: XXH64 of them
 * all except the bytecode of each Vectorscan database in it, which Vectorscan's own CRC32C
 * covers (checked when it loads). -1 (PL_ERR_ENGINE_DB_CORRUPT: truncated, bad lengths)
 * when the bytes are not laid out as a database. */
int pl_engine_db_file_checksum(const void *data, size_t len, uint64_t *sum);

#endif
