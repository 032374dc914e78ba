/* rules: classic files, YAML packs, every error with its file:line text, hash, globs */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/rules.h"

static char s_dir[256];

/* a fresh temp dir per test, files written into it */
static const char *s_tmpdir(void)
{
    snprintf(s_dir, sizeof(s_dir), "/tmp/pl_rules_test.XXXXXX");
    if (!mkdtemp(s_dir))
        return NULL;
    return s_dir;
}

static const char *s_write(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", s_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

static void s_rmdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s_dir);
}

/* load `yaml` as NAME.yaml; expect failure with code and message containing want */
static int s_yaml_error(const char *yaml, int code, const char *want)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    const char *p = s_write("pack.yaml", yaml);
    int rc = pl_rules_load(&set, p, -1);
    int ok =
        rc == -1 && pl_last_error() == code && strstr(pl_last_error_msg(), want) && set.count == 0;
    if (!ok)
        fprintf(stderr, "  got rc=%d code=%d msg=%s\n  want code=%d msg~%s\n", rc, pl_last_error(),
                pl_last_error_msg(), code, want);
    pl_ruleset_clean_up(&set);
    return ok;
}

PL_TEST(classic_file_parsing)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, "tests/unit/engine/data/code_protect.txt", -1));
    PL_CHECK_INT(set.count, 2);
    PL_CHECK_STR(set.rules[0].id, ".*(call|check_output|system|popen|run|local|spawn).*\\(.*");
    PL_CHECK_STR(set.rules[0].pattern, set.rules[0].id);
    PL_CHECK_INT(set.rules[0].target, PL_TARGET_CODE);
    PL_CHECK_INT(set.rules[0].severity, PL_SEV_HIGH);
    PL_CHECK_INT(set.rules[0].action, PL_ACTION_DENY);
    PL_CHECK_STR(set.rules[0].category, "classic");
    PL_CHECK(set.rules[0].classic);
    PL_CHECK_INT(set.rules[0].line, 2);
    PL_CHECK_STR(set.rules[1].id, "eval\\(");
    PL_CHECK_INT(set.rules[1].line, 4);
    /* CRLF file: '\r' stripped, comment and blank lines skipped */
    PL_CHECK_OK(pl_rules_load(&set, "tests/unit/engine/data/in_protect.txt", -1));
    PL_CHECK_INT(set.count, 4);
    PL_CHECK_STR(set.rules[2].id, "union\\s+select");
    PL_CHECK_INT(set.rules[2].target, PL_TARGET_IN);
    PL_CHECK_STR(set.rules[3].id, "\\.\\./\\.\\./");
    PL_CHECK_INT(set.rules[3].line, 4);
    PL_CHECK_INT(pl_ruleset_count(&set, PL_TARGET_IN), 2);
    pl_ruleset_clean_up(&set);
}

PL_TEST(classic_errors)
{
    PL_CHECK(s_tmpdir());
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    const char *p = s_write("in_protect.txt", "ok\n\n# c\nx(\n");
    PL_CHECK_INT(pl_rules_load(&set, p, -1), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_RULES_PATTERN);
    char want[600];
    snprintf(want, sizeof(want),
             "%s/in_protect.txt:4: pattern 'x(' does not compile: missing "
             "closing parenthesis",
             s_dir);
    PL_CHECK_MSG(strstr(pl_last_error_msg(), want), "message: %s", pl_last_error_msg());
    PL_CHECK_INT(set.count, 0);
    /* a target must come from the name */
    p = s_write("foo.txt", "abc\n");
    PL_CHECK_INT(pl_rules_load(&set, p, -1), -1);
    PL_CHECK(strstr(pl_last_error_msg(), "cannot tell the rules' target"));
    PL_CHECK_OK(pl_rules_load(&set, p, PL_TARGET_OUT));
    PL_CHECK_INT(set.rules[0].target, PL_TARGET_OUT);
    /* the same regex twice in one classic file: duplicate naming both lines */
    p = s_write("code_protect.txt", "abc\nabc\n");
    PL_CHECK_INT(pl_rules_load(&set, p, -1), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_RULES_SYNTAX);
    snprintf(want, sizeof(want),
             "code_protect.txt:2: duplicate rule id 'abc' (first defined at "
             "%s/code_protect.txt:1)",
             s_dir);
    PL_CHECK_MSG(strstr(pl_last_error_msg(), want), "message: %s", pl_last_error_msg());
    PL_CHECK_INT(set.count, 1); /* the failed load added nothing */
    /* a rule matching the empty string would match everything */
    p = s_write("out_protect.txt", "a*\n");
    PL_CHECK_INT(pl_rules_load(&set, p, -1), -1);
    PL_CHECK(strstr(pl_last_error_msg(), "out_protect.txt:1: pattern 'a*' does not compile: it "
                                         "matches the empty string"));
    /* missing file */
    PL_CHECK_INT(pl_rules_load(&set, "/nonexistent/in_protect.txt", -1), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_NOT_FOUND);
    pl_ruleset_clean_up(&set);
    s_rmdir();
}

