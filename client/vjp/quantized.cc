// The vector-Jacobian product of quantized_matmul, as MLX's: x's cotangent is the product
// of g with the same matrix the other way round; the packed words take none. Scales and
// biases take theirs through w = s * q + b: with dw the cotangent of the dequantized matrix
// (g^T x or x^T g), a group's bias gets the sum of its dw and its scale the sum of dw * q.

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

}  // namespace

void RegisterQuantizedVjp(VjpTable& table) { table["quantized_matmul"] = &QuantizedMatmul; }

}  // namespace ferry::detail
