/* Manifests over real generated trees: round trip, every kind of difference, signatures,
 * strict parsing of hostile manifests, allocation failures. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/integrity.h"

static void s_write(const char *dir, const char *rel, const char *content, mode_t mode)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd >= 0) {
        if (write(fd, content, strlen(content)) < 0)
            perror("write");
        close(fd);
    }
    chmod(p, mode);
}

static void s_rm_rf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* a tree with files, nested dirs, a symlink, a fifo, odd names, a 3 MB file */
static void s_make_tree(char *dir)
{
    strcpy(dir, "/tmp/pl-mf-XXXXXX");
    if (!mkdtemp(dir))
        return;
    char p[4096];
    snprintf(p, sizeof(p), "%s/pkg", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/pkg/deep", dir);
    mkdir(p, 0755);
    s_write(dir, "app.py", "def handler(e, c):\n    return 1\n", 0644);
    s_write(dir, "pkg/__init__.py", "", 0644);
    s_write(dir, "pkg/deep/mod.py", "X = 1\n", 0644);
    s_write(dir, "bootstrap", "#!/bin/sh\nexec ./app\n", 0755);
    s_write(dir, "name with space%and\npercent", "odd\n", 0600);
    snprintf(p, sizeof(p), "%s/link-to-app", dir);
    if (symlink("app.py", p) < 0)
        perror("symlink");
    snprintf(p, sizeof(p), "%s/fifo", dir);
    mkfifo(p, 0644);
    snprintf(p, sizeof(p), "%s/big.bin", dir);
    FILE *f = fopen(p, "wb");
    if (f) {
        for (int i = 0; i < 3 * 1024 * 1024 / 16; i++)
            fwrite("0123456789abcdef", 1, 16, f);
        fclose(f);
    }
}

static int s_manifest_text(const char *dir, const char *key, struct pl_buf *out)
{
    struct pl_manifest m;
    pl_manifest_init(&m);
    int rc = pl_manifest_build(dir, NULL, &m);
    if (rc == 0)
        rc = pl_manifest_write(&m, key, key ? strlen(key) : 0, out);
    pl_manifest_clean_up(&m);
    return rc;
}

/* verify dir against manifest text (written to a file outside the tree) */
static int s_verify(const char *dir, const struct pl_buf *text, const char *pub,
                    struct pl_verify_report *r)
{
    char mpath[4200], kpath[4200];
    snprintf(mpath, sizeof(mpath), "%s.manifest", dir);
    snprintf(kpath, sizeof(kpath), "%s.pub", dir);
    if (pl_write_file_atomic(mpath, text->data, text->len, 0644))
        return -1;
    if (pub && pl_write_file_atomic(kpath, pub, strlen(pub), 0644))
        return -1;
    int rc = pl_verify_dir(mpath, pub ? kpath : NULL, dir, NULL, r);
    unlink(mpath);
    unlink(kpath);
    return rc;
}

PL_TEST(manifest_round_trip_matches_and_records_links_not_followed)
{
    char dir[64];
    s_make_tree(dir);
    struct pl_buf text = PL_BUF_INIT;
    PL_CHECK_OK(s_manifest_text(dir, NULL, &text));
    PL_CHECK(!strncmp(text.data, "protectlambda-manifest 1\nhash sha256\nentries 10\n", 48));
    /* symlink recorded with its target; odd name escaped; fifo recorded, not opened */
    PL_CHECK(strstr(text.data, " link-to-app app.py\n") != NULL);
    PL_CHECK(strstr(text.data, "name%20with%20space%25and%0Apercent\n") != NULL);
    PL_CHECK(strstr(text.data, "O 0644 0 - fifo\n") != NULL);
    PL_CHECK(strstr(text.data, "F 0755 21 ") != NULL); /* bootstrap mode kept */
    struct pl_manifest m;
    pl_manifest_init(&m);
    PL_CHECK_OK(pl_manifest_parse(text.data, text.len, NULL, 0, 0, &m));
    PL_CHECK_INT(m.n, 10);
    PL_CHECK_STR(m.entries[5].path, "name with space%and\npercent");
    pl_manifest_clean_up(&m);
    struct pl_verify_report r;
    pl_verify_report_init(&r);
    PL_CHECK_OK(s_verify(dir, &text, NULL, &r));
    PL_CHECK_INT(r.n, 0);
    PL_CHECK_INT(r.entries_checked, 10);
    PL_CHECK(r.bytes_hashed >= 3 * 1024 * 1024);
    pl_verify_report_clean_up(&r);
    pl_buf_clean_up(&text);
    s_rm_rf(dir);
}

PL_TEST(manifest_one_and_two_threads_agree)
{
    char dir[64];
    s_make_tree(dir);
    struct pl_manifest a, b;
    pl_manifest_init(&a);
    pl_manifest_init(&b);
    struct pl_manifest_opts o1 = {.threads = 1}, o2 = {.threads = 2};
    struct pl_buf t1 = PL_BUF_INIT, t2 = PL_BUF_INIT;
    PL_CHECK_OK(pl_manifest_build(dir, &o1, &a));
    PL_CHECK_OK(pl_manifest_build(dir, &o2, &b));
    PL_CHECK_OK(pl_manifest_write(&a, NULL, 0, &t1));
    PL_CHECK_OK(pl_manifest_write(&b, NULL, 0, &t2));
    PL_CHECK(t1.len == t2.len && !memcmp(t1.data, t2.data, t1.len));
    /* the content hash of big.bin is SHA-256 of the content */
    for (size_t i = 0; i < a.n; i++) {
        if (strcmp(a.entries[i].path, "app.py"))
            continue;
        uint8_t h[32];
        const char *c = "def handler(e, c):\n    return 1\n";
        PL_CHECK_OK(pl_sha256(c, strlen(c), h));
        PL_CHECK(!memcmp(h, a.entries[i].hash, 32));
    }
    pl_manifest_clean_up(&a);
    pl_manifest_clean_up(&b);
    pl_buf_clean_up(&t1);
    pl_buf_clean_up(&t2);
    s_rm_rf(dir);
}

static const struct pl_manifest_diff *s_find(const struct pl_verify_report *r, const char *path)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->diffs[i].path, path))
            return &r->diffs[i];
    return NULL;
}

