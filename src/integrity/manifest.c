/* Manifests: build (walk + parallel SHA-256), write (+ Ed25519 signature), parse (strict,
 * bounded: the manifest is untrusted input), compare. Format: see integrity.h and
 * docs/integrity.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "protectlambda/integrity.h"

#define S_HEADER "protectlambda-manifest 1\nhash sha256\n"
#define S_MAX_DEPTH 256
#define S_READ_BUF (256u << 10)
#define S_SIG_B64_LEN 88 /* base64 of a 64-byte Ed25519 signature */

void pl_manifest_init(struct pl_manifest *m)
{
    memset(m, 0, sizeof(*m));
}

void pl_manifest_clean_up(struct pl_manifest *m)
{
    for (size_t i = 0; i < m->n; i++) {
        pl_free(m->entries[i].path);
        pl_free(m->entries[i].target);
    }
    pl_free(m->entries);
    memset(m, 0, sizeof(*m));
}

static struct pl_manifest_entry *s_add_entry(struct pl_manifest *m, size_t max)
{
    if (m->n >= max) {
        pl_raise(PL_ERR_LIMIT, "more than %zu entries", max);
        return NULL;
    }
    if (pl_array_reserve((void **)&m->entries, &m->cap, m->n + 1, sizeof(m->entries[0])))
        return NULL;
    struct pl_manifest_entry *e = &m->entries[m->n++];
    memset(e, 0, sizeof(*e));
    return e;
}

/* ---------------------------------------------------------------- walk */

struct s_walk {
    struct pl_manifest *m;
    const struct pl_manifest_opts *o;
    size_t max;
};

static bool s_skipped(const struct s_walk *w, const struct stat *st)
{
    for (size_t i = 0; w->o && i < w->o->n_skip; i++)
        if (w->o->skip_dev[i] == st->st_dev && w->o->skip_ino[i] == st->st_ino)
            return true;
    return false;
}

static int s_walk_dir(struct s_walk *w, int dfd, const char *prefix, int depth)
{
    if (depth > S_MAX_DEPTH) {
        close(dfd);
        return pl_raise(PL_ERR_LIMIT, "%s: directories nested deeper than %d", prefix, S_MAX_DEPTH);
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return pl_raise(PL_ERR_IO, "%s: %s", *prefix ? prefix : ".", strerror(e));
    }
    int ret = -1;
    char *rel = NULL;
    char *target = NULL;
    size_t plen = strlen(prefix);
    for (;;) {
        errno = 0;
        // cppcheck-suppress readdirCalled ; one DIR stream per thread
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                pl_raise(PL_ERR_IO, "%s: %s", *prefix ? prefix : ".", strerror(errno));
                goto out;
            }
            break;
        }
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        size_t nlen = strlen(name);
        if (plen + 1 + nlen > PL_MANIFEST_MAX_PATH) {
            pl_raise(PL_ERR_LIMIT, "%s/%s: path longer than %d bytes", prefix, name,
                     PL_MANIFEST_MAX_PATH);
            goto out;
        }
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue; /* vanished while walking */
            pl_raise(PL_ERR_IO, "%s/%s: %s", prefix, name, strerror(errno));
            goto out;
        }
        if (s_skipped(w, &st))
            continue;
        rel = pl_malloc(plen + nlen + 2);
        if (!rel)
            goto out;
        if (plen) {
            memcpy(rel, prefix, plen);
            rel[plen] = '/';
            memcpy(rel + plen + 1, name, nlen + 1);
        } else {
            memcpy(rel, name, nlen + 1);
        }
        struct pl_manifest_entry *e = s_add_entry(w->m, w->max);
        if (!e)
            goto out;
        e->path = pl_steal_pointer(&rel);
        e->mode = (uint32_t)(st.st_mode & 07777);
        if (S_ISREG(st.st_mode)) {
            e->type = PL_MF_FILE;
            e->size = (uint64_t)st.st_size;
            e->deferred = w->o && w->o->defer && w->o->defer(w->o->defer_ud, e->path, &st);
        } else if (S_ISLNK(st.st_mode)) {
            e->type = PL_MF_LINK;
            target = pl_malloc(PL_MANIFEST_MAX_PATH + 1);
            if (!target)
                goto out;
            ssize_t n = readlinkat(dirfd(d), name, target, PL_MANIFEST_MAX_PATH + 1);
            if (n < 0) {
                pl_raise(PL_ERR_IO, "%s: %s", e->path, strerror(errno));
                goto out;
            }
            if (n > PL_MANIFEST_MAX_PATH || n == 0) {
                pl_raise(PL_ERR_LIMIT, "%s: link target longer than %d bytes", e->path,
                         PL_MANIFEST_MAX_PATH);
                goto out;
            }
            target[n] = '\0';
            e->target = pl_steal_pointer(&target);
            e->size = (uint64_t)n;
            if (pl_sha256(e->target, (size_t)n, e->hash))
                goto out;
        } else if (S_ISDIR(st.st_mode)) {
            e->type = PL_MF_DIR;
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                pl_raise(PL_ERR_IO, "%s: %s", e->path, strerror(errno));
                goto out;
            }
            /* e may move when the array grows: copy the path pointer first */
            const char *sub_prefix = e->path;
            if (s_walk_dir(w, sub, sub_prefix, depth + 1))
                goto out;
        } else {
            e->type = PL_MF_OTHER;
        }
    }
    ret = 0;
