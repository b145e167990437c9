// Reductions over axes, arg-reductions, softmax and logsumexp.

#include <vector>

#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"

namespace ferry {
namespace {

Array Reduce(const char* op, const Array& a, std::vector<int64_t> axes, bool keepdims) {
  return detail::MakeOp(op, {a},
                        {{"axes", std::move(axes)}, {"keepdims", int64_t{keepdims ? 1 : 0}}});
}

Array ReduceAll(const char* op, const Array& a, bool keepdims) {
  return Reduce(op, a, detail::AllAxes(a.ndim()), keepdims);
}

Array ReduceAxis(const char* op, const Array& a, int axis, bool keepdims) {
  return Reduce(op, a, {detail::NormalizeAxis(op, axis, a.ndim())}, keepdims);
}

Array ReduceAxes(const char* op, const Array& a, const std::vector<int>& axes, bool keepdims) {
  return Reduce(op, a, detail::NormalizeAxes(op, axes, a.ndim(), /*sort=*/true), keepdims);
}

Array ArgReduce(const char* op, const Array& a, int axis, bool keepdims) {
  return detail::MakeOp(op, {a},
                        {{"axis", detail::NormalizeAxis(op, axis, a.ndim())},
                         {"keepdims", int64_t{keepdims ? 1 : 0}}});
}

// Over the flattened array, as NumPy: keepdims gives a shape of ones of a's rank.
Array ArgReduceAll(const char* op, const Array& a, bool keepdims) {
  Array index = ArgReduce(op, reshape(a, {a.size()}), 0, false);
  return keepdims ? reshape(index, Shape(a.ndim(), 1)) : index;
}

Array Softmax(const Array& a, std::vector<int64_t> axes) {
  return detail::MakeOp("softmax", {a}, {{"axes", std::move(axes)}});
}

}  // namespace

Array sum(const Array& a, bool keepdims) { return ReduceAll("sum", a, keepdims); }
Array sum(const Array& a, int axis, bool keepdims) { return ReduceAxis("sum", a, axis, keepdims); }
Array sum(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("sum", a, axes, keepdims);
}

Array prod(const Array& a, bool keepdims) { return ReduceAll("prod", a, keepdims); }
Array prod(const Array& a, int axis, bool keepdims) {
  return ReduceAxis("prod", a, axis, keepdims);
}
Array prod(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("prod", a, axes, keepdims);
}

Array mean(const Array& a, bool keepdims) { return ReduceAll("mean", a, keepdims); }
Array mean(const Array& a, int axis, bool keepdims) {
  return ReduceAxis("mean", a, axis, keepdims);
}
Array mean(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("mean", a, axes, keepdims);
}

Array max(const Array& a, bool keepdims) { return ReduceAll("max", a, keepdims); }
Array max(const Array& a, int axis, bool keepdims) { return ReduceAxis("max", a, axis, keepdims); }
Array max(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("max", a, axes, keepdims);
}

Array min(const Array& a, bool keepdims) { return ReduceAll("min", a, keepdims); }
Array min(const Array& a, int axis, bool keepdims) { return ReduceAxis("min", a, axis, keepdims); }
Array min(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("min", a, axes, keepdims);
}

Array argmax(const Array& a, bool keepdims) { return ArgReduceAll("argmax", a, keepdims); }
Array argmax(const Array& a, int axis, bool keepdims) {
  return ArgReduce("argmax", a, axis, keepdims);
}
Array argmin(const Array& a, bool keepdims) { return ArgReduceAll("argmin", a, keepdims); }
Array argmin(const Array& a, int axis, bool keepdims) {
  return ArgReduce("argmin", a, axis, keepdims);
}

Array softmax(const Array& a) { return Softmax(a, detail::AllAxes(a.ndim())); }
Array softmax(const Array& a, int axis) {
  return Softmax(a, {detail::NormalizeAxis("softmax", axis, a.ndim())});
}
Array softmax(const Array& a, const std::vector<int>& axes) {
  return Softmax(a, detail::NormalizeAxes("softmax", axes, a.ndim(), /*sort=*/true));
}

Array logsumexp(const Array& a, bool keepdims) { return ReduceAll("logsumexp", a, keepdims); }
Array logsumexp(const Array& a, int axis, bool keepdims) {
  return ReduceAxis("logsumexp", a, axis, keepdims);
}
Array logsumexp(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("logsumexp", a, axes, keepdims);
}

}  // namespace ferry
