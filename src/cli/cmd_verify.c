/* protectlambda verify: compare a code tree with its manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "protectlambda/cli.h"
#include "protectlambda/integrity.h"

static const char s_usage[] =
    "usage: protectlambda verify --manifest FILE [--pubkey KEY] [--format text|json]\n"
    "                            [--threads N] DIR\n\n"
    "Hashes every file under DIR and compares with the manifest made by 'protectlambda\n"
    "manifest': reports files added, missing and changed (content, size, mode, type, link\n"
    "target). With --pubkey (Ed25519 public key, PEM), the manifest must carry a valid\n"
    "signature by the matching private key: an unsigned, forged or edited manifest is refused.\n"
    "The manifest file itself is left out when it lies inside DIR.\n\n"
    "exit status: 0 the tree matches, 1 differences, 2 bad/forged/unsigned manifest or error\n";

static int s_verify_main(int argc, char **argv)
{
    const char *manifest = NULL, *pubkey = NULL, *dir = NULL;
    bool json = false;
    struct pl_manifest_opts opts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(s_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--manifest") && i + 1 < argc) {
            manifest = argv[++i];
        } else if (!strcmp(a, "--pubkey") && i + 1 < argc) {
            pubkey = argv[++i];
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            if (pl_cli_arg_text_or_json("verify", argv[++i], &json))
                return 2;
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (pl_cli_arg_threads("verify", argv[++i], &opts.threads))
                return 2;
        } else if (a[0] == '-' && a[1]) {
            return pl_cli_usage_error("verify", "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return pl_cli_usage_error("verify", "more than one directory given");
        }
    }
    if (!manifest)
        return pl_cli_usage_error("verify", "--manifest FILE is required");
    if (!dir)
        return pl_cli_usage_error("verify", "DIR is required");
    struct pl_verify_report r;
    pl_verify_report_init(&r);
    struct pl_buf out = PL_BUF_INIT;
    int rc = 2;
    if (pl_verify_dir(manifest, pubkey, dir, &opts, &r)) {
        rc = pl_cli_error("verify");
        goto out;
    }
    if (json ? pl_verify_report_json(&r, &out) : pl_verify_report_text(&r, &out)) {
        rc = pl_cli_error("verify");
        goto out;
    }
    if (!json) {
        int arc;
        if (r.n)
            arc = pl_buf_appendf(&out,
                                 "DIFFERENT: %zu difference%s (%zu added, %zu missing, %zu "
                                 "changed) against %zu manifest entries\n",
                                 r.n, r.n == 1 ? "" : "s", r.n_added, r.n_missing, r.n_changed,
                                 r.entries_checked);
        else
            arc = pl_buf_appendf(&out, "OK: %zu entries match (%llu bytes hashed)%s\n",
                                 r.entries_checked, (unsigned long long)r.bytes_hashed,
                                 pubkey ? ", signature valid" : "");
        if (arc) {
            rc = pl_cli_error("verify");
            goto out;
        }
    }
    fwrite(out.data, 1, out.len, stdout);
    rc = r.n ? 1 : 0;
out:
    pl_buf_clean_up(&out);
    pl_verify_report_clean_up(&r);
    return rc;
}

PL_CLI_COMMAND(verify, "verify", "compare a code tree with its (signed) manifest", s_verify_main)
