/* Test helper, linked -static (no LD_PRELOAD monitor can enter it): tries to start
 * argv[1] with a direct execve and reports what happened, exit 0 either way unless it ran. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: static_exec PROGRAM [ARGS]\n");
        return 2;
    }
    printf("static_exec: starting %s\n", argv[1]);
    fflush(stdout);
    extern char **environ;
    syscall(SYS_execve, argv[1], argv + 1, environ);
    int e = errno;
    printf("static_exec: execve failed: %s (errno %d)\n", strerror(e), e);
    return 0;
}