PL_TEST(yaml_pack)
{
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, "tests/unit/engine/data/pack.yaml", -1));
    PL_CHECK_INT(set.count, 4);
    const struct pl_rule *r = &set.rules[0];
    PL_CHECK_STR(r->id, "aws-key");
    PL_CHECK_INT(r->target, PL_TARGET_OUT);
    PL_CHECK_INT(r->severity, PL_SEV_CRITICAL);
    PL_CHECK_INT(r->action, PL_ACTION_REDACT);
    PL_CHECK_STR(r->category, "secrets");
    PL_CHECK_STR(r->message, "AWS access key id in a response");
    PL_CHECK(r->allow && r->allow[0] && !r->allow[1]);
    PL_CHECK_STR(r->allow[0], "AKIAIOSFODNN7EXAMPLE");
    PL_CHECK_INT(r->line, 3);
    PL_CHECK(!r->classic);
    r = &set.rules[2];
    PL_CHECK_INT(r->flags, PL_RULE_CASELESS);
    PL_CHECK_INT(r->action, PL_ACTION_DENY); /* default */
    r = &set.rules[3];
    PL_CHECK_STR(r->languages[0], "python");
    PL_CHECK_STR(r->paths[0], "**/*.py");
    PL_CHECK(pl_rule_applies_to_path(r, "src/app/handler.py"));
    PL_CHECK(!pl_rule_applies_to_path(r, "src/app/handler.js"));
    pl_ruleset_clean_up(&set);
}

PL_TEST(yaml_errors)
{
    PL_CHECK(s_tmpdir());
    const char *head = "rules:\n  - id: a\n    target: in\n    severity: HIGH\n"
                       "    category: c\n";
    char y[1024];
    /* unknown key */
    snprintf(y, sizeof(y), "%s    pattern: abc\n    colour: red\n", head);
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, "pack.yaml:7: unknown key 'colour'"));
    /* missing field: reported at the rule's line */
    PL_CHECK(s_yaml_error(head, PL_ERR_RULES_SYNTAX,
                          "pack.yaml:2: rule 'a': missing field "
                          "'pattern'"));
    /* bad enums */
    PL_CHECK(s_yaml_error("rules:\n  - id: a\n    target: sideways\n    pattern: x\n"
                          "    severity: HIGH\n    category: c\n",
                          PL_ERR_RULES_SYNTAX, "pack.yaml:3: bad target 'sideways'"));
    snprintf(y, sizeof(y),
             "rules:\n  - id: a\n    target: in\n    severity: SEVERE\n"
             "    category: c\n    pattern: x\n");
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, "pack.yaml:4: bad severity 'SEVERE'"));
    snprintf(y, sizeof(y), "%s    pattern: x\n    action: explode\n", head);
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, "pack.yaml:7: bad action 'explode'"));
    snprintf(y, sizeof(y), "%s    pattern: x\n    flags: [caseless, sticky]\n", head);
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, "pack.yaml:7: bad flag 'sticky'"));
    snprintf(y, sizeof(y),
             "rules:\n  - id: a\n    target: code\n    severity: HIGH\n"
             "    category: c\n    pattern: x\n    languages: [python, cobol]\n");
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, "pack.yaml:7: rule 'a': bad language 'cobol'"));
    snprintf(y, sizeof(y), "%s    pattern: x\n    languages: [python]\n", head);
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, "'languages' applies to code rules only"));
    /* the issue's example: line of the pattern, PCRE2's reason */
    PL_CHECK(s_yaml_error("rules:\n  - id: a\n    target: in\n    severity: HIGH\n"
                          "    category: c\n\n\n\n\n\n\n\n\n    pattern: 'x('\n",
                          PL_ERR_RULES_PATTERN,
                          "pack.yaml:14: pattern 'x(' does not compile: missing closing "
                          "parenthesis"));
    snprintf(y, sizeof(y), "%s    pattern: x\n    allow: ['[z']\n", head);
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_PATTERN,
                          "pack.yaml:7: allow pattern '[z' does not "
                          "compile"));
    /* duplicate ids name both places */
    snprintf(y, sizeof(y),
             "%s    pattern: x\n  - id: a\n    target: out\n    pattern: y\n"
             "    severity: LOW\n    category: d\n",
             head);
    char want[600];
    snprintf(want, sizeof(want),
             "pack.yaml:7: duplicate rule id 'a' (first defined at "
             "%s/pack.yaml:2)",
             s_dir);
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, want));
    /* structure */
    PL_CHECK(s_yaml_error("- a\n- b\n", PL_ERR_RULES_SYNTAX,
                          "pack.yaml:1: a rule pack is a "
                          "mapping"));
    PL_CHECK(s_yaml_error("name: x\n", PL_ERR_RULES_SYNTAX, "pack.yaml:1: missing field 'rules'"));
    PL_CHECK(s_yaml_error("rules: [1, 2]\n", PL_ERR_RULES_SYNTAX,
                          "pack.yaml:1: a rule must be "
                          "a mapping"));
    PL_CHECK(s_yaml_error("rules:\n  - id: [a\n", PL_ERR_RULES_SYNTAX, "YAML error"));
    PL_CHECK(s_yaml_error("extra: 1\nrules: []\n", PL_ERR_RULES_SYNTAX,
                          "pack.yaml:1: unknown key 'extra'"));
    snprintf(y, sizeof(y), "%s    pattern: x\n    pattern: y\n", head);
    PL_CHECK(s_yaml_error(y, PL_ERR_RULES_SYNTAX, "pack.yaml:7: duplicate key 'pattern'"));
    s_rmdir();
}

