/* protectlambda config: show the settings table and the effective values. */
#include <stdio.h>
#include <string.h>

#include "protectlambda/cli.h"
#include "protectlambda/config.h"

static int s_config_main(int argc, char **argv)
{
    bool markdown = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            struct pl_buf b = PL_BUF_INIT;
            printf("usage: protectlambda config [--markdown]\n\n"
                   "Prints the effective settings (defaults < config file named by "
                   "PROTECTLAMBDA_CONFIG < PROTECTLAMBDA_* environment).\n\nsettings:\n");
            if (pl_config_help(&b, false) == 0)
                fputs(b.data, stdout);
            pl_buf_clean_up(&b);
            return 0;
        }
        if (!strcmp(argv[i], "--markdown")) {
            markdown = true;
            continue;
        }
        return pl_cli_usage_error("config", "unknown option '%s'", argv[i]);
    }
    if (markdown) {
        struct pl_buf b = PL_BUF_INIT;
        int rc = pl_config_help(&b, true);
        if (rc == 0)
            fputs(b.data, stdout);
        pl_buf_clean_up(&b);
        return rc ? 2 : 0;
    }
    struct pl_config cfg;
    if (pl_config_load_standard(&cfg))
        return pl_cli_error("config");
    static const char *const origins[] = {"default", "file", "env", "cli"};
    for (int i = 0; i < PL_CFG_COUNT; i++)
        printf("%-22s = %-30s (%s)\n", pl_setting_def((enum pl_setting_id)i)->key,
               pl_config_str(&cfg, (enum pl_setting_id)i), origins[cfg.v[i].origin]);
    pl_config_clean_up(&cfg);
    return 0;
}

PL_CLI_COMMAND(config, "config", "show every setting, its environment variable and value",
               s_config_main)