PL_TEST(verify_detects_every_kind_of_difference)
{
    char dir[64], p[4200], q[4200];
    s_make_tree(dir);
    struct pl_buf text = PL_BUF_INIT;
    PL_CHECK_OK(s_manifest_text(dir, NULL, &text));
    /* same size, different content */
    s_write(dir, "pkg/deep/mod.py", "X = 2\n", 0644);
    /* different size */
    s_write(dir, "app.py", "def handler(e, c):\n    return __import__('os').system('id')\n", 0644);
    /* mode only */
    snprintf(p, sizeof(p), "%s/pkg/__init__.py", dir);
    chmod(p, 0755);
    /* added */
    s_write(dir, "pkg/evil.py", "import os\n", 0644);
    /* missing */
    snprintf(p, sizeof(p), "%s/bootstrap", dir);
    unlink(p);
    /* link target changed */
    snprintf(p, sizeof(p), "%s/link-to-app", dir);
    unlink(p);
    PL_CHECK(symlink("/etc/passwd", p) == 0);
    /* type: file replaced by a directory */
    snprintf(q, sizeof(q), "%s/big.bin", dir);
    unlink(q);
    mkdir(q, 0755);
    struct pl_verify_report r;
    pl_verify_report_init(&r);
    PL_CHECK_OK(s_verify(dir, &text, NULL, &r));
    const struct pl_manifest_diff *d;
    PL_CHECK((d = s_find(&r, "pkg/deep/mod.py")) && d->what == PL_DIFF_CONTENT);
    PL_CHECK((d = s_find(&r, "app.py")) && d->what == (PL_DIFF_CONTENT | PL_DIFF_SIZE));
    PL_CHECK((d = s_find(&r, "pkg/__init__.py")) && d->what == PL_DIFF_MODE &&
             d->old_mode == 0644 && d->new_mode == 0755);
    PL_CHECK((d = s_find(&r, "pkg/evil.py")) && d->what == PL_DIFF_ADDED);
    PL_CHECK((d = s_find(&r, "bootstrap")) && d->what == PL_DIFF_MISSING);
    PL_CHECK((d = s_find(&r, "link-to-app")) && (d->what & PL_DIFF_TARGET));
    PL_CHECK((d = s_find(&r, "big.bin")) && (d->what & PL_DIFF_TYPE));
    PL_CHECK_INT(r.n, 7);
    PL_CHECK_INT(r.n_added, 1);
    PL_CHECK_INT(r.n_missing, 1);
    PL_CHECK_INT(r.n_changed, 5);
    struct pl_buf rep = PL_BUF_INIT;
    PL_CHECK_OK(pl_verify_report_text(&r, &rep));
    PL_CHECK(strstr(rep.data, "changed file app.py (content, size 32 -> ") != NULL);
    PL_CHECK(strstr(rep.data, "added   file pkg/evil.py\n") != NULL);
    PL_CHECK(strstr(rep.data, "missing file bootstrap\n") != NULL);
    PL_CHECK(strstr(rep.data, "changed dir big.bin (type file -> dir") != NULL);
    pl_buf_reset(&rep);
    PL_CHECK_OK(pl_verify_report_json(&r, &rep));
    PL_CHECK(strstr(rep.data, "\"ok\":false") && strstr(rep.data, "\"kind\":\"missing\""));
    pl_buf_clean_up(&rep);
    pl_verify_report_clean_up(&r);
    pl_buf_clean_up(&text);
    s_rm_rf(dir);
}

