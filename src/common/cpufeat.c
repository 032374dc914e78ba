/* CPU features by CPUID, asked for when needed (include/protectlambda/cpufeat.h) */
#include "protectlambda/cpufeat.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <stdbool.h>
#include <stddef.h>

static unsigned long long s_xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static unsigned s_detect(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (c & (1u << 9))
        f |= PL_CPU_SSSE3;
    if (c & (1u << 20))
        f |= PL_CPU_SSE42;
    if (c & (1u << 23))
        f |= PL_CPU_POPCNT;
    /* AVX state saved by the OS: OSXSAVE, AVX, and XCR0's SSE and AVX bits */
    bool avx_os = (c & (1u << 27)) && (c & (1u << 28)) && (s_xcr0() & 0x6) == 0x6;
    bool avx512_os = avx_os && (s_xcr0() & 0xE0) == 0xE0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_max(0, NULL) < 7)
        return f;
    __cpuid_count(7, 0, a, b, c, d);
    if (b & (1u << 3))
        f |= PL_CPU_BMI;
    if (b & (1u << 8))
        f |= PL_CPU_BMI2;
    if (avx_os && (b & (1u << 5)))
        f |= PL_CPU_AVX2;
    if (avx512_os && (b & (1u << 16)) && (b & (1u << 30))) {
        f |= PL_CPU_AVX512BW;
        if (c & (1u << 6))
            f |= PL_CPU_AVX512VBMI2;
    }
    return f;
}
#else
static unsigned s_detect(void) { return 0; }
#endif

unsigned pl_cpu_features(void)
{
    /* bit 31: known (a race only runs CPUID twice, with the same answer) */
    static unsigned s_features;
    unsigned f = __atomic_load_n(&s_features, __ATOMIC_RELAXED);
    if (!f) {
        f = s_detect() | (1u << 31);
        __atomic_store_n(&s_features, f, __ATOMIC_RELAXED);
    }
    return f & ~(1u << 31);
}