out:
    pl_free(rel);
    pl_free(target);
    closedir(d);
    return ret;
}

/* ---------------------------------------------------------------- hashing */

struct s_hash_job {
    struct pl_manifest *m;
    int rootfd;
    const EVP_MD *md;
    size_t *files; /* indices of regular files */
    size_t n_files;
    size_t next;    /* atomic */
    uint64_t bytes; /* atomic */
    int failed;     /* atomic: internal (not per-file) failure */
};

static int s_hash_one(struct s_hash_job *j, struct pl_manifest_entry *e, EVP_MD_CTX *ctx, char *buf,
                      uint64_t *bytes)
{
    int fd = openat(j->rootfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        e->err = errno ? errno : EIO;
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        e->err = EINVAL;
        close(fd);
        return 0;
    }
    if (st.st_size > (off_t)S_READ_BUF)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!EVP_DigestInit_ex2(ctx, j->md, NULL)) {
        close(fd);
        return -1;
    }
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, S_READ_BUF);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            e->err = errno;
            close(fd);
            return 0;
        }
        if (r == 0)
            break;
        if (!EVP_DigestUpdate(ctx, buf, (size_t)r)) {
            close(fd);
            return -1;
        }
        total += (uint64_t)r;
    }
    close(fd);
    unsigned int hl = 0;
    if (!EVP_DigestFinal_ex(ctx, e->hash, &hl))
        return -1;
    e->size = total;
    *bytes += total;
    return 0;
}

static void *s_hash_worker(void *arg)
{
    struct s_hash_job *j = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *buf = malloc(S_READ_BUF); /* plain malloc: worker threads stay off the hooked allocator */
    uint64_t bytes = 0;
    if (!ctx || !buf) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        goto out;
    }
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->n_files)
            break;
        if (s_hash_one(j, &j->m->entries[j->files[i]], ctx, buf, &bytes)) {
            __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
            break;
        }
    }
out:
    __atomic_fetch_add(&j->bytes, bytes, __ATOMIC_RELAXED);
    EVP_MD_CTX_free(ctx);
    free(buf);
    return NULL;
}

static int s_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pl_manifest_entry *)a)->path,
                  ((const struct pl_manifest_entry *)b)->path);
}

/* the tree's root directory, or -1 raised */
static int s_open_root(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pl_raise(errno == ENOENT ? PL_ERR_NOT_FOUND : PL_ERR_IO, "%s: %s", dir,
                        strerror(errno));
    return fd;
}

/* build; *unreadable receives the number of files that could not be read */
static int s_build(const char *dir, const struct pl_manifest_opts *opts, struct pl_manifest *m,
                   size_t *unreadable)
{
    int ret = -1;
    size_t *files = NULL;
    EVP_MD *md = NULL;
    *unreadable = 0;
    int rootfd = s_open_root(dir);
    if (rootfd < 0)
        return -1;
    int walkfd = dup(rootfd);
    if (walkfd < 0) {
        pl_raise(PL_ERR_IO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    struct s_walk w = {
        m, opts, opts && opts->max_entries ? opts->max_entries : PL_MANIFEST_DEFAULT_MAX_ENTRIES};
    if (s_walk_dir(&w, walkfd, "", 0))
        goto out;
    if (m->n > 1)
        qsort(m->entries, m->n, sizeof(m->entries[0]), s_entry_cmp);

    size_t n_files = 0;
    files = pl_calloc(m->n ? m->n : 1, sizeof(*files));
    if (!files)
        goto out;
    for (size_t i = 0; i < m->n; i++)
        if (m->entries[i].type == PL_MF_FILE && !m->entries[i].deferred)
            files[n_files++] = i;

    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!md) {
        pl_raise(PL_ERR_INTEGRITY, "SHA-256 is not available from OpenSSL");
        goto out;
    }
    unsigned threads = opts && opts->threads ? opts->threads : 0;
    if (!threads) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus >= 2 ? 2 : 1;
    }
    if (threads > 16)
        threads = 16;
    if (threads > n_files)
        threads = n_files ? (unsigned)n_files : 1;
    struct s_hash_job job = {m, rootfd, md, files, n_files, 0, 0, 0};
    pthread_t tids[16];
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, s_hash_worker, &job) != 0)
            break; /* fewer threads: the caller's thread still does the work */
        started++;
    }
    s_hash_worker(&job);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    if (job.failed) {
        pl_raise(PL_ERR_INTEGRITY, "hashing failed (OpenSSL or memory)");
        goto out;
    }
    m->bytes_hashed = job.bytes;
    for (size_t i = 0; i < m->n; i++)
        if (m->entries[i].err)
            (*unreadable)++;
    ret = 0;
