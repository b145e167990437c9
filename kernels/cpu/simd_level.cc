#include "kernels/cpu/simd_level.h"

namespace ferry::kernels::cpu {

SimdLevel BestSimdLevel() {
#if defined(FERRY_X86_SIMD_BUILDS)
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SimdLevel::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
    return SimdLevel::kBaseline;
  }();
  return level;
#else
  return SimdLevel::kBaseline;
#endif
}

}  // namespace ferry::kernels::cpu
