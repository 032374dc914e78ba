/* Manifest parser (untrusted input): arbitrary bytes give a manifest or an error; a manifest
 * that parses is canonical: written back, it gives the same bytes (up to the signature). */
#include <stdlib.h>
#include <string.h>

#include "protectlambda/integrity.h"

static const char s_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                            "MCowBQYDK2VwAyEAvS14s5VkvafK2ASJ0OVd23PG+t5N6/o36sxv6NCyWY4=\n"
                            "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int with_key = 0; with_key < 2; with_key++) {
        struct pl_manifest m;
        pl_manifest_init(&m);
        int rc = pl_manifest_parse((const char *)data, size, with_key ? s_pub : NULL,
                                   with_key ? strlen(s_pub) : 0, 1000, &m);
        if (rc == 0 && !with_key) {
            struct pl_buf out = PL_BUF_INIT;
            if (pl_manifest_write(&m, NULL, 0, &out) == 0) {
                if (out.len > size || memcmp(out.data, data, out.len))
                    abort(); /* not canonical: two texts for one manifest */
            }
            pl_buf_clean_up(&out);
        }
        pl_manifest_clean_up(&m);
    }
    return 0;
}
