// The vector-Jacobian product of quantized_matmul, as MLX's: x's cotangent is the product
// of g with the same matrix the other way round; the packed words take none. Scales and
// biases take theirs through w = s * q + b: with dw the cotangent of the dequantized matrix
// (g^T x or x^T g), a group's bias gets the sum of its dw and its scale the sum of dw * q.
// gather_qmm's the same, pair by pair.

#include <optional>

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult QuantizedMatmul(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const Array& wq = args.inputs[1];
  const Array& scales = args.inputs[2];
  const Array& biases = args.inputs[3];
  const Array& g = args.cotangent;
  const bool transpose = GetAttr<int64_t>(args.attrs, "transpose") != 0;
  const int bits = static_cast<int>(GetAttr<int64_t>(args.attrs, "bits"));
  const int group_size = static_cast<int>(GetAttr<int64_t>(args.attrs, "group_size"));
  VjpResult result(4);
  if (args.needs[0]) {
    result[0] = quantized_matmul(g, wq, scales, biases, !transpose, group_size, bits);
  }
  if (args.needs[2] || args.needs[3]) {
    // Rows of x and g as matrices; dw has the dequantized matrix's shape (rows, columns).
    Array x2 = reshape(x, {-1, x.shape().back()});
    Array g2 = reshape(g, {-1, g.shape().back()});
    Array dw = transpose ? matmul(swapaxes(g2, 0, 1), x2) : matmul(swapaxes(x2, 0, 1), g2);
    const Shape grouped = {scales.shape()[0], scales.shape()[1], group_size};
    dw = reshape(dw, grouped);
    if (args.needs[2]) {
      // q itself: the matrix dequantized with scales 1 and biases 0.
      Array q = dequantize(wq, ones(scales.shape(), dw.dtype(), scales.device()),
                           zeros(scales.shape(), dw.dtype(), scales.device()), group_size, bits);
      result[2] = sum(dw * reshape(q, grouped), -1);
    }
    if (args.needs[3]) result[3] = sum(dw, -1);
  }
  return result;
}

// gather_qmm: x's picked matrices take the pairs' products with their matrices the other
// way round (MLX's GatherQMM::vjp); the scales and biases take quantized_matmul's, each
// pair's added into the matrix it picked.
VjpResult GatherQmm(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const Array& wq = args.inputs[1];
  const Array& scales = args.inputs[2];
  const Array& biases = args.inputs[3];
  const Array& lhs = args.inputs[4];
  const Array& rhs = args.inputs[5];
  const Array& g = args.cotangent;
  const bool transpose = GetAttr<int64_t>(args.attrs, "transpose") != 0;
  const int bits = static_cast<int>(GetAttr<int64_t>(args.attrs, "bits"));
  const int group_size = static_cast<int>(GetAttr<int64_t>(args.attrs, "group_size"));
  VjpResult result(6);
  if (args.needs[0]) {
    result[0] = AddIntoPicked(
        gather_qmm(g, wq, scales, biases, std::nullopt, rhs, !transpose, group_size, bits), lhs,
        x.shape());
  }
  if (args.needs[2] || args.needs[3]) {
    // Per pair: x's and g's matrices, and dw of the picked dequantized matrix.
    auto matrices = [](const Array& a) {
      return reshape(a, {-1, a.shape()[a.ndim() - 2], a.shape().back()});
    };
    const Array picked_w = take(matrices(wq), flatten(rhs), 0);
    const Array x3 = take(matrices(x), flatten(lhs), 0);
    const Array g3 = matrices(g);
    Array dw = transpose ? matmul(swapaxes(g3, 1, 2), x3) : matmul(swapaxes(x3, 1, 2), g3);
    const Shape groups = {picked_w.shape()[0], picked_w.shape()[1],
                          scales.shape()[scales.ndim() - 1]};
    Shape grouped = groups;
    grouped.push_back(group_size);
    dw = reshape(dw, grouped);
    if (args.needs[2]) {
      const Array q = dequantize(picked_w, ones(groups, dw.dtype(), scales.device()),
                                 zeros(groups, dw.dtype(), scales.device()), group_size, bits);
      result[2] = AddIntoPicked(sum(dw * reshape(q, grouped), -1), rhs, scales.shape());
    }
    if (args.needs[3]) result[3] = AddIntoPicked(sum(dw, -1), rhs, biases.shape());
  }
  return result;
}

}  // namespace

void RegisterQuantizedVjp(VjpTable& table) {
  table["quantized_matmul"] = &QuantizedMatmul;
  table["gather_qmm"] = &GatherQmm;
}

}  // namespace ferry::detail
