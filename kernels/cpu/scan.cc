// Scans along one axis: cumsum cumprod cummax cummin, inclusive or exclusive, forwards or
// reversed. As the reductions: floating sums and products accumulate in double, integer
// ones wrap modulo 2^64 (then to the output's width), max and min propagate NaN. An
// exclusive scan writes the running value before folding the element in, starting from
// the identity.

#include <algorithm>
#include <limits>
#include <memory>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

enum class Scan { kSum, kProd, kMax, kMin };

template <Scan S, typename C>
struct ScanFold {
  static constexpr bool kExtremum = S == Scan::kMax || S == Scan::kMin;
  using A = std::conditional_t<kExtremum, C,
                               std::conditional_t<std::is_floating_point_v<C>, double, uint64_t>>;

  static A Init() {
    if constexpr (S == Scan::kProd) {
      return A(1);
    } else if constexpr (S == Scan::kMax) {
      if constexpr (std::is_floating_point_v<C>) return -std::numeric_limits<C>::infinity();
      return std::numeric_limits<C>::lowest();
    } else if constexpr (S == Scan::kMin) {
      if constexpr (std::is_floating_point_v<C>) return std::numeric_limits<C>::infinity();
      return std::numeric_limits<C>::max();
    } else {
      return A(0);
    }
  }

  static A Combine(A acc, C x) {
    if constexpr (S == Scan::kMax) {
      return (x > acc || x != x) ? x : acc;
    } else if constexpr (S == Scan::kMin) {
      return (x < acc || x != x) ? x : acc;
    } else if constexpr (S == Scan::kProd) {
      return acc * static_cast<A>(x);
    } else {
      return acc + static_cast<A>(x);
    }
  }
};

absl::StatusOr<bool> GetFlag(const core::Node& node, const std::string& name) {
  absl::StatusOr<int64_t> value = GetAttr<int64_t>(node, name);
  if (!value.ok()) return value.status();
  return *value != 0;
}

template <Scan S>
absl::Status ScanKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                        const Tensor& out) {
  absl::StatusOr<int64_t> axis_attr = GetAttr<int64_t>(node, "axis");
  if (!axis_attr.ok()) return axis_attr.status();
  absl::StatusOr<bool> reverse = GetFlag(node, "reverse");
  if (!reverse.ok()) return reverse.status();
  absl::StatusOr<bool> inclusive = GetFlag(node, "inclusive");
  if (!inclusive.ok()) return inclusive.status();
  const Tensor& in = inputs[0];
  const core::Shape& shape = in.shape();
  const int rank = static_cast<int>(shape.size());
  absl::StatusOr<int> axis = core::NormalizeAxis(*axis_attr, rank);
  if (!axis.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", axis.status().message()));
  }
  int64_t outer = 1, n = shape[*axis], inner = 1;
  for (int d = 0; d < *axis; ++d) outer *= shape[d];
  for (int d = *axis + 1; d < rank; ++d) inner *= shape[d];
  if (out.size() == 0) return absl::OkStatus();
  std::unique_ptr<char[]> scratch;
  const void* data = ElementsAs(in, out.dtype(), scratch);
  DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using F = ScanFold<S, ComputeType<T>>;
    using A = typename F::A;
    using C = ComputeType<T>;
    const T* x = static_cast<const T*>(data);
    T* y = out.data<T>();
    std::unique_ptr<A[]> acc(new A[inner]);  // not std::vector: vector<bool> has no data()
    for (int64_t o = 0; o < outer; ++o) {
      std::fill(acc.get(), acc.get() + inner, F::Init());
      for (int64_t step = 0; step < n; ++step) {
        const int64_t k = *reverse ? n - 1 - step : step;
        const int64_t offset = (o * n + k) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const A before = acc[j];
          acc[j] = F::Combine(before, Load(x + offset + j));
          Store(y + offset + j, static_cast<C>(*inclusive ? acc[j] : before));
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterScanKernels(KernelTable& table) {
  table["cumsum"] = &ScanKernel<Scan::kSum>;
  table["cumprod"] = &ScanKernel<Scan::kProd>;
  table["cummax"] = &ScanKernel<Scan::kMax>;
  table["cummin"] = &ScanKernel<Scan::kMin>;
}

}  // namespace ferry::kernels::cpu
