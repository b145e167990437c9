// Arrays made from nothing: host data, constants, full, arange; and astype.

#include <cmath>
#include <complex>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/half.h"
#include "core/shape.h"

namespace ferry {
namespace detail {
namespace {

template <typename T>
std::string BytesOf(T value) {
  std::string bytes(sizeof(T), '\0');
  std::memcpy(bytes.data(), &value, sizeof(T));
  return bytes;
}

// Floats convert only to floating dtypes (the weak-scalar rule never asks otherwise), so
// no out-of-range float-to-integer cast can happen.
std::string ScalarBytes(const Operand& number, Dtype dtype) {
  const bool is_float =
      number.kind() == Operand::Kind::kFloat || number.kind() == Operand::Kind::kComplex;
  const double f = is_float ? number.float_value() : static_cast<double>(number.int_value());
  const int64_t i = number.int_value();
  switch (dtype) {
    case Dtype::kBool:
      return BytesOf<uint8_t>(is_float ? f != 0 : i != 0);
    case Dtype::kUInt8:
      return BytesOf(static_cast<uint8_t>(i));
    case Dtype::kUInt16:
      return BytesOf(static_cast<uint16_t>(i));
    case Dtype::kUInt32:
      return BytesOf(static_cast<uint32_t>(i));
    case Dtype::kUInt64:
      return BytesOf(static_cast<uint64_t>(i));
    case Dtype::kInt8:
      return BytesOf(static_cast<int8_t>(i));
    case Dtype::kInt16:
      return BytesOf(static_cast<int16_t>(i));
    case Dtype::kInt32:
      return BytesOf(static_cast<int32_t>(i));
    case Dtype::kInt64:
      return BytesOf(i);
    case Dtype::kFloat16:
      return BytesOf(core::Float16(static_cast<float>(f)).bits);
    case Dtype::kBFloat16:
      return BytesOf(core::BFloat16(static_cast<float>(f)).bits);
    case Dtype::kFloat32:
      return BytesOf(static_cast<float>(f));
    case Dtype::kFloat64:
      return BytesOf(f);
    case Dtype::kComplex64:
      return BytesOf(
          std::complex<float>(static_cast<float>(f), static_cast<float>(number.imag_value())));
  }
  return {};
}

}  // namespace

Array Constant(const Operand& number, Dtype dtype, const Device& device) {
  // Built directly rather than through MakeLeaf: the value is well-formed by construction,
  // and a chain of `x * 2 + 1` makes one per op, so inference would be a third of its cost.
  core::HostTensor value{core::TensorType{dtype, {}}, ScalarBytes(number, dtype)};
  if (value.data.empty()) {  // not a known dtype: inference says so
    return MakeLeaf("constant", {{"value", std::move(value)}}, device);
  }
  auto node = std::make_shared<ArrayNode>(value.type, device);
  node->op = "constant";
  node->attrs.Set("value", std::move(value));
  return Array(std::move(node));
}

Dtype WeakScalarType(const Operand& number, Dtype other) {
  switch (number.kind()) {
    case Operand::Kind::kFloat:
      return core::IsFloating(other) || core::IsComplex(other) ? other : float32;
    case Operand::Kind::kInt:
      return other == bool_ ? int32 : other;
    case Operand::Kind::kComplex:
      return complex64;
    default:
      return bool_;
  }
}

Dtype StrongScalarType(const Operand& number) {
  switch (number.kind()) {
    case Operand::Kind::kFloat:
      return float32;
    case Operand::Kind::kInt:
      return int32;
    case Operand::Kind::kComplex:
      return complex64;
    default:
      return bool_;
  }
}

}  // namespace detail

Array from_host_bytes(const void* data, size_t nbytes, Dtype dtype, const Shape& shape,
                      Device device) {
  absl::Status valid = core::CheckShape(shape);
  if (!valid.ok()) detail::ThrowOpError("from_host", std::string(valid.message()));
  const core::TensorType type{dtype, shape};
  const size_t needed = core::NumElements(shape) * core::SizeOf(dtype);
  if (nbytes != needed) {
    detail::ThrowOpError(
        "from_host",
        absl::StrCat("got ", nbytes / core::SizeOf(dtype), " elements for ",
                     core::TypeToString(type), ", which holds ", core::NumElements(shape), "."));
  }
  return detail::FromHostBytes(type, data, device);
}

Array from_host(const std::vector<bool>& data, const Shape& shape, Device device) {
  std::string bytes(data.begin(), data.end());
  return from_host_bytes(bytes.data(), bytes.size(), bool_, shape, std::move(device));
}

Array full(const Shape& shape, double value, Dtype dtype, Device device) {
  // Made real and converted: `full` has no complex kernel, and the value is real.
  if (core::IsComplex(dtype)) return astype(full(shape, value, float32, std::move(device)), dtype);
  return detail::MakeLeaf("full", {{"value", value}, {"shape", shape}, {"dtype", dtype}}, device);
}

Array zeros(const Shape& shape, Dtype dtype, Device device) {
  return full(shape, 0.0, dtype, std::move(device));
}

Array ones(const Shape& shape, Dtype dtype, Device device) {
  return full(shape, 1.0, dtype, std::move(device));
}

Array arange(double start, double stop, double step, Dtype dtype, Device device) {
  return detail::MakeLeaf(
      "arange", {{"start", start}, {"stop", stop}, {"step", step}, {"dtype", dtype}}, device);
}

Array arange(double start, double stop, Dtype dtype, Device device) {
  return arange(start, stop, 1.0, dtype, std::move(device));
}

Array arange(double stop, Dtype dtype, Device device) {
  return arange(0.0, stop, 1.0, dtype, std::move(device));
}

// As NumPy: start + i * step for i < num, the last value exactly stop.
Array linspace(double start, double stop, int64_t num, Dtype dtype, Device device) {
  if (num < 0) {
    detail::ThrowOpError("linspace", absl::StrCat("needs num >= 0, got ", num, "."));
  }
  if (!core::IsFloating(dtype)) {
    detail::ThrowOpError("linspace",
                         absl::StrCat("needs a floating dtype, got ", core::DTypeName(dtype), "."));
  }
  if (num == 1) return full({1}, start, dtype, std::move(device));
  // In float32 (float64 stays) and rounded once: float16 counts exactly only to 2048.
  const Dtype compute = dtype == float64 ? float64 : float32;
  const double step = (stop - start) / static_cast<double>(num - 1);
  const Array index = arange(static_cast<double>(num), compute, device);
  const Array values = index * full({}, step, compute, device) + full({}, start, compute, device);
  const Array last = index == static_cast<double>(num - 1);
  return astype(where(last, full({}, stop, compute, device), values), dtype);
}

Array zeros_like(const Array& a, std::optional<Dtype> dtype) {
  return zeros(a.shape(), dtype.value_or(a.dtype()), a.device());
}
Array ones_like(const Array& a, std::optional<Dtype> dtype) {
  return ones(a.shape(), dtype.value_or(a.dtype()), a.device());
}
Array full_like(const Array& a, double value, std::optional<Dtype> dtype) {
  return full(a.shape(), value, dtype.value_or(a.dtype()), a.device());
}

namespace {

// A cosine-sum window sum_k coefficients[k] * cos(2 pi k n / (M - 1)), signs alternating.
Array CosineWindow(int M, std::initializer_list<double> coefficients, Device device) {
  if (M < 1) return zeros({0}, float32, std::move(device));
  if (M == 1) return ones({1}, float32, std::move(device));
  const Array phase = arange(M, float32, device) * (2.0 * M_PI / (M - 1));
  Array window = zeros({M}, float32, device);
  double sign = 1;
  int k = 0;
  for (double c : coefficients) {
    window = window + (k == 0 ? full({}, c, float32, device) : cos(phase * k) * (sign * c));
    sign = -sign;
    ++k;
  }
  return window;
}

}  // namespace

Array hanning(int M, Device device) { return CosineWindow(M, {0.5, 0.5}, std::move(device)); }
Array hamming(int M, Device device) { return CosineWindow(M, {0.54, 0.46}, std::move(device)); }
Array blackman(int M, Device device) {
  return CosineWindow(M, {0.42, 0.5, 0.08}, std::move(device));
}
Array bartlett(int M, Device device) {
  if (M < 1) return zeros({0}, float32, std::move(device));
  if (M == 1) return ones({1}, float32, std::move(device));
  return 1.0 - abs(arange(M, float32, device) * (2.0 / (M - 1)) - 1.0);
}

Array astype(const Array& a, Dtype dtype) {
  return detail::MakeOp("astype", {a}, {{"dtype", dtype}});
}

Array view(const Array& a, Dtype dtype) {
  if (dtype == a.dtype()) return a;
  return detail::MakeOp("view", {a}, {{"dtype", dtype}});
}

}  // namespace ferry
