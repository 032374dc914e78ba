/* Which of Vectorscan's scan implementations runs: see engine_private.h. */
#include "engine_private.h"

#include <pthread.h>

#include "protectlambda/cpufeat.h"

/* the implementations of Vectorscan's fat runtime (x86-64 builds export one set per CPU
 * family; weak: absent in a library built for one CPU only, then the plain API is used) */
#define S_DECLARE(arch)                                                                        \
    extern hs_error_t arch##_hs_scan(const hs_database_t *, const char *, unsigned, unsigned,   \
                                     hs_scratch_t *, match_event_handler, void *)              \
        __attribute__((weak));                                                                 \
    extern hs_error_t arch##_hs_open_stream(const hs_database_t *, unsigned, hs_stream_t **)    \
        __attribute__((weak));                                                                 \
    extern hs_error_t arch##_hs_scan_stream(hs_stream_t *, const char *, unsigned, unsigned,    \
                                            hs_scratch_t *, match_event_handler, void *)       \
        __attribute__((weak));                                                                 \
    extern hs_error_t arch##_hs_close_stream(hs_stream_t *, hs_scratch_t *,                     \
                                             match_event_handler, void *)                      \
        __attribute__((weak));                                                                 \
    extern hs_error_t arch##_hs_deserialize_database(const char *, size_t, hs_database_t **)    \
        __attribute__((weak));                                                                 \
    extern hs_error_t arch##_hs_free_database(hs_database_t *) __attribute__((weak));           \
    extern hs_error_t arch##_hs_serialize_database(const hs_database_t *, char **, size_t *)    \
        __attribute__((weak));                                                                 \
    extern hs_error_t arch##_hs_serialized_database_info(const char *, size_t, char **)         \
        __attribute__((weak));

#if defined(__x86_64__)
S_DECLARE(avx2)
S_DECLARE(corei7)
S_DECLARE(core2)
#endif

#undef hs_scan
#undef hs_open_stream
#undef hs_scan_stream
#undef hs_close_stream
#undef hs_deserialize_database
#undef hs_free_database
#undef hs_serialize_database
#undef hs_serialized_database_info

static struct pl_hs_api s_api = {
    .name = "vectorscan dispatch",
    .scan = hs_scan,
    .open_stream = hs_open_stream,
    .scan_stream = hs_scan_stream,
    .close_stream = hs_close_stream,
    .deserialize_database = hs_deserialize_database,
    .free_database = hs_free_database,
    .serialize_database = hs_serialize_database,
    .serialized_database_info = hs_serialized_database_info,
};
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

#define S_USE(arch)                                                                            \
    do {                                                                                       \
        if (arch##_hs_scan && arch##_hs_open_stream && arch##_hs_scan_stream &&               \
            arch##_hs_close_stream && arch##_hs_deserialize_database &&                        \
            arch##_hs_free_database && arch##_hs_serialize_database &&                         \
            arch##_hs_serialized_database_info) {                                              \
            s_api = (struct pl_hs_api){#arch,                                                  \
                                       arch##_hs_scan,                                         \
                                       arch##_hs_open_stream,                                  \
                                       arch##_hs_scan_stream,                                  \
                                       arch##_hs_close_stream,                                 \
                                       arch##_hs_deserialize_database,                         \
                                       arch##_hs_free_database,                                \
                                       arch##_hs_serialize_database,                           \
                                       arch##_hs_serialized_database_info};                    \
            return;                                                                            \
        }                                                                                      \
    } while (0)

static void s_select(void)
{
#if defined(__x86_64__)
    /* Never the AVX-512 implementations: Vectorscan 5.4.9's AVX-512 scan code misses matches
     * (measured: PL-IN-CMDI-012 on "<70 x> | id", and same-language forms of PL-IN-XSS-002,
     * depending on where the buffer sits; the AVX2 and SSE code find them: docs/engine.md).
     * The next best is what the fat runtime itself would pick on a CPU without AVX-512. */
    if (pl_cpu_has(PL_CPU_AVX2 | PL_CPU_BMI | PL_CPU_BMI2 | PL_CPU_POPCNT))
        S_USE(avx2);
    if (pl_cpu_has(PL_CPU_SSE42 | PL_CPU_POPCNT))
        S_USE(corei7);
    if (pl_cpu_has(PL_CPU_SSSE3))
        S_USE(core2);
#endif
}

const struct pl_hs_api *pl_hs_api(void)
{
    pthread_once(&s_once, s_select);
    return &s_api;
}

const char *pl_engine_scan_impl(void) { return pl_hs_api()->name; }
