/* protectlambda audit: writable places, sensitive files, the runtime's loaded objects and
 * code-loading environment variables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "protectlambda/audit.h"
#include "protectlambda/cli.h"

static const char s_usage[] =
    "usage: protectlambda audit [--format text|json] [--pid PID] [--task-root DIR]\n\n"
    "Filesystem view: the writable places (/tmp, /dev/shm, /var/tmp) and the code in them\n"
    "(executables, ELF files, shared objects), whether the code directories (the task root,\n"
    "/opt) are writable, whether sensitive files are readable (their content is never read).\n"
    "Runtime view of process PID (default: this process): executable, ELF interpreter, every\n"
    "loaded shared object (flagging code mapped from a writable place), and the environment\n"
    "variables that change how runtimes load code (LD_PRELOAD, LD_LIBRARY_PATH, NODE_OPTIONS,\n"
    "PYTHONPATH, PYTHONSTARTUP, JAVA_TOOL_OPTIONS, RUBYOPT, PERL5OPT, ...).\n\n"
    "exit status: 0 no findings, 1 findings, 2 error\n";

static int s_audit_main(int argc, char **argv)
{
    struct pl_sys_audit_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(s_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (pl_cli_arg_text_or_json("audit", argv[++i], &o.json))
                return 2;
        } else if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
            char *end = NULL;
            long p = strtol(argv[++i], &end, 10);
            if (!end || *end || p <= 0 || p > 4194304)
                return pl_cli_usage_error("audit", "--pid takes a process id");
            o.pid = (pid_t)p;
        } else if (!strcmp(argv[i], "--task-root") && i + 1 < argc) {
            o.task_root = argv[++i];
        } else {
            return pl_cli_usage_error("audit", "unknown argument '%s'", argv[i]);
        }
    }
    struct pl_buf out = PL_BUF_INIT;
    size_t findings = 0;
    int rc = 2;
    if (pl_sys_audit(&o, &out, &findings)) {
        rc = pl_cli_error("audit");
        goto out;
    }
    fwrite(out.data, 1, out.len, stdout);
    rc = findings ? 1 : 0;
out:
    pl_buf_clean_up(&out);
    return rc;
}

PL_CLI_COMMAND(audit, "audit", "writable places, sensitive files, loaded objects, code-loading env",
               s_audit_main)