PL_TEST(signature_good_forged_unsigned_and_wrong_key)
{
    char dir[64];
    s_make_tree(dir);
    struct pl_buf priv = PL_BUF_INIT, pub = PL_BUF_INIT, priv2 = PL_BUF_INIT, pub2 = PL_BUF_INIT;
    PL_CHECK_OK(pl_ed25519_keygen(&priv, &pub));
    PL_CHECK_OK(pl_ed25519_keygen(&priv2, &pub2));
    PL_CHECK(strstr(priv.data, "BEGIN PRIVATE KEY") && strstr(pub.data, "BEGIN PUBLIC KEY"));
    struct pl_buf signed_text = PL_BUF_INIT, plain = PL_BUF_INIT;
    PL_CHECK_OK(s_manifest_text(dir, priv.data, &signed_text));
    PL_CHECK_OK(s_manifest_text(dir, NULL, &plain));
    PL_CHECK(strstr(signed_text.data, "\nsignature ed25519 ") != NULL);
    struct pl_verify_report r;
    pl_verify_report_init(&r);
    /* good */
    PL_CHECK_OK(s_verify(dir, &signed_text, pub.data, &r));
    PL_CHECK_INT(r.n, 0);
    pl_verify_report_clean_up(&r);
    /* another key's public half */
    PL_CHECK(s_verify(dir, &signed_text, pub2.data, &r) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_SIGNATURE);
    pl_verify_report_clean_up(&r);
    /* unsigned manifest while a key is configured */
    PL_CHECK(s_verify(dir, &plain, pub.data, &r) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_SIGNATURE);
    pl_verify_report_clean_up(&r);
    /* forged: the attacker changes the code, rebuilds the manifest (consistent total) and
     * keeps the old signature line, or signs with their own key */
    s_write(dir, "app.py", "import os; os.system('curl evil')\n", 0644);
    struct pl_buf forged = PL_BUF_INIT;
    PL_CHECK_OK(s_manifest_text(dir, NULL, &forged));
    const char *sig = strstr(signed_text.data, "signature ed25519 ");
    PL_CHECK_OK(pl_buf_append_str(&forged, sig));
    PL_CHECK(s_verify(dir, &forged, pub.data, &r) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_SIGNATURE);
    pl_verify_report_clean_up(&r);
    pl_buf_reset(&forged);
    PL_CHECK_OK(s_manifest_text(dir, priv2.data, &forged));
    PL_CHECK(s_verify(dir, &forged, pub.data, &r) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_SIGNATURE);
    pl_verify_report_clean_up(&r);
    /* with the right key the original manifest now reports the change */
    PL_CHECK_OK(s_verify(dir, &signed_text, pub.data, &r));
    PL_CHECK_INT(r.n, 1);
    pl_verify_report_clean_up(&r);
    /* a private key is not a public key, an RSA-less garbage key is refused */
    PL_CHECK(s_verify(dir, &signed_text,
                      "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", &r) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_SIGNATURE);
    pl_verify_report_clean_up(&r);
    pl_buf_clean_up(&forged);
    pl_buf_clean_up(&signed_text);
    pl_buf_clean_up(&plain);
    pl_buf_clean_up(&priv);
    pl_buf_clean_up(&pub);
    pl_buf_clean_up(&priv2);
    pl_buf_clean_up(&pub2);
    s_rm_rf(dir);
}

