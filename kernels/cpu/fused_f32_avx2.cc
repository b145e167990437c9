// The tile loop (fused_f32_tiles.h) built for AVX2: 8 floats per register. Called only on
// CPUs that have AVX2 (see BestSimdLevel).

#include "kernels/cpu/simd_level.h"

#if defined(FERRY_X86_SIMD_BUILDS)

// Every header before the pragma, which holds to the end of the file (templates are
// instantiated there), so only this file's own functions use AVX2.
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#pragma GCC target("avx2")

#include "kernels/cpu/fused_f32_tiles.h"

namespace ferry::kernels::cpu::f32 {
namespace {

struct Avx2 {
  static constexpr int kLanes = 8;
  typedef float Vec __attribute__((vector_size(32)));
  typedef int32_t Mask __attribute__((vector_size(32)));
  static void Stream(float* p, Vec v) { _mm256_stream_ps(p, v); }
};

}  // namespace

void RunTilesAvx2(const Instr* code, size_t size, int64_t start, int64_t end, float* out,
                  bool stream) {
  RunTiles<Avx2>(code, size, start, end, out, stream);
}

}  // namespace ferry::kernels::cpu::f32

#endif
