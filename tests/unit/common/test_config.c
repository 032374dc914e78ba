#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/config.h"

PL_TEST(config_defaults)
{
    struct pl_config c;
    PL_CHECK_OK(pl_config_init(&c));
    PL_CHECK_STR(pl_config_str(&c, PL_CFG_MODE), "block");
    PL_CHECK_INT(pl_config_int(&c, PL_CFG_PORT), 9009);
    PL_CHECK(pl_config_bool(&c, PL_CFG_CODE_SCAN));
    size_t n;
    char *const *l = pl_config_list(&c, PL_CFG_SCAN_SKIP, &n);
    PL_CHECK(n >= 4);
    PL_CHECK_STR(l[0], "node_modules");
    pl_config_clean_up(&c);
}

PL_TEST(config_env_overrides_and_validates)
{
    struct pl_config c;
    PL_CHECK_OK(pl_config_init(&c));
    char *env[] = {"PROTECTLAMBDA_MODE=monitor", "PROTECTLAMBDA_MAX_DECODED=6m", NULL};
    PL_CHECK_OK(pl_config_load_env(&c, env));
    PL_CHECK_STR(pl_config_str(&c, PL_CFG_MODE), "monitor");
    PL_CHECK_INT(pl_config_int(&c, PL_CFG_MAX_DECODED), 6 * 1024 * 1024);
    char *bad[] = {"PROTECTLAMBDA_PORT=70000", NULL};
    PL_CHECK(pl_config_load_env(&c, bad) == -1);
    PL_CHECK(strstr(pl_last_error_msg(), "PROTECTLAMBDA_PORT") != NULL);
    PL_CHECK(strstr(pl_last_error_msg(), "out of range") != NULL);
    PL_CHECK_INT(pl_config_int(&c, PL_CFG_PORT), 9009); /* unchanged on error */
    pl_config_clean_up(&c);
}

PL_TEST(config_file_errors_name_file_and_line)
{
    char path[] = "/tmp/pl_cfg_XXXXXX";
    int fd = mkstemp(path);
    PL_CHECK(fd >= 0);
    const char *text = "# comment\nmode = monitor\nplaybook.COMMAND_INJECTION.HIGH = quarantine,alert\n"
                       "\nbogus = 1\n";
    PL_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    struct pl_config c;
    PL_CHECK_OK(pl_config_init(&c));
    int rc = pl_config_load_file(&c, path);
    char want[128];
    snprintf(want, sizeof(want), "%s:5: unknown setting 'bogus'", path);
    unlink(path);
    PL_CHECK(rc == -1);
    PL_CHECK_MSG(strstr(pl_last_error_msg(), want) != NULL, "got: %s", pl_last_error_msg());
    PL_CHECK_STR(pl_config_str(&c, PL_CFG_MODE), "monitor");
    PL_CHECK_STR(pl_config_extra(&c, "playbook.COMMAND_INJECTION.HIGH"), "quarantine,alert");
    pl_config_clean_up(&c);
}
