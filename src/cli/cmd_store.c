/* protectlambda store init|purge: create the incident store; apply retention. */
#include <stdio.h>
#include <string.h>

#include "cli_incidents.h"
#include "protectlambda/cli.h"

static void s_help(void)
{
    printf("usage: protectlambda store init [store options]\n"
           "       protectlambda store purge [store options]\n\n"
           "init creates the SQLite file and schema (WAL) or the DynamoDB table (pk, sk, TTL\n"
           "attribute ttl, on-demand billing) and waits until it is ACTIVE; it is idempotent.\n"
           "purge deletes SQLite incidents past retention_days (DynamoDB expires them by TTL).\n\n"
           "options:\n" PL_CLI_STORE_OPTIONS_HELP "\nexit status: 0 done, 2 error\n");
}

static int s_parse(const char *cmd, int argc, char **argv, struct pl_cli_store_args *sa)
{
    for (int i = 1; i < argc; i++) {
        int r = pl_cli_store_arg(cmd, argc, argv, &i, sa);
        if (r < 0)
            return 2;
        if (r)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_help();
            return 0;
        }
        return pl_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
    }
    return -1;
}

static int s_init_main(int argc, char **argv)
{
    struct pl_cli_store_args sa = {0};
    int r = s_parse("store init", argc, argv, &sa);
    if (r >= 0)
        return r;
    struct pl_config cfg;
    if (pl_cli_store_config(&sa, &cfg))
        return pl_cli_error("store init");
    struct pl_store *st = NULL;
    int ret = 2;
    if (pl_cli_store_open(&cfg, true, &st) || pl_store_init(st)) {
        ret = pl_cli_error("store init");
        goto out;
    }
    printf("store ready: %s\n", pl_store_describe(st));
    ret = 0;
out:
    pl_store_close(st);
    pl_config_clean_up(&cfg);
    return ret;
}

static int s_purge_main(int argc, char **argv)
{
    struct pl_cli_store_args sa = {0};
    int r = s_parse("store purge", argc, argv, &sa);
    if (r >= 0)
        return r;
    struct pl_config cfg;
    if (pl_cli_store_config(&sa, &cfg))
        return pl_cli_error("store purge");
    struct pl_store *st = NULL;
    size_t n = 0;
    int ret = 2;
    if (pl_cli_store_open(&cfg, false, &st) || pl_store_purge(st, pl_wall_ms() / 1000, &n)) {
        ret = pl_cli_error("store purge");
        goto out;
    }
    printf("%zu incidents past retention deleted from %s\n", n, pl_store_describe(st));
    ret = 0;
out:
    pl_store_close(st);
    pl_config_clean_up(&cfg);
    return ret;
}

static int s_store_main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        s_help();
        return 0;
    }
    return pl_cli_usage_error("store", "expected a sub-command: init or purge");
}

PL_CLI_COMMAND(store, "store", "incident store: init (create file or table), purge", s_store_main)
PL_CLI_COMMAND(store_init, "store init",
               "create the incident store (SQLite file or DynamoDB table)", s_init_main)
PL_CLI_COMMAND(store_purge, "store purge", "delete incidents past retention (SQLite)", s_purge_main)
