#ifndef FERRY_KERNELS_CPU_FOLD_H_
#define FERRY_KERNELS_CPU_FOLD_H_

// How the reductions (reduce.cc) and the scans (scan.cc) fold elements into a running
// value: floating sums and products in double (complex ones in complex<double>), integer
// ones wrapping in uint64_t, max and
// min propagating NaN, all and any as bool.

#include <complex>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace ferry::kernels::cpu {

enum class Reduction { kSum, kProd, kMean, kMax, kMin, kAll, kAny };

// The accumulator, its start value, how an element folds in, and the final value.
template <Reduction R, typename C>
struct Fold {
  static constexpr bool kExtremum = R == Reduction::kMax || R == Reduction::kMin;
  static constexpr bool kLogical = R == Reduction::kAll || R == Reduction::kAny;
  static constexpr bool kComplex = std::is_same_v<C, std::complex<float>>;
  using A = std::conditional_t<
      kExtremum || kLogical, C,
      std::conditional_t<kComplex, std::complex<double>,
                         std::conditional_t<std::is_floating_point_v<C>, double, uint64_t>>>;

  static A Init() {
    if constexpr (R == Reduction::kProd || R == Reduction::kAll) {
      return A(1);
    } else if constexpr (R == Reduction::kMax) {
      if constexpr (std::is_floating_point_v<C>) return -std::numeric_limits<C>::infinity();
      return std::numeric_limits<C>::lowest();
    } else if constexpr (R == Reduction::kMin) {
      if constexpr (std::is_floating_point_v<C>) return std::numeric_limits<C>::infinity();
      return std::numeric_limits<C>::max();
    } else {
      return A(0);
    }
  }

  static A Combine(A acc, C x) {
    if constexpr (R == Reduction::kAll) {
      return acc && x;
    } else if constexpr (R == Reduction::kAny) {
      return acc || x;
    } else if constexpr (R == Reduction::kMax) {
      return (x > acc || x != x) ? x : acc;
    } else if constexpr (R == Reduction::kMin) {
      return (x < acc || x != x) ? x : acc;
    } else if constexpr (R == Reduction::kProd) {
      return acc * static_cast<A>(x);
    } else {
      return acc + static_cast<A>(x);
    }
  }

  static C Finish(A acc, int64_t count) {
    if constexpr (R == Reduction::kMean) {
      if constexpr (std::is_floating_point_v<C> || kComplex) {
        return static_cast<C>(acc / static_cast<double>(count));
      } else {
        return C(0);  // unreachable: mean's output type is floating
      }
    } else {
      return static_cast<C>(acc);
    }
  }
};

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_FOLD_H_
