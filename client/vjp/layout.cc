// Vector-Jacobian products of the ops that move elements: each moves the cotangent back.
// slice scatters it into zeros with the ops at hand: a strided axis is interleaved with
// zeros, then padded to the input's length by concatenation.

#include <vector>

#include "client/array_node.h"
#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult Reshape(const VjpArgs& args) { return {reshape(args.cotangent, args.inputs[0].shape())}; }

// depends: the value is its first input's; the dependencies only order the graph.
VjpResult Depends(const VjpArgs& args) {
  VjpResult result(args.inputs.size());
  result[0] = args.cotangent;
  return result;
}

VjpResult Transpose(const VjpArgs& args) {
  const std::vector<int64_t> perm = GetAttr<std::vector<int64_t>>(args.attrs, "perm");
  std::vector<int> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int>(i);
  return {transpose(args.cotangent, inverse)};
}

VjpResult BroadcastTo(const VjpArgs& args) {
  return {SumToShape(args.cotangent, args.inputs[0].shape())};
}

// Zeros like `a` but `dim` long on `axis`.
Array ZerosAlong(const Array& a, int axis, int64_t dim) {
  Shape shape = a.shape();
  shape[axis] = dim;
  return zeros(shape, a.dtype(), a.device());
}

// a[start:stop:stride] on `axis`, everything on the others; start and stop normalized as
// core's slice requires.
Array SliceAxis(const Array& a, int axis, int64_t start, int64_t stop, int64_t stride) {
  Shape starts(a.ndim(), 0), stops = a.shape(), strides(a.ndim(), 1);
  starts[axis] = start;
  stops[axis] = stop;
  strides[axis] = stride;
  return MakeOp("slice", {a}, {{"start", starts}, {"stop", stops}, {"strides", strides}});
}

// Concatenation along `axis` that leaves out empty pieces.
Array Join(const std::vector<Array>& pieces, int axis) {
  std::vector<Array> nonempty;
  for (const Array& piece : pieces) {
    if (piece.shape()[axis] > 0) nonempty.push_back(piece);
  }
  return nonempty.size() == 1 ? nonempty[0] : concatenate(nonempty, axis);
}

// `g`, the n elements taken from positions start, start + stride, ... of an axis of length
// `dim`, put back at those positions with zeros elsewhere.
Array ScatterAxis(Array g, int axis, int64_t start, int64_t stride, int64_t dim) {
  const int64_t n = g.shape()[axis];
  if (stride < 0) {  // walk the same positions upwards
    g = SliceAxis(g, axis, n - 1, -1, -1);
    start += (n - 1) * stride;
    stride = -stride;
  }
  if (stride > 1) {
    Shape split = g.shape();
    split[axis] = 1;
    split.insert(split.begin() + axis, n);
    Array column = reshape(g, split);
    Array spread = concatenate({column, ZerosAlong(column, axis + 1, stride - 1)}, axis + 1);
    Shape merged = g.shape();
    merged[axis] = n * stride;
    g = SliceAxis(reshape(spread, merged), axis, 0, (n - 1) * stride + 1, 1);
  }
  const int64_t after = dim - start - g.shape()[axis];
  return Join({ZerosAlong(g, axis, start), g, ZerosAlong(g, axis, after)}, axis);
}

VjpResult Slice(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const std::vector<int64_t> starts = GetAttr<std::vector<int64_t>>(args.attrs, "start");
  const std::vector<int64_t> strides = GetAttr<std::vector<int64_t>>(args.attrs, "strides");
  Array g = args.cotangent;
  if (g.size() == 0) return {ZerosLike(x)};
  for (int axis = 0; axis < x.ndim(); ++axis) {
    const int64_t dim = x.shape()[axis];
    if (g.shape()[axis] == dim && strides[axis] == 1) continue;  // the whole axis
    g = ScatterAxis(g, axis, starts[axis], strides[axis], dim);
  }
  return {g};
}

VjpResult Concatenate(const VjpArgs& args) {
  const int axis = static_cast<int>(GetAttr<int64_t>(args.attrs, "axis"));
  VjpResult result(args.inputs.size());
  int64_t offset = 0;
  for (size_t i = 0; i < args.inputs.size(); ++i) {
    const int64_t length = args.inputs[i].shape()[axis];
    if (args.needs[i]) result[i] = SliceAxis(args.cotangent, axis, offset, offset + length, 1);
    offset += length;
  }
  return result;
}

}  // namespace

void RegisterLayoutVjps(VjpTable& table) {
  table["reshape"] = &Reshape;
  table["depends"] = &Depends;
  table["transpose"] = &Transpose;
  table["broadcast_to"] = &BroadcastTo;
  table["slice"] = &Slice;
  table["concatenate"] = &Concatenate;
}

}  // namespace ferry::detail
