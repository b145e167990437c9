#include "kernels/cpu/collective_reduce.h"

#include <cmath>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/dispatch.h"

namespace ferry::kernels::cpu {
namespace {

template <typename C>
C Combine(ReduceOp op, C a, C b) {
  if constexpr (kIsComplex<C>) {
    return a + b;  // only sums take complex64
  } else if constexpr (std::is_integral_v<C>) {
    using U = std::make_unsigned_t<C>;
    if (op == ReduceOp::kSum) return static_cast<C>(static_cast<U>(a) + static_cast<U>(b));
    return op == ReduceOp::kMax ? (a > b ? a : b) : (a < b ? a : b);
  } else {
    if (op == ReduceOp::kSum) return a + b;
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
    return op == ReduceOp::kMax ? (a > b ? a : b) : (a < b ? a : b);
  }
}

}  // namespace

absl::Status ReduceInto(ReduceOp op, core::DType dtype, void* acc, const void* in, int64_t count) {
  if (dtype == core::DType::kBool || (dtype == core::DType::kComplex64 && op != ReduceOp::kSum)) {
    return absl::InvalidArgumentError(
        absl::StrCat("collectives cannot combine ", core::DTypeName(dtype), " this way"));
  }
  DispatchWithComplex(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      T* a = static_cast<T*>(acc);
      const T* b = static_cast<const T*>(in);
      for (int64_t i = 0; i < count; ++i) {
        if constexpr (kIsComplex<T>) {
          a[i] += b[i];
        } else {
          Store(a + i, Combine<ComputeType<T>>(op, Load(a + i), Load(b + i)));
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace ferry::kernels::cpu
