#include "client/vjp/common.h"

#include "client/error.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::detail {

Array AddIntoPicked(const Array& products, const Array& indices, const Shape& shape) {
  const int64_t rows = products.shape()[products.ndim() - 2];
  const int64_t cols = products.shape().back();
  const Array base = zeros({core::NumElements(Shape(shape.begin(), shape.end() - 2)), rows, cols},
                           products.dtype(), products.device());
  return reshape(scatter_add(base, {flatten(indices)}, reshape(products, {-1, 1, rows, cols}), {0}),
                 shape);
}

Array SumToShape(const Array& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int extra = g.ndim() - static_cast<int>(shape.size());
  std::vector<int> leading;
  for (int i = 0; i < extra; ++i) leading.push_back(i);
  Array out = leading.empty() ? g : sum(g, leading);
  std::vector<int> ones;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1 && out.shape()[i] != 1) ones.push_back(static_cast<int>(i));
  }
  return ones.empty() ? out : sum(out, ones, /*keepdims=*/true);
}

Array ExpandReduced(const Array& g, const Shape& shape, const std::vector<int64_t>& axes,
                    bool keepdims) {
  Array out = g;
  if (!keepdims) {
    Shape kept = shape;
    for (int64_t axis : axes) kept[axis] = 1;
    out = reshape(g, kept);
  }
  return out.shape() == shape ? out : broadcast_to(out, shape);
}

Array ZerosLike(const Array& a) { return zeros(a.shape(), a.dtype(), a.device()); }

Array PositionsAlong(const Shape& shape, int axis, const Device& device) {
  Shape column(shape.size(), 1);
  column[axis] = shape[axis];
  Array positions = reshape(arange(0, static_cast<double>(shape[axis]), 1, int32, device), column);
  return positions.shape() == shape ? positions : broadcast_to(positions, shape);
}

Array AddAlongAxis(const Shape& shape, const Array& indices, const Array& values, int axis) {
  std::vector<Array> coordinates;
  std::vector<int> axes;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    coordinates.push_back(d == axis ? indices
                                    : PositionsAlong(indices.shape(), d, values.device()));
    axes.push_back(d);
  }
  Shape slices = values.shape();
  slices.insert(slices.end(), shape.size(), 1);
  return scatter_add(zeros(shape, values.dtype(), values.device()), coordinates,
                     reshape(values, slices), axes);
}

template <typename T>
T GetAttr(const core::Attrs& attrs, const std::string& name) {
  absl::StatusOr<T> value = attrs.Get<T>(name);
  if (!value.ok()) throw Error(ErrorCode::kInternal, std::string(value.status().message()));
  return *std::move(value);
}

template int64_t GetAttr<int64_t>(const core::Attrs&, const std::string&);
template Dtype GetAttr<Dtype>(const core::Attrs&, const std::string&);
template std::vector<int64_t> GetAttr<std::vector<int64_t>>(const core::Attrs&, const std::string&);

}  // namespace ferry::detail
