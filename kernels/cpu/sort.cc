// sort, argsort, partition and argpartition along one axis: a stable ascending sort with
// NaN last, as NumPy. partition sorts fully too, which satisfies its contract exactly and
// gives one deterministic answer for other backends to match.

#include <algorithm>
#include <numeric>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

template <bool kIndices>
absl::Status SortKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                        const Tensor& out) {
  const Tensor& in = inputs[0];
  absl::StatusOr<int64_t> axis = GetAttr<int64_t>(node, "axis");
  if (!axis.ok()) return axis.status();
  const core::Shape& shape = in.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < *axis; ++d) outer *= shape[d];
  for (size_t d = static_cast<size_t>(*axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t n = shape[*axis];
  return DispatchDType(in.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    const T* x = in.data<T>();
    std::vector<C> values(static_cast<size_t>(n));
    std::vector<uint32_t> order(static_cast<size_t>(n));
    auto before = [&](uint32_t i, uint32_t j) {
      const C a = values[i], b = values[j];
      if constexpr (kIsFloating<T>) {
        if (a != a) return false;
        if (b != b) return true;
      }
      return a < b;
    };
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t k = 0; k < inner; ++k) {
        const int64_t base = o * n * inner + k;
        for (int64_t j = 0; j < n; ++j) values[j] = Load(x + base + j * inner);
        std::iota(order.begin(), order.end(), 0u);
        std::stable_sort(order.begin(), order.end(), before);
        for (int64_t j = 0; j < n; ++j) {
          if constexpr (kIndices) {
            out.data<uint32_t>()[base + j * inner] = order[j];
          } else {
            out.data<T>()[base + j * inner] = x[base + order[j] * inner];
          }
        }
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterSortKernels(KernelTable& table) {
  table["sort"] = &SortKernel<false>;
  table["argsort"] = &SortKernel<true>;
  table["partition"] = &SortKernel<false>;
  table["argpartition"] = &SortKernel<true>;
}

}  // namespace ferry::kernels::cpu
