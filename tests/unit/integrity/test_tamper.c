/* Process view and tamper watch with real processes: a "runtime" child that loads a shared
 * object dropped in a watched writable place and starts a child with NODE_OPTIONS. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "protectlambda/integrity.h"

PL_TEST(proc_maps_of_self_lists_libc_not_from_a_writable_place)
{
    struct pl_proc_maps m;
    pl_proc_maps_init(&m);
    PL_CHECK_OK(pl_proc_maps_read(0, &m));
    bool libc = false;
    for (size_t i = 0; i < m.n; i++)
        if (strstr(m.objs[i].path, "libc.so")) {
            libc = true;
            PL_CHECK(m.objs[i].exec);
            PL_CHECK(!m.objs[i].writable_place);
        }
    PL_CHECK(libc);
    pl_proc_maps_clean_up(&m);
    PL_CHECK(pl_path_is_writable_place("/tmp/x.so"));
    PL_CHECK(pl_path_is_writable_place("/dev/shm/x"));
    PL_CHECK(pl_path_is_writable_place("/memfd:payload (deleted)"));
    PL_CHECK(pl_path_is_writable_place("/var/task/lib.so (deleted)"));
    PL_CHECK(!pl_path_is_writable_place("/usr/lib/x86_64-linux-gnu/libc.so.6"));
    PL_CHECK(pl_is_code_loading_var("LD_PRELOAD", 10));
    PL_CHECK(pl_is_code_loading_var("NODE_OPTIONS", 12));
    PL_CHECK(!pl_is_code_loading_var("LD_PRELOADX", 11));
    char interp[256];
    PL_CHECK_OK(pl_elf_interp("/bin/sh", interp, sizeof(interp)));
    PL_CHECK(strstr(interp, "ld-linux") != NULL);
}

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pl_event s_events[64];
static size_t s_n_events;

static void s_on_event(void *ud, const struct pl_event *ev)
{
    (void)ud;
    pthread_mutex_lock(&s_mu);
    if (s_n_events < PL_ARRAY_LEN(s_events))
        s_events[s_n_events++] = *ev;
    pthread_mutex_unlock(&s_mu);
}

static bool s_have(const char *rule, const char *needle)
{
    bool found = false;
    pthread_mutex_lock(&s_mu);
    for (size_t i = 0; i < s_n_events; i++)
        if (!strcmp(s_events[i].rule, rule) &&
            (strstr(s_events[i].path, needle) || strstr(s_events[i].detail, needle)))
            found = true;
    pthread_mutex_unlock(&s_mu);
    return found;
}

static int s_copy(const char *from, const char *to, mode_t mode)
{
    char *data = NULL;
    size_t len = 0;
    if (pl_read_file(from, &data, &len, 64 << 20))
        return -1;
    int rc = pl_write_file_atomic(to, data, len, mode);
    pl_free(data);
    chmod(to, mode);
    return rc;
}

PL_TEST(tamper_watch_reports_dropped_code_loaded_library_and_child_env)
{
    char dir[64] = "/tmp/pl-tw-XXXXXX";
    PL_CHECK(mkdtemp(dir) != NULL);
    char old[128], dropped[128], script[128], data[128], lib[128], lib2[128], sub[128], subexe[160];
    snprintf(old, sizeof(old), "%s/old.sh", dir);
    snprintf(dropped, sizeof(dropped), "%s/dropped", dir);
    snprintf(script, sizeof(script), "%s/x.sh", dir);
    snprintf(data, sizeof(data), "%s/data.txt", dir);
    snprintf(lib, sizeof(lib), "%s/libevil.so", dir);
    snprintf(lib2, sizeof(lib2), "%s/libchild.so.1", dir);
    snprintf(sub, sizeof(sub), "%s/later", dir);
    snprintf(subexe, sizeof(subexe), "%s/later/payload", dir);
    PL_CHECK_OK(pl_write_file_atomic(old, "#!/bin/sh\n", 10, 0755));
    chmod(old, 0755);
    usleep(30 * 1000); /* ctime ticks coarsely: let the baseline start after old.sh */

    int p[2];
    PL_CHECK(pipe(p) == 0);
    pid_t child = fork();
    PL_CHECK(child >= 0);
    if (child == 0) {
        /* the "runtime": wait for the go, load the dropped library, start a child with
         * NODE_OPTIONS, then idle */
        setpgid(0, 0);
        char go;
        close(p[1]);
        if (read(p[0], &go, 1) != 1)
            _exit(1);
        if (!dlopen(lib, RTLD_NOW))
            _exit(3);
        pid_t g = fork();
        if (g == 0) {
            char *argv[] = {"sleep", "10", NULL};
            char *envp[] = {"NODE_OPTIONS=--require /tmp/evil.js", "PATH=/usr/bin:/bin", NULL};
            execve("/bin/sleep", argv, envp);
            _exit(4);
        }
        pid_t g2 = fork(); /* a grandchild that loads code from the writable place */
        if (g2 == 0) {
            if (!dlopen(lib2, RTLD_NOW))
                _exit(5);
            sleep(10);
            _exit(0);
        }
        sleep(10);
        _exit(0);
    }
    close(p[0]);
    s_n_events = 0;
    const char *dirs[] = {dir};
    struct pl_tamper_opts o = {
        .dirs = dirs, .n_dirs = 1, .pid = child, .interval_ms = 100, .on_event = s_on_event};
    struct pl_tamper_watch *w = NULL;
    PL_CHECK_OK(pl_tamper_watch_new(&o, &w));

    PL_CHECK_OK(s_copy("/bin/true", dropped, 0644)); /* ELF, not executable */
    PL_CHECK_OK(pl_write_file_atomic(script, "#!/bin/sh\nid\n", 13, 0644));
    chmod(script, 0755); /* made executable later */
    PL_CHECK_OK(pl_write_file_atomic(data, "hello\n", 6, 0644));
    PL_CHECK_OK(s_copy("/lib/x86_64-linux-gnu/libutil.so.1", lib, 0644));
    PL_CHECK_OK(s_copy("/lib/x86_64-linux-gnu/libanl.so.1", lib2, 0644));
    mkdir(sub, 0755); /* a new directory is watched too */
    usleep(200 * 1000);
    PL_CHECK_OK(s_copy("/bin/true", subexe, 0755));
    PL_CHECK(write(p[1], "g", 1) == 1);
    close(p[1]);

    bool ok = false;
    for (int i = 0; i < 60 && !ok; i++) {
        usleep(100 * 1000);
        ok = s_have("PL-TAMPER-TMP-EXEC", "dropped") && s_have("PL-TAMPER-TMP-EXEC", "x.sh") &&
             s_have("PL-TAMPER-TMP-EXEC", "libevil.so") &&
             s_have("PL-TAMPER-TMP-EXEC", "later/payload") &&
             s_have("PL-TAMPER-WRITABLE-LIB", "libevil.so") &&
             s_have("PL-TAMPER-WRITABLE-LIB", "libchild.so.1") &&
             s_have("PL-TAMPER-ENV", "NODE_OPTIONS");
    }
    kill(-child, SIGKILL);
    waitpid(child, NULL, 0);
    pl_tamper_watch_destroy(w);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    for (size_t i = 0; i < s_n_events; i++) {
        fprintf(stderr, "  event %s %s: %s\n", s_events[i].rule, s_events[i].path,
                s_events[i].detail);
        PL_CHECK(s_events[i].type == PL_EV_RUNTIME_MODIFICATION);
        PL_CHECK(s_events[i].severity == PL_SEV_HIGH);
    }
    PL_CHECK_MSG(ok, "not every tampering was reported (%zu events)", s_n_events);
    PL_CHECK(!s_have("PL-TAMPER-TMP-EXEC", "old.sh"));   /* in the baseline */
    PL_CHECK(!s_have("PL-TAMPER-TMP-EXEC", "data.txt")); /* not code */
    /* one event per file, not one per inotify event */
    size_t n_dropped = 0;
    for (size_t i = 0; i < s_n_events; i++)
        n_dropped +=
            !strcmp(s_events[i].rule, "PL-TAMPER-TMP-EXEC") && strstr(s_events[i].path, "/dropped");
    PL_CHECK_INT(n_dropped, 1);
}

