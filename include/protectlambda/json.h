/* JSON reading: a bounded SAX parser (used by inspect on untrusted events) and a small DOM built
 * on it (for small documents: register bodies, config answers, DynamoDB responses).
 * Strings are delivered unescaped (\uXXXX and surrogate pairs to UTF-8; invalid escapes are an error).
 * Parsers return 0, -1 with PL_ERR_PARSE (invalid) or PL_ERR_LIMIT (bound exceeded), never crash,
 * and never recurse on the C stack per nesting level (depth is bounded by limits->max_depth). */
#ifndef PROTECTLAMBDA_JSON_H
#define PROTECTLAMBDA_JSON_H

#include "protectlambda/buf.h"

struct pl_json_limits {
    uint32_t max_depth;   /* default 256 */
    uint64_t max_values;  /* keys + values; default 1,000,000 */
};

struct pl_json_sax {
    /* each callback returns 0 to go on, non-zero to stop (the parser then returns -1 with
     * whatever error the callback raised, or PL_ERR_INTERNAL). `raw`/`raw_len` is the token
     * as it appears in the input (with quotes for strings), for offsets and excerpts. */
    int (*on_key)(void *ctx, const char *key, size_t len, const char *raw, size_t raw_len);
    int (*on_string)(void *ctx, const char *s, size_t len, const char *raw, size_t raw_len);
    int (*on_number)(void *ctx, const char *num, size_t len);
    int (*on_bool)(void *ctx, bool value);
    int (*on_null)(void *ctx);
    int (*on_begin_object)(void *ctx);
    int (*on_end_object)(void *ctx);
    int (*on_begin_array)(void *ctx);
    int (*on_end_array)(void *ctx);
};

/* Parse one JSON value (surrounding whitespace allowed). On error, *err_offset (if not NULL)
 * receives the byte offset where parsing stopped. */
int pl_json_sax_parse(const char *data, size_t len, const struct pl_json_limits *limits,
                      const struct pl_json_sax *cb, void *ctx, size_t *err_offset);
/* the same with a caller-owned scratch buffer for unescaped strings (reused across parses so
 * a warm parser allocates nothing; its contents are overwritten; NULL: a temporary one) */
int pl_json_sax_parse_ex(const char *data, size_t len, const struct pl_json_limits *limits,
                         const struct pl_json_sax *cb, void *ctx, size_t *err_offset,
                         struct pl_buf *scratch);

/* ---- DOM ---- */
enum pl_json_type { PL_JSON_NULL, PL_JSON_FALSE, PL_JSON_TRUE, PL_JSON_NUMBER, PL_JSON_STRING,
                    PL_JSON_ARRAY, PL_JSON_OBJECT };

struct pl_json {
    enum pl_json_type type;
    char *str;             /* STRING (unescaped, NUL-terminated) or NUMBER text; key for members */
    size_t len;
    char *key;             /* member name when the parent is an object */
    size_t key_len;
    struct pl_json *child; /* first child (ARRAY/OBJECT) */
    struct pl_json *next;  /* next sibling */
    size_t n_children;
};

/* parse into a tree allocated as one block-chained arena; free with pl_json_destroy */
int pl_json_parse(const char *data, size_t len, const struct pl_json_limits *limits,
                  struct pl_json **out);
void pl_json_destroy(struct pl_json *root);
/* object member by name, or NULL */
const struct pl_json *pl_json_get(const struct pl_json *obj, const char *key);
/* string value of member `key`, or NULL when absent or not a string */
const char *pl_json_get_str(const struct pl_json *obj, const char *key);
/* number as int64 (false if absent / not a number) */
bool pl_json_get_int(const struct pl_json *obj, const char *key, int64_t *out);
/* serialize a tree back to compact JSON */
int pl_json_write(struct pl_buf *out, const struct pl_json *v);

#endif
