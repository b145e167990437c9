#include "kernels/conv_geometry.h"

#include <algorithm>
#include <atomic>

namespace ferry::kernels {
namespace {

std::atomic<size_t> budget_cap_for_testing{0};

}  // namespace

int64_t LoweredRows(const ConvGeometry& g) {
  return g.batch * g.out_dim[0] * g.out_dim[1] * g.out_dim[2];
}

int64_t LoweredDepth(const ConvGeometry& g) {
  return g.k_dim[0] * g.k_dim[1] * g.k_dim[2] * (g.c_in / g.groups);
}

bool LoweringIsIdentity(const ConvGeometry& g) {
  for (int d = 0; d < kConvSpatialDims; ++d) {
    if (g.k_dim[d] != 1 || g.stride[d] != 1 || g.lo[d] != 0 || g.out_dim[d] != g.in_dim[d]) {
      return false;
    }
  }
  return true;
}

int64_t LoweredRowsPerPass(const ConvGeometry& g, size_t element_bytes, size_t budget_bytes) {
  const int64_t rows = LoweredRows(g);
  const int64_t row_bytes = g.groups * LoweredDepth(g) * static_cast<int64_t>(element_bytes);
  if (rows == 0 || row_bytes == 0) return rows;
  const size_t cap = budget_cap_for_testing.load();
  if (cap != 0) budget_bytes = std::min(budget_bytes, cap);
  const int64_t fit = static_cast<int64_t>(budget_bytes) / row_bytes;
  return std::clamp<int64_t>(fit, 1, rows);
}

void SetLoweringBudgetForTesting(size_t bytes) { budget_cap_for_testing.store(bytes); }

}  // namespace ferry::kernels
