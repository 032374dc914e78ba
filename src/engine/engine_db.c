/* Engine: the rules database file (docs/engine.md, "Database file").
 *
 * Layout, little-endian:
 *   0   magic "PLRULEDB"
 *   8   u32 format version (S_FORMAT)
 *   12  u32 reserved (0)
 *   16  char[64] Vectorscan version (hs_version(), NUL padded)
 *   80  u64 ruleset hash (pl_ruleset_hash)
 *   88  u32 number of target sections (3), u32 reserved
 *   96  u64 allow-lists hash (pl_ruleset_allow_hash)
 *   104 per target: u32 target, u32 rule count, then the target body:
 *         u32 options, u32 n PCRE2 rules, per PCRE2 rule: u32 local index, u32 reason
 *         length, reason bytes; u64 block db length, block db bytes (hs_serialize_database),
 *         u64 stream db length, stream db bytes
 *   end u64 XXH64 (seed 0) of every byte before it except the bytecode of each Vectorscan
 *       database, which its own CRC32C covers (pl_engine_db_file_checksum). Format 3 hashed
 *       the whole file: over the megabytes of bytecode, that doubled Vectorscan's check
 *       (hs_deserialize_database verifies the CRC, and hs_alloc_scratch again).
 * The engine cache (engine_cache.c) writes the same target body.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_private.h"
#include "protectlambda/log.h"

#define S_MAGIC "PLRULEDB"
#define S_FORMAT 4u
#define S_HEADER 104u
#define S_MAX_DB (1024u * 1024u * 1024u)
#define S_MAX_REASON 4096u
/* A serialized Vectorscan database (hs_serialize_database, database.c): a 32-byte header
 * (u32 magic, u32 version, u32 bytecode length L, u64 platform, u32 CRC32C of the bytecode,
 * u32 reserved x2), the bytecode (L bytes), zero padding up to sizeof(struct hs_database) + L.
 * hs_deserialize_database checks magic, version, length and platform by value and the
 * bytecode by its CRC; the reserved words and the padding it never reads: the file checksum
 * covers those (unit.engine db_checksum_covers_what_vectorscan_does_not pins this layout). */
#define S_HS_HEADER 32u

int pl_edb_put_u32(struct pl_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return pl_buf_append(b, x, 4);
}

int pl_edb_put_u64(struct pl_buf *b, uint64_t v)
{
    return pl_edb_put_u32(b, (uint32_t)v) || pl_edb_put_u32(b, (uint32_t)(v >> 32)) ? -1 : 0;
}

/* XXH64 (Yann Collet's xxHash, 64-bit, seed 0): four independent lanes of 8 bytes, ~10x the
 * speed of byte-wise FNV-1a on a multi-megabyte database */
#define S_P1 0x9E3779B185EBCA87ull
#define S_P2 0xC2B2AE3D27D4EB4Full
#define S_P3 0x165667B19E3779F9ull
#define S_P4 0x85EBCA77C2B2AE63ull
#define S_P5 0x27D4EB2F165667C5ull

static inline uint64_t s_rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t s_round(uint64_t acc, uint64_t in)
{
    acc += in * S_P2;
    acc = s_rotl(acc, 31);
    return acc * S_P1;
}

static inline uint64_t s_merge(uint64_t acc, uint64_t v)
{
    acc ^= s_round(0, v);
    return acc * S_P1 + S_P4;
}

uint64_t pl_engine_db_checksum(const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = S_P1 + S_P2, v2 = S_P2, v3 = 0, v4 = 0 - S_P1;
        const unsigned char *limit = end - 32;
        do {
            v1 = s_round(v1, pl_edb_get_u64(p));
            v2 = s_round(v2, pl_edb_get_u64(p + 8));
            v3 = s_round(v3, pl_edb_get_u64(p + 16));
            v4 = s_round(v4, pl_edb_get_u64(p + 24));
            p += 32;
        } while (p <= limit);
        h = s_rotl(v1, 1) + s_rotl(v2, 7) + s_rotl(v3, 12) + s_rotl(v4, 18);
        h = s_merge(h, v1);
        h = s_merge(h, v2);
        h = s_merge(h, v3);
        h = s_merge(h, v4);
    } else {
        h = S_P5;
    }
    h += (uint64_t)len;
    for (; end - p >= 8; p += 8) {
        h ^= s_round(0, pl_edb_get_u64(p));
        h = s_rotl(h, 27) * S_P1 + S_P4;
    }
    if (end - p >= 4) {
        h ^= (uint64_t)pl_edb_get_u32(p) * S_P1;
        h = s_rotl(h, 23) * S_P2 + S_P3;
        p += 4;
    }
    for (; p < end; p++) {
        h ^= (uint64_t)*p * S_P5;
        h = s_rotl(h, 11) * S_P1;
    }
    h ^= h >> 33;
    h *= S_P2;
    h ^= h >> 29;
    h *= S_P3;
    h ^= h >> 32;
    return h;
}

