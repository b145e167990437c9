#ifndef FERRY_KERNELS_CPU_SIMD_LEVEL_H_
#define FERRY_KERNELS_CPU_SIMD_LEVEL_H_

// The vector instruction sets hot CPU loops are built for besides the baseline: the build
// targets baseline x86-64 (SSE2), and files named *_avx2.cc / *_avx512.cc build their loops
// again for wider registers, called only where BestSimdLevel() says the CPU has them.

// Those files build only with GCC on x86-64 (`#pragma GCC target`); elsewhere every level is
// the baseline (on ARM, NEON through the same vector extensions).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FERRY_X86_SIMD_BUILDS 1
#endif

// A function built three times, for AVX-512, AVX2 and the baseline, the loader picking the
// CPU's best (GCC's target_clones): for a short loop the compiler vectorizes by itself.
// Built with -ffp-contract=off, each build gives the same bits.
#if defined(FERRY_X86_SIMD_BUILDS)
#define FERRY_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FERRY_TARGET_CLONES
#endif

namespace ferry::kernels::cpu {

// Each includes the one before. kAvx2 also means FMA (every AVX2 CPU has it).
enum class SimdLevel { kBaseline, kAvx2, kAvx512 };

// The widest level both this build and this CPU have.
SimdLevel BestSimdLevel();

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_SIMD_LEVEL_H_
