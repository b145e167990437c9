// The complex64 ops: its parts and conjugate, and the discrete Fourier transform along one
// axis (the client composes MLX's fft, fft2, fftn, rfft... from it).
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

absl::Status NeedComplex(std::string_view op, const TensorType& x) {
  if (IsComplex(x.dtype)) return absl::OkStatus();
  return OpError(op, absl::StrCat("needs a complex64 input, got ", DTypeName(x.dtype)));
}

template <const char* kOp>
absl::StatusOr<TensorType> InferPart(absl::Span<const TensorType> inputs, const Attrs&) {
  if (absl::Status s = NeedComplex(kOp, inputs[0]); !s.ok()) return s;
  return TensorType{DType::kFloat32, inputs[0].shape};
}

absl::StatusOr<TensorType> InferConjugate(absl::Span<const TensorType> inputs, const Attrs&) {
  if (absl::Status s = NeedComplex("conjugate", inputs[0]); !s.ok()) return s;
  return inputs[0];
}

// fft(x)  axis:i n:i inverse:0/1 real:0/1. With real 0: complex64 in and out, dim n on axis.
// real 1, forward (rfft): float32 in with dim n, complex64 out with dim n/2+1. real 1,
// inverse (irfft): complex64 in with dim n/2+1, float32 out with dim n. The inverse scales
// by 1/n (NumPy's "backward" norm).
absl::StatusOr<TensorType> InferFft(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  absl::StatusOr<int> axis = GetAxis("fft", attrs, "axis", static_cast<int>(x.shape.size()));
  if (!axis.ok()) return axis.status();
  absl::StatusOr<int64_t> n = GetAttr<int64_t>("fft", attrs, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<bool> inverse = GetFlag("fft", attrs, "inverse");
  if (!inverse.ok()) return inverse.status();
  absl::StatusOr<bool> real = GetFlag("fft", attrs, "real");
  if (!real.ok()) return real.status();
  if (*n < 1) return OpError("fft", absl::StrCat("n must be at least 1, got ", *n));
  const bool real_input = *real && !*inverse;
  const DType in_dtype = real_input ? DType::kFloat32 : DType::kComplex64;
  if (x.dtype != in_dtype) {
    return OpError(
        "fft", absl::StrCat("needs a ", DTypeName(in_dtype), " input, got ", DTypeName(x.dtype)));
  }
  const int64_t in_dim = *real && *inverse ? *n / 2 + 1 : *n;
  if (x.shape[*axis] != in_dim) {
    return OpError("fft", absl::StrCat("axis ", *axis, " has ", x.shape[*axis],
                                       " elements, the transform of n = ", *n, " needs ", in_dim));
  }
  TensorType out = x;
  out.dtype = *real && *inverse ? DType::kFloat32 : DType::kComplex64;
  if (*real) out.shape[*axis] = *inverse ? *n : *n / 2 + 1;
  return out;
}

constexpr char kReal[] = "real";
constexpr char kImag[] = "imag";

}  // namespace

void RegisterComplexOps(OpTable& table) {
  table.push_back({"real", 1, 1, &InferPart<kReal>, {}});
  table.push_back({"imag", 1, 1, &InferPart<kImag>, {}});
  table.push_back({"conjugate", 1, 1, &InferConjugate, {}});
  table.push_back({"fft", 1, 1, &InferFft, {"axis", "inverse", "n", "real"}});
}

}  // namespace ferry::core::ops_internal
