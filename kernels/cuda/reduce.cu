// Reductions, computed as kernels/cpu/reduce.cc does: floating sums and products
// accumulate in double, integer ones wrap modulo 2^64, max and min propagate NaN; argmax
// and argmin give the first extreme index, a NaN counting as beyond every number. A group
// of few elements takes one thread, a longer one a block, and many groups side by side in
// memory a block of columns. complex64 takes sum, prod and mean, accumulating in
// Complex<double> (fold.cuh).

#include "kernels/cuda/device.cuh"
#include "kernels/cuda/fold.cuh"

namespace ferry::kernels::cuda {
namespace {

constexpr int64_t kThreadPerGroupBelow = 64;

template <ReduceOp R, typename T>
__global__ void ReduceThreadKernel(const T* x, T* y, Indexer kept, Indexer reduced, int64_t outputs,
                                   int64_t count) {
  using F = Fold<R, ComputeType<T>>;
  using A = typename F::A;
  FERRY_GRID_LOOP(g, outputs) {
    int64_t base[1], off[1];
    Offsets(kept, g, base);
    A acc = F::Init();
    for (int64_t j = 0; j < count; ++j) {
      Offsets(reduced, j, off);
      acc = F::Merge(acc, static_cast<A>(Load(x + base[0] + off[0])));
    }
    Store(y + g, F::Finish(acc, count));
  }
}

template <ReduceOp R, typename T>
__global__ void ReduceBlockKernel(const T* x, T* y, Indexer kept, Indexer reduced, int64_t outputs,
                                  int64_t count) {
  using F = Fold<R, ComputeType<T>>;
  using A = typename F::A;
  __shared__ A shared[kThreads];
  for (int64_t g = blockIdx.x; g < outputs; g += gridDim.x) {
    int64_t base[1], off[1];
    Offsets(kept, g, base);
    A acc = F::Init();
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      Offsets(reduced, j, off);
      acc = F::Merge(acc, static_cast<A>(Load(x + base[0] + off[0])));
    }
    acc = BlockReduce(acc, shared, [](A a, A b) { return F::Merge(a, b); });
    if (threadIdx.x == 0) Store(y + g, F::Finish(acc, count));
  }
}

// Reductions whose neighbouring outputs are neighbours in memory and whose reduced elements
// are not (a sum over axis 0 of a matrix): one block per kColumns outputs, so a warp reads
// 32 adjacent elements at once, and its kColumnRows rows of threads split the reduced range.
// (A block per output would read one element per 32-byte sector.)
constexpr int kColumns = 32;
constexpr int kColumnRows = 32;
constexpr int64_t kColumnsFrom = 1024;  // fewer outputs keep more blocks busy one per output

template <ReduceOp R, typename T>
__global__ void ReduceColumnsKernel(const T* x, T* y, Indexer kept, Indexer reduced,
                                    int64_t outputs, int64_t count) {
  using F = Fold<R, ComputeType<T>>;
  using A = typename F::A;
  __shared__ A partial[kColumnRows][kColumns + 1];
  const int64_t g = blockIdx.x * int64_t{kColumns} + threadIdx.x;
  A acc = F::Init();
  if (g < outputs) {
    int64_t base[1], off[1];
    Offsets(kept, g, base);
    for (int64_t j = threadIdx.y; j < count; j += kColumnRows) {
      Offsets(reduced, j, off);
      acc = F::Merge(acc, static_cast<A>(Load(x + base[0] + off[0])));
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && g < outputs) {
    for (int r = 1; r < kColumnRows; ++r) acc = F::Merge(acc, partial[r][threadIdx.x]);
    Store(y + g, F::Finish(acc, count));
  }
}

bool IsColumnReduction(const Indexer& kept, const Indexer& reduced, int64_t outputs,
                       int64_t count) {
  return outputs >= kColumnsFrom && outputs / kColumns < INT32_MAX &&
         count >= kThreadPerGroupBelow && kept.rank > 0 && kept.strides[0][kept.rank - 1] == 1 &&
         reduced.rank > 0 && reduced.strides[0][reduced.rank - 1] != 1;
}

unsigned BlocksFor(int64_t groups) {
  return static_cast<unsigned>(groups < (1 << 20) ? (groups > 0 ? groups : 1) : (1 << 20));
}

template <ReduceOp R, typename T>
cudaError_t LaunchTyped(const void* x, void* y, const Indexer& kept, const Indexer& reduced,
                        int64_t outputs, int64_t count, cudaStream_t stream) {
  if (IsColumnReduction(kept, reduced, outputs, count)) {
    const auto blocks = static_cast<unsigned>((outputs + kColumns - 1) / kColumns);
    ReduceColumnsKernel<R, T><<<blocks, dim3(kColumns, kColumnRows), 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(y), kept, reduced, outputs, count);
  } else if (count < kThreadPerGroupBelow) {
    ReduceThreadKernel<R, T><<<GridFor(outputs), kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(y), kept, reduced, outputs, count);
  } else {
    ReduceBlockKernel<R, T><<<BlocksFor(outputs), kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(y), kept, reduced, outputs, count);
  }
  return cudaGetLastError();
}

