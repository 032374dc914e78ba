/* protectlambda compile: compile the rules of every target into a database file that the
 * guard and every --rules-db option load instead of compiling (docs/cli/compile.md). */
#include <stdio.h>
#include <string.h>

#include "protectlambda/cli.h"
#include "protectlambda/config.h"
#include "protectlambda/engine.h"

#define S_MAX_RULE_ARGS 256

static void s_help(void)
{
    printf("usage: protectlambda compile [--rules PATH]... [--no-default-rules] -o FILE\n\n"
           "Compiles the rules of every target (code, in, out) into one database file: one\n"
           "Vectorscan database per target, built for a baseline x86-64 CPU so it loads on\n"
           "any Lambda machine. Rules Vectorscan cannot take run on PCRE2-JIT; they are\n"
           "listed with the reason.\n\n"
           "options:\n"
           "  --rules PATH         rule file or directory (classic *_protect.txt or YAML pack);\n"
           "                       repeatable, loaded after the default packs and the setting\n"
           "                       `rules`, in the order given\n"
           "  --no-default-rules   do not load the default packs (setting rules_dir)\n"
           "  -o, --output FILE    database file to write (required)\n"
           "  -q, --quiet          print nothing but errors\n\n"
           "A command loads the database with --rules-db FILE (the guard: setting rules_db) and\n"
           "uses it only when it was compiled from the same rules in the same order; otherwise\n"
           "it compiles them and logs why.\n"
           "Exit status: 0 written, 2 usage or rule error.\n");
}

static int s_compile_main(int argc, char **argv)
{
    const char *rules[S_MAX_RULE_ARGS];
    size_t n_rules = 0;
    const char *out = NULL;
    bool no_defaults = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_help();
            return 0;
        } else if (!strcmp(a, "--rules") || !strncmp(a, "--rules=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v)
                return pl_cli_usage_error("compile", "--rules needs a path");
            if (n_rules >= S_MAX_RULE_ARGS)
                return pl_cli_usage_error("compile", "too many --rules (at most %d)",
                                          S_MAX_RULE_ARGS);
            rules[n_rules++] = v;
        } else if (!strcmp(a, "--no-default-rules")) {
            no_defaults = true;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strncmp(a, "--output=", 9)) {
            out = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!out)
                return pl_cli_usage_error("compile", "%s needs a file name", a);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else {
            return pl_cli_usage_error("compile", "unknown argument '%s'", a);
        }
    }
    if (!out)
        return pl_cli_usage_error("compile", "missing -o FILE");

    int ret = 2;
    struct pl_config cfg;
    struct pl_ruleset set;
    struct pl_engine *eng[PL_TARGET_COUNT] = {0};
    struct pl_buf report = PL_BUF_INIT;
    pl_ruleset_init(&set);
    if (pl_config_load_standard(&cfg)) {
        pl_ruleset_clean_up(&set);
        return pl_cli_error("compile");
    }
    if (pl_rules_load_standard(&set, &cfg, rules, n_rules, no_defaults)) {
        pl_cli_error("compile");
        goto out;
    }
    if (set.count == 0) {
        pl_cli_usage_error("compile", "no rules to compile (give --rules PATH)");
        goto out;
    }
    uint64_t t0 = pl_now_ns();
    for (int t = 0; t < PL_TARGET_COUNT; t++) {
        if (pl_engine_compile(&set, (enum pl_target)t, &eng[t], &report)) {
            pl_cli_error("compile");
            goto out;
        }
    }
    if (pl_engine_db_save(out, &set, eng)) {
        pl_cli_error("compile");
        goto out;
    }
    if (!quiet) {
        if (report.len)
            fputs(report.data, stdout);
        size_t fb = 0;
        for (int t = 0; t < PL_TARGET_COUNT; t++)
            fb += pl_engine_fallback_count(eng[t]);
        printf("compiled %zu rules (code %zu, in %zu, out %zu; %zu on PCRE2) into %s in %.1f ms\n",
               set.count, pl_engine_rule_count(eng[PL_TARGET_CODE]),
               pl_engine_rule_count(eng[PL_TARGET_IN]), pl_engine_rule_count(eng[PL_TARGET_OUT]),
               fb, out, (double)(pl_now_ns() - t0) / 1e6);
    }
    ret = 0;
out:
    pl_engine_destroy_all(eng);
    pl_buf_clean_up(&report);
    pl_ruleset_clean_up(&set);
    pl_config_clean_up(&cfg);
    return ret;
}

PL_CLI_COMMAND(compile, "compile", "compile the rules into a database file (--rules-db)",
               s_compile_main)
