// softmax and logsumexp over groups, one block per group, as kernels/cpu/softmax.cc: the
// group's maximum m (0 when not finite) is subtracted, exp(x - m) computed in the compute
// type and summed in double; softmax = exp(x - m) / sum, logsumexp = m + log(sum).

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <bool kLogSumExp, typename T>
__global__ void SoftmaxKernel(const T* x, T* y, Indexer kept, Indexer reduced, int64_t outputs,
                              int64_t count) {
  using C = ComputeType<T>;
  __shared__ double shared[kThreads];
  for (int64_t g = blockIdx.x; g < outputs; g += gridDim.x) {
    int64_t base[1], off[1];
    Offsets(kept, g, base);
    C m = -std::numeric_limits<C>::infinity();
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      Offsets(reduced, j, off);
      const C v = Load(x + base[0] + off[0]);
      if (v > m || v != v) m = v;
    }
    // double holds every C exactly, so the block's max goes through the same buffer.
    const double dm = BlockReduce(static_cast<double>(m), shared,
                                  [](double a, double b) { return (b > a || b != b) ? b : a; });
    m = static_cast<C>(dm);
    if (!isfinite(m)) m = C(0);
    double sum = 0;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      Offsets(reduced, j, off);
      sum += static_cast<double>(exp(Load(x + base[0] + off[0]) - m));
    }
    sum = BlockReduce(sum, shared, [](double a, double b) { return a + b; });
    if constexpr (kLogSumExp) {
      if (threadIdx.x == 0) Store(y + g, static_cast<C>(log(sum) + static_cast<double>(m)));
    } else {
      for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
        Offsets(reduced, j, off);
        const int64_t at = base[0] + off[0];
        Store(y + at, static_cast<C>(static_cast<double>(exp(Load(x + at) - m)) / sum));
      }
    }
  }
}

// Groups of up to blockDim.x * kCached elements stay in registers between the passes: x is
// read once and exp computed once per element (the same values as SoftmaxKernel).
constexpr int kCached = 32;

template <bool kLogSumExp, typename T>
__global__ void CachedSoftmaxKernel(const T* x, T* y, Indexer kept, Indexer reduced,
                                    int64_t outputs, int64_t count) {
  using C = ComputeType<T>;
  __shared__ double shared[kThreads];
  for (int64_t g = blockIdx.x; g < outputs; g += gridDim.x) {
    int64_t base[1], off[1];
    Offsets(kept, g, base);
    C v[kCached];
    C m = -std::numeric_limits<C>::infinity();
#pragma unroll
    for (int k = 0; k < kCached; ++k) {
      const int64_t j = threadIdx.x + int64_t{k} * blockDim.x;
      if (j < count) {
        Offsets(reduced, j, off);
        v[k] = Load(x + base[0] + off[0]);
        if (v[k] > m || v[k] != v[k]) m = v[k];
      }
    }
    const double dm = BlockReduce(static_cast<double>(m), shared,
                                  [](double a, double b) { return (b > a || b != b) ? b : a; });
    m = static_cast<C>(dm);
    if (!isfinite(m)) m = C(0);
    double sum = 0;
#pragma unroll
    for (int k = 0; k < kCached; ++k) {
      if (threadIdx.x + int64_t{k} * blockDim.x < count) {
        v[k] = exp(v[k] - m);
        sum += static_cast<double>(v[k]);
      }
    }
    sum = BlockReduce(sum, shared, [](double a, double b) { return a + b; });
    if constexpr (kLogSumExp) {
      if (threadIdx.x == 0) Store(y + g, static_cast<C>(log(sum) + static_cast<double>(m)));
    } else {
#pragma unroll
      for (int k = 0; k < kCached; ++k) {
        const int64_t j = threadIdx.x + int64_t{k} * blockDim.x;
        if (j < count) {
          Offsets(reduced, j, off);
          Store(y + base[0] + off[0], static_cast<C>(static_cast<double>(v[k]) / sum));
        }
      }
    }
  }
}

template <bool kLogSumExp>
cudaError_t Launch(core::DType dtype, const void* x, void* y, const Indexer& kept,
                   const Indexer& reduced, int64_t outputs, int64_t count, cudaStream_t stream) {
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsFloating<T>) {
      return cudaErrorInvalidValue;
    } else {
      const unsigned blocks =
          static_cast<unsigned>(outputs < (1 << 20) ? (outputs > 0 ? outputs : 1) : (1 << 20));
      const unsigned threads = count < 1024 ? 64 : kThreads;
      if (count <= int64_t{threads} * kCached) {
        CachedSoftmaxKernel<kLogSumExp, T><<<blocks, threads, 0, stream>>>(
            static_cast<const T*>(x), static_cast<T*>(y), kept, reduced, outputs, count);
      } else {
        SoftmaxKernel<kLogSumExp, T><<<blocks, threads, 0, stream>>>(
            static_cast<const T*>(x), static_cast<T*>(y), kept, reduced, outputs, count);
      }
      return cudaGetLastError();
    }
  });
}

}  // namespace

cudaError_t LaunchSoftmax(bool logsumexp, core::DType dtype, const void* x, void* y,
                          const Indexer& kept, const Indexer& reduced, int64_t outputs,
                          int64_t count, cudaStream_t stream) {
  if (outputs == 0) return cudaSuccess;
  return logsumexp ? Launch<true>(dtype, x, y, kept, reduced, outputs, count, stream)
                   : Launch<false>(dtype, x, y, kept, reduced, outputs, count, stream);
}

}  // namespace ferry::kernels::cuda