/* load `path` eagerly (expect failure: its message) and with defer_check (loads; the
 * message comes from pl_ruleset_check, identical); 1 when they agree */
static int s_deferred_same_error(const char *path, const char *want)
{
    struct pl_ruleset eager, lazy;
    pl_ruleset_init(&eager);
    pl_ruleset_init(&lazy);
    lazy.defer_check = true;
    char msg[1200] = "";
    int ok = pl_rules_load(&eager, path, -1) == -1 && pl_last_error() == PL_ERR_RULES_PATTERN &&
             strstr(pl_last_error_msg(), want) && eager.count == 0;
    snprintf(msg, sizeof(msg), "%s", pl_last_error_msg());
    if (!ok)
        fprintf(stderr, "  eager: %s\n  want ~%s\n", msg, want);
    if (ok && pl_rules_load(&lazy, path, -1) != 0) {
        fprintf(stderr, "  deferred load failed: %s\n", pl_last_error_msg());
        ok = 0;
    }
    for (size_t i = 0; ok && i < lazy.count; i++)
        ok = lazy.rules[i].unchecked;
    if (ok && (pl_ruleset_check(&lazy, -1, PL_RULE_CHECK_ALL) != -1 ||
               pl_last_error() != PL_ERR_RULES_PATTERN || strcmp(pl_last_error_msg(), msg))) {
        fprintf(stderr, "  deferred: %s\n  eager:    %s\n", pl_last_error_msg(), msg);
        ok = 0;
    }
    pl_ruleset_clean_up(&eager);
    pl_ruleset_clean_up(&lazy);
    return ok;
}

