// convolution, channels last as MLX (see core/ops.h): a direct loop accumulating in double,
// the numerical reference for faster backends.

#include <array>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

constexpr int kMaxSpatial = 3;

absl::Status ConvolutionKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                               const Tensor& out) {
  const Tensor& in = inputs[0];
  const Tensor& w = inputs[1];
  const int spatial = static_cast<int>(in.shape().size()) - 2;
  absl::StatusOr<int64_t> groups = GetAttr<int64_t>(node, "groups");
  if (!groups.ok()) return groups.status();
  // Every attribute and extent padded to 3 spatial dims with neutral values.
  std::array<int64_t, kMaxSpatial> stride{1, 1, 1}, lo{0, 0, 0}, dil{1, 1, 1};
  std::array<int64_t, kMaxSpatial> in_dim{1, 1, 1}, k_dim{1, 1, 1}, out_dim{1, 1, 1};
  const char* names[3] = {"stride", "padding_lo", "kernel_dilation"};
  std::array<int64_t, kMaxSpatial>* targets[3] = {&stride, &lo, &dil};
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::vector<int64_t>> list = GetAttr<std::vector<int64_t>>(node, names[i]);
    if (!list.ok()) return list.status();
    for (int d = 0; d < spatial; ++d) (*targets[i])[d] = (*list)[d];
  }
  for (int d = 0; d < spatial; ++d) {
    in_dim[d] = in.shape()[d + 1];
    k_dim[d] = w.shape()[d + 1];
    out_dim[d] = out.shape()[d + 1];
  }
  const int64_t batch = in.shape()[0];
  const int64_t c_in = in.shape().back();
  const int64_t c_out = out.shape().back();
  const int64_t cin_g = c_in / *groups;
  const int64_t cout_g = c_out / *groups;
  return DispatchDType(in.dtype(), [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsFloating<T>) {
      return absl::InvalidArgumentError(
          absl::StrCat("[convolution] needs a floating dtype, not ", DTypeString(in.dtype())));
    } else {
      const T* x = in.data<T>();
      const T* k = w.data<T>();
      T* y = out.data<T>();
      int64_t at = 0;
      for (int64_t n = 0; n < batch; ++n) {
        for (int64_t o0 = 0; o0 < out_dim[0]; ++o0) {
          for (int64_t o1 = 0; o1 < out_dim[1]; ++o1) {
            for (int64_t o2 = 0; o2 < out_dim[2]; ++o2) {
              for (int64_t co = 0; co < c_out; ++co, ++at) {
                const int64_t g = co / cout_g;
                double acc = 0;
                for (int64_t k0 = 0; k0 < k_dim[0]; ++k0) {
                  const int64_t i0 = o0 * stride[0] - lo[0] + k0 * dil[0];
                  if (i0 < 0 || i0 >= in_dim[0]) continue;
                  for (int64_t k1 = 0; k1 < k_dim[1]; ++k1) {
                    const int64_t i1 = o1 * stride[1] - lo[1] + k1 * dil[1];
                    if (i1 < 0 || i1 >= in_dim[1]) continue;
                    for (int64_t k2 = 0; k2 < k_dim[2]; ++k2) {
                      const int64_t i2 = o2 * stride[2] - lo[2] + k2 * dil[2];
                      if (i2 < 0 || i2 >= in_dim[2]) continue;
                      const T* xs =
                          x + (((n * in_dim[0] + i0) * in_dim[1] + i1) * in_dim[2] + i2) * c_in +
                          g * cin_g;
                      const T* ks =
                          k + (((co * k_dim[0] + k0) * k_dim[1] + k1) * k_dim[2] + k2) * cin_g;
                      for (int64_t ci = 0; ci < cin_g; ++ci) {
                        acc +=
                            static_cast<double>(Load(xs + ci)) * static_cast<double>(Load(ks + ci));
                      }
                    }
                  }
                }
                Store(y + at, static_cast<ComputeType<T>>(acc));
              }
            }
          }
        }
      }
      return absl::OkStatus();
    }
  });
}

}  // namespace

void RegisterConvolutionKernels(KernelTable& table) { table["convolution"] = &ConvolutionKernel; }

}  // namespace ferry::kernels::cpu
