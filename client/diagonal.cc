// diagonal, diag, meshgrid and kron, composed of layout ops and take (ops.h, part C).

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"

namespace ferry {

// The two axes moved last and flattened; the diagonal is every (m + 1)-th element from
// its first.
Array diagonal(const Array& a, int offset, int axis1, int axis2) {
  const int rank = a.ndim();
  if (rank < 2) {
    detail::ThrowOpError("diagonal", absl::StrCat("needs at least 2 dimensions, got ", rank, "."));
  }
  const int64_t first = detail::NormalizeAxis("diagonal", axis1, rank);
  const int64_t second = detail::NormalizeAxis("diagonal", axis2, rank);
  if (first == second) {
    detail::ThrowOpError("diagonal", absl::StrCat("axis1 and axis2 are both axis ", first, "."));
  }
  std::vector<int> order;
  Shape shape;
  for (int d = 0; d < rank; ++d) {
    if (d != first && d != second) {
      order.push_back(d);
      shape.push_back(a.shape()[d]);
    }
  }
  order.push_back(static_cast<int>(first));
  order.push_back(static_cast<int>(second));
  const int64_t n = a.shape()[first], m = a.shape()[second];
  const int64_t length = std::max<int64_t>(
      0, offset >= 0 ? std::min<int64_t>(n, m - offset) : std::min<int64_t>(n + offset, m));
  shape.push_back(n * m);
  const Array flat = reshape(transpose(a, order), shape);
  const int64_t start = offset >= 0 ? offset : -static_cast<int64_t>(offset) * m;
  const Array index =
      arange(static_cast<double>(start), static_cast<double>(start + length * (m + 1)),
             static_cast<double>(m + 1), int64, a.device());
  return take(flat, index, -1);
}

Array diag(const Array& a, int k) {
  if (a.ndim() == 2) return diagonal(a, k, 0, 1);
  if (a.ndim() != 1) {
    detail::ThrowOpError("diag",
                         absl::StrCat("needs a 1-D or 2-D array, got rank ", a.ndim(), "."));
  }
  // Row i holds a[i] (k >= 0) or a[i + k] (k < 0): a padded to the matrix's side.
  const int64_t shift = std::abs(static_cast<int64_t>(k));
  const int64_t side = a.shape()[0] + shift;
  const Array column = reshape(pad(a, {{k < 0 ? shift : 0, k < 0 ? 0 : shift}}), {side, 1});
  const Array on_diagonal = eye(side, side, k, bool_, a.device());
  return where(on_diagonal, column, zeros({}, a.dtype(), a.device()));
}

std::vector<Array> meshgrid(const std::vector<Array>& arrays, bool sparse,
                            const std::string& indexing) {
  if (indexing != "xy" && indexing != "ij") {
    detail::ThrowOpError(
        "meshgrid", absl::StrCat("indexing must be \"xy\" or \"ij\", got \"", indexing, "\"."));
  }
  const size_t count = arrays.size();
  // Output axis of input i: i, with the first two swapped for Cartesian indexing.
  std::vector<size_t> axis_of(count);
  std::iota(axis_of.begin(), axis_of.end(), 0);
  if (indexing == "xy" && count >= 2) std::swap(axis_of[0], axis_of[1]);
  Shape full_shape(count);
  for (size_t i = 0; i < count; ++i) full_shape[axis_of[i]] = arrays[i].size();
  std::vector<Array> grids;
  for (size_t i = 0; i < count; ++i) {
    Shape shape(count, 1);
    shape[axis_of[i]] = arrays[i].size();
    Array grid = reshape(arrays[i], shape);
    grids.push_back(sparse ? grid : broadcast_to(grid, full_shape));
  }
  return grids;
}

// a's axes interleaved with b's, (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...), then merged.
Array kron(const Array& a, const Array& b) {
  const int rank = std::max(a.ndim(), b.ndim());
  Shape a_shape(rank - a.ndim(), 1), b_shape(rank - b.ndim(), 1);
  a_shape.insert(a_shape.end(), a.shape().begin(), a.shape().end());
  b_shape.insert(b_shape.end(), b.shape().begin(), b.shape().end());
  Shape a_spread, b_spread, merged;
  for (int d = 0; d < rank; ++d) {
    a_spread.insert(a_spread.end(), {a_shape[d], 1});
    b_spread.insert(b_spread.end(), {1, b_shape[d]});
    merged.push_back(a_shape[d] * b_shape[d]);
  }
  return reshape(reshape(a, a_spread) * reshape(b, b_spread), merged);
}

Array trace(const Array& a, int offset, int axis1, int axis2, std::optional<Dtype> dtype) {
  const Array total = sum(diagonal(a, offset, axis1, axis2), -1);
  return dtype.has_value() ? astype(total, *dtype) : total;
}

}  // namespace ferry
