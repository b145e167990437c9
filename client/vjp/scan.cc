// Vector-Jacobian products of the scans along one axis, after MLX's Scan::vjp. cumsum's
// cotangent is the scan of g the other way; cumprod's divides out each element, with the
// first zero of a scan handled apart so that zeros give no NaN; cummax and cummin send
// each g[j] to the element that attained result j; logcumsumexp's is a log-space scan of g
// the other way.

#include <limits>

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

struct ScanAttrs {
  int axis;
  bool reverse;
  bool inclusive;
};

ScanAttrs GetScan(const VjpArgs& args) {
  return {static_cast<int>(GetAttr<int64_t>(args.attrs, "axis")),
          GetAttr<int64_t>(args.attrs, "reverse") != 0,
          GetAttr<int64_t>(args.attrs, "inclusive") != 0};
}

VjpResult Cumsum(const VjpArgs& args) {
  const ScanAttrs s = GetScan(args);
  return {cumsum(args.cotangent, s.axis, !s.reverse, s.inclusive)};
}

// d/dx_i of y_j is the product of the scanned elements but i. Before a zero that is all
// y_j / x_i; at the first zero of a scan it is the scan with that zero replaced by 1; after
// it, 0.
VjpResult Cumprod(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const Array& g = args.cotangent;
  const ScanAttrs s = GetScan(args);
  auto suffix = [&](const Array& y) { return cumsum(y * g, s.axis, !s.reverse, s.inclusive); };
  Array is_zero = x == 0;
  Array before = cumprod(x, s.axis, s.reverse, /*inclusive=*/false);
  Array first_zero = logical_and(is_zero, before != 0);
  Array with_one = cumprod(where(first_zero, 1, x), s.axis, s.reverse, s.inclusive);
  Array ordinary = suffix(args.output) / where(is_zero, 1, x);
  return {where(first_zero, suffix(with_one), where(before == 0, 0, ordinary))};
}

// d y_j / d x_i is exp(x_i - y_j) for each result j that scanned element i, so the
// cotangent is exp(x_i) times the scan of g_j exp(-y_j) the other way. Summed in log space
// (as TensorFlow's rule): positive and negative g apart, log(|g|) - y scanned by
// logcumsumexp, so nothing overflows.
VjpResult Logcumsumexp(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const Array& y = args.output;
  const Array& g = args.cotangent;
  const ScanAttrs s = GetScan(args);
  constexpr double kMinusInf = -std::numeric_limits<double>::infinity();
  auto part = [&](const Array& cond, const Array& magnitude) {
    Array terms = where(cond, log(magnitude) - y, kMinusInf);
    return exp(logcumsumexp(terms, s.axis, !s.reverse, s.inclusive) + x);
  };
  return {part(g > 0, g) - part(g < 0, -g)};
}

// The element that attains result j is the last new extreme up to j (before j for an
// exclusive scan): x_l equals the inclusive scan at l, scanning positions with the same
// direction. An exclusive scan's first result is the identity and takes no gradient.
template <Array (*kScan)(const Array&, int, bool, bool)>
VjpResult CumExtreme(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const ScanAttrs s = GetScan(args);
  const int64_t n = x.shape()[s.axis];
  Array positions = PositionsAlong(x.shape(), s.axis, x.device());
  Array is_new = x == (s.inclusive ? args.output : kScan(x, s.axis, s.reverse, true));
  Array source = s.reverse ? cummin(where(is_new, positions, n), s.axis, true, s.inclusive)
                           : cummax(where(is_new, positions, -1), s.axis, false, s.inclusive);
  Array valid = logical_and(source >= 0, source < n);
  return {
      AddAlongAxis(x.shape(), where(valid, source, 0), where(valid, args.cotangent, 0), s.axis)};
}

Array Cummax(const Array& a, int axis, bool reverse, bool inclusive) {
  return cummax(a, axis, reverse, inclusive);
}
Array Cummin(const Array& a, int axis, bool reverse, bool inclusive) {
  return cummin(a, axis, reverse, inclusive);
}

}  // namespace

void RegisterScanVjps(VjpTable& table) {
  table["cumsum"] = &Cumsum;
  table["cumprod"] = &Cumprod;
  table["cummax"] = &CumExtreme<Cummax>;
  table["cummin"] = &CumExtreme<Cummin>;
  table["logcumsumexp"] = &Logcumsumexp;
}

}  // namespace ferry::detail