out:
    EVP_MD_free(md);
    pl_free(files);
    close(rootfd);
    return ret;
}

int pl_manifest_build(const char *dir, const struct pl_manifest_opts *opts, struct pl_manifest *m)
{
    size_t unreadable = 0;
    if (s_build(dir, opts, m, &unreadable))
        return -1;
    if (unreadable) {
        for (size_t i = 0; i < m->n; i++)
            if (m->entries[i].err)
                return pl_raise(PL_ERR_IO, "%s/%s: %s%s", dir, m->entries[i].path,
                                strerror(m->entries[i].err),
                                unreadable > 1 ? " (and more unreadable files)" : "");
    }
    return 0;
}

/* ---------------------------------------------------------------- write */

static int s_append_escaped(struct pl_buf *b, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p > 0x20 && *p < 0x7f && *p != '%') {
            if (pl_buf_append_char(b, (char)*p))
                return -1;
        } else {
            char e[3] = {'%', hexd[*p >> 4], hexd[*p & 15]};
            if (pl_buf_append(b, e, 3))
                return -1;
        }
    }
    return 0;
}

static EVP_PKEY *s_load_key(const char *pem, size_t len, bool private_key)
{
    if (len > INT32_MAX) {
        pl_raise(PL_ERR_SIGNATURE, "key too large");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    EVP_PKEY *k = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"")
                              : PEM_read_bio_PUBKEY(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    if (!k) {
        pl_raise(PL_ERR_SIGNATURE, "not a PEM %s key", private_key ? "private" : "public");
        return NULL;
    }
    if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        pl_raise(PL_ERR_SIGNATURE, "the %s key is not an Ed25519 key",
                 private_key ? "private" : "public");
        return NULL;
    }
    return k;
}

int pl_manifest_write(struct pl_manifest *m, const char *sign_key_pem, size_t key_len,
                      struct pl_buf *out)
{
    int ret = -1;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *ctx = NULL;
    if (sign_key_pem && !(key = s_load_key(sign_key_pem, key_len, true)))
        return -1;
    size_t start = out->len;
    if (pl_buf_append_str(out, S_HEADER) || pl_buf_appendf(out, "entries %zu\n", m->n))
        goto out;
    for (size_t i = 0; i < m->n; i++) {
        const struct pl_manifest_entry *e = &m->entries[i];
        char hex[2 * PL_SHA256_LEN + 1];
        if (e->type == PL_MF_FILE || e->type == PL_MF_LINK)
            pl_hex(e->hash, PL_SHA256_LEN, hex);
        else
            strcpy(hex, "-");
        uint64_t size = (e->type == PL_MF_FILE || e->type == PL_MF_LINK) ? e->size : 0;
        if (pl_buf_appendf(out, "%c %04o %llu %s ", e->type, (unsigned)e->mode,
                           (unsigned long long)size, hex) ||
            s_append_escaped(out, e->path))
            goto out;
        if (e->type == PL_MF_LINK &&
            (pl_buf_append_char(out, ' ') || s_append_escaped(out, e->target)))
            goto out;
        if (pl_buf_append_char(out, '\n'))
            goto out;
    }
    if (pl_sha256(out->data + start, out->len - start, m->total))
        goto out;
    char hex[2 * PL_SHA256_LEN + 1];
    pl_hex(m->total, PL_SHA256_LEN, hex);
    if (pl_buf_appendf(out, "total %s\n", hex))
        goto out;
    if (key) {
        unsigned char sig[64];
        size_t siglen = sizeof(sig);
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)out->data + start,
                           out->len - start) != 1 ||
            siglen != 64) {
            pl_raise(PL_ERR_SIGNATURE, "signing failed");
            goto out;
        }
        char b64[S_SIG_B64_LEN + 1];
        EVP_EncodeBlock((unsigned char *)b64, sig, 64);
        if (pl_buf_appendf(out, "signature ed25519 %s\n", b64))
            goto out;
        m->is_signed = true;
    }
    ret = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ret;
}

/* ---------------------------------------------------------------- parse */

struct s_lines {
    const char *data;
    size_t len, pos;
    size_t lineno;
};

