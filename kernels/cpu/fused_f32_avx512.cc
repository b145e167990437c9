// The tile loop (fused_f32_tiles.h) built for AVX-512: 16 floats per register. Called only on
// CPUs that have AVX-512F (see BestSimdLevel).

#include "kernels/cpu/simd_level.h"

#if defined(FERRY_X86_SIMD_BUILDS)

// Every header before the pragma, which holds to the end of the file (templates are
// instantiated there), so only this file's own functions use AVX-512.
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#pragma GCC target("avx512f")

#include "kernels/cpu/fused_f32_tiles.h"

namespace ferry::kernels::cpu::f32 {
namespace {

struct Avx512 {
  static constexpr int kLanes = 16;
  typedef float Vec __attribute__((vector_size(64)));
  typedef int32_t Mask __attribute__((vector_size(64)));
  static void Stream(float* p, Vec v) { _mm512_stream_ps(p, v); }
};

}  // namespace

void RunTilesAvx512(const Instr* code, size_t size, int64_t start, int64_t end, float* out,
                    bool stream) {
  RunTiles<Avx512>(code, size, start, end, out, stream);
}

}  // namespace ferry::kernels::cpu::f32

#endif