/* defer_check: nothing validated at load, then exactly the loader's errors (file, line, text) */
PL_TEST(deferred_check_same_errors)
{
    PL_CHECK(s_tmpdir());
    const char *head = "rules:\n  - id: a\n    target: in\n    severity: HIGH\n"
                       "    category: c\n";
    char y[2048];
    PL_CHECK(s_deferred_same_error(s_write("in_protect.txt", "ok\n\n# c\nx(\n"),
                                   "in_protect.txt:4: pattern 'x(' does not compile: missing "
                                   "closing parenthesis"));
    PL_CHECK(s_deferred_same_error(s_write("out_protect.txt", "a*\n"),
                                   "out_protect.txt:1: pattern 'a*' does not compile: it matches "
                                   "the empty string"));
    PL_CHECK(s_deferred_same_error(s_write("pack.yaml", "rules:\n  - id: a\n    target: in\n"
                                                        "    severity: HIGH\n    category: c\n"
                                                        "\n\n\n\n\n\n\n\n    pattern: 'x('\n"),
                                   "pack.yaml:14: pattern 'x(' does not compile: missing closing "
                                   "parenthesis"));
    snprintf(y, sizeof(y), "%s    pattern: x\n    allow: ['ok', '[z']\n", head);
    PL_CHECK(s_deferred_same_error(s_write("pack.yaml", y),
                                   "pack.yaml:7: allow pattern '[z' does not compile"));
    snprintf(y, sizeof(y), "%s    pattern: x\n    allow:\n      - ok\n      - 'a?'\n", head);
    PL_CHECK(s_deferred_same_error(s_write("pack.yaml", y),
                                   "pack.yaml:8: allow pattern 'a?' does not compile: it matches "
                                   "the empty string"));
    /* a message cut where the loader cuts it (long pattern) */
    char longp[1500];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    longp[1000] = '(';
    snprintf(y, sizeof(y), "%s    pattern: '%s'\n", head, longp);
    PL_CHECK(s_deferred_same_error(s_write("pack.yaml", y), "pack.yaml:6: pattern 'aaaa"));

    /* by target; checked rules (eager loads) are skipped; good rules pass */
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, "tests/unit/engine/data/pack.yaml", -1));
    PL_CHECK(!set.rules[0].unchecked);
    set.defer_check = true;
    PL_CHECK_OK(pl_rules_load(&set, s_write("out_protect.txt", "a*\n"), -1));
    PL_CHECK(set.rules[set.count - 1].unchecked);
    PL_CHECK_OK(pl_ruleset_check(&set, PL_TARGET_IN, PL_RULE_CHECK_ALL));
    PL_CHECK_OK(pl_ruleset_check(&set, PL_TARGET_CODE, PL_RULE_CHECK_ALL));
    PL_CHECK_OK(pl_ruleset_check(&set, -1, PL_RULE_CHECK_ALLOW));
    PL_CHECK_INT(pl_ruleset_check(&set, PL_TARGET_OUT, PL_RULE_CHECK_ALL), -1);
    PL_CHECK(strstr(pl_last_error_msg(), "out_protect.txt:1: pattern 'a*'"));
    PL_CHECK_INT(pl_ruleset_check(&set, -1, PL_RULE_CHECK_PATTERN), -1);
    /* defer_check does not skip what is not a pattern: structure errors come at load */
    snprintf(y, sizeof(y), "%s    pattern: 'x('\n    colour: red\n", head);
    PL_CHECK_INT(pl_rules_load(&set, s_write("pack.yaml", y), -1), -1);
    PL_CHECK_INT(pl_last_error(), PL_ERR_RULES_SYNTAX);
    pl_ruleset_clean_up(&set);
    s_rmdir();
}

PL_TEST(directory_loading_sorted)
{
    PL_CHECK(s_tmpdir());
    s_write("b.yaml", "rules:\n  - id: b1\n    target: out\n    pattern: bbb\n"
                      "    severity: LOW\n    category: c\n");
    s_write("a.yml", "rules:\n  - id: a1\n    target: in\n    pattern: aaa\n"
                     "    severity: LOW\n    category: c\n");
    s_write("code_protect.txt", "ccc\n");
    s_write("README.md", "not rules\n");
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load(&set, s_dir, -1));
    PL_CHECK_INT(set.count, 3);
    PL_CHECK_STR(set.rules[0].id, "a1");
    PL_CHECK_STR(set.rules[1].id, "b1");
    PL_CHECK_STR(set.rules[2].id, "ccc");
    /* classic and YAML with the same id only clash... classic ids clash per target */
    pl_ruleset_clean_up(&set);
    s_rmdir();
}

PL_TEST(ruleset_hash)
{
    struct pl_ruleset a, b;
    pl_ruleset_init(&a);
    pl_ruleset_init(&b);
    PL_CHECK_OK(pl_rules_load(&a, "tests/unit/engine/data/pack.yaml", -1));
    PL_CHECK_OK(pl_rules_load(&b, "tests/unit/engine/data/pack.yaml", -1));
    PL_CHECK(pl_ruleset_hash(&a) == pl_ruleset_hash(&b));
    /* severity/message do not change what is compiled; a pattern does */
    b.rules[0].severity = PL_SEV_LOW;
    PL_CHECK(pl_ruleset_hash(&a) == pl_ruleset_hash(&b));
    b.rules[1].flags |= PL_RULE_CASELESS;
    PL_CHECK(pl_ruleset_hash(&a) != pl_ruleset_hash(&b));
    pl_ruleset_clean_up(&a);
    pl_ruleset_clean_up(&b);
}

