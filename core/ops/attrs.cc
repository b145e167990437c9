#include "core/ops/attrs.h"

#include <cmath>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace ferry::core::ops_internal {

// This absl's StrCat takes absl::string_view, which is not std::string_view.
absl::Status OpError(std::string_view op, std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("[", absl::string_view(op.data(), op.size()), "] ",
                   absl::string_view(message.data(), message.size())));
}

absl::Status WithOp(std::string_view op, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("[", absl::string_view(op.data(), op.size()),
                                                  "] ", status.message()));
}

bool IsKnownDType(DType dtype) { return static_cast<size_t>(dtype) < std::size(kAllDTypes); }

template <typename T>
absl::StatusOr<T> GetAttr(std::string_view op, const Attrs& attrs, const std::string& name) {
  absl::StatusOr<T> value = attrs.Get<T>(name);
  if (!value.ok()) return WithOp(op, value.status());
  return value;
}

template absl::StatusOr<int64_t> GetAttr(std::string_view, const Attrs&, const std::string&);
template absl::StatusOr<double> GetAttr(std::string_view, const Attrs&, const std::string&);
template absl::StatusOr<std::vector<int64_t>> GetAttr(std::string_view, const Attrs&,
                                                      const std::string&);
template absl::StatusOr<std::string> GetAttr(std::string_view, const Attrs&, const std::string&);
template absl::StatusOr<DType> GetAttr(std::string_view, const Attrs&, const std::string&);
template absl::StatusOr<HostTensor> GetAttr(std::string_view, const Attrs&, const std::string&);

absl::StatusOr<double> GetFinite(std::string_view op, const Attrs& attrs, const std::string& name) {
  absl::StatusOr<double> value = GetAttr<double>(op, attrs, name);
  if (value.ok() && !std::isfinite(*value)) {
    return OpError(op, absl::StrCat("attribute '", name, "' must be finite, got ", *value));
  }
  return value;
}

absl::StatusOr<DType> GetDType(std::string_view op, const Attrs& attrs) {
  absl::StatusOr<DType> dtype = GetAttr<DType>(op, attrs, "dtype");
  if (dtype.ok() && !IsKnownDType(*dtype)) {
    return OpError(
        op, absl::StrCat("attribute 'dtype' holds unknown dtype ", static_cast<int>(*dtype)));
  }
  return dtype;
}

absl::StatusOr<Shape> GetShape(std::string_view op, const Attrs& attrs) {
  absl::StatusOr<Shape> shape = GetAttr<std::vector<int64_t>>(op, attrs, "shape");
  if (!shape.ok()) return shape;
  if (absl::Status s = CheckShape(*shape); !s.ok()) return WithOp(op, s);
  return shape;
}

absl::StatusOr<bool> GetFlag(std::string_view op, const Attrs& attrs, const std::string& name) {
  absl::StatusOr<int64_t> value = GetAttr<int64_t>(op, attrs, name);
  if (!value.ok()) return value.status();
  if (*value != 0 && *value != 1) {
    return OpError(op, absl::StrCat("attribute '", name, "' must be 0 or 1, got ", *value));
  }
  return *value == 1;
}

absl::StatusOr<bool> GetKeepdims(std::string_view op, const Attrs& attrs) {
  return GetFlag(op, attrs, "keepdims");
}

namespace {

// The client sends axes normalized, so a negative one is a client bug, not a convenience.
absl::Status CheckAxis(std::string_view op, int64_t axis, int rank) {
  if (axis < 0) {
    return OpError(
        op, absl::StrCat("axis ", axis, " is negative; axes must be normalized to [0, rank)"));
  }
  if (axis >= rank) {
    return OpError(op, absl::StrCat("axis ", axis, " is out of range for an array of rank ", rank));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> GetAxis(std::string_view op, const Attrs& attrs, const std::string& name,
                            int rank) {
  absl::StatusOr<int64_t> axis = GetAttr<int64_t>(op, attrs, name);
  if (!axis.ok()) return axis.status();
  if (absl::Status s = CheckAxis(op, *axis, rank); !s.ok()) return s;
  return static_cast<int>(*axis);
}

absl::StatusOr<std::vector<bool>> GetAxes(std::string_view op, const Attrs& attrs, int rank) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(op, attrs, "axes");
  if (!axes.ok()) return axes.status();
  std::vector<bool> mask(rank, false);
  for (int64_t axis : *axes) {
    if (absl::Status s = CheckAxis(op, axis, rank); !s.ok()) return s;
    if (mask[axis]) return OpError(op, absl::StrCat("axis ", axis, " appears twice in axes"));
    mask[axis] = true;
  }
  return mask;
}

Shape ReduceShape(const Shape& shape, const std::vector<bool>& axes, bool keepdims) {
  Shape out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (!axes[i]) {
      out.push_back(shape[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

}  // namespace ferry::core::ops_internal
