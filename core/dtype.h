#ifndef FERRY_CORE_DTYPE_H_
#define FERRY_CORE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry::core {

// Element types. Order matters only for the promotion lattice in dtype.cc.
enum class DType : uint8_t {
  kBool,
  kUInt8,
  kUInt32,
  kInt32,
  kInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
};

inline constexpr DType kAllDTypes[] = {
    DType::kBool,    DType::kUInt8,    DType::kUInt32,  DType::kInt32,   DType::kInt64,
    DType::kFloat16, DType::kBFloat16, DType::kFloat32, DType::kFloat64,
};

// Bytes per element.
size_t SizeOf(DType dtype);

// "float32", "bfloat16", ... as in NumPy/MLX. (A C string: this absl's StrCat does not
// take std::string_view.)
const char* DTypeName(DType dtype);
std::optional<DType> DTypeFromName(std::string_view name);

bool IsFloating(DType dtype);  // float16, bfloat16, float32, float64
bool IsInteger(DType dtype);   // uint8, uint32, int32, int64 (not bool)
bool IsUnsigned(DType dtype);  // bool, uint8, uint32

// The dtype of a binary op's result, following MLX: bool < uint8 < uint32/int32 < int64,
// any integer with a float gives the float, float16 with bfloat16 gives float32, and
// uint32 with int32 gives int64.
DType PromoteTypes(DType a, DType b);

// The dtype math functions (exp, sqrt, ...) compute in: floats keep theirs, others float32.
DType FloatingResultType(DType dtype);

}  // namespace ferry::core

#endif  // FERRY_CORE_DTYPE_H_
