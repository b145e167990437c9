// Scans along one axis (cumsum cumprod cummax cummin logcumsumexp), computed as
// kernels/cpu/scan.cc does: one thread per column walks the axis in order, so the rounding
// is the CPU's. Floating sums and products accumulate in double, integer ones wrap modulo
// 2^64, max and min propagate NaN, logcumsumexp adds exponentials in log space in double;
// an exclusive scan writes the running value before folding in.

#include "kernels/cuda/device.cuh"
#include "kernels/cuda/fold.cuh"

namespace ferry::kernels::cuda {
namespace {

// The reduction that folds as scan R does.
template <ScanOp R>
inline constexpr ReduceOp kFoldOf = R == ScanOp::kSum    ? ReduceOp::kSum
                                    : R == ScanOp::kProd ? ReduceOp::kProd
                                    : R == ScanOp::kMax  ? ReduceOp::kMax
                                                         : ReduceOp::kMin;

// log(exp(acc) + exp(x)) in double, as the CPU's LogAddExpFold. Only floating outputs
// reach it.
template <typename C>
struct LogAddExpFold {
  using A = double;
  __device__ static A Init() { return -INFINITY; }
  __device__ static A Merge(A acc, A x) { return AddInLogSpace(acc, x); }
};

template <ScanOp R, typename C>
using ScanFold = std::conditional_t<R == ScanOp::kLogAddExp, LogAddExpFold<C>, Fold<kFoldOf<R>, C>>;

// y may be x: each element is read before it is written, by the same thread.
template <ScanOp R, typename T>
__global__ void ScanKernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool reverse,
                           bool inclusive) {
  using C = ComputeType<T>;
  using F = ScanFold<R, C>;
  using A = typename F::A;
  FERRY_GRID_LOOP(column, outer * inner) {
    const int64_t o = column / inner;
    const int64_t j = column % inner;
    A acc = F::Init();
    for (int64_t step = 0; step < n; ++step) {
      const int64_t k = reverse ? n - 1 - step : step;
      const int64_t offset = (o * n + k) * inner + j;
      const A before = acc;
      acc = F::Merge(before, static_cast<A>(Load(x + offset)));
      Store(y + offset, static_cast<C>(inclusive ? acc : before));
    }
  }
}

template <ScanOp R>
cudaError_t Launch(core::DType dtype, const void* x, void* y, int64_t outer, int64_t n,
                   int64_t inner, bool reverse, bool inclusive, cudaStream_t stream) {
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    ScanKernel<R, T><<<GridFor(outer * inner), kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(y), outer, n, inner, reverse, inclusive);
    return cudaGetLastError();
  });
}

}  // namespace

cudaError_t LaunchScan(ScanOp op, core::DType dtype, const void* x, void* y, int64_t outer,
                       int64_t n, int64_t inner, bool reverse, bool inclusive,
                       cudaStream_t stream) {
  if (outer * n * inner == 0) return cudaSuccess;
  switch (op) {
    case ScanOp::kSum:
      return Launch<ScanOp::kSum>(dtype, x, y, outer, n, inner, reverse, inclusive, stream);
    case ScanOp::kProd:
      return Launch<ScanOp::kProd>(dtype, x, y, outer, n, inner, reverse, inclusive, stream);
    case ScanOp::kMax:
      return Launch<ScanOp::kMax>(dtype, x, y, outer, n, inner, reverse, inclusive, stream);
    case ScanOp::kMin:
      return Launch<ScanOp::kMin>(dtype, x, y, outer, n, inner, reverse, inclusive, stream);
    case ScanOp::kLogAddExp:
      return Launch<ScanOp::kLogAddExp>(dtype, x, y, outer, n, inner, reverse, inclusive, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ferry::kernels::cuda
