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

namespace ferry::kernels::cpu {

// Each includes the one before. kAvx2 also means FMA (every AVX2 CPU has it).
enum class SimdLevel { kBaseline, kAvx2, kAvx512 };

// The widest level both this build and this CPU have.
SimdLevel BestSimdLevel();

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_SIMD_LEVEL_H_
