// quantized_matmul: a product with a matrix in MLX's affine quantization (client/ops.h).
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

constexpr char kOp[] = "quantized_matmul";

absl::StatusOr<TensorType> InferQuantizedMatmul(absl::Span<const TensorType> inputs,
                                                const Attrs& attrs) {
  const TensorType& x = inputs[0];
  const TensorType& wq = inputs[1];
  const TensorType& scales = inputs[2];
  const TensorType& biases = inputs[3];
  absl::StatusOr<int64_t> bits = GetAttr<int64_t>(kOp, attrs, "bits");
  if (!bits.ok()) return bits.status();
  absl::StatusOr<int64_t> group_size = GetAttr<int64_t>(kOp, attrs, "group_size");
  if (!group_size.ok()) return group_size.status();
  absl::StatusOr<bool> transpose = GetFlag(kOp, attrs, "transpose");
  if (!transpose.ok()) return transpose.status();
  if (*bits < 1 || *bits > 8 || *bits == 7) {
    return OpError(kOp, absl::StrCat("bits must be 1, 2, 3, 4, 5, 6 or 8, got ", *bits));
  }
  if (*group_size != 32 && *group_size != 64 && *group_size != 128) {
    return OpError(kOp, absl::StrCat("group_size must be 32, 64 or 128, got ", *group_size));
  }
  if (wq.dtype != DType::kUInt32 || wq.shape.size() != 2) {
    return OpError(kOp, absl::StrCat("the quantized matrix must be a uint32 matrix, got ",
                                     DTypeName(wq.dtype), " ", ShapeToString(wq.shape)));
  }
  const int64_t rows = wq.shape[0];
  const int64_t columns = wq.shape[1] * 32 / *bits;
  if (columns % *group_size != 0) {
    return OpError(kOp,
                   absl::StrCat("rows of ", columns, " elements (", ShapeToString(wq.shape),
                                " at bits=", *bits, ") are not whole groups of ", *group_size));
  }
  const Shape groups = {rows, columns / *group_size};
  if (!IsFloating(scales.dtype) || biases.dtype != scales.dtype || scales.shape != groups ||
      biases.shape != groups) {
    return OpError(
        kOp, absl::StrCat("scales and biases must both be floating of shape ",
                          ShapeToString(groups), " and one dtype, got ", DTypeName(scales.dtype),
                          " ", ShapeToString(scales.shape), " and ", DTypeName(biases.dtype), " ",
                          ShapeToString(biases.shape)));
  }
  const int64_t inner = *transpose ? columns : rows;
  if (!IsFloating(x.dtype) || x.shape.empty() || x.shape.back() != inner) {
    return OpError(
        kOp, absl::StrCat("x must be floating with a last dim of ", inner, " (the matrix is ", rows,
                          " x ", columns, *transpose ? ", transposed" : "", "), got ",
                          DTypeName(x.dtype), " ", ShapeToString(x.shape)));
  }
  Shape out = x.shape;
  out.back() = *transpose ? rows : columns;
  return TensorType{PromoteTypes(x.dtype, scales.dtype), out};
}

}  // namespace

void RegisterQuantizedOps(OpTable& table) {
  table.push_back({kOp, 4, 4, &InferQuantizedMatmul, {"bits", "group_size", "transpose"}});
}

}  // namespace ferry::core::ops_internal
