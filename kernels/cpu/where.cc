// where(cond, x, y): x where cond is not zero, else y, all three broadcast together. cond
// may have any dtype; x and y are brought to the output's.

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

absl::Status Where(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  HostScratch cond_scratch, x_scratch, y_scratch;
  absl::StatusOr<const void*> cond_converted =
      ElementsAs(node.op, inputs[0], core::DType::kBool, cond_scratch);
  if (!cond_converted.ok()) return cond_converted.status();
  absl::StatusOr<const void*> x_converted = ElementsAs(node.op, inputs[1], out.dtype(), x_scratch);
  if (!x_converted.ok()) return x_converted.status();
  absl::StatusOr<const void*> y_converted = ElementsAs(node.op, inputs[2], out.dtype(), y_scratch);
  if (!y_converted.ok()) return y_converted.status();
  const bool* cond = static_cast<const bool*>(*cond_converted);
  const void* x_data = *x_converted;
  const void* y_data = *y_converted;
  const core::Shape& shape = out.shape();
  const std::array<std::vector<int64_t>, 4> strides = {
      core::ContiguousStrides(shape), BroadcastStrides(inputs[0].shape(), shape),
      BroadcastStrides(inputs[1].shape(), shape), BroadcastStrides(inputs[2].shape(), shape)};
  DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.data<T>();
    const T* x = static_cast<const T*>(x_data);
    const T* y = static_cast<const T*>(y_data);
    ForEachRow<4>(
        shape, strides, {0, 0, 0, 0},
        [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& step) {
          for (int64_t i = 0; i < n; ++i) {
            Store(o + off[0] + i * step[0], Load(cond + off[1] + i * step[1])
                                                ? Load(x + off[2] + i * step[2])
                                                : Load(y + off[3] + i * step[3]));
          }
        });
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterWhereKernels(KernelTable& table) { table["where"] = &Where; }

}  // namespace ferry::kernels::cpu
