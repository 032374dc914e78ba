/* protectlambda: one binary, several roles. Dispatches to the registered commands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protectlambda/cli.h"
#include "protectlambda/log.h"

static const struct pl_cli_command *s_cmds[64];
static size_t s_n_cmds;

void pl_cli_register(const struct pl_cli_command *cmd)
{
    if (s_n_cmds < PL_ARRAY_LEN(s_cmds))
        s_cmds[s_n_cmds++] = cmd;
}

int pl_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "protectlambda %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'protectlambda %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int pl_cli_error(const char *cmd)
{
    fprintf(stderr, "protectlambda %s: %s\n", cmd, pl_last_error_msg());
    return 2;
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct pl_cli_command *const *)a)->name,
                  (*(const struct pl_cli_command *const *)b)->name);
}

static void s_usage(FILE *f)
{
    qsort(s_cmds, s_n_cmds, sizeof(s_cmds[0]), s_cmp); // NOLINT(bugprone-sizeof-expression): array of pointers
    fprintf(f, "usage: protectlambda <command> [options]\n\n"
               "Runtime protection for AWS Lambda functions.\n\ncommands:\n");
    for (size_t i = 0; i < s_n_cmds; i++)
        fprintf(f, "  %-16s %s\n", s_cmds[i]->name, s_cmds[i]->summary);
    fprintf(f, "\n'protectlambda <command> --help' describes a command; 'protectlambda config "
               "--help' lists every setting.\nExit status: 0 ok, 1 findings or denied, 2 usage or "
               "rule error.\n");
}

int main(int argc, char **argv)
{
    /* installed as the layer's /opt/protectlambda/wrapper (AWS_LAMBDA_EXEC_WRAPPER): Lambda runs
     * it with the runtime's command line, so every argument is the runtime's (role wrap) */
    const char *base = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    base = base ? base + 1 : argc > 0 && argv[0] ? argv[0] : "";
    if (!strcmp(base, PL_CLI_WRAPPER_NAME))
        for (size_t i = 0; i < s_n_cmds; i++)
            if (!strcmp(s_cmds[i]->name, "wrap"))
                return s_cmds[i]->main(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("protectlambda %s\n", PL_VERSION);
        return 0;
    }
    /* two-word commands first ("rules test"), then one-word */
    if (argc >= 3) {
        char two[128];
        snprintf(two, sizeof(two), "%s %s", argv[1], argv[2]);
        for (size_t i = 0; i < s_n_cmds; i++)
            if (!strcmp(s_cmds[i]->name, two))
                return s_cmds[i]->main(argc - 2, argv + 2);
    }
    for (size_t i = 0; i < s_n_cmds; i++)
        if (!strcmp(s_cmds[i]->name, argv[1]))
            return s_cmds[i]->main(argc - 1, argv + 1);
    fprintf(stderr, "protectlambda: unknown command '%s'\n\n", argv[1]);
    s_usage(stderr);
    return 2;
}
