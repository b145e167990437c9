#ifndef FERRY_CORE_GGUF_H_
#define FERRY_CORE_GGUF_H_

// GGUF, llama.cpp's model file (versions 2 and 3): its header read and written. What each
// tensor becomes in ferry, and the decoding of its blocks, is core/gguf_tensors.h.

#include <cstdint>
#include <istream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"

namespace ferry::core {

// A metadata value: numbers and bools as `dtype` elements (one, or a GGUF array of them);
// a string; an array of strings.
struct GgufValue {
  enum class Kind { kNumbers, kString, kStrings };
  Kind kind = Kind::kNumbers;
  DType dtype = DType::kUInt8;       // kNumbers
  bool is_array = false;             // kNumbers: a GGUF array (1-D), else one value
  std::string bytes;                 // kNumbers: the values, little-endian; kString: the string
  std::vector<std::string> strings;  // kStrings
};

// One tensor of a GGUF file: `nbytes` of GGML type `type` at `offset` from the file's start.
struct GgufTensor {
  std::string name;
  uint32_t type = 0;
  std::vector<int64_t> shape;  // row-major: GGUF's dimensions reversed
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

struct GgufIndex {
  std::vector<std::pair<std::string, GgufValue>> metadata;  // in file order
  std::vector<GgufTensor> tensors;                          // in file order
};

// The file's metadata and tensors from its header, each tensor checked to lie inside the
// file. INVALID_ARGUMENT starting "[gguf]" naming what is wrong (a bad magic or version, a
// truncated header, a type this reader does not know, data past the end); NOT_FOUND for a
// file that cannot be opened.
absl::StatusOr<GgufIndex> ReadGgufIndex(const std::string& path);

// The same from a stream at the file's start, `file_size` bytes long; `path` names it in errors.
absl::StatusOr<GgufIndex> ParseGgufIndex(std::istream& in, uint64_t file_size,
                                         const std::string& path);

// The bytes before the data of a version-3 file holding `tensors` (name, GGML type, shape,
// nbytes) one after another in this order, each aligned to 32 bytes, with `metadata`; sets
// each tensor's offset from the file's start. INVALID_ARGUMENT naming a metadata value of a
// dtype GGUF has no type for.
absl::StatusOr<std::string> GgufHeader(
    std::vector<GgufTensor>& tensors,
    const std::vector<std::pair<std::string, GgufValue>>& metadata);

// Zero bytes to write after `offset` so that the next starts aligned.
uint64_t GgufPadding(uint64_t offset);

}  // namespace ferry::core

#endif  // FERRY_CORE_GGUF_H_
