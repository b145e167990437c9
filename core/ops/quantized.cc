// quantized_matmul: a product with a matrix in MLX's affine quantization (client/ops.h);
// gather_qmm: such products of pairs of matrices picked by indices, as gather_mm's.
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

constexpr char kOp[] = "quantized_matmul";

// The dequantized matrix wq's last two axes hold, after checking the attributes, wq, and
// scales and biases (wq's leading axes, then one per group of a row); `batched`: wq may have
// leading axes (gather_qmm's experts), else it is one matrix.
struct QuantizedMatrix {
  int64_t rows, columns;
  bool transpose;
};

absl::StatusOr<QuantizedMatrix> CheckQuantizedMatrix(const char* op, const TensorType& wq,
                                                     const TensorType& scales,
                                                     const TensorType& biases, const Attrs& attrs,
                                                     bool batched) {
  absl::StatusOr<int64_t> bits = GetAttr<int64_t>(op, attrs, "bits");
  if (!bits.ok()) return bits.status();
  absl::StatusOr<int64_t> group_size = GetAttr<int64_t>(op, attrs, "group_size");
  if (!group_size.ok()) return group_size.status();
  absl::StatusOr<bool> transpose = GetFlag(op, attrs, "transpose");
  if (!transpose.ok()) return transpose.status();
  if (*bits < 1 || *bits > 8 || *bits == 7) {
    return OpError(op, absl::StrCat("bits must be 1, 2, 3, 4, 5, 6 or 8, got ", *bits));
  }
  if (*group_size != 32 && *group_size != 64 && *group_size != 128) {
    return OpError(op, absl::StrCat("group_size must be 32, 64 or 128, got ", *group_size));
  }
  if (wq.dtype != DType::kUInt32 || wq.shape.size() < 2 || (!batched && wq.shape.size() != 2)) {
    return OpError(op, absl::StrCat("the quantized matrix must be a uint32 matrix",
                                    batched ? " (or a batch of them)" : "", ", got ",
                                    DTypeName(wq.dtype), " ", ShapeToString(wq.shape)));
  }
  const size_t rank = wq.shape.size();
  const int64_t rows = wq.shape[rank - 2];
  const int64_t columns = wq.shape[rank - 1] * 32 / *bits;
  if (columns % *group_size != 0) {
    return OpError(op, absl::StrCat("rows of ", columns, " elements (", ShapeToString(wq.shape),
                                    " at bits=", *bits, ") are not whole groups of ", *group_size));
  }
  Shape groups = wq.shape;
  groups.back() = columns / *group_size;
  if (!IsFloating(scales.dtype) || biases.dtype != scales.dtype || scales.shape != groups ||
      biases.shape != groups) {
    return OpError(
        op, absl::StrCat("scales and biases must both be floating of shape ", ShapeToString(groups),
                         " and one dtype, got ", DTypeName(scales.dtype), " ",
                         ShapeToString(scales.shape), " and ", DTypeName(biases.dtype), " ",
                         ShapeToString(biases.shape)));
  }
  return QuantizedMatrix{rows, columns, *transpose};
}

// x's last dim against the matrix: floating, and `inner` long.
absl::Status CheckX(const char* op, const TensorType& x, const QuantizedMatrix& w,
                    size_t min_rank) {
  const int64_t inner = w.transpose ? w.columns : w.rows;
  if (!IsFloating(x.dtype) || x.shape.size() < min_rank || x.shape.back() != inner) {
    return OpError(
        op, absl::StrCat("x must be floating with a last dim of ", inner, " (the matrix is ",
                         w.rows, " x ", w.columns, w.transpose ? ", transposed" : "", "), got ",
                         DTypeName(x.dtype), " ", ShapeToString(x.shape)));
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorType> InferQuantizedMatmul(absl::Span<const TensorType> inputs,
                                                const Attrs& attrs) {
  const TensorType& x = inputs[0];
  absl::StatusOr<QuantizedMatrix> w =
      CheckQuantizedMatrix(kOp, inputs[1], inputs[2], inputs[3], attrs, /*batched=*/false);
  if (!w.ok()) return w.status();
  absl::Status x_ok = CheckX(kOp, x, *w, 1);
  if (!x_ok.ok()) return x_ok;
  Shape out = x.shape;
  out.back() = w->transpose ? w->rows : w->columns;
  return TensorType{PromoteTypes(x.dtype, inputs[2].dtype), out};
}

// gather_qmm(x, wq, scales, biases, lhs_indices, rhs_indices): quantized_matmul of x's
// matrix lhs_indices[i] and wq's (with its scales and biases) rhs_indices[i], for each
// element of the index arrays (one shape, broadcast by the client), as gather_mm pairs them.
absl::StatusOr<TensorType> InferGatherQmm(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  constexpr char kGather[] = "gather_qmm";
  const TensorType& x = inputs[0];
  const TensorType& lhs = inputs[4];
  const TensorType& rhs = inputs[5];
  absl::StatusOr<QuantizedMatrix> w =
      CheckQuantizedMatrix(kGather, inputs[1], inputs[2], inputs[3], attrs, /*batched=*/true);
  if (!w.ok()) return w.status();
  absl::Status x_ok = CheckX(kGather, x, *w, 2);
  if (!x_ok.ok()) return x_ok;
  if (!IsInteger(lhs.dtype) || !IsInteger(rhs.dtype) || lhs.shape != rhs.shape) {
    return OpError(kGather,
                   absl::StrCat("lhs_indices and rhs_indices must be integers of one shape, got ",
                                DTypeName(lhs.dtype), " ", ShapeToString(lhs.shape), " and ",
                                DTypeName(rhs.dtype), " ", ShapeToString(rhs.shape)));
  }
  Shape out = lhs.shape;
  out.push_back(x.shape[x.shape.size() - 2]);
  out.push_back(w->transpose ? w->rows : w->columns);
  return TensorType{PromoteTypes(x.dtype, inputs[2].dtype), out};
}

}  // namespace

void RegisterQuantizedOps(OpTable& table) {
  table.push_back({kOp, 4, 4, &InferQuantizedMatmul, {"bits", "group_size", "transpose"}});
  table.push_back({"gather_qmm", 6, 6, &InferGatherQmm, {"bits", "group_size", "transpose"}});
}

}  // namespace ferry::core::ops_internal
