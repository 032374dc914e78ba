#include "cli_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protectlambda/cli.h"

int pl_cli_arg_text_or_json(const char *cmd, const char *value, bool *json)
{
    if (!strcmp(value, "json"))
        *json = true;
    else if (strcmp(value, "text") != 0)
        return pl_cli_usage_error(cmd, "--format is text or json");
    return 0;
}

int pl_cli_arg_threads(const char *cmd, const char *value, unsigned *threads)
{
    char *end = NULL;
    long t = strtol(value, &end, 10);
    if (end == value || *end || t < 1 || t > 16)
        return pl_cli_usage_error(cmd, "--threads takes 1..16");
    *threads = (unsigned)t;
    return 0;
}

int pl_cli_read_stdin(struct pl_buf *out, size_t cap, const char *what)
{
    for (;;) {
        if (pl_buf_reserve(out, 65536))
            return -1;
        ssize_t n = read(0, out->data + out->len, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pl_raise(PL_ERR_IO, "cannot read stdin: %s", strerror(errno));
        if (n == 0)
            break;
        out->len += (size_t)n;
        if (out->len > cap)
            return pl_raise(PL_ERR_LIMIT, "%s is larger than %zu bytes", what, cap);
    }
    out->data[out->len] = '\0';
    return 0;
}
