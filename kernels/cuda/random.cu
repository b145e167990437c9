// random_uniform and random_normal: element i is core/philox.h's pure function of the key
// and i, the same code the CPU backend runs, so both draw the same numbers.

#include "core/philox.h"
#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <bool kUniform, typename T>
__global__ void RandomKernel(const uint32_t* key_words, double a, double b, bool cap,
                             double below_b, T* dst, int64_t n) {
  const core::PhiloxKey key = core::PhiloxKeyFromWords(key_words[0], key_words[1]);
  using C = ComputeType<T>;
  FERRY_GRID_LOOP(i, n) {
    const uint64_t index = static_cast<uint64_t>(i);
    if constexpr (kUniform) {
      // Rounded as the CPU does: double -> C -> T.
      Store(dst + i, static_cast<C>(core::PhiloxUniform(index, key, a, b)));
      if (cap && static_cast<double>(Load(dst + i)) >= b) Store(dst + i, static_cast<C>(below_b));
    } else {
      Store(dst + i, static_cast<C>(core::PhiloxNormal(index, key, a, b)));
    }
  }
}

template <bool kUniform>
cudaError_t Launch(core::DType dtype, const uint32_t* key, double a, double b, bool cap,
                   double below_b, void* dst, int64_t n, cudaStream_t stream) {
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsFloating<T>) {
      return cudaErrorInvalidValue;
    } else {
      RandomKernel<kUniform, T>
          <<<GridFor(n), kThreads, 0, stream>>>(key, a, b, cap, below_b, static_cast<T*>(dst), n);
      return cudaGetLastError();
    }
  });
}

__global__ void RandomBitsKernel(const uint32_t* key_words, uint32_t* y, int64_t n) {
  const core::PhiloxKey key = core::PhiloxKeyFromWords(key_words[0], key_words[1]);
  FERRY_GRID_LOOP(i, n) { y[i] = core::PhiloxBlock(static_cast<uint64_t>(i), key).v[0]; }
}

}  // namespace

cudaError_t LaunchRandomBits(const uint32_t* key, uint32_t* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  RandomBitsKernel<<<GridFor(n), kThreads, 0, stream>>>(key, y, n);
  return cudaGetLastError();
}

cudaError_t LaunchRandom(bool uniform, core::DType dtype, const uint32_t* key, double a, double b,
                         bool cap, double below_b, void* dst, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return uniform ? Launch<true>(dtype, key, a, b, cap, below_b, dst, n, stream)
                 : Launch<false>(dtype, key, a, b, cap, below_b, dst, n, stream);
}

}  // namespace ferry::kernels::cuda
