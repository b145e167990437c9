// softmax and logsumexp over a list of axes, numerically stable: each group's maximum m is
// subtracted before exponentiating (0 instead when m is infinite or NaN, so -inf rows give
// 0 and NaN stays NaN), the exponentials are summed in double, and
//   softmax = exp(x - m) / sum,   logsumexp = m + log(sum).
// Integer inputs compute in the floating output dtype; float16 and bfloat16 in float.

#include <cmath>
#include <limits>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/float_math.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

template <bool kLogSumExp>
absl::Status SoftmaxKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                           const Tensor& out) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(node, "axes");
  if (!axes.ok()) return axes.status();
  const Tensor& in = inputs[0];
  const core::Shape& shape = in.shape();
  const int rank = static_cast<int>(shape.size());
  core::Shape group_shape = shape;  // one group per output of the max and the sum
  std::vector<bool> reduced(rank, false);
  for (int64_t axis : *axes) {
    absl::StatusOr<int> a = core::NormalizeAxis(axis, rank);
    if (!a.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", a.status().message()));
    }
    reduced[*a] = true;
    group_shape[*a] = 1;
  }
  std::vector<int64_t> group_strides = core::ContiguousStrides(group_shape);
  for (int d = 0; d < rank; ++d) {
    if (reduced[d]) group_strides[d] = 0;
  }
  const std::vector<int64_t> dense = core::ContiguousStrides(shape);
  const int64_t groups = core::NumElements(group_shape);
  std::unique_ptr<char[]> scratch;
  const void* data = ElementsAs(in, out.dtype(), scratch);
  return DispatchDType(out.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    if constexpr (!std::is_floating_point_v<C>) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", node.op, "] needs a floating dtype, not ", DTypeString(out.dtype())));
    } else {
      const T* x = static_cast<const T*>(data);
      std::vector<C> shift(static_cast<size_t>(groups), -std::numeric_limits<C>::infinity());
      std::vector<double> sum(static_cast<size_t>(groups), 0.0);
      ForEachRow<2>(
          shape, {dense, group_strides}, {0, 0},
          [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
            for (int64_t i = 0; i < n; ++i) {
              C& m = shift[off[1] + i * step[1]];
              const C v = Load(x + off[0] + i * step[0]);
              if (v > m || v != v) m = v;
            }
          });
      for (C& m : shift) {
        if (!std::isfinite(m)) m = C(0);
      }
      ForEachRow<2>(
          shape, {dense, group_strides}, {0, 0},
          [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
            for (int64_t i = 0; i < n; ++i) {
              const int64_t g = off[1] + i * step[1];
              sum[g] += ExpOf(Load(x + off[0] + i * step[0]) - shift[g]);
            }
          });
      T* y = out.data<T>();
      if constexpr (kLogSumExp) {
        for (int64_t g = 0; g < groups; ++g) {
          Store(y + g, static_cast<C>(std::log(sum[g]) + static_cast<double>(shift[g])));
        }
      } else {
        ForEachRow<2>(
            shape, {dense, group_strides}, {0, 0},
            [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
              for (int64_t i = 0; i < n; ++i) {
                const int64_t at = off[0] + i * step[0];
                const int64_t g = off[1] + i * step[1];
                Store(y + at, static_cast<C>(ExpOf(Load(x + at) - shift[g]) / sum[g]));
              }
            });
      }
      return absl::OkStatus();
    }
  });
}

}  // namespace

void RegisterSoftmaxKernels(KernelTable& table) {
  table["softmax"] = &SoftmaxKernel<false>;
  table["logsumexp"] = &SoftmaxKernel<true>;
}

}  // namespace ferry::kernels::cpu
