/* Option handling shared by cmd_report.c, cmd_quarantine.c and cmd_store.c. */
#include "cli_incidents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protectlambda/cli.h"

int pl_cli_store_arg(const char *cmd, int argc, char **argv, int *i, struct pl_cli_store_args *a)
{
    static const char *const names[] = {"--config", "--store", "--store-path", "--function"};
    const char **slots[] = {&a->config, &a->store, &a->store_path, &a->function};
    for (size_t k = 0; k < PL_ARRAY_LEN(names); k++) {
        size_t n = strlen(names[k]);
        if (strncmp(argv[*i], names[k], n) != 0)
            continue;
        if (argv[*i][n] == '=') {
            *slots[k] = argv[*i] + n + 1;
            return 1;
        }
        if (argv[*i][n])
            continue;
        if (*i + 1 >= argc) {
            pl_cli_usage_error(cmd, "%s needs a value", names[k]);
            return -1;
        }
        *slots[k] = argv[++*i];
        return 1;
    }
    return 0;
}

int pl_cli_store_config(const struct pl_cli_store_args *a, struct pl_config *cfg)
{
    if (a->config && setenv("PROTECTLAMBDA_CONFIG", a->config, 1))
        return pl_raise(PL_ERR_IO, "setenv failed");
    if (pl_config_load_standard(cfg))
        return -1;
    if ((a->store && pl_config_set(cfg, PL_CFG_STORE, a->store, PL_ORIGIN_CLI)) ||
        (a->store_path && pl_config_set(cfg, PL_CFG_STORE_PATH, a->store_path, PL_ORIGIN_CLI)) ||
        (a->function && pl_config_set(cfg, PL_CFG_FUNCTION_NAME, a->function, PL_ORIGIN_CLI))) {
        pl_config_clean_up(cfg);
        return -1;
    }
    return 0;
}

int pl_cli_store_open(const struct pl_config *cfg, bool create, struct pl_store **out)
{
    struct pl_store_options so;
    pl_store_options_from_config(&so, cfg);
    if (so.kind == PL_STORE_NONE)
        return pl_raise(PL_ERR_CONFIG, "store = none: there is no store to read (set store to "
                                       "sqlite or dynamodb)");
    so.create = create;
    return pl_store_open(&so, out);
}
