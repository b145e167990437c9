#ifndef FERRY_CORE_OPS_ATTRS_H_
#define FERRY_CORE_OPS_ATTRS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/graph.h"

// Internal to core: reading and checking attributes the same way in every op family.
// Every error is INVALID_ARGUMENT and starts with "[op] ".
namespace ferry::core::ops_internal {

// INVALID_ARGUMENT "[op] message".
absl::Status OpError(std::string_view op, std::string_view message);

// `status` with "[op] " put in front of its message; OK stays OK.
absl::Status WithOp(std::string_view op, const absl::Status& status);

// True for the values of the DType enum (an attribute may carry a stray cast).
bool IsKnownDType(DType dtype);

// The attribute `name` as T, or "[op] missing attribute 'name'" / "... must be a ...".
template <typename T>
absl::StatusOr<T> GetAttr(std::string_view op, const Attrs& attrs, const std::string& name);

// A number attribute that must be finite.
absl::StatusOr<double> GetFinite(std::string_view op, const Attrs& attrs, const std::string& name);

// A dtype attribute holding one of the DType values.
absl::StatusOr<DType> GetDType(std::string_view op, const Attrs& attrs);

// A shape attribute ("shape") that passes CheckShape.
absl::StatusOr<Shape> GetShape(std::string_view op, const Attrs& attrs);

// An integer attribute that must be 0 or 1.
absl::StatusOr<bool> GetFlag(std::string_view op, const Attrs& attrs, const std::string& name);

// "keepdims": 0 or 1.
absl::StatusOr<bool> GetKeepdims(std::string_view op, const Attrs& attrs);

// A single normalized axis attribute: 0 <= axis < rank.
absl::StatusOr<int> GetAxis(std::string_view op, const Attrs& attrs, const std::string& name,
                            int rank);

// "axes": normalized, distinct axes of an array of `rank`, as a mask of length rank.
absl::StatusOr<std::vector<bool>> GetAxes(std::string_view op, const Attrs& attrs, int rank);

// `shape` with the masked axes removed, or kept as 1 with keepdims.
Shape ReduceShape(const Shape& shape, const std::vector<bool>& axes, bool keepdims);

}  // namespace ferry::core::ops_internal

#endif  // FERRY_CORE_OPS_ATTRS_H_
