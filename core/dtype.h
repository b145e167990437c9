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
  kUInt16,
  kUInt32,
  kUInt64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
  kComplex64,  // float32 real part, then float32 imaginary part
};

inline constexpr DType kAllDTypes[] = {
    DType::kBool,     DType::kUInt8,   DType::kUInt16,  DType::kUInt32,    DType::kUInt64,
    DType::kInt8,     DType::kInt16,   DType::kInt32,   DType::kInt64,     DType::kFloat16,
    DType::kBFloat16, DType::kFloat32, DType::kFloat64, DType::kComplex64,
};

// Bytes per element.
size_t SizeOf(DType dtype);

// "float32", "bfloat16", ... as in NumPy/MLX. (A C string: this absl's StrCat does not
// take std::string_view.)
const char* DTypeName(DType dtype);
std::optional<DType> DTypeFromName(std::string_view name);

bool IsFloating(DType dtype);  // float16, bfloat16, float32, float64
bool IsInteger(DType dtype);   // the signed and unsigned integers (not bool)
bool IsComplex(DType dtype);   // complex64
bool IsUnsigned(DType dtype);  // bool and the unsigned integers

// The dtype of a binary op's result, following MLX: bool gives way to anything; two
// integers of one signedness give the wider; unsigned with signed gives the narrowest
// signed type holding both (uint64 with a signed integer: float32, as MLX); any integer
// with a float gives the float; float16 with bfloat16 gives float32; complex64 with
// anything gives complex64.
DType PromoteTypes(DType a, DType b);

// The dtype math functions (exp, sqrt, ...) compute in: floats and complex64 keep theirs,
// others float32.
DType FloatingResultType(DType dtype);

}  // namespace ferry::core

#endif  // FERRY_CORE_DTYPE_H_
