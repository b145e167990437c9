// quantized_matmul's loops (quantized_matmul_loops.h) built for AVX2 and FMA: 8 floats per
// register. Called only on CPUs that have them (see BestSimdLevel).

#include "kernels/cpu/simd_level.h"

#if defined(FERRY_X86_SIMD_BUILDS)

// Every header before the pragma, which holds to the end of the file (templates are
// instantiated there), so only this file's own functions use AVX2 and FMA.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_level.h"

#pragma GCC target("avx2,fma")

#include "kernels/cpu/quantized_matmul_loops.h"

namespace ferry::kernels::cpu {
namespace {

struct Avx2 {
  using F = float;
  static constexpr int kLanes = 8;
  static constexpr int kRows = 8;
  typedef float Vec __attribute__((vector_size(32)));
  typedef int32_t Words __attribute__((vector_size(32)));
};

}  // namespace

QuantizedLoops<float> QuantizedLoopsAvx2(int bits) { return quantized_loops::ForBits<Avx2>(bits); }

}  // namespace ferry::kernels::cpu

#endif
