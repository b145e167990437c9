#ifndef FERRY_CLIENT_AXES_H_
#define FERRY_CLIENT_AXES_H_

// Internal to the client library: axes as users write them (negative from the end) turned
// into the normalized attributes core/ops.h requires.

#include <cstdint>
#include <string>
#include <vector>

namespace ferry::detail {

// `axis` in [-rank, rank) made non-negative; else throws "[op] axis 3 is out of range for
// an array of rank 2."
int64_t NormalizeAxis(const std::string& op, int64_t axis, int rank);

// Each axis normalized; throws on a repeated axis. Sorted when the order carries no
// meaning (reductions), so equal requests give equal graphs.
std::vector<int64_t> NormalizeAxes(const std::string& op, const std::vector<int>& axes,
                                   int rank, bool sort);

// 0, 1, ..., rank - 1.
std::vector<int64_t> AllAxes(int rank);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_AXES_H_