PL_TEST(glob_match)
{
    PL_CHECK(pl_glob_match("*.py", "a/b/c.py"));
    PL_CHECK(!pl_glob_match("*.py", "a/b/c.pyc"));
    PL_CHECK(pl_glob_match("src/*.js", "src/x.js"));
    PL_CHECK(!pl_glob_match("src/*.js", "src/a/x.js"));
    PL_CHECK(pl_glob_match("src/**/*.js", "src/x.js"));
    PL_CHECK(pl_glob_match("src/**/*.js", "src/a/b/x.js"));
    PL_CHECK(pl_glob_match("**/node_modules/**", "app/node_modules/x/y.js"));
    PL_CHECK(pl_glob_match("node_modules", "app/node_modules"));
    PL_CHECK(pl_glob_match("*.dist-info", "site/requests-2.31.0.dist-info"));
    PL_CHECK(pl_glob_match("file?.[ch]", "file1.c"));
    PL_CHECK(!pl_glob_match("file?.[ch]", "file1.o"));
    PL_CHECK(pl_glob_match("[!a]*", "bcd"));
    PL_CHECK(!pl_glob_match("[!a]*", "abc"));
    PL_CHECK(pl_glob_match("**", "x/y/z"));
    PL_CHECK(pl_glob_match("a/**", "a/b/c"));
    PL_CHECK(!pl_glob_match("a/**/c", "b/x/c"));
}

PL_TEST(languages)
{
    PL_CHECK_STR(pl_language_of_path("x/handler.py"), "python");
    PL_CHECK_STR(pl_language_of_path("index.mjs"), "node");
    PL_CHECK_STR(pl_language_of_path("Main.java"), "java");
    PL_CHECK_STR(pl_language_of_path("main.go"), "go");
    PL_CHECK_STR(pl_language_of_path("app.rb"), "ruby");
    PL_CHECK_STR(pl_language_of_path("run.sh"), "shell");
    PL_CHECK(pl_language_of_path("README") == NULL);
    PL_CHECK(pl_language_valid("node") && !pl_language_valid("perl"));
}

PL_TEST(defaults_dir)
{
    struct pl_config cfg;
    PL_CHECK_OK(pl_config_init(&cfg));
    PL_CHECK_OK(pl_config_set(&cfg, PL_CFG_RULES_DIR, "", PL_ORIGIN_CLI));
    PL_CHECK(pl_rules_default_dir(&cfg) == NULL);
    struct pl_ruleset set;
    pl_ruleset_init(&set);
    PL_CHECK_OK(pl_rules_load_defaults(&set, &cfg)); /* disabled: no rules, no error */
    PL_CHECK_INT(set.count, 0);
    /* an explicit directory that does not exist is an error (fail closed) */
    PL_CHECK_OK(pl_config_set(&cfg, PL_CFG_RULES_DIR, "/nonexistent/rules", PL_ORIGIN_CLI));
    PL_CHECK_INT(pl_rules_load_defaults(&set, &cfg), -1);
    PL_CHECK(strstr(pl_last_error_msg(), "/nonexistent/rules"));
    /* an existing one is used */
    PL_CHECK_OK(pl_config_set(&cfg, PL_CFG_RULES_DIR, "tests/unit/engine/data", PL_ORIGIN_CLI));
    PL_CHECK_STR(pl_rules_default_dir(&cfg), "tests/unit/engine/data");
    PL_CHECK_OK(pl_rules_load_defaults(&set, &cfg));
    PL_CHECK_INT(set.count, 8);
    pl_ruleset_clean_up(&set);
    pl_config_clean_up(&cfg);
}

PL_TEST(alloc_failure_during_load)
{
    for (long n = 0; n < 400; n++) {
        struct pl_ruleset set;
        pl_ruleset_init(&set);
        pl_test_fail_alloc_after(n);
        int rc = pl_rules_load(&set, "tests/unit/engine/data", -1);
        pl_test_fail_alloc_after(-1);
        if (rc == 0) {
            PL_CHECK_INT(set.count, 8);
            pl_ruleset_clean_up(&set);
            break;
        }
        PL_CHECK_INT(set.count, 0);
        pl_ruleset_clean_up(&set);
    }
    PL_CHECK_INT(pl_test_live_allocations(), 0);
}
