// Random generators: a uint32 (2,) key in, a fresh array of the requested type out.
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

// What both generators share: the key, the shape and a floating dtype.
absl::StatusOr<TensorType> InferGenerated(const char* op, const TensorType& key,
                                          const Attrs& attrs) {
  if (key.dtype != DType::kUInt32 || key.shape != Shape{2}) {
    return OpError(op, absl::StrCat("key must be uint32(2,), got ", TypeToString(key)));
  }
  absl::StatusOr<Shape> shape = GetShape(op, attrs);
  if (!shape.ok()) return shape.status();
  absl::StatusOr<DType> dtype = GetDType(op, attrs);
  if (!dtype.ok()) return dtype.status();
  if (!IsFloating(*dtype)) {
    return OpError(op, absl::StrCat("dtype must be floating, got ", DTypeName(*dtype)));
  }
  return TensorType{*dtype, *shape};
}

absl::StatusOr<TensorType> InferUniform(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<double> low = GetFinite("random_uniform", attrs, "low");
  if (!low.ok()) return low.status();
  absl::StatusOr<double> high = GetFinite("random_uniform", attrs, "high");
  if (!high.ok()) return high.status();
  if (*low > *high) {
    return OpError("random_uniform", absl::StrCat("low ", *low, " is greater than high ", *high));
  }
  return InferGenerated("random_uniform", inputs[0], attrs);
}

absl::StatusOr<TensorType> InferNormal(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<double> loc = GetFinite("random_normal", attrs, "loc");
  if (!loc.ok()) return loc.status();
  absl::StatusOr<double> scale = GetFinite("random_normal", attrs, "scale");
  if (!scale.ok()) return scale.status();
  if (*scale < 0) {
    return OpError("random_normal", absl::StrCat("scale ", *scale, " is negative"));
  }
  return InferGenerated("random_normal", inputs[0], attrs);
}

// random_bits: uint32 words, element i the first word of Philox block i (core/philox.h).
absl::StatusOr<TensorType> InferBits(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& key = inputs[0];
  if (key.dtype != DType::kUInt32 || key.shape != Shape{2}) {
    return OpError("random_bits", absl::StrCat("key must be uint32(2,), got ", TypeToString(key)));
  }
  absl::StatusOr<Shape> shape = GetShape("random_bits", attrs);
  if (!shape.ok()) return shape.status();
  return TensorType{DType::kUInt32, *shape};
}

}  // namespace

void RegisterRandomOps(OpTable& table) {
  table.push_back({"random_uniform", 1, 1, &InferUniform, {"dtype", "high", "low", "shape"}});
  table.push_back({"random_normal", 1, 1, &InferNormal, {"dtype", "loc", "scale", "shape"}});
  table.push_back({"random_bits", 1, 1, &InferBits, {"shape"}});
}

}  // namespace ferry::core::ops_internal