/* next line (without '\n'); -1 with an error when missing, too long or not '\n'-terminated */
static int s_next_line(struct s_lines *l, const char **line, size_t *n, const char *what)
{
    l->lineno++;
    if (l->pos >= l->len)
        return pl_raise(PL_ERR_PARSE, "manifest line %zu: missing %s (file truncated)", l->lineno,
                        what);
    const char *s = l->data + l->pos;
    size_t room = l->len - l->pos;
    size_t lim = room < PL_MANIFEST_MAX_LINE + 1 ? room : PL_MANIFEST_MAX_LINE + 1;
    const char *nl = memchr(s, '\n', lim);
    if (!nl) {
        if (lim > PL_MANIFEST_MAX_LINE)
            return pl_raise(PL_ERR_LIMIT, "manifest line %zu: longer than %d bytes", l->lineno,
                            PL_MANIFEST_MAX_LINE);
        return pl_raise(PL_ERR_PARSE, "manifest line %zu: no final newline", l->lineno);
    }
    *line = s;
    *n = (size_t)(nl - s);
    l->pos += *n + 1;
    return 0;
}

static int s_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* decode one escaped token; out has room for PL_MANIFEST_MAX_PATH + 1 */
static int s_unescape(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return -1;
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = s_hexval(s[i + 1]), lo = s_hexval(s[i + 2]);
            if (h < 0 || lo < 0)
                return -1;
            c = (unsigned char)(h * 16 + lo);
            if (c == 0)
                return -1;
            /* canonical form only: bytes that need no escape must not be escaped */
            if (c > 0x20 && c < 0x7f && c != '%')
                return -1;
            i += 2;
        }
        if (o >= PL_MANIFEST_MAX_PATH)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    *outlen = o;
    return o ? 0 : -1;
}

static bool s_safe_path(const char *p, size_t n)
{
    if (!n || p[0] == '/' || p[n - 1] == '/')
        return false;
    const char *c = p, *end = p + n;
    while (c < end) {
        const char *slash = memchr(c, '/', (size_t)(end - c));
        size_t clen = slash ? (size_t)(slash - c) : (size_t)(end - c);
        if (clen == 0 || (clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += clen + 1;
    }
    return true;
}

static int s_parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (!n || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int s_parse_hash(const char *s, size_t n, uint8_t out[PL_SHA256_LEN])
{
    if (n != 2 * PL_SHA256_LEN)
        return -1;
    for (size_t i = 0; i < PL_SHA256_LEN; i++) {
        int v[2];
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            if (c >= '0' && c <= '9')
                v[k] = c - '0';
            else if (c >= 'a' && c <= 'f')
                v[k] = c - 'a' + 10;
            else
                return -1;
        }
        out[i] = (uint8_t)(v[0] * 16 + v[1]);
    }
    return 0;
}

/* split a line into at most max fields on single spaces; -1 on empty fields */
static int s_fields(const char *line, size_t n, const char **f, size_t *fl, size_t max)
{
    size_t k = 0;
    const char *p = line, *end = line + n;
    while (p <= end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *fe = sp ? sp : end;
        if (fe == p || k == max)
            return -1;
        f[k] = p;
        fl[k] = (size_t)(fe - p);
        k++;
        if (!sp)
            break;
        p = sp + 1;
    }
    return (int)k;
}

static int s_parse_entry(const char *line, size_t n, struct pl_manifest_entry *e, char *tmp,
                         const char **why)
{
    const char *f[6];
    size_t fl[6];
    int k = s_fields(line, n, f, fl, 6);
    *why = "malformed entry";
    if (k < 5)
        return -1;
    if (fl[0] != 1)
        return -1;
    e->type = (uint8_t)f[0][0];
    if (e->type != PL_MF_FILE && e->type != PL_MF_LINK && e->type != PL_MF_DIR &&
        e->type != PL_MF_OTHER) {
        *why = "unknown entry type";
        return -1;
    }
    if ((e->type == PL_MF_LINK) != (k == 6)) {
        *why = "wrong number of fields";
        return -1;
    }
    if (fl[1] != 4) {
        *why = "bad mode";
        return -1;
    }
    e->mode = 0;
    for (int i = 0; i < 4; i++) {
        if (f[1][i] < '0' || f[1][i] > '7') {
            *why = "bad mode";
            return -1;
        }
        e->mode = e->mode * 8 + (uint32_t)(f[1][i] - '0');
    }
    if (s_parse_u64(f[2], fl[2], &e->size)) {
        *why = "bad size";
        return -1;
    }
    if (e->type == PL_MF_FILE || e->type == PL_MF_LINK) {
        if (s_parse_hash(f[3], fl[3], e->hash)) {
            *why = "bad hash";
            return -1;
        }
    } else if (fl[3] != 1 || f[3][0] != '-' || e->size != 0) {
        *why = "directories and other entries have size 0 and hash '-'";
        return -1;
    }
    size_t plen;
    if (s_unescape(f[4], fl[4], tmp, &plen) || !s_safe_path(tmp, plen)) {
        *why = "bad path (empty, absolute, '.', '..', or not canonically escaped)";
        return -1;
    }
    e->path = pl_strndup(tmp, plen);
    if (!e->path) {
        *why = NULL;
        return -1;
    }
    if (e->type == PL_MF_LINK) {
        size_t tlen;
        if (s_unescape(f[5], fl[5], tmp, &tlen)) {
            *why = "bad link target";
            return -1;
        }
        if (tlen != e->size) {
            *why = "link size is not the length of its target";
            return -1;
        }
        uint8_t h[PL_SHA256_LEN];
        if (pl_sha256(tmp, tlen, h) || memcmp(h, e->hash, PL_SHA256_LEN)) {
            *why = "link hash is not the hash of its target";
            return -1;
        }
        e->target = pl_strndup(tmp, tlen);
        if (!e->target) {
            *why = NULL;
            return -1;
        }
    }
    return 0;
}

static int s_verify_sig(const char *pubkey_pem, size_t pubkey_len, const char *data, size_t len,
                        const char *b64, size_t b64len)
{
    int ret = -1;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *key = s_load_key(pubkey_pem, pubkey_len, false);
    if (!key)
        return -1;
    unsigned char sig[72];
    char canon[S_SIG_B64_LEN + 1];
    if (b64len != S_SIG_B64_LEN ||
        EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)b64len) != 66) {
        pl_raise(PL_ERR_SIGNATURE, "manifest signature is not base64 of 64 bytes");
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)canon, sig, 64);
    if (memcmp(canon, b64, S_SIG_B64_LEN)) {
        pl_raise(PL_ERR_SIGNATURE, "manifest signature is not canonical base64");
        goto out;
    }
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1) {
        pl_raise(PL_ERR_SIGNATURE, "signature check could not start");
        goto out;
    }
    if (EVP_DigestVerify(ctx, sig, 64, (const unsigned char *)data, len) != 1) {
        pl_raise(PL_ERR_SIGNATURE, "manifest signature does not match the public key "
                                   "(forged or modified manifest)");
        goto out;
    }
    ret = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ret;
}

