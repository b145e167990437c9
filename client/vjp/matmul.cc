// The vector-Jacobian product of matmul. With a (..., m, k) and b (..., k, n):
// da = g b^T and db = a^T g, each summed over the batch dims its operand was broadcast
// along. 1-D operands are first promoted to matrices as matmul does, and the cotangents
// reshaped back.

#include <vector>

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

// The last two axes swapped.
Array SwapLast(const Array& a) {
  std::vector<int> perm(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) perm[i] = i;
  std::swap(perm[a.ndim() - 1], perm[a.ndim() - 2]);
  return transpose(a, perm);
}

VjpResult Matmul(const VjpArgs& args) {
  const Array& a_in = args.inputs[0];
  const Array& b_in = args.inputs[1];
  Array a = a_in.ndim() == 1 ? reshape(a_in, {1, a_in.shape()[0]}) : a_in;
  Array b = b_in.ndim() == 1 ? reshape(b_in, {b_in.shape()[0], 1}) : b_in;
  // The output with the squeezed axes put back: (..., m, n).
  Shape out_shape = args.cotangent.shape();
  if (a_in.ndim() == 1) out_shape.insert(out_shape.end() - (b_in.ndim() == 1 ? 0 : 1), 1);
  if (b_in.ndim() == 1) out_shape.push_back(1);
  Array g =
      out_shape == args.cotangent.shape() ? args.cotangent : reshape(args.cotangent, out_shape);

  VjpResult result(2);
  if (args.needs[0]) {
    result[0] = reshape(SumToShape(matmul(g, SwapLast(b)), a.shape()), a_in.shape());
  }
  if (args.needs[1]) {
    result[1] = reshape(SumToShape(matmul(SwapLast(a), g), b.shape()), b_in.shape());
  }
  return result;
}

}  // namespace

void RegisterMatmulVjp(VjpTable& table) { table["matmul"] = &Matmul; }

}  // namespace ferry::detail