/* build a manifest text with a correct total over `body` entries */
static void s_with_total(struct pl_buf *out, const char *entries_and_lines, int count)
{
    pl_buf_reset(out);
    pl_buf_appendf(out, "protectlambda-manifest 1\nhash sha256\nentries %d\n%s", count,
                   entries_and_lines);
    uint8_t h[32];
    char hex[65];
    pl_sha256(out->data, out->len, h);
    pl_hex(h, 32, hex);
    pl_buf_appendf(out, "total %s\n", hex);
}

#define H64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

PL_TEST(parser_refuses_hostile_manifests)
{
    static const struct {
        const char *entries;
        int count;
        int code;
    } bad[] = {
        {"F 0644 0 " H64 " ../etc/passwd\n", 1, PL_ERR_PARSE},
        {"F 0644 0 " H64 " /etc/passwd\n", 1, PL_ERR_PARSE},
        {"F 0644 0 " H64 " a/./b\n", 1, PL_ERR_PARSE},
        {"F 0644 0 " H64 " a//b\n", 1, PL_ERR_PARSE},
        {"F 0644 0 " H64 " b\nF 0644 0 " H64 " a\n", 2, PL_ERR_PARSE}, /* unsorted */
        {"F 0644 0 " H64 " a\nF 0644 0 " H64 " a\n", 2, PL_ERR_PARSE}, /* duplicate */
        {"F 0644 0 " H64 " %61\n", 1, PL_ERR_PARSE},                   /* non-canonical */
        {"F 0644 0 " H64 " a%00b\n", 1, PL_ERR_PARSE},                 /* NUL */
        {"F 0644 0 " H64 " a%zz\n", 1, PL_ERR_PARSE},
        {"F 0644 0 " H64 " a%4\n", 1, PL_ERR_PARSE},
        {"F 0644 0 " H64 "  a\n", 1, PL_ERR_PARSE},                   /* empty field */
        {"F 0644 0 " H64 " a \n", 1, PL_ERR_PARSE},                   /* trailing space */
        {"F 0644 0 " H64 " a\r\n", 1, PL_ERR_PARSE},                  /* CR */
        {"F 0844 0 " H64 " a\n", 1, PL_ERR_PARSE},                    /* bad mode */
        {"F 0644 01 " H64 " a\n", 1, PL_ERR_PARSE},                   /* leading zero */
        {"F 0644 99999999999999999999 " H64 " a\n", 1, PL_ERR_PARSE}, /* overflow */
        {"F 0644 0 " H64 "A a\n", 1, PL_ERR_PARSE},                   /* hash length */
        {"F 0644 0 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 a\n", 1,
         PL_ERR_PARSE},                              /* upper-case hex */
        {"D 0755 0 " H64 " d\n", 1, PL_ERR_PARSE},   /* dir with hash */
        {"L 0777 1 " H64 " l x\n", 1, PL_ERR_PARSE}, /* link hash wrong */
        {"L 0777 0 " H64 " l\n", 1, PL_ERR_PARSE},   /* link no target */
        {"X 0644 0 " H64 " a\n", 1, PL_ERR_PARSE},
        {"F 0644 0 " H64 " a\n", 2, PL_ERR_PARSE},                     /* count too high */
        {"F 0644 0 " H64 " a\nF 0644 0 " H64 " b\n", 1, PL_ERR_PARSE}, /* count too low */
    };
    struct pl_buf t = PL_BUF_INIT;
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++) {
        s_with_total(&t, bad[i].entries, bad[i].count);
        struct pl_manifest m;
        pl_manifest_init(&m);
        int rc = pl_manifest_parse(t.data, t.len, NULL, 0, 0, &m);
        pl_manifest_clean_up(&m);
        PL_CHECK_MSG(rc == -1, "case %zu accepted: %s", i, bad[i].entries);
        PL_CHECK_MSG(pl_last_error() == bad[i].code || pl_last_error() == PL_ERR_INTEGRITY,
                     "case %zu: error %d (%s)", i, pl_last_error(), pl_last_error_msg());
    }
    /* the good one parses */
    s_with_total(&t, "D 0755 0 - d\nF 0644 0 " H64 " d/a\n", 2);
    struct pl_manifest m;
    pl_manifest_init(&m);
    PL_CHECK_OK(pl_manifest_parse(t.data, t.len, NULL, 0, 0, &m));
    pl_manifest_clean_up(&m);
    /* count above the cap, before anything is allocated for it */
    s_with_total(&t, "", 0);
    const char *huge = "protectlambda-manifest 1\nhash sha256\nentries 99999999\n";
    PL_CHECK(pl_manifest_parse(huge, strlen(huge), NULL, 0, 1000, &m) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_LIMIT);
    pl_manifest_clean_up(&m);
    /* an overlong line */
    pl_buf_reset(&t);
    pl_buf_append_str(&t, "protectlambda-manifest 1\nhash sha256\nentries 1\nF 0644 0 " H64 " ");
    for (int i = 0; i < PL_MANIFEST_MAX_LINE; i++)
        pl_buf_append_char(&t, 'a');
    pl_buf_append_char(&t, '\n');
    PL_CHECK(pl_manifest_parse(t.data, t.len, NULL, 0, 0, &m) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_LIMIT);
    pl_manifest_clean_up(&m);
    /* edited total, trailing data, truncated, wrong header */
    s_with_total(&t, "F 0644 0 " H64 " a\n", 1);
    t.data[t.len - 2] ^= 1;
    PL_CHECK(pl_manifest_parse(t.data, t.len, NULL, 0, 0, &m) == -1);
    pl_manifest_clean_up(&m);
    s_with_total(&t, "F 0644 0 " H64 " a\n", 1);
    pl_buf_append_str(&t, "extra\n");
    PL_CHECK(pl_manifest_parse(t.data, t.len, NULL, 0, 0, &m) == -1);
    pl_manifest_clean_up(&m);
    s_with_total(&t, "F 0644 0 " H64 " a\n", 1);
    PL_CHECK(pl_manifest_parse(t.data, t.len - 1, NULL, 0, 0, &m) == -1);
    pl_manifest_clean_up(&m);
    PL_CHECK(pl_manifest_parse("protectlambda-manifest 2\n", 25, NULL, 0, 0, &m) == -1);
    pl_manifest_clean_up(&m);
    pl_buf_clean_up(&t);
}