int pl_manifest_parse(const char *data, size_t len, const char *pubkey_pem, size_t pubkey_len,
                      size_t max_entries, struct pl_manifest *m)
{
    int ret = -1;
    char *tmp = NULL;
    struct s_lines l = {data, len, 0, 0};
    const char *line;
    size_t n;
    if (!max_entries)
        max_entries = PL_MANIFEST_DEFAULT_MAX_ENTRIES;
    if (len > PL_MANIFEST_MAX_BYTES)
        return pl_raise(PL_ERR_LIMIT, "manifest larger than %u bytes", PL_MANIFEST_MAX_BYTES);
    if (s_next_line(&l, &line, &n, "header"))
        goto out;
    if (n != 24 || memcmp(line, "protectlambda-manifest 1", 24)) {
        pl_raise(PL_ERR_PARSE, "not a protectlambda manifest (version 1) "
                               "(first line must be 'protectlambda-manifest 1')");
        goto out;
    }
    if (s_next_line(&l, &line, &n, "hash line"))
        goto out;
    if (n != 11 || memcmp(line, "hash sha256", 11)) {
        pl_raise(PL_ERR_PARSE, "manifest line 2: expected 'hash sha256'");
        goto out;
    }
    if (s_next_line(&l, &line, &n, "entries line"))
        goto out;
    uint64_t count;
    if (n < 9 || memcmp(line, "entries ", 8) || s_parse_u64(line + 8, n - 8, &count)) {
        pl_raise(PL_ERR_PARSE, "manifest line 3: expected 'entries <count>'");
        goto out;
    }
    if (count > max_entries) {
        pl_raise(PL_ERR_LIMIT, "manifest has %llu entries, more than the limit %zu",
                 (unsigned long long)count, max_entries);
        goto out;
    }
    tmp = pl_malloc(PL_MANIFEST_MAX_PATH + 1);
    if (!tmp)
        goto out;
    for (uint64_t i = 0; i < count; i++) {
        if (s_next_line(&l, &line, &n, "entry"))
            goto out;
        struct pl_manifest_entry *e = s_add_entry(m, max_entries);
        if (!e)
            goto out;
        const char *why = NULL;
        if (s_parse_entry(line, n, e, tmp, &why)) {
            if (why)
                pl_raise(PL_ERR_PARSE, "manifest line %zu: %s", l.lineno, why);
            goto out;
        }
        if (m->n > 1 && strcmp(m->entries[m->n - 2].path, e->path) >= 0) {
            pl_raise(PL_ERR_PARSE, "manifest line %zu: entries not sorted or duplicated", l.lineno);
            goto out;
        }
    }
    size_t body_end = l.pos;
    if (s_next_line(&l, &line, &n, "total line"))
        goto out;
    uint8_t want[PL_SHA256_LEN];
    if (n != 6 + 2 * PL_SHA256_LEN || memcmp(line, "total ", 6) ||
        s_parse_hash(line + 6, n - 6, want)) {
        pl_raise(PL_ERR_PARSE, "manifest line %zu: expected 'total <sha256>'", l.lineno);
        goto out;
    }
    if (pl_sha256(data, body_end, m->total))
        goto out;
    if (memcmp(want, m->total, PL_SHA256_LEN)) {
        pl_raise(PL_ERR_INTEGRITY, "manifest total hash does not match its entries "
                                   "(corrupted or edited manifest)");
        goto out;
    }
    size_t signed_end = l.pos;
    if (l.pos < len) {
        if (s_next_line(&l, &line, &n, "signature line"))
            goto out;
        if (n < 18 || memcmp(line, "signature ed25519 ", 18)) {
            pl_raise(PL_ERR_PARSE,
                     "manifest line %zu: expected 'signature ed25519 <base64>' "
                     "or the end",
                     l.lineno);
            goto out;
        }
        if (l.pos != len) {
            pl_raise(PL_ERR_PARSE, "manifest line %zu: data after the signature", l.lineno + 1);
            goto out;
        }
        m->is_signed = true;
        if (pubkey_pem && s_verify_sig(pubkey_pem, pubkey_len, data, signed_end, line + 18, n - 18))
            goto out;
    } else if (pubkey_pem) {
        pl_raise(PL_ERR_SIGNATURE, "manifest is not signed, but a public key was given");
        goto out;
    }
    ret = 0;
out:
    pl_free(tmp);
    return ret;
}

