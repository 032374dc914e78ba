/* Engine: the rules database file (docs/engine.md, "Database file").
 *
 * Layout, little-endian:
 *   0   magic "PLRULEDB"
 *   8   u32 format version (S_FORMAT)
 *   12  u32 reserved (0)
 *   16  char[64] Vectorscan version (hs_version(), NUL padded)
 *   80  u64 ruleset hash (pl_ruleset_hash)
 *   88  u32 number of target sections (3), u32 reserved
 *   96  per target: u32 target, u32 rule count, u32 options, u32 n PCRE2 rules,
 *       u32 local index of each PCRE2 rule, u64 block db length, block db bytes
 *       (hs_serialize_database), u64 stream db length, stream db bytes
 *   end u64 FNV-1a of every byte before it
 */
#include <stdio.h>
#include <string.h>

#include "engine_private.h"
#include "protectlambda/log.h"

#define S_MAGIC "PLRULEDB"
#define S_FORMAT 1u
#define S_HEADER 96u
#define S_MAX_DB (1024u * 1024u * 1024u)

static int s_put_u32(struct pl_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return pl_buf_append(b, x, 4);
}

static int s_put_u64(struct pl_buf *b, uint64_t v)
{
    return s_put_u32(b, (uint32_t)v) || s_put_u32(b, (uint32_t)(v >> 32)) ? -1 : 0;
}

static uint32_t s_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t s_get_u64(const unsigned char *p)
{
    return (uint64_t)s_get_u32(p) | (uint64_t)s_get_u32(p + 4) << 32;
}

static int s_put_db(struct pl_buf *b, const hs_database_t *db)
{
    if (!db)
        return s_put_u64(b, 0);
    char *bytes = NULL;
    size_t len = 0;
    hs_error_t rc = hs_serialize_database(db, &bytes, &len);
    if (rc != HS_SUCCESS)
        return pl_raise(rc == HS_NOMEM ? PL_ERR_NOMEM : PL_ERR_ENGINE_COMPILE,
                        "cannot serialize a Vectorscan database (error %d)", rc);
    int ret = s_put_u64(b, len) || pl_buf_append(b, bytes, len) ? -1 : 0;
    pl_free(bytes);
    return ret;
}

int pl_engine_db_save(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *const engines[PL_TARGET_COUNT])
{
    struct pl_buf b = PL_BUF_INIT;
    int ret = -1;
    pl_engine_global_init();
    char ver[64] = {0};
    snprintf(ver, sizeof(ver), "%s", hs_version());
    if (pl_buf_append(&b, S_MAGIC, 8) || s_put_u32(&b, S_FORMAT) || s_put_u32(&b, 0) ||
        pl_buf_append(&b, ver, sizeof(ver)) || s_put_u64(&b, pl_ruleset_hash(set)) ||
        s_put_u32(&b, PL_TARGET_COUNT) || s_put_u32(&b, 0))
        goto out;
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        const struct pl_engine *e = engines[t];
        size_t n = pl_ruleset_count(set, (enum pl_target)t);
        if (!e && n) {
            pl_raise(PL_ERR_INVALID_ARG, "no engine for the %zu %s rules",
                     n, pl_target_name((enum pl_target)t));
            goto out;
        }
        if (e && (e->set != set || e->target != (enum pl_target)t || e->n != n)) {
            pl_raise(PL_ERR_INVALID_ARG, "the %s engine was not compiled from this ruleset",
                     pl_target_name((enum pl_target)t));
            goto out;
        }
        if (s_put_u32(&b, (uint32_t)t) || s_put_u32(&b, (uint32_t)n) ||
            s_put_u32(&b, e ? e->options : 0) || s_put_u32(&b, e ? (uint32_t)e->n_fb : 0))
            goto out;
        for (size_t k = 0; e && k < e->n_fb; k++)
            if (s_put_u32(&b, e->fb[k]))
                goto out;
        if (s_put_db(&b, e ? e->block : NULL) || s_put_db(&b, e ? e->stream : NULL))
            goto out;
    }
    if (s_put_u64(&b, pl_hash_fnv1a(b.data, b.len, 0)))
        goto out;
    if (pl_write_file_atomic(path, b.data, b.len, 0644))
        goto out;
    ret = 0;
out:
    pl_buf_clean_up(&b);
    return ret;
}

struct s_reader {
    const unsigned char *p;
    size_t len, pos;
    const char *path;
};

static int s_need(struct s_reader *r, size_t n)
{
    if (r->len - r->pos < n)
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: truncated at byte %zu", r->path, r->pos);
    return 0;
}

static int s_read_db(struct s_reader *r, hs_database_t **db)
{
    *db = NULL;
    if (s_need(r, 8))
        return -1;
    uint64_t n = s_get_u64(r->p + r->pos);
    r->pos += 8;
    if (n == 0)
        return 0;
    if (n > S_MAX_DB || s_need(r, (size_t)n))
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad database length at byte %zu",
                        r->path, r->pos - 8);
    hs_error_t rc = hs_deserialize_database((const char *)r->p + r->pos, (size_t)n, db);
    if (rc != HS_SUCCESS) {
        *db = NULL;
        char info[200] = "";
        char *s = NULL;
        if (hs_serialized_database_info((const char *)r->p + r->pos, (size_t)n, &s) ==
                HS_SUCCESS &&
            s) {
            snprintf(info, sizeof(info), " (%s)", s);
            pl_free(s);
        }
        if (rc == HS_NOMEM)
            return pl_raise(PL_ERR_NOMEM, "out of memory loading %s", r->path);
        if (rc == HS_DB_VERSION_ERROR || rc == HS_DB_PLATFORM_ERROR || rc == HS_ARCH_ERROR)
            return pl_raise(PL_ERR_ENGINE_DB_INCOMPATIBLE,
                            "%s: Vectorscan refuses the database: %s%s", r->path,
                            rc == HS_DB_VERSION_ERROR ? "other Vectorscan version"
                                                      : "other CPU platform",
                            info);
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: Vectorscan cannot load the database "
                        "(error %d)",
                        r->path, rc);
    }
    r->pos += (size_t)n;
    return 0;
}

