// The vector-Jacobian product of matmul. With a (..., m, k) and b (..., k, n):
// da = g b^T and db = a^T g, each summed over the batch dims its operand was broadcast
// along. 1-D operands are first promoted to matrices as matmul does, and the cotangents
// reshaped back. gather_mm's, below, as MLX's.

#include <optional>
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

// gather_mm: pair i is a[lhs[i]] b[rhs[i]], so da[lhs[i]] gathers g[i] b[rhs[i]]^T and
// db[rhs[i]] gathers a[lhs[i]]^T g[i]; the indices take none.
VjpResult GatherMm(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const Array& b = args.inputs[1];
  const Array& lhs = args.inputs[2];
  const Array& rhs = args.inputs[3];
  const Array& g = args.cotangent;
  VjpResult result(4);
  if (args.needs[0]) {
    result[0] = AddIntoPicked(gather_mm(g, SwapLast(b), std::nullopt, rhs), lhs, a.shape());
  }
  if (args.needs[1]) {
    result[1] = AddIntoPicked(gather_mm(SwapLast(a), g, lhs, std::nullopt), rhs, b.shape());
  }
  return result;
}

}  // namespace

void RegisterMatmulVjp(VjpTable& table) {
  table["matmul"] = &Matmul;
  table["gather_mm"] = &GatherMm;
}

}  // namespace ferry::detail