/* ---------------------------------------------------------------- compare */

void pl_verify_report_init(struct pl_verify_report *r)
{
    memset(r, 0, sizeof(*r));
}

void pl_verify_report_clean_up(struct pl_verify_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        pl_free(r->diffs[i].path);
    pl_free(r->diffs);
    memset(r, 0, sizeof(*r));
}

static int s_add_diff(struct pl_verify_report *r, const struct pl_manifest_entry *old,
                      const struct pl_manifest_entry *cur, unsigned what)
{
    const struct pl_manifest_entry *any = old ? old : cur;
    if (!any)
        return pl_raise(PL_ERR_INTERNAL, "difference without an entry");
    if (pl_array_reserve((void **)&r->diffs, &r->cap, r->n + 1, sizeof(r->diffs[0])))
        return -1;
    struct pl_manifest_diff *d = &r->diffs[r->n];
    memset(d, 0, sizeof(*d));
    // cppcheck-suppress nullPointerRedundantCheck ; any is old or cur, checked non-NULL above
    d->path = pl_strdup(any->path);
    if (!d->path)
        return -1;
    d->what = what;
    if (old) {
        d->old_size = old->size, d->old_mode = old->mode, d->old_type = old->type;
    }
    if (cur) {
        d->new_size = cur->size, d->new_mode = cur->mode, d->new_type = cur->type;
    }
    r->n++;
    if (what & PL_DIFF_ADDED)
        r->n_added++;
    else if (what & PL_DIFF_MISSING)
        r->n_missing++;
    else
        r->n_changed++;
    return 0;
}

int pl_manifest_compare(const struct pl_manifest *expected, const struct pl_manifest *actual,
                        struct pl_verify_report *r)
{
    size_t i = 0, j = 0;
    r->entries_checked = expected->n;
    r->bytes_hashed = actual->bytes_hashed;
    while (i < expected->n || j < actual->n) {
        const struct pl_manifest_entry *a = i < expected->n ? &expected->entries[i] : NULL;
        const struct pl_manifest_entry *b = j < actual->n ? &actual->entries[j] : NULL;
        int c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);
        if (c < 0) {
            if (s_add_diff(r, a, NULL, PL_DIFF_MISSING))
                return -1;
            i++;
            continue;
        }
        if (c > 0) {
            if (s_add_diff(r, NULL, b, PL_DIFF_ADDED))
                return -1;
            j++;
            continue;
        }
        unsigned what = 0;
        if (a->type != b->type) {
            what |= PL_DIFF_TYPE;
        } else if (b->err) {
            what |= PL_DIFF_UNREADABLE;
        } else {
            if (a->type == PL_MF_FILE && !b->deferred && memcmp(a->hash, b->hash, PL_SHA256_LEN))
                what |= PL_DIFF_CONTENT;
            if (a->type == PL_MF_LINK && memcmp(a->hash, b->hash, PL_SHA256_LEN))
                what |= PL_DIFF_TARGET;
            if (a->type == PL_MF_FILE && a->size != b->size)
                what |= PL_DIFF_SIZE;
        }
        if (a->mode != b->mode)
            what |= PL_DIFF_MODE;
        if (what && s_add_diff(r, a, b, what))
            return -1;
        if (b->deferred && a->type == PL_MF_FILE)
            r->entries_deferred++;
        i++, j++;
    }
    return 0;
}