/* add data[*from, to) to the bytes summed, *from = to */
static int s_sum_upto(struct pl_buf *m, const unsigned char *data, size_t *from, size_t to)
{
    int rc = to > *from ? pl_buf_append(m, data + *from, to - *from) : 0;
    *from = to;
    return rc;
}

int pl_engine_db_file_checksum(const void *data, size_t len, uint64_t *sum)
{
    const unsigned char *p = data;
    struct pl_edb_reader r = {p, len, 0, "rules database"};
    struct pl_buf m = PL_BUF_INIT; /* the bytes summed: a few hundred (header, lengths) */
    size_t from = 0;               /* start of the bytes not yet added */
    int ret = -1;
    if (pl_edb_need(&r, S_HEADER))
        goto out;
    r.pos = S_HEADER;
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        if (pl_edb_need(&r, 16))
            goto out;
        uint32_t n_fb = pl_edb_get_u32(p + r.pos + 12);
        r.pos += 16;
        for (uint32_t k = 0; k < n_fb; k++) {
            if (pl_edb_need(&r, 8))
                goto out;
            uint32_t wl = pl_edb_get_u32(p + r.pos + 4);
            r.pos += 8;
            if (wl > S_MAX_REASON) {
                pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad fallback entry", r.path);
                goto out;
            }
            if (pl_edb_need(&r, wl))
                goto out;
            r.pos += wl;
        }
        for (int d = 0; d < 2; d++) { /* block, stream */
            if (pl_edb_need(&r, 8))
                goto out;
            uint64_t n = pl_edb_get_u64(p + r.pos);
            r.pos += 8;
            if (n > S_MAX_DB || pl_edb_need(&r, (size_t)n)) {
                pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad database length at byte %zu", r.path,
                         r.pos - 8);
                goto out;
            }
            /* leave out the bytecode, which Vectorscan's CRC covers (a header that does not
             * describe one: nothing left out, Vectorscan refuses the database anyway) */
            uint32_t code = n >= S_HS_HEADER ? pl_edb_get_u32(p + r.pos + 8) : 0;
            if (n >= S_HS_HEADER && code <= n - S_HS_HEADER) {
                if (s_sum_upto(&m, p, &from, r.pos + S_HS_HEADER))
                    goto out;
                from += code;
            }
            r.pos += (size_t)n;
        }
    }
    if (s_sum_upto(&m, p, &from, len))
        goto out;
    *sum = pl_engine_db_checksum(m.data, m.len);
    ret = 0;
out:
    pl_buf_clean_up(&m);
    return ret;
}

int pl_edb_put_db(struct pl_buf *b, const hs_database_t *db)
{
    if (!db)
        return pl_edb_put_u64(b, 0);
    char *bytes = NULL;
    size_t len = 0;
    hs_error_t rc = hs_serialize_database(db, &bytes, &len);
    if (rc != HS_SUCCESS)
        return pl_raise(rc == HS_NOMEM ? PL_ERR_NOMEM : PL_ERR_ENGINE_COMPILE,
                        "cannot serialize a Vectorscan database (error %d)", rc);
    int ret = pl_edb_put_u64(b, len) || pl_buf_append(b, bytes, len) ? -1 : 0;
    pl_free(bytes);
    return ret;
}

int pl_edb_put_target(struct pl_buf *b, const struct pl_engine *e)
{
    if (pl_edb_put_u32(b, e ? e->options : 0) || pl_edb_put_u32(b, e ? (uint32_t)e->n_fb : 0))
        return -1;
    for (size_t k = 0; e && k < e->n_fb; k++) {
        const char *why = e->rules[e->fb[k]].reason ? e->rules[e->fb[k]].reason : "";
        size_t wl = strlen(why);
        if (wl > S_MAX_REASON)
            wl = S_MAX_REASON;
        if (pl_edb_put_u32(b, e->fb[k]) || pl_edb_put_u32(b, (uint32_t)wl) ||
            pl_buf_append(b, why, wl))
            return -1;
    }
    return pl_edb_put_db(b, e ? e->block : NULL) || pl_edb_put_db(b, e ? e->stream : NULL) ? -1 : 0;
}

