/* Engine: cache of compiled databases, keyed by a hash of one target's rules (as Suricata's
 * util-mpm-hs-cache.c does), so a CLI command compiles a ruleset once per machine.
 * Setting engine_cache (docs/engine.md). Full build only: the runtime build cannot compile
 * Vectorscan databases, so it has nothing to cache.
 *
 * File <dir>/<target>-<key>.hsdb:
 *   "PLENGCAC", u32 version, char[64] hs_version(), u64 key, u32 target, u32 rule count,
 *   the target body of the database file (engine_db.c), u64 FNV-1a of every byte before it.
 * The cache is trusted only when the directory and the file belong to this user and are not
 * writable by others (a planted file could otherwise replace rules). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_private.h"
#include "protectlambda/config.h"
#include "protectlambda/log.h"

#define S_MAGIC "PLENGCAC"
#define S_VERSION 2u /* 2: XXH64 file checksum */
#define S_MAX_FILE (1024u * 1024u * 1024u)

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static bool s_resolved;
static char s_dir[1024]; /* "" = off */

void pl_engine_set_cache_dir(const char *dir)
{
    pthread_mutex_lock(&s_lock);
    snprintf(s_dir, sizeof(s_dir), "%s", dir ? dir : "");
    s_resolved = true;
    pthread_mutex_unlock(&s_lock);
}

static void s_resolve(char *out, size_t outlen)
{
    pthread_mutex_lock(&s_lock);
    if (!s_resolved) {
        char value[1024] = "";
        bool ok = false;
        struct pl_config cfg;
        if (pl_config_init(&cfg) == 0) {
            /* environment only: the config file is the command's business, and an error
             * there must not come from here */
            if (pl_config_load_env(&cfg, NULL) == 0) {
                snprintf(value, sizeof(value), "%s", pl_config_str(&cfg, PL_CFG_ENGINE_CACHE));
                ok = true;
            }
            pl_config_clean_up(&cfg);
        }
        pl_error_clear();
        s_dir[0] = '\0';
        if (!strcmp(value, "auto")) {
            const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
            if (xdg && xdg[0] == '/')
                snprintf(s_dir, sizeof(s_dir), "%s/protectlambda", xdg);
            else if (home && home[0] == '/')
                snprintf(s_dir, sizeof(s_dir), "%s/.cache/protectlambda", home);
        } else {
            snprintf(s_dir, sizeof(s_dir), "%s", value);
        }
        /* a failure (bad environment, out of memory) leaves the cache off this time */
        s_resolved = ok;
    }
    snprintf(out, outlen, "%s", s_dir);
    pthread_mutex_unlock(&s_lock);
}

