// quantized_matmul's loops (quantized_matmul_loops.h) at the baseline, 16-byte vectors (SSE2
// on x86-64, NEON on ARM), and the choice among the builds.

#include "kernels/cpu/quantized_matmul_loops.h"

#include <algorithm>

#include "kernels/cpu/simd_level.h"

namespace ferry::kernels::cpu {
namespace {

typedef float Float4 __attribute__((vector_size(16)));
typedef double Double2 __attribute__((vector_size(16)));
typedef int32_t Int4 __attribute__((vector_size(16)));
typedef int32_t Int2 __attribute__((vector_size(8)));

template <typename T, typename V, typename W>
struct Baseline {
  using F = T;
  using Vec = V;
  using Words = W;
  static constexpr int kLanes = sizeof(V) / sizeof(T);
  static constexpr int kRows = 8;
};

}  // namespace

QuantizedLoops<float> Float32QuantizedLoops(int bits, SimdLevel level) {
#if defined(FERRY_X86_SIMD_BUILDS)
  level = std::min(level, BestSimdLevel());
  if (level == SimdLevel::kAvx512) return QuantizedLoopsAvx512(bits);
  if (level == SimdLevel::kAvx2) return QuantizedLoopsAvx2(bits);
#endif
  return quantized_loops::ForBits<Baseline<float, Float4, Int4>>(bits);
}

QuantizedLoops<double> Float64QuantizedLoops(int bits) {
  return quantized_loops::ForBits<Baseline<double, Double2, Int2>>(bits);
}

}  // namespace ferry::kernels::cpu
