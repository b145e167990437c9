// Reductions over axes, arg-reductions, softmax and logsumexp.

#include <algorithm>
#include <limits>
#include <vector>

#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"
#include "core/dtype.h"

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

// ---- part A ----

Array all(const Array& a, bool keepdims) { return ReduceAll("all", a, keepdims); }
Array all(const Array& a, int axis, bool keepdims) { return ReduceAxis("all", a, axis, keepdims); }
Array all(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("all", a, axes, keepdims);
}

Array any(const Array& a, bool keepdims) { return ReduceAll("any", a, keepdims); }
Array any(const Array& a, int axis, bool keepdims) { return ReduceAxis("any", a, axis, keepdims); }
Array any(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return ReduceAxes("any", a, axes, keepdims);
}

namespace {

// MLX's var: the mean square deviation, scaled by n / max(n - ddof, 0) (inf when no degrees
// of freedom are left, as NumPy's nan/inf). n is known from the shape, so the factor is a
// number.
Array Variance(const Array& a, const std::vector<int64_t>& axes, bool keepdims, int ddof) {
  std::vector<int> int_axes(axes.begin(), axes.end());
  Array centered = a - mean(a, int_axes, /*keepdims=*/true);
  Array v = mean(square(centered), int_axes, keepdims);
  if (ddof == 0) return v;
  int64_t n = 1;
  for (int64_t axis : axes) n *= a.shape()[axis];
  const double dof = std::max<double>(static_cast<double>(n) - ddof, 0.0);
  return v * (static_cast<double>(n) / dof);
}

}  // namespace

Array var(const Array& a, bool keepdims, int ddof) {
  return Variance(a, detail::AllAxes(a.ndim()), keepdims, ddof);
}
Array var(const Array& a, int axis, bool keepdims, int ddof) {
  return Variance(a, {detail::NormalizeAxis("var", axis, a.ndim())}, keepdims, ddof);
}
Array var(const Array& a, const std::vector<int>& axes, bool keepdims, int ddof) {
  return Variance(a, detail::NormalizeAxes("var", axes, a.ndim(), /*sort=*/true), keepdims, ddof);
}

Array std(const Array& a, bool keepdims, int ddof) { return sqrt(var(a, keepdims, ddof)); }
Array std(const Array& a, int axis, bool keepdims, int ddof) {
  return sqrt(var(a, axis, keepdims, ddof));
}
Array std(const Array& a, const std::vector<int>& axes, bool keepdims, int ddof) {
  return sqrt(var(a, axes, keepdims, ddof));
}

// ---- Part D ---------------------------------------------------------------------------------

Array count_nonzero(const Array& a, bool keepdims) { return sum(a != 0, keepdims); }
Array count_nonzero(const Array& a, int axis, bool keepdims) { return sum(a != 0, axis, keepdims); }
Array count_nonzero(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return sum(a != 0, axes, keepdims);
}

namespace {

// The reduced axes moved last and merged, sorted (NaN last), and the middle read off.
Array Median(const Array& a, const std::vector<int64_t>& axes, bool keepdims) {
  std::vector<int> order;
  Shape rows, kept_dims = a.shape();
  int64_t count = 1;
  for (int d = 0; d < a.ndim(); ++d) {
    if (std::find(axes.begin(), axes.end(), d) != axes.end()) continue;
    order.push_back(d);
    rows.push_back(a.shape()[d]);
  }
  for (int64_t d : axes) {
    order.push_back(static_cast<int>(d));
    count *= a.shape()[d];
    kept_dims[d] = 1;
  }
  if (count == 0) detail::ThrowOpError("median", "cannot take the median of no elements.");
  rows.push_back(count);
  const Array x = astype(reshape(transpose(a, order), rows), core::FloatingResultType(a.dtype()));
  const Array sorted = sort(x, -1);
  const int64_t mid = count / 2;
  Array m = count % 2 == 1 ? take(sorted, mid, -1)
                           : (take(sorted, mid - 1, -1) + take(sorted, mid, -1)) * 0.5;
  m = where(any(isnan(x), -1), std::numeric_limits<double>::quiet_NaN(), m);
  return keepdims ? reshape(m, kept_dims) : m;
}

}  // namespace

Array median(const Array& a, bool keepdims) {
  return Median(a, detail::AllAxes(a.ndim()), keepdims);
}
Array median(const Array& a, int axis, bool keepdims) {
  return Median(a, {detail::NormalizeAxis("median", axis, a.ndim())}, keepdims);
}
Array median(const Array& a, const std::vector<int>& axes, bool keepdims) {
  return Median(a, detail::NormalizeAxes("median", axes, a.ndim(), /*sort=*/true), keepdims);
}

Array number_of_elements(const Array& a, const std::vector<int>& axes, bool inverted, Dtype dtype) {
  const std::vector<int64_t> chosen =
      detail::NormalizeAxes("number_of_elements", axes, a.ndim(), /*sort=*/true);
  double count = 1;
  for (int d = 0; d < a.ndim(); ++d) {
    const bool in = std::find(chosen.begin(), chosen.end(), d) != chosen.end();
    if (in != inverted) count *= static_cast<double>(a.shape()[d]);
  }
  return full({}, count, dtype, a.device());
}

}  // namespace ferry