/* owned by us, not writable by group or others */
static bool s_trusted(const struct stat *st)
{
    return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static uint64_t s_key(const struct pl_ruleset *set, enum pl_target target, unsigned options)
{
    char ver[64] = {0};
    snprintf(ver, sizeof(ver), "%s", hs_version());
    /* bump the salt when what pl_engine_compile produces changes (e.g. the core of a
     * pattern); the project version and Vectorscan's are part of the key too */
    uint64_t h = pl_hash_fnv1a("protectlambda-engine-cache-v1", 29, 0);
#ifdef PL_VERSION
    h = pl_hash_fnv1a(PL_VERSION, sizeof(PL_VERSION), h);
#endif
    h = pl_hash_fnv1a(ver, sizeof(ver), h);
    unsigned char b[8] = {(unsigned char)target, (unsigned char)options,
                          (unsigned char)(options >> 8)};
    h = pl_hash_fnv1a(b, sizeof(b), h);
    for (size_t i = 0; i < set->count; i++) {
        const struct pl_rule *r = &set->rules[i];
        if (r->target != target)
            continue;
        unsigned char f[4] = {(unsigned char)r->flags};
        h = pl_hash_fnv1a(f, sizeof(f), h);
        h = pl_hash_fnv1a(r->id, strlen(r->id) + 1, h);
        h = pl_hash_fnv1a(r->pattern, strlen(r->pattern) + 1, h);
    }
    return h;
}

static int s_path(char *out, size_t outlen, enum pl_target target, uint64_t key)
{
    char dir[1024];
    s_resolve(dir, sizeof(dir));
    if (!dir[0])
        return -1;
    int n = snprintf(out, outlen, "%s/%s-%016llx.hsdb", dir, pl_target_name(target),
                     (unsigned long long)key);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int pl_engine_cache_load(const struct pl_ruleset *set, enum pl_target target, unsigned options,
                         struct pl_engine **out)
{
    char path[1200];
    uint64_t key = s_key(set, target, options);
    if (s_path(path, sizeof(path), target, key))
        return 0;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !s_trusted(&st))
        return 0;
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || !s_trusted(&st))
        return 0;
    char *data = NULL;
    size_t len = 0;
    int ret = 0;
    if (pl_read_file(path, &data, &len, S_MAX_FILE)) {
        ret = pl_last_error() == PL_ERR_NOMEM ? -1 : 0;
        goto out;
    }
    const unsigned char *p = (const unsigned char *)data;
    char ver[64] = {0};
    snprintf(ver, sizeof(ver), "%s", hs_version());
    size_t hdr = 8 + 4 + 64 + 8 + 4 + 4;
    uint32_t count = (uint32_t)pl_ruleset_count(set, target);
    if (len < hdr + 8 || memcmp(p, S_MAGIC, 8) || pl_edb_get_u32(p + 8) != S_VERSION ||
        memcmp(p + 12, ver, 64) || pl_edb_get_u64(p + 76) != key ||
        pl_edb_get_u32(p + 84) != (uint32_t)target || pl_edb_get_u32(p + 88) != count ||
        pl_edb_get_u64(p + len - 8) != pl_engine_db_checksum(p, len - 8))
        goto out; /* not ours, old or damaged: compile (and overwrite) */
    struct pl_edb_reader r = {p, len - 8, hdr, path};
    struct pl_engine *e = NULL;
    if (pl_edb_read_target(&r, set, (int)target, count, &e)) {
        ret = pl_last_error() == PL_ERR_NOMEM ? -1 : 0;
        goto out;
    }
    if (r.pos != r.len || e->options != options) {
        pl_engine_destroy(e);
        goto out;
    }
    e->from_cache = true;
    *out = e;
    ret = 1;
out:
    if (ret == 0)
        pl_error_clear();
    pl_free(data);
    return ret;
}

void pl_engine_cache_store(const struct pl_engine *e)
{
    char path[1200];
    uint64_t key = s_key(e->set, e->target, e->options);
    if (s_path(path, sizeof(path), e->target, key))
        return;
    struct pl_buf b = PL_BUF_INIT;
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) < 0) {
        if (errno != ENOENT || pl_mkdir_p(dir, 0700))
            goto fail;
        if (stat(dir, &st) < 0)
            goto fail;
    }
    if (!S_ISDIR(st.st_mode) || !s_trusted(&st)) {
        pl_raise(PL_ERR_IO, "%s: not a private directory of this user", dir);
        goto fail;
    }
    char ver[64] = {0};
    snprintf(ver, sizeof(ver), "%s", hs_version());
    if (pl_buf_append(&b, S_MAGIC, 8) || pl_edb_put_u32(&b, S_VERSION) ||
        pl_buf_append(&b, ver, sizeof(ver)) || pl_edb_put_u64(&b, key) ||
        pl_edb_put_u32(&b, (uint32_t)e->target) || pl_edb_put_u32(&b, (uint32_t)e->n) ||
        pl_edb_put_target(&b, e) || pl_edb_put_u64(&b, pl_engine_db_checksum(b.data, b.len)))
        goto fail;
    if (pl_write_file_atomic(path, b.data, b.len, 0600))
        goto fail;
    pl_buf_clean_up(&b);
    return;
fail:
    pl_log(PL_LOG_DEBUG, "engine", "compiled rules not cached: %s", pl_last_error_msg());
    pl_error_clear();
    pl_buf_clean_up(&b);
}

bool pl_engine_from_cache(const struct pl_engine *e)
{
    return e && e->from_cache;
}