PL_TEST(parser_survives_allocation_failures_without_leaks)
{
    struct pl_buf t = PL_BUF_INIT;
    s_with_total(&t,
                 "D 0755 0 - d\nF 0644 0 " H64 " d/a\nL 0777 3 "
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad d/l abc\n",
                 3);
    for (long n = 0; n < 40; n++) {
        struct pl_manifest m;
        pl_manifest_init(&m);
        pl_test_fail_alloc_after(n);
        int rc = pl_manifest_parse(t.data, t.len, NULL, 0, 0, &m);
        pl_test_fail_alloc_after(-1);
        pl_manifest_clean_up(&m);
        if (rc == 0)
            break;
        PL_CHECK_INT(pl_last_error(), PL_ERR_NOMEM);
    }
    pl_buf_clean_up(&t);
}

PL_TEST(build_fails_on_missing_dir_and_reports_it)
{
    struct pl_manifest m;
    pl_manifest_init(&m);
    PL_CHECK(pl_manifest_build("/nonexistent/pl-dir", NULL, &m) == -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_NOT_FOUND);
    pl_manifest_clean_up(&m);
}

PL_TEST(manifest_inside_the_tree_is_left_out_by_verify)
{
    char dir[64], mpath[4200];
    s_make_tree(dir);
    struct pl_buf text = PL_BUF_INIT;
    PL_CHECK_OK(s_manifest_text(dir, NULL, &text));
    snprintf(mpath, sizeof(mpath), "%s/protectlambda.manifest", dir);
    PL_CHECK_OK(pl_write_file_atomic(mpath, text.data, text.len, 0644));
    struct pl_verify_report r;
    pl_verify_report_init(&r);
    PL_CHECK_OK(pl_verify_dir(mpath, NULL, dir, NULL, &r));
    PL_CHECK_INT(r.n, 0);
    pl_verify_report_clean_up(&r);
    pl_buf_clean_up(&text);
    s_rm_rf(dir);
}

