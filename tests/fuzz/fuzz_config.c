/* Config file parser: arbitrary text gives a config or a "file:line: reason" error. */
#include <stdlib.h>
#include <string.h>

#include "protectlambda/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pl_config cfg;
    if (pl_config_init(&cfg))
        return 0;
    if (pl_config_load_text(&cfg, "fuzz.conf", (const char *)data, size) != 0) {
        if (strncmp(pl_last_error_msg(), "fuzz.conf:", 10) != 0 && pl_last_error() != PL_ERR_NOMEM)
            abort(); /* every error names the file and line */
    }
    pl_config_clean_up(&cfg);
    return 0;
}
