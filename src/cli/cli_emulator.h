/* Shared option parsing for `protectlambda invoke` and `protectlambda emulate`: turns the
 * command line into pl_emulator_options (runtime detection, protected mode wiring). */
#ifndef PL_CLI_EMULATOR_H
#define PL_CLI_EMULATOR_H

#include "protectlambda/emulator.h"

#define PL_CLI_EMU_MAX_LIST 64

struct pl_cli_emu {
    const char *cmd; /* "invoke" or "emulate" for messages */
    const char *function_dir;
    const char *handler;
    const char *runtime; /* --runtime string (split into argv) */
    bool unprotected;
    bool verbose;
    bool stats;
    int port;
    const char *events[PL_CLI_EMU_MAX_LIST];
    size_t n_events;
    const char *env[PL_CLI_EMU_MAX_LIST];
    size_t n_env;
    const char *ext_cmds[PL_CLI_EMU_MAX_LIST];
    size_t n_ext_cmds;
    const char *extensions_dir;
    const char *layer_dir; /* --layer: a built layer tree (what /opt is in Lambda) */
    int timeout_s, memory_mb;
    const char *function_name;

    /* built by pl_cli_emu_prepare */
    struct pl_emulator_options opts;
    char **runtime_argv;
    char **extra_env;
    char **wrapper_argv;
    char ***ext_argvs;
    char *self;
    char *layer;            /* layer_dir made absolute */
    char *layer_extensions; /* layer/extensions */
    char *layer_wrapper;    /* layer/protectlambda/wrapper */
};

/* Parse one option at argv[*i] (advancing *i past its value). Returns 1 when consumed, 0 when
 * the option is not a shared one, 2 after printing a usage error. */
int pl_cli_emu_option(struct pl_cli_emu *c, int argc, char **argv, int *i);
/* Validate, detect the runtime, wire protected mode. 0 ok, 2 usage/setup error (printed). */
int pl_cli_emu_prepare(struct pl_cli_emu *c);
void pl_cli_emu_clean_up(struct pl_cli_emu *c);

#define PL_CLI_EMU_OPTIONS_HELP                                                                    \
    "  --function DIR        function code directory (LAMBDA_TASK_ROOT); required\n"               \
    "  --handler H           handler (_HANDLER), e.g. app.handler or index.handler; required\n"    \
    "  --runtime CMD         runtime command (split on blanks, quotes honoured); default:\n"       \
    "                        DIR/bootstrap if executable, else by handler file: .py -> the\n"      \
    "                        Python runtime loop, .js/.mjs/.cjs -> aws-lambda-ric, .sh -> the\n"   \
    "                        shell runtime (examples/runtimes/)\n"                                 \
    "  --unprotected         no guard: the runtime talks to the emulator directly\n"               \
    "  --env NAME=VALUE      environment variable for the function and the guard; repeatable\n"    \
    "  --extension CMD       also start CMD as an external extension; repeatable\n"                \
    "  --extensions-dir DIR  start every executable in DIR as an external extension\n"             \
    "  --layer DIR           run a built layer as Lambda would (DIR = its /opt, e.g.\n"            \
    "                        build/layer): DIR/extensions/* as the extensions,\n"                  \
    "                        DIR/protectlambda/wrapper as AWS_LAMBDA_EXEC_WRAPPER, the guard\n"    \
    "                        on DIR's rules, rules.db and layer.manifest (not with\n"              \
    "                        --unprotected or --extensions-dir)\n"                                 \
    "  --timeout S           invocation timeout in seconds (default 300)\n"                        \
    "  --memory MB           AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 3008)\n"                     \
    "  --name NAME           function name (default: function)\n"                                  \
    "  --verbose             log each invocation (request id, outcome, duration) on stderr\n"

#endif