template <ReduceOp R>
cudaError_t Launch(core::DType dtype, const void* x, void* y, const Indexer& kept,
                   const Indexer& reduced, int64_t outputs, int64_t count, cudaStream_t stream) {
  if (dtype == core::DType::kComplex64) {
    if constexpr (R == ReduceOp::kSum || R == ReduceOp::kProd || R == ReduceOp::kMean) {
      return LaunchTyped<R, Complex64>(x, y, kept, reduced, outputs, count, stream);
    } else {
      return cudaErrorInvalidValue;  // refused by core
    }
  }
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool> || (R == ReduceOp::kMean && !kIsFloating<T>)) {
      return cudaErrorInvalidValue;  // the caller converts to the output dtype first
    } else {
      return LaunchTyped<R, T>(x, y, kept, reduced, outputs, count, stream);
    }
  });
}

// A candidate for argmax/argmin: a value and its index (-1: none yet).
template <typename C>
struct Candidate {
  C value;
  int64_t index;
};

template <bool kMax, typename C>
__device__ __forceinline__ Candidate<C> Prefer(Candidate<C> a, Candidate<C> b) {
  if (a.index < 0) return b;
  if (b.index < 0) return a;
  const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
  if (a_nan != b_nan) return a_nan ? a : b;
  if (!a_nan && a.value != b.value) return (kMax ? a.value > b.value : a.value < b.value) ? a : b;
  return a.index < b.index ? a : b;
}

template <bool kMax, typename T>
__global__ void ArgKernel(const T* x, uint32_t* y, Indexer kept, Indexer reduced, int64_t outputs,
                          int64_t count) {
  using C = ComputeType<T>;
  __shared__ Candidate<C> shared[kThreads];
  for (int64_t g = blockIdx.x; g < outputs; g += gridDim.x) {
    int64_t base[1], off[1];
    Offsets(kept, g, base);
    Candidate<C> best{C(0), -1};
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      Offsets(reduced, j, off);
      best = Prefer<kMax>(best, Candidate<C>{Load(x + base[0] + off[0]), j});
    }
    best = BlockReduce(best, shared,
                       [](Candidate<C> a, Candidate<C> b) { return Prefer<kMax>(a, b); });
    if (threadIdx.x == 0) y[g] = static_cast<uint32_t>(best.index);
  }
}

template <bool kMax>
cudaError_t LaunchArg(core::DType dtype, const void* x, uint32_t* y, const Indexer& kept,
                      const Indexer& reduced, int64_t outputs, int64_t count, cudaStream_t stream) {
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // A short axis uses few of the block's threads; still one launch, and correct.
    const unsigned threads = count < kThreadPerGroupBelow ? 64 : kThreads;
    ArgKernel<kMax, T><<<BlocksFor(outputs), threads, 0, stream>>>(static_cast<const T*>(x), y,
                                                                   kept, reduced, outputs, count);
    return cudaGetLastError();
  });
}

}  // namespace

cudaError_t LaunchReduce(ReduceOp op, core::DType dtype, const void* x, void* y,
                         const Indexer& kept, const Indexer& reduced, int64_t outputs,
                         int64_t count, cudaStream_t stream) {
  if (outputs == 0) return cudaSuccess;
  switch (op) {
    case ReduceOp::kSum:
      return Launch<ReduceOp::kSum>(dtype, x, y, kept, reduced, outputs, count, stream);
    case ReduceOp::kProd:
      return Launch<ReduceOp::kProd>(dtype, x, y, kept, reduced, outputs, count, stream);
    case ReduceOp::kMean:
      return Launch<ReduceOp::kMean>(dtype, x, y, kept, reduced, outputs, count, stream);
    case ReduceOp::kMax:
      return Launch<ReduceOp::kMax>(dtype, x, y, kept, reduced, outputs, count, stream);
    case ReduceOp::kMin:
      return Launch<ReduceOp::kMin>(dtype, x, y, kept, reduced, outputs, count, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchArgReduce(bool max, core::DType dtype, const void* x, uint32_t* y,
                            const Indexer& kept, const Indexer& reduced, int64_t outputs,
                            int64_t count, cudaStream_t stream) {
  if (outputs == 0) return cudaSuccess;
  return max ? LaunchArg<true>(dtype, x, y, kept, reduced, outputs, count, stream)
             : LaunchArg<false>(dtype, x, y, kept, reduced, outputs, count, stream);
}

}  // namespace ferry::kernels::cuda
