// Leaves: ops with no inputs, whose type comes from their attributes alone.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

// The range an integer dtype holds, as doubles (exact: every bound is a power of two or
// a small integer).
bool FitsIn(DType dtype, double value) {
  switch (dtype) {
    case DType::kUInt8:
      return value > -1.0 && value < 256.0;
    case DType::kUInt16:
      return value > -1.0 && value < 65536.0;
    case DType::kUInt32:
      return value > -1.0 && value < 4294967296.0;
    case DType::kUInt64:
      return value > -1.0 && value < 18446744073709551616.0;
    case DType::kInt8:
      return value > -129.0 && value < 128.0;
    case DType::kInt16:
      return value > -32769.0 && value < 32768.0;
    case DType::kInt32:
      return value > -2147483649.0 && value < 2147483648.0;
    case DType::kInt64:
      return value >= -9223372036854775808.0 && value < 9223372036854775808.0;
    default:
      return true;
  }
}

absl::StatusOr<TensorType> InferParameter(absl::Span<const TensorType>, const Attrs& attrs) {
  absl::StatusOr<int64_t> index = GetAttr<int64_t>("parameter", attrs, "index");
  if (!index.ok()) return index.status();
  if (*index < 0) {
    return OpError("parameter", absl::StrCat("index ", *index, " is negative"));
  }
  absl::StatusOr<DType> dtype = GetDType("parameter", attrs);
  if (!dtype.ok()) return dtype.status();
  absl::StatusOr<Shape> shape = GetShape("parameter", attrs);
  if (!shape.ok()) return shape.status();
  return TensorType{*dtype, *shape};
}

absl::StatusOr<TensorType> InferConstant(absl::Span<const TensorType>, const Attrs& attrs) {
  absl::StatusOr<HostTensor> value = GetAttr<HostTensor>("constant", attrs, "value");
  if (!value.ok()) return value.status();
  const TensorType& type = value->type;
  if (!IsKnownDType(type.dtype)) {
    return OpError("constant",
                   absl::StrCat("value has unknown dtype ", static_cast<int>(type.dtype)));
  }
  if (absl::Status s = CheckShape(type.shape); !s.ok()) {
    return OpError("constant", absl::StrCat("value: ", s.message()));
  }
  const int64_t nbytes = NumElements(type.shape) * static_cast<int64_t>(SizeOf(type.dtype));
  if (static_cast<int64_t>(value->data.size()) != nbytes) {
    return OpError("constant", absl::StrCat("value has ", value->data.size(), " bytes but ",
                                            TypeToString(type), " needs ", nbytes));
  }
  // Kernels read bool elements as C++ bools, for which any other byte is undefined.
  if (type.dtype == DType::kBool) {
    const size_t bad = value->data.find_first_not_of(std::string_view("\0\1", 2));
    if (bad != std::string::npos) {
      return OpError("constant",
                     absl::StrCat("value's bool element ", bad, " is the byte ",
                                  static_cast<int>(static_cast<uint8_t>(value->data[bad])),
                                  "; a bool is 0 or 1"));
    }
  }
  return type;
}

absl::StatusOr<TensorType> InferFull(absl::Span<const TensorType>, const Attrs& attrs) {
  absl::StatusOr<double> value = GetAttr<double>("full", attrs, "value");
  if (!value.ok()) return value.status();
  absl::StatusOr<Shape> shape = GetShape("full", attrs);
  if (!shape.ok()) return shape.status();
  absl::StatusOr<DType> dtype = GetDType("full", attrs);
  if (!dtype.ok()) return dtype.status();
  if (IsInteger(*dtype) && !FitsIn(*dtype, std::isfinite(*value) ? *value : NAN)) {
    return OpError("full", absl::StrCat("value ", *value, " does not fit in ", DTypeName(*dtype)));
  }
  return TensorType{*dtype, *shape};
}

absl::StatusOr<TensorType> InferArange(absl::Span<const TensorType>, const Attrs& attrs) {
  absl::StatusOr<double> start = GetFinite("arange", attrs, "start");
  if (!start.ok()) return start.status();
  absl::StatusOr<double> stop = GetFinite("arange", attrs, "stop");
  if (!stop.ok()) return stop.status();
  absl::StatusOr<double> step = GetFinite("arange", attrs, "step");
  if (!step.ok()) return step.status();
  absl::StatusOr<DType> dtype = GetDType("arange", attrs);
  if (!dtype.ok()) return dtype.status();
  if (*step == 0) return OpError("arange", "step must be nonzero");
  if (*dtype == DType::kBool) return OpError("arange", "dtype bool is not supported");
  // (stop - start) may overflow to infinity for huge finite bounds; the comparison with
  // the limit then refuses it before any conversion to an integer.
  const double count = std::max(0.0, std::ceil((*stop - *start) / *step));
  if (!(count <= static_cast<double>(kMaxElements))) {
    return OpError("arange", absl::StrCat("from ", *start, " to ", *stop, " by ", *step,
                                          " gives more than 2^48 elements"));
  }
  const int64_t n = static_cast<int64_t>(count);
  if (n > 0 && IsInteger(*dtype)) {
    const double last = *start + static_cast<double>(n - 1) * *step;
    if (!FitsIn(*dtype, *start) || !FitsIn(*dtype, last)) {
      return OpError("arange", absl::StrCat("values from ", *start, " to ", last, " do not fit in ",
                                            DTypeName(*dtype)));
    }
  }
  return TensorType{*dtype, {n}};
}

}  // namespace

void RegisterLeafOps(OpTable& table) {
  table.push_back({"parameter", 0, 0, &InferParameter, {"dtype", "index", "shape"}});
  table.push_back({"constant", 0, 0, &InferConstant, {"value"}});
  table.push_back({"full", 0, 0, &InferFull, {"dtype", "shape", "value"}});
  table.push_back({"arange", 0, 0, &InferArange, {"dtype", "start", "step", "stop"}});
}

}  // namespace ferry::core::ops_internal
