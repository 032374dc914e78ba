/* CLI command registry. Each command lives in src/cli/cmd_<name>.c and registers itself:
 *   PL_CLI_COMMAND(scan, "scan source code with the code rules", s_scan_main)
 * `protectlambda <name> --help` is answered by the command itself; `protectlambda --help`
 * lists every registered command with its summary. Commands parse arguments and call the
 * parts; they hold no logic of their own. Exit status: 0 ok, 1 findings/denied, 2 error. */
#ifndef PROTECTLAMBDA_CLI_H
#define PROTECTLAMBDA_CLI_H

#include "protectlambda/common.h"

typedef int (*pl_cli_main_fn)(int argc, char **argv); /* argv[0] is the command name */

struct pl_cli_command {
    const char *name;     /* may contain a space for sub-commands: "rules test" */
    const char *summary;
    pl_cli_main_fn main;
};

void pl_cli_register(const struct pl_cli_command *cmd);

/* The executable's name that makes it the exec wrapper whatever its arguments: the layer
 * installs bin/protectlambda-wrap as /opt/protectlambda/wrapper (AWS_LAMBDA_EXEC_WRAPPER), and
 * Lambda runs it with the runtime's command line (no `wrap --` in front). */
#define PL_CLI_WRAPPER_NAME "wrapper"

#define PL_CLI_COMMAND(ident, name_, summary_, fn_)                                          \
    static const struct pl_cli_command pl_cli_cmd_##ident = {name_, summary_, fn_};          \
    __attribute__((constructor)) static void pl_cli_reg_##ident(void)                        \
    {                                                                                        \
        pl_cli_register(&pl_cli_cmd_##ident);                                                \
    }

/* print "protectlambda <cmd>: <msg>" to stderr and return 2 */
int pl_cli_usage_error(const char *cmd, const char *fmt, ...) PL_PRINTF(2, 3);
/* print the last error "protectlambda <cmd>: <message>" to stderr and return 2 */
int pl_cli_error(const char *cmd);

#endif