int pl_engine_db_save(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *const engines[PL_TARGET_COUNT])
{
    struct pl_buf b = PL_BUF_INIT;
    int ret = -1;
    pl_engine_global_init();
    char ver[64] = {0};
    snprintf(ver, sizeof(ver), "%s", hs_version());
    if (pl_buf_append(&b, S_MAGIC, 8) || pl_edb_put_u32(&b, S_FORMAT) || pl_edb_put_u32(&b, 0) ||
        pl_buf_append(&b, ver, sizeof(ver)) || pl_edb_put_u64(&b, pl_ruleset_hash(set)) ||
        pl_edb_put_u32(&b, PL_TARGET_COUNT) || pl_edb_put_u32(&b, 0) ||
        pl_edb_put_u64(&b, pl_ruleset_allow_hash(set)))
        goto out;
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        const struct pl_engine *e = engines[t];
        size_t n = pl_ruleset_count(set, (enum pl_target)t);
        if (!e && n) {
            pl_raise(PL_ERR_INVALID_ARG, "no engine for the %zu %s rules", n,
                     pl_target_name((enum pl_target)t));
            goto out;
        }
        if (e && (e->set != set || e->target != (enum pl_target)t || e->n != n)) {
            pl_raise(PL_ERR_INVALID_ARG, "the %s engine was not compiled from this ruleset",
                     pl_target_name((enum pl_target)t));
            goto out;
        }
        if (e && (e->options & PL_ENGINE_HOST_TUNED)) {
            pl_raise(PL_ERR_INVALID_ARG,
                     "the %s engine is tuned for this CPU: compile without "
                     "PL_ENGINE_HOST_TUNED to save it",
                     pl_target_name((enum pl_target)t));
            goto out;
        }
        if (pl_edb_put_u32(&b, (uint32_t)t) || pl_edb_put_u32(&b, (uint32_t)n) ||
            pl_edb_put_target(&b, e))
            goto out;
    }
    uint64_t sum;
    if (pl_engine_db_file_checksum(b.data, b.len, &sum) || pl_edb_put_u64(&b, sum))
        goto out;
    if (pl_write_file_atomic(path, b.data, b.len, 0644))
        goto out;
    ret = 0;
out:
    pl_buf_clean_up(&b);
    return ret;
}

int pl_edb_need(struct pl_edb_reader *r, size_t n)
{
    if (r->len - r->pos < n)
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: truncated at byte %zu", r->path, r->pos);
    return 0;
}

int pl_edb_read_db(struct pl_edb_reader *r, hs_database_t **db)
{
    *db = NULL;
    if (pl_edb_need(r, 8))
        return -1;
    uint64_t n = pl_edb_get_u64(r->p + r->pos);
    r->pos += 8;
    if (n == 0)
        return 0;
    if (n > S_MAX_DB || pl_edb_need(r, (size_t)n))
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad database length at byte %zu", r->path,
                        r->pos - 8);
    hs_error_t rc = hs_deserialize_database((const char *)r->p + r->pos, (size_t)n, db);
    if (rc != HS_SUCCESS) {
        *db = NULL;
        char info[200] = "";
        char *s = NULL;
        if (hs_serialized_database_info((const char *)r->p + r->pos, (size_t)n, &s) == HS_SUCCESS &&
            s) {
            snprintf(info, sizeof(info), " (%s)", s);
            pl_free(s);
        }
        if (rc == HS_NOMEM)
            return pl_raise(PL_ERR_NOMEM, "out of memory loading %s", r->path);
        if (rc == HS_DB_VERSION_ERROR || rc == HS_DB_PLATFORM_ERROR || rc == HS_ARCH_ERROR)
            return pl_raise(
                PL_ERR_ENGINE_DB_INCOMPATIBLE, "%s: Vectorscan refuses the database: %s%s", r->path,
                rc == HS_DB_VERSION_ERROR ? "other Vectorscan version" : "other CPU platform",
                info);
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT,
                        "%s: the Vectorscan database at byte %zu is damaged (its header or CRC "
                        "does not check out: Vectorscan error %d)",
                        r->path, r->pos, rc);
    }
    r->pos += (size_t)n;
    return 0;
}