static int s_load_target(struct s_reader *r, const struct pl_ruleset *set, int t,
                         struct pl_engine **out)
{
    struct pl_engine *e = NULL;
    if (s_need(r, 16))
        return -1;
    uint32_t target = s_get_u32(r->p + r->pos), count = s_get_u32(r->p + r->pos + 4);
    uint32_t options = s_get_u32(r->p + r->pos + 8), n_fb = s_get_u32(r->p + r->pos + 12);
    r->pos += 16;
    if (target != (uint32_t)t)
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad target section", r->path);
    if (count != pl_ruleset_count(set, (enum pl_target)t))
        return pl_raise(PL_ERR_ENGINE_DB_STALE, "%s: %u %s rules, the rules have %zu", r->path,
                        count, pl_target_name((enum pl_target)t),
                        pl_ruleset_count(set, (enum pl_target)t));
    if (n_fb > count || s_need(r, (size_t)n_fb * 4))
        return pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad fallback list", r->path);
    if (pl_engine_new_empty(set, (enum pl_target)t, options, &e))
        return -1;
    for (uint32_t k = 0; k < n_fb; k++) {
        uint32_t local = s_get_u32(r->p + r->pos + 4 * (size_t)k);
        if (local >= count) {
            pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad fallback index", r->path);
            goto fail;
        }
        e->rules[local].fallback = true;
    }
    r->pos += (size_t)n_fb * 4;
    if (s_read_db(r, &e->block) || s_read_db(r, &e->stream))
        goto fail;
    if (count > n_fb && !e->block) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: %s rules without a database", r->path,
                 pl_target_name((enum pl_target)t));
        goto fail;
    }
    for (uint32_t i = 0; i < count; i++)
        if (e->rules[i].fallback &&
            pl_engine_set_fallback(e, i, "not in the Vectorscan database"))
            goto fail;
    if (pl_engine_index_fallbacks(e))
        goto fail;
    *out = e;
    return 0;
fail:
    pl_engine_destroy(e);
    return -1;
}

int pl_engine_db_load(const char *path, const struct pl_ruleset *set,
                      struct pl_engine *engines[PL_TARGET_COUNT])
{
    char *data = NULL;
    size_t len = 0;
    int ret = -1;
    struct pl_engine *loaded[PL_TARGET_COUNT] = {0};
    pl_engine_global_init();
    if (pl_read_file(path, &data, &len, S_MAX_DB))
        goto out;
    const unsigned char *p = (const unsigned char *)data;
    if (len < 8 || memcmp(p, S_MAGIC, 8)) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: not a protectlambda rules database", path);
        goto out;
    }
    if (len < S_HEADER + 8) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: truncated (%zu bytes)", path, len);
        goto out;
    }
    if (s_get_u32(p + 8) != S_FORMAT) {
        pl_raise(PL_ERR_ENGINE_DB_INCOMPATIBLE, "%s: file format %u, this build reads %u", path,
                 s_get_u32(p + 8), S_FORMAT);
        goto out;
    }
    char ver[65];
    memcpy(ver, p + 16, 64);
    ver[64] = '\0';
    char mine[64] = {0};
    snprintf(mine, sizeof(mine), "%s", hs_version());
    if (strcmp(ver, mine)) {
        pl_raise(PL_ERR_ENGINE_DB_INCOMPATIBLE, "%s: made by Vectorscan %s, this is %s", path,
                 ver, mine);
        goto out;
    }
    if (s_get_u64(p + len - 8) != pl_hash_fnv1a(p, len - 8, 0)) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: checksum mismatch (truncated or damaged)", path);
        goto out;
    }
    if (s_get_u64(p + 80) != pl_ruleset_hash(set)) {
        pl_raise(PL_ERR_ENGINE_DB_STALE, "%s: compiled from other rules (ruleset hash differs)",
                 path);
        goto out;
    }
    if (s_get_u32(p + 88) != PL_TARGET_COUNT) {
        pl_raise(PL_ERR_ENGINE_DB_CORRUPT, "%s: bad number of targets", path);
        goto out;
    }
    struct s_reader r = {p, len - 8, S_HEADER, path};
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
    pl_free(data);
    return ret;
}

int pl_engine_load_or_compile(const char *db_path, const struct pl_ruleset *set,
                              struct pl_engine *engines[PL_TARGET_COUNT], struct pl_buf *report)
{
    if (db_path && *db_path) {
        if (pl_engine_db_load(db_path, set, engines) == 0)
            return 0;
        if (pl_last_error() == PL_ERR_NOMEM)
            return -1;
        struct pl_buf f = PL_BUF_INIT;
        if (pl_buf_append_str(&f, "\"db\":") == 0 &&
            pl_buf_append_json_cstr(&f, db_path) == 0 &&
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
