/* CLI: option values and input several commands take the same way. */
#ifndef PL_CLI_ARGS_H
#define PL_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "protectlambda/buf.h"

/* The option parsers return 0, or 2 after printing "protectlambda <cmd>: <message>" (the
 * command's usage-error exit status). */

/* --format text|json: *json set for json */
int pl_cli_arg_text_or_json(const char *cmd, const char *value, bool *json);
/* --threads N, 1..16 */
int pl_cli_arg_threads(const char *cmd, const char *value, unsigned *threads);

/* standard input to its end, appended to out (NUL-terminated), at most cap bytes in out; what
 * names it in the size error. 0, or -1 (pl_raise). */
int pl_cli_read_stdin(struct pl_buf *out, size_t cap, const char *what);

#endif