/* a copy of e (path, target) appended to m */
static int s_copy_entry(struct pl_manifest *m, const struct pl_manifest_entry *e)
{
    struct pl_manifest_entry *c = s_add_entry(m, SIZE_MAX);
    if (!c)
        return -1;
    *c = *e;
    c->path = pl_strdup(e->path);
    c->target = e->target ? pl_strdup(e->target) : NULL;
    c->deferred = false;
    if (!c->path || (e->target && !c->target))
        return pl_raise(PL_ERR_NOMEM, "out of memory");
    return 0;
}

int pl_verify_dir(const char *manifest_path, const char *pubkey_path, const char *dir,
                  const struct pl_manifest_opts *opts, struct pl_verify_report *r)
{
    return pl_verify_dir_ex(manifest_path, pubkey_path, dir, opts, r, NULL);
}

int pl_verify_dir_ex(const char *manifest_path, const char *pubkey_path, const char *dir,
                     const struct pl_manifest_opts *opts, struct pl_verify_report *r,
                     struct pl_manifest *deferred)
{
    int ret = -1;
    char *text = NULL, *key = NULL;
    size_t text_len = 0, key_len = 0;
    struct pl_manifest expected, actual;
    pl_manifest_init(&expected);
    pl_manifest_init(&actual);
    if (pl_read_file(manifest_path, &text, &text_len, PL_MANIFEST_MAX_BYTES))
        goto out;
    if (pubkey_path && pl_read_file(pubkey_path, &key, &key_len, 64 * 1024))
        goto out;
    size_t max = opts && opts->max_entries ? opts->max_entries : 0;
    if (pl_manifest_parse(text, text_len, key, key_len, max, &expected))
        goto out;
    /* leave the manifest itself out when it lives in the tree */
    struct pl_manifest_opts o = opts ? *opts : (struct pl_manifest_opts){0};
    struct stat st;
    dev_t devs[17];
    ino_t inos[17];
    size_t k = 0;
    for (size_t i = 0; i < o.n_skip && k < 16; i++, k++)
        devs[k] = o.skip_dev[i], inos[k] = o.skip_ino[i];
    if (stat(manifest_path, &st) == 0) {
        devs[k] = st.st_dev, inos[k] = st.st_ino;
        k++;
    }
    o.skip_dev = devs, o.skip_ino = inos, o.n_skip = k;
    size_t unreadable;
    if (s_build(dir, &o, &actual, &unreadable))
        goto out;
    if (pl_manifest_compare(&expected, &actual, r))
        goto out;
    /* both sorted by path: the expected entries of the files left unread */
    for (size_t i = 0, j = 0; deferred && i < expected.n && j < actual.n;) {
        int c = strcmp(expected.entries[i].path, actual.entries[j].path);
        if (c == 0 && actual.entries[j].deferred && expected.entries[i].type == PL_MF_FILE &&
            s_copy_entry(deferred, &expected.entries[i]))
            goto out;
        i += c <= 0;
        j += c >= 0;
    }
    ret = 0;
out:
    pl_free(text);
    pl_free(key);
    pl_manifest_clean_up(&expected);
    pl_manifest_clean_up(&actual);
    return ret;
}

int pl_verify_entries(const char *dir, const struct pl_manifest *expected,
                      struct pl_verify_report *r)
{
    int ret = -1;
    struct pl_manifest actual;
    pl_manifest_init(&actual);
    EVP_MD *md = NULL;
    EVP_MD_CTX *ctx = NULL;
    char *buf = NULL;
    int rootfd = s_open_root(dir);
    if (rootfd < 0)
        return -1;
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ctx = EVP_MD_CTX_new();
    buf = pl_malloc(S_READ_BUF);
    if (!md || !ctx || !buf) {
        if (buf)
            pl_raise(PL_ERR_INTEGRITY, "SHA-256 is not available from OpenSSL");
        goto out;
    }
    struct s_hash_job job = {&actual, rootfd, md, NULL, 0, 0, 0, 0};
    uint64_t bytes = 0;
    for (size_t i = 0; i < expected->n; i++) {
        const struct pl_manifest_entry *x = &expected->entries[i];
        struct stat st;
        if (fstatat(rootfd, x->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT && errno != ENOTDIR) {
                pl_raise(PL_ERR_IO, "%s/%s: %s", dir, x->path, strerror(errno));
                goto out;
            }
            continue; /* missing: the comparison reports it */
        }
        struct pl_manifest_entry *e = s_add_entry(&actual, SIZE_MAX);
        if (!e || !(e->path = pl_strdup(x->path)))
            goto out;
        e->mode = (uint32_t)(st.st_mode & 07777);
        e->type = S_ISREG(st.st_mode) ? PL_MF_FILE : S_ISLNK(st.st_mode) ? PL_MF_LINK
                  : S_ISDIR(st.st_mode) ? PL_MF_DIR : PL_MF_OTHER;
        e->size = (uint64_t)st.st_size;
        if (e->type == PL_MF_FILE && s_hash_one(&job, e, ctx, buf, &bytes)) {
            pl_raise(PL_ERR_INTEGRITY, "hashing failed (OpenSSL)");
            goto out;
        }
    }
    actual.bytes_hashed = bytes;
    if (pl_manifest_compare(expected, &actual, r))
        goto out;
    ret = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    pl_free(buf);
    pl_manifest_clean_up(&actual);
    close(rootfd);
    return ret;
}

