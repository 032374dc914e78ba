/* Shared option handling of the incident commands (report, quarantine, store): settings from
 * PROTECTLAMBDA_CONFIG / --config and the environment, a few flags on top, the store opened. */
#ifndef PL_CLI_INCIDENTS_H
#define PL_CLI_INCIDENTS_H

#include "protectlambda/config.h"
#include "protectlambda/store.h"

struct pl_cli_store_args {
    const char *config;     /* --config FILE */
    const char *store;      /* --store sqlite|dynamodb */
    const char *store_path; /* --store-path FILE */
    const char *function;   /* --function NAME */
};

#define PL_CLI_STORE_OPTIONS_HELP                                                                  \
    "  --config FILE        settings file (default: $PROTECTLAMBDA_CONFIG)\n"                      \
    "  --store KIND         sqlite or dynamodb (setting: store)\n"                                 \
    "  --store-path FILE    SQLite file (setting: store.path)\n"                                   \
    "  --function NAME      function (default: function_name, $AWS_LAMBDA_FUNCTION_NAME, local)\n"

/* consume one of the options above at argv[*i] (advancing *i past its value); returns 1 when
 * consumed, 0 when not one of them, -1 on a missing value (message printed) */
int pl_cli_store_arg(const char *cmd, int argc, char **argv, int *i, struct pl_cli_store_args *a);
/* load settings and apply the flags; 0 or -1 (pl_raise) */
int pl_cli_store_config(const struct pl_cli_store_args *a, struct pl_config *cfg);
/* open the store named by cfg (create: make the file/schema when missing) */
int pl_cli_store_open(const struct pl_config *cfg, bool create, struct pl_store **out);

#endif
