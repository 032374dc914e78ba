/* Growable byte buffer. The caller owns the struct (init/clean_up). */
#ifndef PROTECTLAMBDA_BUF_H
#define PROTECTLAMBDA_BUF_H

#include "protectlambda/common.h"

struct pl_buf {
    char *data; /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
};

#define PL_BUF_INIT {NULL, 0, 0}

void pl_buf_init(struct pl_buf *b);
void pl_buf_clean_up(struct pl_buf *b);
void pl_buf_reset(struct pl_buf *b); /* len = 0, keeps memory */
int pl_buf_reserve(struct pl_buf *b, size_t extra);
int pl_buf_append(struct pl_buf *b, const void *data, size_t len);
int pl_buf_append_str(struct pl_buf *b, const char *s);
int pl_buf_append_char(struct pl_buf *b, char c);
int pl_buf_appendf(struct pl_buf *b, const char *fmt, ...) PL_PRINTF(2, 3);
/* detach the data (caller frees with pl_free) and reset the buffer */
char *pl_buf_steal(struct pl_buf *b, size_t *len);

/* JSON writing helpers: append a JSON string literal (quotes included), escaping
 * control characters, quotes, backslashes and invalid UTF-8 (as \ufffd). */
int pl_buf_append_json_str(struct pl_buf *b, const char *s, size_t len);
int pl_buf_append_json_cstr(struct pl_buf *b, const char *s); /* NULL -> null */

#endif