int pl_edb_read_target(struct pl_edb_reader *r, const struct pl_ruleset *set, int t, uint32_t count,
                       struct pl_engine **out)
{
    struct pl_engine *e = NULL;
    char why[S_MAX_REASON + 1];
    if (pl_edb_need(r, 8))
        return -1;
    uint32_t options = pl_edb_get_u32(r->p + r->pos), n_fb = pl_edb_get_u32(r->p + r->pos + 4);
    r->pos += 8;
    if (n_fb > count)
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad fallback list", r->path);
    if (pl_engine_new_empty(set, (enum pl_target)t, options, &e))
        return -1;
    for (uint32_t k = 0; k < n_fb; k++) {
        if (pl_edb_need(r, 8))
            goto fail;
        uint32_t local = pl_edb_get_u32(r->p + r->pos), wl = pl_edb_get_u32(r->p + r->pos + 4);
        r->pos += 8;
        if (local >= count || e->rules[local].fallback || wl > S_MAX_REASON) {
            pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad fallback entry", r->path);
            goto fail;
        }
        if (pl_edb_need(r, wl))
            goto fail;
        memcpy(why, r->p + r->pos, wl);
        why[wl] = '\0';
        r->pos += wl;
        if (pl_engine_set_fallback(e, local, wl ? why : "PCRE2 (rules database)"))
            goto fail;
    }
    if (pl_edb_read_db(r, &e->block) || pl_edb_read_db(r, &e->stream))
        goto fail;
    if (count > n_fb && !e->block) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: %s rules without a database", r->path,
                 pl_target_name((enum pl_target)t));
        goto fail;
    }
    if (pl_engine_index_fallbacks(e))
        goto fail;
    *out = e;
    return 0;
fail:
    pl_engine_destroy(e);
    return -1;
}

static int s_load_target(struct pl_edb_reader *r, const struct pl_ruleset *set, int t,
                         struct pl_engine **out)
{
    if (pl_edb_need(r, 8))
        return -1;
    uint32_t target = pl_edb_get_u32(r->p + r->pos), count = pl_edb_get_u32(r->p + r->pos + 4);
    r->pos += 8;
    if (target != (uint32_t)t)
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad target section", r->path);
    if (count != pl_ruleset_count(set, (enum pl_target)t))
        return pl_raise(PL_ERR_ENGINE_DB_STALE, "%s: %u %s rules, the rules have %zu", r->path,
                        count, pl_target_name((enum pl_target)t),
                        pl_ruleset_count(set, (enum pl_target)t));
    return pl_edb_read_target(r, set, t, count, out);
}

/* The file's bytes: mapped (a regular file), else read. Mapped, nothing is copied out of the
 * page cache but each Vectorscan database (hs_deserialize_database copies it into place); a
 * read first copied the whole file into a fresh buffer. */
struct s_file {
    const unsigned char *p;
    size_t len;
    void *map;  /* mapped (map_len bytes) */
    char *data; /* or read */
    size_t map_len;
};

static int s_file_open(struct s_file *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return pl_raise(e == ENOENT ? PL_ERR_NOT_FOUND : PL_ERR_IO, "%s: %s", path, strerror(e));
    }
    struct stat st;
    int ret = -1;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        pl_raise(PL_ERR_IO, "%s: %s", path, strerror(e));
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > (off_t)S_MAX_DB) {
        pl_raise(PL_ERR_LIMIT, "%s: larger than %u bytes", path, S_MAX_DB);
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        /* every page is read: populate them in one go rather than fault them in */
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            f->map = m;
            f->map_len = f->len = (size_t)st.st_size;
            f->p = m;
            ret = 0;
            goto out;
        }
    }
    /* not a regular file, empty, or not mappable: read it */
    ret = pl_read_file(path, &f->data, &f->len, S_MAX_DB);
    f->p = (const unsigned char *)f->data;
out:
    close(fd);
    return ret;
}

static void s_file_close(struct s_file *f)
{
    if (f->map)
        munmap(f->map, f->map_len);
    pl_free(f->data);
    memset(f, 0, sizeof(*f));
}

