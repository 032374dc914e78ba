/* CPU features for the code paths chosen at run time (the Vectorscan implementation, the JSON
 * unescape's AVX-512 path). Not __builtin_cpu_supports: linking it brings libgcc's
 * __cpu_indicator_init, a constructor that runs a dozen CPUID instructions in every process
 * start, before main (each one a VM exit under a hypervisor: 6 us here, docs/performance.md
 * session 10), wrap's included, on the cold start's path. These are asked for when needed. */
#ifndef PROTECTLAMBDA_CPUFEAT_H
#define PROTECTLAMBDA_CPUFEAT_H

enum pl_cpu_feature {
    PL_CPU_SSSE3 = 1u << 0,
    PL_CPU_SSE42 = 1u << 1,
    PL_CPU_POPCNT = 1u << 2,
    PL_CPU_AVX2 = 1u << 3, /* with the OS saving the AVX state (XCR0) */
    PL_CPU_BMI = 1u << 4,
    PL_CPU_BMI2 = 1u << 5,
    PL_CPU_AVX512BW = 1u << 6, /* AVX-512 F and BW, with the OS saving the AVX-512 state */
    PL_CPU_AVX512VBMI2 = 1u << 7,
};

/* the features of this CPU (PL_CPU_* bits), found on the first call and kept (thread-safe) */
unsigned pl_cpu_features(void);

/* all of `want` present */
static inline int pl_cpu_has(unsigned want) { return (pl_cpu_features() & want) == want; }

#endif
