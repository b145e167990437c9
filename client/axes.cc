#include "client/axes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"

namespace ferry::detail {

int64_t NormalizeAxis(const std::string& op, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    ThrowOpError(op, absl::StrCat("axis ", axis, " is out of range for an array of rank ", rank,
                                  "."));
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> NormalizeAxes(const std::string& op, const std::vector<int>& axes,
                                   int rank, bool sort) {
  std::vector<int64_t> normalized;
  normalized.reserve(axes.size());
  for (int axis : axes) {
    const int64_t n = NormalizeAxis(op, axis, rank);
    if (std::find(normalized.begin(), normalized.end(), n) != normalized.end()) {
      ThrowOpError(op, absl::StrCat("axis ", axis, " appears more than once."));
    }
    normalized.push_back(n);
  }
  if (sort) std::sort(normalized.begin(), normalized.end());
  return normalized;
}

std::vector<int64_t> AllAxes(int rank) {
  std::vector<int64_t> axes(rank);
  for (int i = 0; i < rank; ++i) axes[i] = i;
  return axes;
}

}  // namespace ferry::detail
