// astype: the same values converted to another dtype; view: the same bytes read as another.
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

absl::StatusOr<TensorType> InferAstype(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<DType> dtype = GetDType("astype", attrs);
  if (!dtype.ok()) return dtype.status();
  return TensorType{*dtype, inputs[0].shape};
}

// As NumPy's and MLX's view: a dtype of another size scales the last axis, whose bytes must
// divide evenly. Bytes read as bool could hold other values than 0 and 1, so only bool views
// as bool.
absl::StatusOr<TensorType> InferView(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<DType> dtype = GetDType("view", attrs);
  if (!dtype.ok()) return dtype.status();
  const TensorType& a = inputs[0];
  if (*dtype == DType::kBool && a.dtype != DType::kBool) {
    return OpError("view", absl::StrCat("cannot read ", DTypeName(a.dtype),
                                        " bytes as bool (they may be other than 0 and 1)"));
  }
  const int64_t from = SizeOf(a.dtype), to = SizeOf(*dtype);
  if (from == to) return TensorType{*dtype, a.shape};
  if (a.shape.empty() || (a.shape.back() * from) % to != 0) {
    return OpError("view", absl::StrCat("cannot view ", DTypeName(a.dtype), " ",
                                        ShapeToString(a.shape), " as ", DTypeName(*dtype),
                                        ": the last axis's bytes are not a whole number of ",
                                        DTypeName(*dtype), " elements"));
  }
  Shape shape = a.shape;
  shape.back() = shape.back() * from / to;
  return TensorType{*dtype, shape};
}

}  // namespace

void RegisterAstypeOp(OpTable& table) {
  table.push_back({"astype", 1, 1, &InferAstype, {"dtype"}});
  table.push_back({"view", 1, 1, &InferView, {"dtype"}});
}

}  // namespace ferry::core::ops_internal
