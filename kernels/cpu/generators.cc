// Leaves that fill their output: full (one value everywhere) and arange (start + i * step,
// computed in double so no error accumulates, then converted with astype's rules).

#include <algorithm>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

absl::Status Full(const core::Node& node, absl::Span<const Tensor>, const Tensor& out) {
  absl::StatusOr<double> value = GetAttr<double>(node, "value");
  if (!value.ok()) return value.status();
  DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T element;
    Store(&element, ConvertTo<T>(*value));
    std::fill(out.data<T>(), out.data<T>() + out.size(), element);
  });
  return absl::OkStatus();
}

absl::Status Arange(const core::Node& node, absl::Span<const Tensor>, const Tensor& out) {
  absl::StatusOr<double> start = GetAttr<double>(node, "start");
  if (!start.ok()) return start.status();
  absl::StatusOr<double> step = GetAttr<double>(node, "step");
  if (!step.ok()) return step.status();
  DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = out.data<T>();
    const int64_t n = out.size();
    for (int64_t i = 0; i < n; ++i) {
      Store(y + i, ConvertTo<T>(*start + static_cast<double>(i) * *step));
    }
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterGeneratorKernels(KernelTable& table) {
  table["full"] = &Full;
  table["arange"] = &Arange;
}

}  // namespace ferry::kernels::cpu
