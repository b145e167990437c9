#ifndef FERRY_CLIENT_AXES_H_
#define FERRY_CLIENT_AXES_H_

// Internal to the client library: axes as users write them (negative from the end) turned
// into the normalized attributes core/ops.h requires.

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ferry::detail {

// `axis` in [-rank, rank) made non-negative; else throws "[op] axis 3 is out of range for
// an array of rank 2."
int64_t NormalizeAxis(const std::string& op, int64_t axis, int rank);

// Each axis normalized; throws on a repeated axis. Sorted when the order carries no
// meaning (reductions), so equal requests give equal graphs.
std::vector<int64_t> NormalizeAxes(const std::string& op, const std::vector<int>& axes, int rank,
                                   bool sort);

// Per-spatial-dim arguments of convolutions and pooling: one value per spatial dim, or one
// standing for all, each at least `least`; else throws "[op] stride needs one value per
// spatial dim (2) or one for all, got 3." or "[op] stride must be at least 1, got 0."
std::vector<int64_t> SpatialValues(const std::string& op, const std::string& name,
                                   const std::vector<int>& values, int spatial, int least);

// The values of a 2-D or 3-D form's pair or triple, as the general form's list.
std::vector<int> SpatialList(const std::pair<int, int>& values);
std::vector<int> SpatialList(const std::tuple<int, int, int>& values);

// 0, 1, ..., rank - 1.
std::vector<int64_t> AllAxes(int rank);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_AXES_H_
