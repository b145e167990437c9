// Reductions over a list of axes (sum prod mean max min all any) and over one axis (argmax
// argmin). The input is walked once in memory order while each element is folded into the
// accumulator of its output position, so every axis layout is cache friendly. Floating
// sums and products accumulate in double, integer ones wrap modulo 2^64 (then to the
// output's width); max and min propagate NaN; all and any read the input as bool. The
// output layout is the same with or without keepdims, so only the axes matter here.

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/fold.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

template <Reduction R>
absl::Status ReduceKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                          const Tensor& out) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(node, "axes");
  if (!axes.ok()) return axes.status();
  const Tensor& in = inputs[0];
  const int rank = static_cast<int>(in.shape().size());
  core::Shape kept_shape = in.shape();
  std::vector<bool> reduced(rank, false);
  for (int64_t axis : *axes) {
    absl::StatusOr<int> a = core::NormalizeAxis(axis, rank);
    if (!a.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", a.status().message()));
    }
    reduced[*a] = true;
    kept_shape[*a] = 1;
  }
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    if (reduced[d]) count *= in.shape()[d];
  }
  if (Fold<R, float>::kExtremum && out.size() > 0 && count == 0) {
    return absl::InvalidArgumentError(absl::StrCat("[", node.op,
                                                   "] cannot reduce over an empty axis of shape ",
                                                   core::ShapeToString(in.shape())));
  }
  std::vector<int64_t> acc_strides = core::ContiguousStrides(kept_shape);
  for (int d = 0; d < rank; ++d) {
    if (reduced[d]) acc_strides[d] = 0;
  }
  const bool last_axis_only =
      rank > 0 && reduced[rank - 1] && std::count(reduced.begin(), reduced.end(), true) == 1;
  HostScratch scratch;
  absl::StatusOr<const void*> converted = ElementsAs(node.op, in, out.dtype(), scratch);
  if (!converted.ok()) return converted.status();
  const void* data = *converted;
  auto run = [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    using F = Fold<R, ComputeType<T>>;
    using A = typename F::A;
    const T* x = static_cast<const T*>(data);
    // Not std::vector: vector<bool> has no data().
    const int64_t outputs = out.size();
    absl::StatusOr<ScratchReservation> held =
        ReserveScratch(node.op, std::max<int64_t>(1, outputs) * static_cast<int64_t>(sizeof(A)));
    if (!held.ok()) return held.status();
    std::unique_ptr<A[]> acc(new A[std::max<int64_t>(1, outputs)]);
    std::fill(acc.get(), acc.get() + outputs, F::Init());
    if (last_axis_only) {
      // Rows of the last axis fold 8 side by side, each in its own order (the same result
      // as one at a time): a single row's chain of dependent additions costs their latency
      // per element.
      constexpr int64_t kRowsAtOnce = 8;
      const int64_t n = in.shape()[rank - 1];
      for (int64_t first = 0; first < outputs; first += kRowsAtOnce) {
        const int64_t rows = std::min(kRowsAtOnce, outputs - first);
        const T* xs = x + first * n;
        A* as = acc.get() + first;
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t r = 0; r < rows; ++r) as[r] = F::Combine(as[r], Load(xs + r * n + i));
        }
      }
    } else {
      ForEachRow<2>(
          in.shape(), {core::ContiguousStrides(in.shape()), acc_strides}, {0, 0},
          [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
            const T* xs = x + off[0];
            A* as = acc.get() + off[1];
            if (step[1] == 0) {  // the row folds into one output
              A a = *as;
              if (step[0] == 1) {
                for (int64_t i = 0; i < n; ++i) a = F::Combine(a, Load(xs + i));
              } else {
                for (int64_t i = 0; i < n; ++i) a = F::Combine(a, Load(xs + i * step[0]));
              }
              *as = a;
            } else if (step[0] == 1 && step[1] == 1) {  // a row into a row of outputs
              for (int64_t i = 0; i < n; ++i) as[i] = F::Combine(as[i], Load(xs + i));
            } else {
              for (int64_t i = 0; i < n; ++i) {
                as[i * step[1]] = F::Combine(as[i * step[1]], Load(xs + i * step[0]));
              }
            }
          });
    }
    T* y = out.data<T>();
    for (int64_t i = 0; i < outputs; ++i) Store(y + i, F::Finish(acc[i], count));
    return absl::OkStatus();
  };
  if constexpr (R == Reduction::kSum || R == Reduction::kProd || R == Reduction::kMean) {
    return DispatchWithComplex(out.dtype(), run);
  } else {
    return DispatchDType(out.dtype(), run);
  }
}

// The index of the first maximum (or minimum) along one axis; a NaN counts as beyond
// every number, so the first NaN wins, as in NumPy.
template <bool kMax>
absl::Status ArgKernel(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<int64_t> axis_attr = GetAttr<int64_t>(node, "axis");
  if (!axis_attr.ok()) return axis_attr.status();
  const Tensor& in = inputs[0];
  const core::Shape& shape = in.shape();
  const int rank = static_cast<int>(shape.size());
  // A scalar has one element along its only (implicit) axis.
  int axis = 0;
  if (rank > 0) {
    absl::StatusOr<int> a = core::NormalizeAxis(*axis_attr, rank);
    if (!a.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("[", node.op, "] ", a.status().message()));
    }
    axis = *a;
  }
  int64_t outer = 1, n = 1, inner = 1;
  for (int d = 0; d < rank; ++d) {
    if (d < axis) outer *= shape[d];
    if (d == axis) n = shape[d];
    if (d > axis) inner *= shape[d];
  }
  if (out.size() == 0) return absl::OkStatus();
  if (n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", node.op, "] cannot reduce over axis ", axis, " of size 0"));
  }
  uint32_t* index = out.data<uint32_t>();
  DispatchDType(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    const T* x = in.data<T>();
    auto better = [](C v, C best) {
      if (best != best) return false;
      if (v != v) return true;
      return kMax ? v > best : v < best;
    };
    std::unique_ptr<C[]> best(new C[inner]);
    for (int64_t o = 0; o < outer; ++o) {
      const T* block = x + o * n * inner;
      uint32_t* idx = index + o * inner;
      for (int64_t j = 0; j < inner; ++j) {
        best[j] = Load(block + j);
        idx[j] = 0;
      }
      for (int64_t k = 1; k < n; ++k) {
        const T* row = block + k * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const C v = Load(row + j);
          if (better(v, best[j])) {
            best[j] = v;
            idx[j] = static_cast<uint32_t>(k);
          }
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterReduceKernels(KernelTable& table) {
  table["sum"] = &ReduceKernel<Reduction::kSum>;
  table["prod"] = &ReduceKernel<Reduction::kProd>;
  table["mean"] = &ReduceKernel<Reduction::kMean>;
  table["max"] = &ReduceKernel<Reduction::kMax>;
  table["min"] = &ReduceKernel<Reduction::kMin>;
  table["all"] = &ReduceKernel<Reduction::kAll>;
  table["any"] = &ReduceKernel<Reduction::kAny>;
  table["argmax"] = &ArgKernel<true>;
  table["argmin"] = &ArgKernel<false>;
}

}  // namespace ferry::kernels::cpu
