/* Inspect views and decoders on arbitrary bytes: never crash, never leak, and the view's
 * invariants hold (items in order inside the text, each followed by '\n', paths
 * NUL-terminated inside the paths buffer, item_at finds every item, bounds respected). */
#include <stdlib.h>
#include <string.h>

#include "protectlambda/inspect.h"

static struct pl_inspect_view s_view; /* reused across inputs, as the guard does */
static int s_init;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_init) {
        pl_inspect_view_init(&s_view);
        s_init = 1;
    }
    struct pl_inspect_limits lim;
    pl_inspect_limits_default(&lim);
    lim.max_depth = 64;
    lim.max_items = 5000;
    lim.max_decoded = 1 << 20;
    if (pl_inspect_json(&lim, (const char *)data, size, &s_view) != 0)
        return 0; /* out of memory only */
    const struct pl_inspect_view *v = &s_view;
    if (v->text.len + v->paths.len > lim.max_decoded || v->n_items > lim.max_items)
        abort();
    size_t prev_end = 0;
    for (size_t i = 0; i < v->n_items; i++) {
        const struct pl_inspect_item *it = &v->items[i];
        if (it->off < prev_end || it->off + it->len >= v->text.len + 1 ||
            v->text.data[it->off + it->len] != '\n' || it->path_off >= v->paths.len ||
            v->paths.data[0] != '$' || it->decoding >= PL_DEC_COUNT)
            abort();
        if (memchr(v->paths.data + it->path_off, '\0', v->paths.len - it->path_off) == NULL)
            abort();
        if (it->len && pl_inspect_item_at(v, it->off) != it)
            abort();
        prev_end = it->off + it->len + 1;
    }
    /* decoders on the raw bytes */
    struct pl_buf b = PL_BUF_INIT;
    if (pl_decode_url((const char *)data, size, true, &b) == 1 && b.len > size)
        abort();
    pl_buf_reset(&b);
    if (pl_decode_html((const char *)data, size, &b) == 1 && b.len > size)
        abort();
    pl_buf_reset(&b);
    if (pl_decode_base64((const char *)data, size, &b) == 1 && b.len > size)
        abort();
    pl_buf_clean_up(&b);
    return 0;
}