int pl_engine_db_load(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *engines[PL_TARGET_COUNT])
{
    struct s_file f = {0};
    int ret = -1;
    struct pl_engine *loaded[PL_TARGET_COUNT] = {0};
    pl_engine_global_init();
    if (s_file_open(&f, path))
        goto out;
    const unsigned char *p = f.p;
    size_t len = f.len;
    if (len < 8 || memcmp(p, S_MAGIC, 8)) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: not a protectlambda rules database", path);
        goto out;
    }
    if (len < S_HEADER + 8) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: truncated (%zu bytes)", path, len);
        goto out;
    }
    if (pl_edb_get_u32(p + 8) != S_FORMAT) {
        pl_raise(PL_ERR_ENGINE_DB_INCOMPATIBLE, "%s: file format %u, this build reads %u", path,
                 pl_edb_get_u32(p + 8), S_FORMAT);
        goto out;
    }
    char ver[65];
    memcpy(ver, p + 16, 64);
    ver[64] = '\0';
    char mine[64] = {0};
    snprintf(mine, sizeof(mine), "%s", hs_version());
    if (strcmp(ver, mine)) {
        pl_raise(PL_ERR_ENGINE_DB_INCOMPATIBLE, "%s: made by Vectorscan %s, this is %s", path, ver,
                 mine);
        goto out;
    }
    uint64_t sum;
    if (pl_engine_db_file_checksum(p, len - 8, &sum)) {
        if (pl_last_error() != PL_ERR_NOMEM) {
            char why[300];
            snprintf(why, sizeof(why), "%s", pl_last_error_msg());
            pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: truncated or damaged (%s)", path, why);
        }
        goto out;
    }
    if (pl_edb_get_u64(p + len - 8) != sum) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: checksum mismatch (truncated or damaged)", path);
        goto out;
    }
    if (pl_edb_get_u64(p + 80) != pl_ruleset_hash(set)) {
        pl_raise(PL_ERR_ENGINE_DB_STALE, "%s: compiled from other rules (ruleset hash differs)",
                 path);
        goto out;
    }
    /* The hashes prove the patterns and allow patterns are those the database was compiled
     * from, and compiling validated them: rules loaded with defer_check need no PCRE2 compile
     * to check them here. Allow patterns are not part of the ruleset hash (changing them does
     * not make a database stale): when they changed, validate them now. */
    if (pl_edb_get_u64(p + 96) != pl_ruleset_allow_hash(set) &&
        pl_ruleset_check(set, -1, PL_RULE_CHECK_ALLOW))
        goto out;
    if (pl_edb_get_u32(p + 88) != PL_TARGET_COUNT) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad number of targets", path);
        goto out;
    }
    struct pl_edb_reader r = {p, len - 8, S_HEADER, path};
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        if (s_load_target(&r, set, t, &loaded[t]))
            goto out;
    if (r.pos != r.len) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: trailing bytes", path);
        goto out;
    }
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        pl_engine_destroy(engines[t]);
        engines[t] = loaded[t];
        loaded[t] = NULL;
    }
    ret = 0;
out:
    for (int t = 0; t < PL_TARGET_COUNT; t++)
        pl_engine_destroy(loaded[t]);
    s_file_close(&f);
    return ret;
}

int pl_engine_load_or_compile(const char *db_path, const struct pl_ruleset *set,
                              struct pl_engine *engines[PL_TARGET_COUNT], struct pl_buf *report)
{
    if (db_path && *db_path) {
        if (pl_engine_db_load(db_path, set, engines) == 0) {
            for (int t = 0; report && t < PL_TARGET_COUNT; t++)
                if (pl_engine_fallback_report(engines[t], report))
                    return -1;
            return 0;
        }
        /* out of memory, or a bad allow pattern (the rules' error, not the database's) */
        if (pl_last_error() == PL_ERR_NOMEM || pl_last_error() == PL_ERR_RULES_PATTERN)
            return -1;
        struct pl_buf f = PL_BUF_INIT;
        if (pl_buf_append_str(&f, "\"db\":") == 0 && pl_buf_append_json_cstr(&f, db_path) == 0 &&
            pl_buf_appendf(&f, ",\"reason\":\"%s\"", pl_error_name(pl_last_error())) == 0)
            pl_log_fields(PL_LOG_WARN, "engine", f.data,
                          "rules database not used (%s): compiling the rules instead",
                          pl_last_error_msg());
        else
            pl_log(PL_LOG_WARN, "engine",
                   "rules database not used (%s): compiling the rules instead",
                   pl_last_error_msg());
        pl_buf_clean_up(&f);
    }
    struct pl_engine *fresh[PL_TARGET_COUNT] = {0};
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        if (pl_engine_compile(set, (enum pl_target)t, &fresh[t], report)) {
            pl_engine_destroy_all(fresh);
            return -1;
        }
    }
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        pl_engine_destroy(engines[t]);
        engines[t] = fresh[t];
    }
    return 0;
}
