/* protectlambda audit-env: plaintext secrets in the environment (names, kinds, hash prefixes;
 * never values). */
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "protectlambda/audit.h"
#include "protectlambda/cli.h"

static const char s_usage[] =
    "usage: protectlambda audit-env [--format text|json]\n\n"
    "Examines this process's environment for plaintext secrets: by name (password, secret,\n"
    "token, api_key, private_key, credentials, auth, ...) and by value shape (AWS access key\n"
    "ids and secret keys, GitHub, Slack, OpenAI and Stripe tokens, PEM private keys, JWTs,\n"
    "URLs with passwords, high-entropy strings). Each finding is reported by variable name,\n"
    "kind and the first 8 hex digits of the SHA-256 of the value: never the value.\n"
    "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (injected by Lambda) are\n"
    "listed as expected, not findings; the AWS documentation key AKIAIOSFODNN7EXAMPLE is not a\n"
    "secret.\n\n"
    "exit status: 0 no findings, 1 findings, 2 error\n";

static int s_audit_env_main(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(s_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (pl_cli_arg_text_or_json("audit-env", argv[++i], &json))
                return 2;
        } else {
            return pl_cli_usage_error("audit-env", "unknown argument '%s'", argv[i]);
        }
    }
    struct pl_env_audit a;
    pl_env_audit_init(&a);
    struct pl_buf out = PL_BUF_INIT;
    int rc = 2;
    if (pl_env_audit_run(NULL, &a) ||
        (json ? pl_env_audit_json(&a, &out) : pl_env_audit_text(&a, &out))) {
        rc = pl_cli_error("audit-env");
        goto out;
    }
    fwrite(out.data, 1, out.len, stdout);
    rc = a.n_findings ? 1 : 0;
out:
    pl_buf_clean_up(&out);
    pl_env_audit_clean_up(&a);
    return rc;
}

PL_CLI_COMMAND(audit_env, "audit-env", "find plaintext secrets in environment variables",
               s_audit_env_main)
