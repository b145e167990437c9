#include "core/dtype.h"

#include <array>

namespace ferry::core {
namespace {

struct DTypeFacts {
  const char* name;
  size_t size;
};

constexpr std::array<DTypeFacts, 9> kFacts = {{
    {"bool", 1},
    {"uint8", 1},
    {"uint32", 4},
    {"int32", 4},
    {"int64", 8},
    {"float16", 2},
    {"bfloat16", 2},
    {"float32", 4},
    {"float64", 8},
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
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 ||
         dtype == DType::kFloat32 || dtype == DType::kFloat64;
}

bool IsInteger(DType dtype) {
  return dtype == DType::kUInt8 || dtype == DType::kUInt32 || dtype == DType::kInt32 ||
         dtype == DType::kInt64;
}

bool IsUnsigned(DType dtype) {
  return dtype == DType::kBool || dtype == DType::kUInt8 || dtype == DType::kUInt32;
}

DType PromoteTypes(DType a, DType b) {
  if (a == b) return a;
  if (IsFloating(a) || IsFloating(b)) {
    if (!IsFloating(a)) return b;
    if (!IsFloating(b)) return a;
    if (a == DType::kFloat64 || b == DType::kFloat64) return DType::kFloat64;
    return DType::kFloat32;  // float16/bfloat16 with each other or float32
  }
  // Both are bool or integers.
  if (a == DType::kBool) return b;
  if (b == DType::kBool) return a;
  if (a == DType::kUInt8) return b;
  if (b == DType::kUInt8) return a;
  if (a == DType::kInt64 || b == DType::kInt64) return DType::kInt64;
  return DType::kInt64;  // uint32 with int32: the only integer type holding both
}

DType FloatingResultType(DType dtype) { return IsFloating(dtype) ? dtype : DType::kFloat32; }

}  // namespace ferry::core
