/* The emulator's C API with a real runtime (the shell custom runtime with curl): results,
 * outcomes, stats, and no leaked allocation once destroyed (the harness counts them). */
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/emulator.h"

/* the runtime runs in the function directory: give it an absolute path (tests run in the
 * source tree) */
static char s_rt_path[PATH_MAX];
static char *s_shell_rt[] = {"/bin/sh", s_rt_path, NULL};

__attribute__((constructor)) static void s_init_paths(void)
{
    if (!realpath("examples/runtimes/shell/bootstrap", s_rt_path))
        snprintf(s_rt_path, sizeof(s_rt_path), "examples/runtimes/shell/bootstrap");
}

PL_TEST(invoke_through_the_shell_runtime_and_count)
{
    if (access("/usr/bin/curl", X_OK) != 0 && access("/bin/curl", X_OK) != 0) {
        PL_CHECK_MSG(0, "curl is required by the shell runtime");
    }
    struct pl_emulator_options o = {.function_dir = "examples/functions/shell-echo",
                                    .handler = "function.handler",
                                    .runtime_argv = s_shell_rt,
                                    .exec_wrapper = ""};
    struct pl_emulator *emu = NULL;
    PL_CHECK_OK(pl_emulator_new(&o, &emu));
    PL_CHECK(pl_emulator_port(emu) != 0);
    PL_CHECK(!strncmp(pl_emulator_address(emu), "127.0.0.1:", 10));
    PL_CHECK_OK(pl_emulator_start(emu));
    PL_CHECK_OK(pl_emulator_wait_ready(emu));
    char want[64];
    for (int i = 0; i < 3; i++) {
        char ev[32];
        snprintf(ev, sizeof(ev), "{\"i\":%d}", i);
        snprintf(want, sizeof(want), "{\"echo\":{\"i\":%d}}", i);
        struct pl_emulator_result r;
        pl_emulator_result_init(&r);
        int rc = pl_emulator_invoke(emu, ev, strlen(ev), NULL, &r);
        bool ok = rc == 0 && r.outcome == PL_EMU_RESPONSE && r.body.data &&
                  !strcmp(r.body.data, want) && strlen(r.request_id) == 36;
        pl_emulator_result_clean_up(&r);
        if (!ok)
            pl_emulator_destroy(emu);
        PL_CHECK_MSG(ok, "invocation %d did not echo", i);
    }
    /* an event over the cap is refused before it reaches the queue */
    struct pl_emulator_result r;
    pl_emulator_result_init(&r);
    size_t big = 6 * 1024 * 1024 + 1;
    char *ev = malloc(big);
    memset(ev, 'a', big);
    int rc = pl_emulator_invoke(emu, ev, big, NULL, &r);
    free(ev);
    pl_emulator_result_clean_up(&r);
    PL_CHECK(rc == -1 && pl_last_error() == PL_ERR_LIMIT);
    PL_CHECK_OK(pl_emulator_shutdown(emu));
    struct pl_emulator_stats st;
    pl_emulator_get_stats(emu, &st);
    pl_emulator_destroy(emu);
    PL_CHECK_INT(st.invocations, 3);
    PL_CHECK_INT(st.responses, 3);
    PL_CHECK_INT(st.double_answers + st.unknown_answers + st.unanswered, 0);
    PL_CHECK_INT(st.runtime_starts, 1);
}

PL_TEST(init_error_is_every_invocations_outcome)
{
    struct pl_emulator_options o = {.function_dir = "examples/functions/shell-echo",
                                    .handler = "missing.handler",
                                    .runtime_argv = s_shell_rt,
                                    .exec_wrapper = ""};
    struct pl_emulator *emu = NULL;
    PL_CHECK_OK(pl_emulator_new(&o, &emu));
    PL_CHECK_OK(pl_emulator_start(emu));
    PL_CHECK(pl_emulator_wait_ready(emu) == -1);
    for (int i = 0; i < 2; i++) {
        struct pl_emulator_result r;
        pl_emulator_result_init(&r);
        int rc = pl_emulator_invoke(emu, "{}", 2, NULL, &r);
        bool ok = rc == 0 && r.outcome == PL_EMU_INIT_ERROR &&
                  !strcmp(r.error_type, "Runtime.ImportModuleError") &&
                  strstr(r.body.data, "missing.sh");
        pl_emulator_result_clean_up(&r);
        if (!ok)
            pl_emulator_destroy(emu);
        PL_CHECK_MSG(ok, "invocation %d: not the init error", i);
    }
    pl_emulator_destroy(emu);
}

PL_TEST(bad_options_and_missing_runtime)
{
    struct pl_emulator *emu = NULL;
    struct pl_emulator_options none = {0};
    PL_CHECK(pl_emulator_new(&none, &emu) == -1 && emu == NULL);
    char *nosuch[] = {"/nonexistent/runtime-binary", NULL};
    struct pl_emulator_options o = {.function_dir = "examples/functions/shell-echo",
                                    .handler = "function.handler",
                                    .runtime_argv = nosuch,
                                    .exec_wrapper = ""};
    PL_CHECK_OK(pl_emulator_new(&o, &emu));
    PL_CHECK_OK(pl_emulator_start(emu));
    struct pl_emulator_result r;
    pl_emulator_result_init(&r);
    int rc = pl_emulator_invoke(emu, "{}", 2, NULL, &r);
    bool ok = rc == 0 && r.outcome == PL_EMU_INIT_ERROR &&
              !strcmp(r.error_type, "Runtime.InvalidEntrypoint");
    pl_emulator_result_clean_up(&r);
    pl_emulator_destroy(emu);
    PL_CHECK(ok);
}
