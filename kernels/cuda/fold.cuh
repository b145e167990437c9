#ifndef FERRY_KERNELS_CUDA_FOLD_CUH_
#define FERRY_KERNELS_CUDA_FOLD_CUH_

// How the reductions and scans fold elements (as kernels/cpu/fold.h): the accumulator type,
// its start value, the merge, and the final value. Floating sums and products accumulate
// in double, complex64 ones in Complex<double>, integer ones in uint64_t.

#include "kernels/cuda/complex.cuh"
#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {

template <ReduceOp R, typename C>
struct Fold {
  static constexpr bool kExtremum = R == ReduceOp::kMax || R == ReduceOp::kMin;
  using A = std::conditional_t<
      kExtremum, C,
      std::conditional_t<kIsComplex<C>, Complex<double>,
                         std::conditional_t<std::is_floating_point_v<C>, double, uint64_t>>>;

  __device__ static A Init() {
    if constexpr (R == ReduceOp::kProd) {
      return A(1);
    } else if constexpr (R == ReduceOp::kMax) {
      if constexpr (std::is_floating_point_v<C>) {
        return -std::numeric_limits<C>::infinity();
      } else {
        return std::numeric_limits<C>::lowest();
      }
    } else if constexpr (R == ReduceOp::kMin) {
      if constexpr (std::is_floating_point_v<C>) {
        return std::numeric_limits<C>::infinity();
      } else {
        return std::numeric_limits<C>::max();
      }
    } else {
      return A(0);
    }
  }

  // Folds an element, or (for the block's tree) another partial result, into acc.
  __device__ static A Merge(A acc, A x) {
    if constexpr (R == ReduceOp::kMax) {
      return (x > acc || x != x) ? x : acc;
    } else if constexpr (R == ReduceOp::kMin) {
      return (x < acc || x != x) ? x : acc;
    } else if constexpr (R == ReduceOp::kProd) {
      return acc * x;
    } else {
      return acc + x;
    }
  }

  __device__ static C Finish(A acc, int64_t count) {
    if constexpr (R == ReduceOp::kMean) {
      if constexpr (std::is_floating_point_v<C> || kIsComplex<C>) {
        return static_cast<C>(acc / static_cast<double>(count));
      } else {
        return C(0);  // unreachable: mean's output type is floating
      }
    } else {
      return static_cast<C>(acc);
    }
  }
};

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_FOLD_CUH_
