#include "client/axes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"

namespace ferry::detail {

int64_t NormalizeAxis(const std::string& op, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    ThrowOpError(op,
                 absl::StrCat("axis ", axis, " is out of range for an array of rank ", rank, "."));
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> SpatialValues(const std::string& op, const std::string& name,
                                   const std::vector<int>& values, int spatial, int least) {
  if (values.size() != 1 && static_cast<int>(values.size()) != spatial) {
    ThrowOpError(op, absl::StrCat(name, " needs one value per spatial dim (", spatial,
                                  ") or one for all, got ", values.size(), "."));
  }
  std::vector<int64_t> out;
  for (int d = 0; d < spatial; ++d) {
    out.push_back(values.size() == 1 ? values[0] : values[d]);
    if (out.back() < least) {
      ThrowOpError(op, absl::StrCat(name, " must be at least ", least, ", got ", out.back(), "."));
    }
  }
  return out;
}

std::vector<int> SpatialList(const std::pair<int, int>& values) {
  return {values.first, values.second};
}

std::vector<int> SpatialList(const std::tuple<int, int, int>& values) {
  return {std::get<0>(values), std::get<1>(values), std::get<2>(values)};
}

std::vector<int64_t> NormalizeAxes(const std::string& op, const std::vector<int>& axes, int rank,
                                   bool sort) {
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
