// Identity matrices, triangles and masks of them (ops.h, part C), from arange comparisons.

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"

namespace ferry {
namespace {

// column - row of an n x m matrix (int64: indices past int32 stay exact).
Array Offsets(int64_t n, int64_t m, const Device& device) {
  const Array rows = reshape(arange(static_cast<double>(n), int64, device), {n, 1});
  const Array cols = reshape(arange(static_cast<double>(m), int64, device), {1, m});
  return cols - rows;
}

void CheckExtents(const char* op, int64_t n, int64_t m) {
  if (n < 0 || m < 0) {
    detail::ThrowOpError(op, absl::StrCat("needs non-negative extents, got ", n, " x ", m, "."));
  }
}

// Where a's last two axes are at or below diagonal k.
Array LowerMask(const char* op, const Array& a, int64_t k) {
  if (a.ndim() < 2) {
    detail::ThrowOpError(op, absl::StrCat("needs at least 2 dimensions, got ", a.ndim(), "."));
  }
  const int64_t n = a.shape()[a.ndim() - 2], m = a.shape()[a.ndim() - 1];
  return Offsets(n, m, a.device()) <= k;
}

}  // namespace

Array eye(int64_t n, int64_t m, int64_t k, Dtype dtype, Device device) {
  CheckExtents("eye", n, m);
  return astype(Offsets(n, m, device) == k, dtype);
}

Array eye(int64_t n, Dtype dtype, Device device) { return eye(n, n, 0, dtype, std::move(device)); }

Array identity(int64_t n, Dtype dtype, Device device) {
  return eye(n, n, 0, dtype, std::move(device));
}

Array tri(int64_t n, int64_t m, int64_t k, Dtype dtype, Device device) {
  CheckExtents("tri", n, m);
  return astype(Offsets(n, m, device) <= k, dtype);
}

Array tril(const Array& a, int64_t k) {
  return where(LowerMask("tril", a, k), a, zeros({}, a.dtype(), a.device()));
}

Array triu(const Array& a, int64_t k) {
  return where(LowerMask("triu", a, k - 1), zeros({}, a.dtype(), a.device()), a);
}

}  // namespace ferry
