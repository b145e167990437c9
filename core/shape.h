#ifndef FERRY_CORE_SHAPE_H_
#define FERRY_CORE_SHAPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ferry::core {

// Dimensions, outermost first. A scalar has the empty shape.
using Shape = std::vector<int64_t>;

// The largest element count a tensor may have (so byte sizes never overflow int64).
inline constexpr int64_t kMaxElements = int64_t{1} << 48;

// "(2, 3)", "()" for a scalar.
std::string ShapeToString(absl::Span<const int64_t> shape);

// The product of the dims; 1 for a scalar. Assumes a shape that passed CheckShape.
int64_t NumElements(absl::Span<const int64_t> shape);

// INVALID_ARGUMENT if a dim is negative or the element count exceeds kMaxElements (the
// count ignoring zero dims, so that strides of an empty array cannot overflow either).
absl::Status CheckShape(absl::Span<const int64_t> shape);

// Row-major strides, in elements.
std::vector<int64_t> ContiguousStrides(absl::Span<const int64_t> shape);

// The NumPy broadcast of two shapes, or INVALID_ARGUMENT naming both.
absl::StatusOr<Shape> BroadcastShapes(absl::Span<const int64_t> a, absl::Span<const int64_t> b);

// An axis in [-rank, rank) made non-negative, or INVALID_ARGUMENT.
absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank);

}  // namespace ferry::core

#endif  // FERRY_CORE_SHAPE_H_