/* defer: files chosen by the callback are not read; pl_verify_entries hashes them later */
static bool s_defer_big(void *ud, const char *path, const struct stat *st)
{
    (void)ud;
    (void)st;
    return !strcmp(path, "big.bin") || !strcmp(path, "pkg/deep/mod.py");
}

PL_TEST(deferred_files_compared_by_metadata_then_hashed_by_verify_entries)
{
    char dir[64], mpath[4200];
    s_make_tree(dir);
    struct pl_buf text = PL_BUF_INIT;
    PL_CHECK_OK(s_manifest_text(dir, NULL, &text));
    snprintf(mpath, sizeof(mpath), "%s.manifest", dir);
    PL_CHECK_OK(pl_write_file_atomic(mpath, text.data, text.len, 0644));
    struct pl_manifest_opts o = {.defer = s_defer_big};
    struct pl_verify_report r;
    struct pl_manifest later;

    /* untouched tree: no difference, two files left, the 3 MB not read */
    pl_verify_report_init(&r);
    pl_manifest_init(&later);
    PL_CHECK_OK(pl_verify_dir_ex(mpath, NULL, dir, &o, &r, &later));
    PL_CHECK_INT(r.n, 0);
    PL_CHECK_INT(r.entries_deferred, 2);
    PL_CHECK(r.bytes_hashed < 1024 * 1024);
    PL_CHECK_INT(later.n, 2);
    PL_CHECK_STR(later.entries[0].path, "big.bin");
    PL_CHECK_STR(later.entries[1].path, "pkg/deep/mod.py");
    pl_verify_report_clean_up(&r);
    pl_verify_report_init(&r);
    PL_CHECK_OK(pl_verify_entries(dir, &later, &r));
    PL_CHECK_INT(r.n, 0);
    PL_CHECK(r.bytes_hashed >= 3 * 1024 * 1024);
    pl_verify_report_clean_up(&r);

    /* same size, other content: the deferred pass misses it, verify_entries finds it */
    s_write(dir, "pkg/deep/mod.py", "X = 2\n", 0644);
    pl_verify_report_init(&r);
    pl_manifest_clean_up(&later);
    pl_manifest_init(&later);
    PL_CHECK_OK(pl_verify_dir_ex(mpath, NULL, dir, &o, &r, &later));
    PL_CHECK_INT(r.n, 0);
    pl_verify_report_clean_up(&r);
    pl_verify_report_init(&r);
    PL_CHECK_OK(pl_verify_entries(dir, &later, &r));
    PL_CHECK_INT(r.n, 1);
    PL_CHECK_INT(r.n_changed, 1);
    PL_CHECK_STR(r.diffs[0].path, "pkg/deep/mod.py");
    PL_CHECK(r.diffs[0].what & PL_DIFF_CONTENT);
    pl_verify_report_clean_up(&r);

    /* a size or mode change of a deferred file is caught at once; a file gone, later */
    s_write(dir, "pkg/deep/mod.py", "X = 1\n# more\n", 0600);
    pl_verify_report_init(&r);
    PL_CHECK_OK(pl_verify_dir_ex(mpath, NULL, dir, &o, &r, NULL));
    PL_CHECK_INT(r.n, 1);
    PL_CHECK(r.diffs[0].what & PL_DIFF_SIZE);
    PL_CHECK(r.diffs[0].what & PL_DIFF_MODE);
    pl_verify_report_clean_up(&r);
    char p[4200];
    snprintf(p, sizeof(p), "%s/big.bin", dir);
    unlink(p);
    pl_verify_report_init(&r);
    PL_CHECK_OK(pl_verify_entries(dir, &later, &r));
    PL_CHECK_INT(r.n_missing, 1);
    PL_CHECK_INT(r.n_changed, 1);
    pl_verify_report_clean_up(&r);

    pl_manifest_clean_up(&later);
    unlink(mpath);
    pl_buf_clean_up(&text);
    s_rm_rf(dir);
}
