// Scans along one axis: cumsum cumprod cummax cummin logcumsumexp, inclusive or exclusive,
// forwards or reversed. They fold as the reductions do (fold.h): floating sums and products
// accumulate in double, integer ones wrap modulo 2^64 (then to the output's width), max and
// min propagate NaN; logcumsumexp adds exponentials in log space, in double. An exclusive
// scan writes the running value before folding the element in, starting from the identity.

#include <algorithm>
#include <limits>
#include <memory>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/fold.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

template <Reduction R>
struct ReductionFold {
  template <typename C>
  using Of = Fold<R, C>;
};

// log(exp(acc) + exp(x)) as the logaddexp kernel computes it (AddInLogSpace), in double.
// Only floating outputs reach it (logcumsumexp's type is floating).
struct LogAddExpFold {
  template <typename C>
  struct Of {
    using A = double;
    static A Init() { return -std::numeric_limits<double>::infinity(); }
    static A Combine(A acc, C element) { return AddInLogSpace(acc, static_cast<double>(element)); }
  };
};

absl::StatusOr<bool> GetFlag(const core::Node& node, const std::string& name) {
  absl::StatusOr<int64_t> value = GetAttr<int64_t>(node, name);
  if (!value.ok()) return value.status();
  return *value != 0;
}

template <typename FoldFamily>
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
  HostScratch scratch;
  absl::StatusOr<const void*> converted = ElementsAs(node.op, in, out.dtype(), scratch);
  if (!converted.ok()) return converted.status();
  const void* data = *converted;
  DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using F = typename FoldFamily::template Of<ComputeType<T>>;
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
  table["cumsum"] = &ScanKernel<ReductionFold<Reduction::kSum>>;
  table["cumprod"] = &ScanKernel<ReductionFold<Reduction::kProd>>;
  table["cummax"] = &ScanKernel<ReductionFold<Reduction::kMax>>;
  table["cummin"] = &ScanKernel<ReductionFold<Reduction::kMin>>;
  table["logcumsumexp"] = &ScanKernel<LogAddExpFold>;
}

}  // namespace ferry::kernels::cpu
