#include "core/dtype.h"

#include <algorithm>
#include <array>

namespace ferry::core {
namespace {

struct DTypeFacts {
  const char* name;
  size_t size;
};

constexpr std::array<DTypeFacts, 14> kFacts = {{
    {"bool", 1},
    {"uint8", 1},
    {"uint16", 2},
    {"uint32", 4},
    {"uint64", 8},
    {"int8", 1},
    {"int16", 2},
    {"int32", 4},
    {"int64", 8},
    {"float16", 2},
    {"bfloat16", 2},
    {"float32", 4},
    {"float64", 8},
    {"complex64", 8},
}};

const DTypeFacts& Facts(DType dtype) { return kFacts[static_cast<size_t>(dtype)]; }

}  // namespace

size_t SizeOf(DType dtype) { return Facts(dtype).size; }

const char* DTypeName(DType dtype) { return Facts(dtype).name; }

std::optional<DType> DTypeFromName(std::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (std::string_view(DTypeName(dtype)) == name) return dtype;
  }
  return std::nullopt;
}

bool IsFloating(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 || dtype == DType::kFloat32 ||
         dtype == DType::kFloat64;
}

bool IsInteger(DType dtype) {
  return dtype != DType::kBool && !IsFloating(dtype) && !IsComplex(dtype);
}

bool IsComplex(DType dtype) { return dtype == DType::kComplex64; }

bool IsUnsigned(DType dtype) {
  return dtype == DType::kBool || dtype == DType::kUInt8 || dtype == DType::kUInt16 ||
         dtype == DType::kUInt32 || dtype == DType::kUInt64;
}

DType PromoteTypes(DType a, DType b) {
  if (a == b) return a;
  if (IsComplex(a) || IsComplex(b)) return DType::kComplex64;
  if (IsFloating(a) || IsFloating(b)) {
    if (!IsFloating(a)) return b;
    if (!IsFloating(b)) return a;
    if (a == DType::kFloat64 || b == DType::kFloat64) return DType::kFloat64;
    return DType::kFloat32;  // float16/bfloat16 with each other or float32
  }
  // Both are bool or integers.
  if (a == DType::kBool) return b;
  if (b == DType::kBool) return a;
  if (IsUnsigned(a) == IsUnsigned(b)) return SizeOf(a) >= SizeOf(b) ? a : b;
  const DType u = IsUnsigned(a) ? a : b, s = IsUnsigned(a) ? b : a;
  if (u == DType::kUInt64) return DType::kFloat32;  // no integer type holds both
  switch (std::max(2 * SizeOf(u), SizeOf(s))) {
    case 2:
      return DType::kInt16;
    case 4:
      return DType::kInt32;
    default:
      return DType::kInt64;
  }
}

DType FloatingResultType(DType dtype) {
  return IsFloating(dtype) || IsComplex(dtype) ? dtype : DType::kFloat32;
}

}  // namespace ferry::core
