#ifndef FERRY_CLIENT_VJP_COMMON_H_
#define FERRY_CLIENT_VJP_COMMON_H_

// Internal to the client library: shape plumbing the vjp rules share.

#include <cstdint>
#include <string>
#include <vector>

#include "client/array.h"
#include "client/device.h"
#include "client/dtype.h"
#include "core/graph.h"

namespace ferry::detail {

// `g`, the cotangent of a value broadcast from `shape`, summed back to `shape`: leading
// axes summed away, and axes where `shape` has 1 summed with keepdims.
Array SumToShape(const Array& g, const Shape& shape);

// `g`, the cotangent of a reduction of an array of `shape` over `axes`, broadcast back to
// `shape` (reinserting the reduced axes first unless `keepdims`).
Array ExpandReduced(const Array& g, const Shape& shape, const std::vector<int64_t>& axes,
                    bool keepdims);

Array ZerosLike(const Array& a);

// Each position's index along `axis` (int32), broadcast to `shape`.
Array PositionsAlong(const Shape& shape, int axis, const Device& device);

// Zeros of `shape` (values' dtype) with values[j] added at position indices[j] along `axis`;
// indices and values have `shape` but on `axis`. Duplicate indices add up.
Array AddAlongAxis(const Shape& shape, const Array& indices, const Array& values, int axis);

// For gather_mm and gather_qmm: the products of each pair, (pairs..., r, c), added into the
// matrices of an operand of `shape` that `indices` (pairs...) picked them from, as MLX's
// GatherMM::vjp scatters them. Duplicate picks add up.
Array AddIntoPicked(const Array& products, const Array& indices, const Shape& shape);

// The attribute `name` of a node being differentiated; throws kInternal if it is missing,
// which only a bug in the client's own ops can cause.
template <typename T>
T GetAttr(const core::Attrs& attrs, const std::string& name);

extern template int64_t GetAttr<int64_t>(const core::Attrs&, const std::string&);
extern template Dtype GetAttr<Dtype>(const core::Attrs&, const std::string&);
extern template std::vector<int64_t> GetAttr<std::vector<int64_t>>(const core::Attrs&,
                                                                   const std::string&);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_VJP_COMMON_H_
