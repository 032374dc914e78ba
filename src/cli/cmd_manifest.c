/* protectlambda manifest: SHA-256 manifest of a code tree, optionally Ed25519-signed;
 * protectlambda manifest keygen: an Ed25519 key pair for signing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_args.h"
#include "protectlambda/cli.h"
#include "protectlambda/integrity.h"

static const char s_usage[] =
    "usage: protectlambda manifest DIR [-o FILE] [--sign KEY] [--threads N]\n"
    "       protectlambda manifest keygen -o PREFIX [--force]\n\n"
    "Writes the SHA-256 manifest of every file under DIR (path, size, mode, hash; symlinks are\n"
    "recorded with their target, never followed) and the hash of the whole, to FILE (default:\n"
    "standard output). With --sign, the manifest is signed with the Ed25519 private key KEY\n"
    "(PEM), so that someone who can change the code cannot also rewrite the manifest; check\n"
    "it with 'protectlambda verify --manifest FILE --pubkey KEY.pub DIR'.\n"
    "When FILE lies inside DIR, it is left out of the manifest.\n\n"
    "keygen writes PREFIX.key (private, mode 0600) and PREFIX.pub (public). The same keys can\n"
    "be made with: openssl genpkey -algorithm ed25519 -out KEY; openssl pkey -in KEY -pubout\n\n"
    "options:\n"
    "  -o, --output FILE  where to write the manifest ('-' = standard output)\n"
    "  --sign KEY         Ed25519 private key (PEM) to sign with\n"
    "  --threads N        hashing threads (default: 2 when 2 CPUs are online, else 1)\n"
    "  --force            keygen: overwrite existing key files\n\n"
    "exit status: 0 written, 2 error (unreadable file, bad key, I/O)\n";

static int s_write_fd(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w, n -= (size_t)w;
    }
    return 0;
}

static int s_keygen(int argc, char **argv)
{
    const char *prefix = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(s_usage, stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) {
            prefix = argv[++i];
        } else if (!strcmp(argv[i], "--force")) {
            force = true;
        } else {
            return pl_cli_usage_error("manifest keygen", "unknown argument '%s'", argv[i]);
        }
    }
    if (!prefix)
        return pl_cli_usage_error("manifest keygen", "-o PREFIX is required");
    char kpath[4096], ppath[4096];
    if (snprintf(kpath, sizeof(kpath), "%s.key", prefix) >= (int)sizeof(kpath) ||
        snprintf(ppath, sizeof(ppath), "%s.pub", prefix) >= (int)sizeof(ppath))
        return pl_cli_usage_error("manifest keygen", "prefix too long");
    if (!force && (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0))
        return pl_cli_usage_error("manifest keygen", "%s or %s exists (use --force)", kpath, ppath);
    struct pl_buf priv = PL_BUF_INIT, pub = PL_BUF_INIT;
    int rc = 2;
    if (pl_ed25519_keygen(&priv, &pub) || pl_write_file_atomic(kpath, priv.data, priv.len, 0600) ||
        pl_write_file_atomic(ppath, pub.data, pub.len, 0644)) {
        rc = pl_cli_error("manifest keygen");
        goto out;
    }
    chmod(kpath, 0600);
    printf("wrote %s (private, keep it out of the function package) and %s\n", kpath, ppath);
    rc = 0;
out:
    explicit_bzero(priv.data, priv.cap);
    pl_buf_clean_up(&priv);
    pl_buf_clean_up(&pub);
    return rc;
}

static int s_manifest_main(int argc, char **argv)
{
    const char *dir = NULL, *output = NULL, *sign = NULL;
    struct pl_manifest_opts opts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(s_usage, stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
            output = argv[++i];
        } else if (!strcmp(a, "--sign") && i + 1 < argc) {
            sign = argv[++i];
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (pl_cli_arg_threads("manifest", argv[++i], &opts.threads))
                return 2;
        } else if (a[0] == '-' && a[1]) {
            return pl_cli_usage_error("manifest", "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return pl_cli_usage_error("manifest", "more than one directory given");
        }
    }
    if (!dir)
        return pl_cli_usage_error("manifest", "DIR is required");
    int rc = 2;
    char *key = NULL;
    size_t key_len = 0;
    struct pl_manifest m;
    struct pl_buf out = PL_BUF_INIT;
    pl_manifest_init(&m);
    dev_t dev;
    ino_t ino;
    struct stat st;
    if (output && strcmp(output, "-") != 0 && stat(output, &st) == 0) {
        dev = st.st_dev, ino = st.st_ino;
        opts.skip_dev = &dev, opts.skip_ino = &ino, opts.n_skip = 1;
    }
    if (sign && pl_read_file(sign, &key, &key_len, (size_t)64 * 1024)) {
        rc = pl_cli_error("manifest");
        goto out;
    }
    if (pl_manifest_build(dir, &opts, &m) || pl_manifest_write(&m, key, key_len, &out)) {
        rc = pl_cli_error("manifest");
        goto out;
    }
    if (!output || !strcmp(output, "-")) {
        if (s_write_fd(1, out.data, out.len)) {
            pl_raise(PL_ERR_IO, "standard output: %s", strerror(errno));
            rc = pl_cli_error("manifest");
            goto out;
        }
    } else {
        if (pl_write_file_atomic(output, out.data, out.len, 0644)) {
            rc = pl_cli_error("manifest");
            goto out;
        }
        char hex[2 * PL_SHA256_LEN + 1];
        pl_hex(m.total, PL_SHA256_LEN, hex);
        fprintf(stderr,
                "protectlambda manifest: %zu entries, %llu bytes hashed, total %s%s -> %s\n", m.n,
                (unsigned long long)m.bytes_hashed, hex, m.is_signed ? ", signed" : "", output);
    }
    rc = 0;
out:
    if (key) {
        explicit_bzero(key, key_len);
        pl_free(key);
    }
    pl_manifest_clean_up(&m);
    pl_buf_clean_up(&out);
    return rc;
}

PL_CLI_COMMAND(manifest, "manifest",
               "write the SHA-256 manifest of a code tree (optionally signed)", s_manifest_main)
PL_CLI_COMMAND(manifest_keygen, "manifest keygen", "make an Ed25519 key pair for signing manifests",
               s_keygen)
