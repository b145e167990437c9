// Vector-Jacobian products of sort and partition: each is a permutation along its axis,
// recomputed with argsort / argpartition (the same stable order), and the cotangent goes
// back to where each element came from. The index forms have no gradient.

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult Permuted(const VjpArgs& args, const Array& order, int axis) {
  return {put_along_axis(ZerosLike(args.cotangent), order, args.cotangent, axis)};
}

VjpResult Sort(const VjpArgs& args) {
  const int axis = static_cast<int>(GetAttr<int64_t>(args.attrs, "axis"));
  return Permuted(args, argsort(args.inputs[0], axis), axis);
}

VjpResult Partition(const VjpArgs& args) {
  const int axis = static_cast<int>(GetAttr<int64_t>(args.attrs, "axis"));
  const int kth = static_cast<int>(GetAttr<int64_t>(args.attrs, "kth"));
  return Permuted(args, argpartition(args.inputs[0], kth, axis), axis);
}

}  // namespace

void RegisterSortVjps(VjpTable& table) {
  table["sort"] = &Sort;
  table["partition"] = &Partition;
  table["argsort"] = &NoGradient;
  table["argpartition"] = &NoGradient;
}

}  // namespace ferry::detail