/* ---------------------------------------------------------------- reports */

static const char *s_type_name(uint8_t t)
{
    switch (t) {
    case PL_MF_FILE:
        return "file";
    case PL_MF_LINK:
        return "link";
    case PL_MF_DIR:
        return "dir";
    default:
        return "other";
    }
}

static int s_what_text(const struct pl_manifest_diff *d, struct pl_buf *out)
{
    const char *sep = "";
    int rc = 0;
    if (d->what & PL_DIFF_TYPE) {
        rc |= pl_buf_appendf(out, "%stype %s -> %s", sep, s_type_name(d->old_type),
                             s_type_name(d->new_type));
        sep = ", ";
    }
    if (d->what & PL_DIFF_CONTENT) {
        rc |= pl_buf_appendf(out, "%scontent", sep);
        sep = ", ";
    }
    if (d->what & PL_DIFF_TARGET) {
        rc |= pl_buf_appendf(out, "%slink target", sep);
        sep = ", ";
    }
    if (d->what & PL_DIFF_UNREADABLE) {
        rc |= pl_buf_appendf(out, "%sunreadable", sep);
        sep = ", ";
    }
    if (d->what & PL_DIFF_SIZE) {
        rc |= pl_buf_appendf(out, "%ssize %llu -> %llu", sep, (unsigned long long)d->old_size,
                             (unsigned long long)d->new_size);
        sep = ", ";
    }
    if (d->what & PL_DIFF_MODE)
        rc |= pl_buf_appendf(out, "%smode %04o -> %04o", sep, (unsigned)d->old_mode,
                             (unsigned)d->new_mode);
    return rc ? -1 : 0;
}

int pl_verify_report_text(const struct pl_verify_report *r, struct pl_buf *out)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct pl_manifest_diff *d = &r->diffs[i];
        const char *kind = (d->what & PL_DIFF_ADDED)     ? "added  "
                           : (d->what & PL_DIFF_MISSING) ? "missing"
                                                         : "changed";
        if (pl_buf_appendf(out, "%s %s ", kind,
                           (d->what & PL_DIFF_MISSING) ? s_type_name(d->old_type)
                                                       : s_type_name(d->new_type)) ||
            s_append_escaped(out, d->path))
            return -1;
        if (!(d->what & (PL_DIFF_ADDED | PL_DIFF_MISSING))) {
            if (pl_buf_append_str(out, " (") || s_what_text(d, out) || pl_buf_append_char(out, ')'))
                return -1;
        }
        if (pl_buf_append_char(out, '\n'))
            return -1;
    }
    return 0;
}

int pl_verify_report_json(const struct pl_verify_report *r, struct pl_buf *out)
{
    int rc =
        pl_buf_appendf(out,
                       "{\"ok\":%s,\"entries\":%zu,\"bytes_hashed\":%llu,\"added\":%zu,"
                       "\"missing\":%zu,\"changed\":%zu,\"differences\":[",
                       r->n ? "false" : "true", r->entries_checked,
                       (unsigned long long)r->bytes_hashed, r->n_added, r->n_missing, r->n_changed);
    for (size_t i = 0; i < r->n && !rc; i++) {
        const struct pl_manifest_diff *d = &r->diffs[i];
        const char *kind = (d->what & PL_DIFF_ADDED)     ? "added"
                           : (d->what & PL_DIFF_MISSING) ? "missing"
                                                         : "changed";
        rc |= pl_buf_appendf(out, "%s{\"kind\":\"%s\",\"path\":", i ? "," : "", kind);
        rc |= pl_buf_append_json_str(out, d->path, strlen(d->path));
        if (!(d->what & (PL_DIFF_ADDED | PL_DIFF_MISSING))) {
            struct pl_buf w = PL_BUF_INIT;
            rc |= s_what_text(d, &w);
            rc |= pl_buf_append_str(out, ",\"what\":");
            rc |= pl_buf_append_json_cstr(out, w.data ? w.data : "");
            pl_buf_clean_up(&w);
        }
        rc |= pl_buf_append_char(out, '}');
    }
    rc |= pl_buf_append_str(out, "]}\n");
    return rc ? -1 : 0;
}
