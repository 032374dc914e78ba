/* JSON parser: SAX and DOM on arbitrary bytes must return 0 or -1, never crash, never leak,
 * and the DOM must serialize to JSON that parses again. Inputs starting with 0xFA run with
 * allocation failures (fuzz_alloc.h): errors, never crashes or leaks. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_alloc.h"
#include "protectlambda/json.h"

static int s_any(void *ctx) { return 0; }
static int s_str(void *ctx, const char *s, size_t n, const char *r, size_t rn) { return 0; }
static int s_num(void *ctx, const char *s, size_t n) { return 0; }
static int s_bool(void *ctx, bool v) { return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int failing = pl_fuzz_alloc_begin(&data, &size);
    struct pl_json_limits lim = {.max_depth = 64, .max_values = 100000};
    struct pl_json_sax cb = {s_str, s_str, s_num, s_bool, s_any, s_any, s_any, s_any, s_any};
    size_t off = 0;
    pl_json_sax_parse((const char *)data, size, &lim, &cb, NULL, &off);
    if (off > size)
        abort();
    struct pl_json *root = NULL;
    if (pl_json_parse((const char *)data, size, &lim, &root) == 0) {
        struct pl_buf b = PL_BUF_INIT;
        if (pl_json_write(&b, root) == 0) {
            struct pl_json *again = NULL;
            if (pl_json_parse(b.data, b.len, &lim, &again) != 0 && !failing)
                abort(); /* what we write must parse */
            pl_json_destroy(again);
        }
        pl_buf_clean_up(&b);
        pl_json_destroy(root);
    }
    pl_fuzz_alloc_end(failing);
    return 0;
}
