/* Private: the backend interface behind struct pl_store. */
#ifndef PL_STORE_IMPL_H
#define PL_STORE_IMPL_H

#include "protectlambda/store.h"

struct pl_store_ops {
    int (*init)(struct pl_store *s);
    int (*put)(struct pl_store *s, const struct pl_incident *inc);
    int (*count)(struct pl_store *s, const char *function, int64_t since_ms, int64_t until_ms,
                 uint64_t type_mask, size_t *count);
    int (*each)(struct pl_store *s, const char *function, int64_t since_ms, pl_store_each_fn fn,
                void *ctx);
    int (*get_quarantine)(struct pl_store *s, const char *function, struct pl_quarantine *q);
    int (*set_quarantine)(struct pl_store *s, const char *function, const struct pl_quarantine *q);
    int (*clear_quarantine)(struct pl_store *s, const char *function);
    int (*purge)(struct pl_store *s, int64_t now_s, size_t *deleted);
    void (*close)(struct pl_store *s);
};

struct pl_store {
    const struct pl_store_ops *ops;
    enum pl_store_kind kind;
    char describe[512];
    void *impl;
};

int pl_store_sqlite_open(const struct pl_store_options *o, struct pl_store *s);
int pl_store_dynamodb_open(const struct pl_store_options *o, struct pl_store *s);
int pl_store_memory_open(const struct pl_store_options *o, struct pl_store *s);

/* "%013lld#<id>": the sort key (DynamoDB) — ascending time order as strings */
void pl_store_sort_key(const struct pl_incident *inc, char *out, size_t outlen);

#endif