/* A function that writes to /tmp on every invocation makes a stream of file events: the runtime
 * pass is coalesced (at most one per 250 ms, docs/guard.md), and must still run while the stream
 * goes on; a file dropped in a subdirectory that existed before the watch, right after it
 * started (its scan now runs in the watch's thread), is still reported. */
PL_TEST(tamper_watch_detects_a_loaded_library_during_a_stream_of_file_events)
{
    char dir[64] = "/tmp/pl-tw2-XXXXXX";
    PL_CHECK(mkdtemp(dir) != NULL);
    char deep[128], early[160], lib[128], noise[128];
    snprintf(deep, sizeof(deep), "%s/pkg", dir);
    snprintf(early, sizeof(early), "%s/pkg/early.sh", dir);
    snprintf(lib, sizeof(lib), "%s/libstream.so", dir);
    snprintf(noise, sizeof(noise), "%s/noise.txt", dir);
    PL_CHECK(mkdir(deep, 0755) == 0);
    usleep(30 * 1000); /* ctime ticks coarsely: let the baseline start after the directory */

    int p[2];
    PL_CHECK(pipe(p) == 0);
    pid_t child = fork();
    PL_CHECK(child >= 0);
    if (child == 0) {
        setpgid(0, 0);
        char go;
        close(p[1]);
        if (read(p[0], &go, 1) != 1)
            _exit(1);
        if (!dlopen(lib, RTLD_NOW))
            _exit(3);
        sleep(10);
        _exit(0);
    }
    close(p[0]);
    pthread_mutex_lock(&s_mu);
    s_n_events = 0;
    pthread_mutex_unlock(&s_mu);
    const char *dirs[] = {dir};
    struct pl_tamper_opts o = {
        .dirs = dirs, .n_dirs = 1, .pid = child, .interval_ms = 5000, .on_event = s_on_event};
    struct pl_tamper_watch *w = NULL;
    PL_CHECK_OK(pl_tamper_watch_new(&o, &w));
    PL_CHECK_OK(pl_write_file_atomic(early, "#!/bin/sh\nid\n", 13, 0755));
    chmod(early, 0755);
    PL_CHECK_OK(s_copy("/lib/x86_64-linux-gnu/libutil.so.1", lib, 0644));
    PL_CHECK(write(p[1], "g", 1) == 1);
    close(p[1]);

    /* a file event every 5 ms for up to 2 s: the library must be reported meanwhile, within
     * a second (the interval, 5 s, is not what finds it: the events' coalesced pass is) */
    bool lib_seen = false;
    int i;
    for (i = 0; i < 400 && !lib_seen; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "%d\n", i);
        PL_CHECK_OK(pl_write_file_atomic(noise, line, (size_t)n, 0644));
        usleep(5 * 1000);
        lib_seen = s_have("PL-TAMPER-WRITABLE-LIB", "libstream.so");
    }
    for (int k = 0; k < 20 && !s_have("PL-TAMPER-TMP-EXEC", "pkg/early.sh"); k++)
        usleep(50 * 1000);
    kill(-child, SIGKILL);
    waitpid(child, NULL, 0);
    pl_tamper_watch_destroy(w);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    PL_CHECK_MSG(lib_seen, "library mapped from the watched place not reported during the stream");
    PL_CHECK_MSG(i < 200, "reported only after %d file events (about %d ms)", i, i * 5);
    PL_CHECK(s_have("PL-TAMPER-TMP-EXEC", "pkg/early.sh"));
    PL_CHECK(!s_have("PL-TAMPER-TMP-EXEC", "noise.txt")); /* not code */
}
