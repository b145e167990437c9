// softmax and logsumexp over a list of axes, numerically stable: each group's maximum m is
// subtracted before exponentiating (0 instead when m is infinite or NaN, so -inf rows give
// 0 and NaN stays NaN), the exponentials are summed in double, and
//   softmax = exp(x - m) / sum,   logsumexp = m + log(sum).
// Integer inputs compute in the floating output dtype; float16 and bfloat16 in float.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/float_math.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_level.h"

namespace ferry::kernels::cpu {
namespace {

// e[i] = exp(e[i]), vectorized.
FERRY_TARGET_CLONES __attribute__((flatten)) void ExpInPlace(float* e, int64_t n) {
  for (int64_t i = 0; i < n; ++i) e[i] = ExpF32(e[i]);
}

// e[i] = e[i] / sums[i], divided in double as the general path divides.
FERRY_TARGET_CLONES void DivideInDouble(float* e, const double* sums, int64_t n) {
  for (int64_t i = 0; i < n; ++i) e[i] = static_cast<float>(static_cast<double>(e[i]) / sums[i]);
}

// The row's maximum (NaN if it holds one), 8 lanes side by side: one compare-and-select
// chain costs its latency per element. Any order gives the same shift but for the sign of a
// zero, which changes no result.
float RowMax(const float* row, int64_t n) {
  constexpr int kLanes = 8;
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  auto fold = [](float m, float v) { return v > m || v != v ? v : m; };
  float lanes[kLanes] = {kLowest, kLowest, kLowest, kLowest, kLowest, kLowest, kLowest, kLowest};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) lanes[k] = fold(lanes[k], row[i + k]);
  }
  float m = kLowest;
  for (; i < n; ++i) m = fold(m, row[i]);
  for (float lane : lanes) m = fold(m, lane);
  return m;
}

// softmax or logsumexp over the last axis of `rows` contiguous float32 rows of `n` (n > 0),
// the common case (attention scores, a classifier's logits), with the general path's bits:
// the same shift, exponentials and quotients, and each row's sum in double in element order.
// Rows go 8 at a time: their shifted values are exponentiated and divided in one vectorized
// pass each (rows are often shorter than a few vectors, and a row's last elements would go
// one by one), and their sums run side by side (one chain of dependent double additions at
// a time left the core idle).
absl::Status LastAxisFloat32(absl::string_view op, const float* x, int64_t rows, int64_t n,
                             bool log_sum_exp, float* y) {
  constexpr int64_t kRowsAtOnce = 8;
  const int64_t held = std::min(kRowsAtOnce, rows) * n;
  absl::StatusOr<ScratchReservation> reserved =
      ReserveScratch(op, held * static_cast<int64_t>(log_sum_exp ? sizeof(float) : sizeof(double)));
  if (!reserved.ok()) return reserved.status();
  std::vector<float> scratch(log_sum_exp ? static_cast<size_t>(held) : 0);
  std::vector<double> divisors(log_sum_exp ? 0 : static_cast<size_t>(held));
  for (int64_t first = 0; first < rows; first += kRowsAtOnce) {
    const int64_t count = std::min(kRowsAtOnce, rows - first);
    float* const e = log_sum_exp ? scratch.data() : y + first * n;
    float shift[kRowsAtOnce];
    for (int64_t r = 0; r < count; ++r) {
      const float* row = x + (first + r) * n;
      const float m = RowMax(row, n);
      shift[r] = std::isfinite(m) ? m : 0.0f;
      for (int64_t i = 0; i < n; ++i) e[r * n + i] = row[i] - shift[r];
    }
    ExpInPlace(e, count * n);
    double sum[kRowsAtOnce] = {};
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t r = 0; r < count; ++r) sum[r] += e[r * n + i];
    }
    if (log_sum_exp) {
      for (int64_t r = 0; r < count; ++r) {
        y[first + r] = static_cast<float>(std::log(sum[r]) + static_cast<double>(shift[r]));
      }
    } else {
      for (int64_t r = 0; r < count; ++r) std::fill_n(divisors.data() + r * n, n, sum[r]);
      DivideInDouble(e, divisors.data(), count * n);
    }
  }
  return absl::OkStatus();
}

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
  if (in.dtype() == core::DType::kFloat32 && out.dtype() == core::DType::kFloat32 && rank > 0 &&
      std::count(reduced.begin(), reduced.end(), true) == 1 && reduced[rank - 1] &&
      shape[rank - 1] > 0) {
    return LastAxisFloat32(node.op, in.data<float>(), groups, shape[rank - 1], kLogSumExp,
                           out.data<float>());
  }
  HostScratch scratch;
  absl::StatusOr<const void*> converted = ElementsAs(node.op, in, out.dtype(), scratch);
  if (!converted.ok()) return converted.status();
  const void* data = *converted;
  return DispatchDType(out.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    if constexpr (!std::is_floating_point_v<C>) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", node.op, "] needs a floating dtype, not ", DTypeString(out.dtype())));
    } else {
      const T* x = static_cast<const T*>(data);
      absl::StatusOr<ScratchReservation> reserved =
          ReserveScratch(node.op, groups * static_cast<int64_t>(sizeof(C) + sizeof(double)));
      if (!reserved.ok()) return reserved.status();
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
