// gated_delta: the gated delta rule's recurrence (Qwen3-Next's linear attention), as
// mlx-lm's gated_delta_ops; its two results packed as core/gated_delta_layout.h says.
// gated_delta_vjp: its backward, the same operands and the packed result's cotangent.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/gated_delta_layout.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

constexpr char kOp[] = "gated_delta";
constexpr char kVjpOp[] = "gated_delta_vjp";

bool IsComputeFloat(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat16 || dtype == DType::kBFloat16;
}

std::string Dims(const Shape& shape) { return ShapeToString(shape); }

absl::StatusOr<TensorType> InferGatedDelta(absl::Span<const TensorType> inputs, const Attrs&) {
  static constexpr const char* kNames[] = {"q", "k", "v", "g", "beta", "state", "mask"};
  for (size_t i = 0; i < inputs.size() && i < 6; ++i) {
    if (!IsComputeFloat(inputs[i].dtype)) {
      return OpError(kOp, absl::StrCat(kNames[i], " must be float32, float16 or bfloat16, got ",
                                       DTypeName(inputs[i].dtype)));
    }
  }
  const Shape& q = inputs[0].shape;
  const Shape& k = inputs[1].shape;
  const Shape& v = inputs[2].shape;
  const Shape& g = inputs[3].shape;
  const Shape& beta = inputs[4].shape;
  const Shape& state = inputs[5].shape;
  if (q.size() != 4 || k != q) {
    return OpError(kOp, absl::StrCat("q and k must be (B, T, Hk, Dk) of one shape, got ", Dims(q),
                                     " and ", Dims(k)));
  }
  const int64_t b = q[0], t = q[1], hk = q[2], dk = q[3];
  if (v.size() != 4 || v[0] != b || v[1] != t || hk == 0 || v[2] % hk != 0) {
    return OpError(kOp, absl::StrCat("v must be (B, T, Hv, Dv) with q's B and T and Hv a "
                                     "multiple of Hk, got q ",
                                     Dims(q), " and v ", Dims(v)));
  }
  const int64_t hv = v[2], dv = v[3];
  if (g != Shape{b, t, hv} && g != Shape{b, t, hv, dk}) {
    return OpError(kOp, absl::StrCat("g must be (B, T, Hv) ", Dims({b, t, hv}),
                                     " or (B, T, Hv, "
                                     "Dk) ",
                                     Dims({b, t, hv, dk}), ", got ", Dims(g)));
  }
  if (beta != Shape{b, t, hv}) {
    return OpError(
        kOp, absl::StrCat("beta must be (B, T, Hv) ", Dims({b, t, hv}), ", got ", Dims(beta)));
  }
  if (state != Shape{b, hv, dv, dk}) {
    return OpError(kOp, absl::StrCat("state must be (B, Hv, Dv, Dk) ", Dims({b, hv, dv, dk}),
                                     ", got ", Dims(state)));
  }
  if (inputs.size() == 7 && (inputs[6].dtype != DType::kBool || inputs[6].shape != Shape{b, t})) {
    return OpError(kOp, absl::StrCat("mask must be bool (B, T) ", Dims({b, t}), ", got ",
                                     DTypeName(inputs[6].dtype), " ", Dims(inputs[6].shape)));
  }
  return TensorType{DType::kFloat32, {b, GatedDeltaDimsOf(q, v, g).RowSize()}};
}

// q, k, v, g, beta, state, cotangent[, mask]: gated_delta's operands around the cotangent
// of its packed result.
absl::StatusOr<TensorType> InferGatedDeltaVjp(absl::Span<const TensorType> inputs,
                                              const Attrs& attrs) {
  std::vector<TensorType> forward(inputs.begin(), inputs.begin() + 6);
  if (inputs.size() == 8) forward.push_back(inputs[7]);
  absl::StatusOr<TensorType> out = InferGatedDelta(forward, attrs);
  if (!out.ok()) {
    return OpError(kVjpOp,
                   std::string(absl::StripPrefix(out.status().message(), "[gated_delta] ")));
  }
  if (inputs[6].dtype != DType::kFloat32 || inputs[6].shape != out->shape) {
    return OpError(kVjpOp, absl::StrCat("cotangent must be float32 ", Dims(out->shape),
                                        " (gated_delta's result), got ", DTypeName(inputs[6].dtype),
                                        " ", Dims(inputs[6].shape)));
  }
  const GatedDeltaDims d = GatedDeltaDimsOf(inputs[0].shape, inputs[2].shape, inputs[3].shape);
  return TensorType{DType::kFloat32, {d.b, d.GradRowSize()}};
}

}  // namespace

void RegisterGatedDeltaOp(OpTable& table) {
  table.push_back({kOp, 6, 7, &InferGatedDelta, {}});
  table.push_back({kVjpOp, 7, 8, &InferGatedDeltaVjp, {}});
}

}  // namespace ferry::core::ops_internal
