// astype and view, and the dtype conversion the other families use to bring mixed inputs to one
// compute type. Rules (ConvertTo in dispatch.h): to bool is "not zero"; floating to
// integer truncates, saturates and maps NaN to 0; integers wrap; floats round to nearest.

#include <cstring>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {

void CastElements(const void* src, core::DType from, void* dst, core::DType to, int64_t n) {
  if (from == to) {
    if (src != dst && n > 0) std::memmove(dst, src, static_cast<size_t>(n) * core::SizeOf(from));
    return;
  }
  if (from == core::DType::kComplex64) {
    // The real part, as NumPy and MLX; to bool, either part not zero.
    const Complex64* in = static_cast<const Complex64*>(src);
    DispatchDType(to, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      To* out = static_cast<To*>(dst);
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<To, bool>) {
          out[i] = in[i] != Complex64(0);
        } else {
          Store(out + i, ConvertTo<To>(in[i].real()));
        }
      }
    });
    return;
  }
  if (to == core::DType::kComplex64) {
    Complex64* out = static_cast<Complex64*>(dst);
    DispatchDType(from, [&](auto from_tag) {
      using From = typename decltype(from_tag)::type;
      const From* in = static_cast<const From*>(src);
      for (int64_t i = 0; i < n; ++i) out[i] = Complex64(static_cast<float>(Load(in + i)));
    });
    return;
  }
  DispatchDType(from, [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    DispatchDType(to, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      const From* in = static_cast<const From*>(src);
      To* out = static_cast<To*>(dst);
      for (int64_t i = 0; i < n; ++i) Store(out + i, ConvertTo<To>(Load(in + i)));
    });
  });
}

absl::StatusOr<const void*> ElementsAs(absl::string_view op, const Tensor& tensor,
                                       core::DType dtype, HostScratch& scratch) {
  if (tensor.dtype() == dtype) return tensor.raw();
  const int64_t n = tensor.size();
  absl::StatusOr<void*> copy = scratch.Take(op, n * static_cast<int64_t>(core::SizeOf(dtype)));
  if (!copy.ok()) return copy.status();
  CastElements(tensor.raw(), tensor.dtype(), *copy, dtype, n);
  return *copy;
}

namespace {

absl::Status Astype(const core::Node&, absl::Span<const Tensor> inputs, const Tensor& out) {
  CastElements(inputs[0].raw(), inputs[0].dtype(), out.raw(), out.dtype(), out.size());
  return absl::OkStatus();
}

// view: the bytes as they are.
absl::Status View(const core::Node&, absl::Span<const Tensor> inputs, const Tensor& out) {
  std::memcpy(out.raw(), inputs[0].raw(), out.nbytes());
  return absl::OkStatus();
}

}  // namespace

void RegisterAstypeKernels(KernelTable& table) {
  table["astype"] = &Astype;
  table["view"] = &View;
}

}  // namespace ferry::kernels::cpu
