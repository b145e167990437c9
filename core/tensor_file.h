#ifndef FERRY_CORE_TENSOR_FILE_H_
#define FERRY_CORE_TENSOR_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"

namespace ferry::core {

// One tensor stored in a file: its bytes are `nbytes` at `offset`, little-endian, row-major.
struct FileTensor {
  std::string name;  // the safetensors key; "" for .npy
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

// The tensors in a .npy file (one; format versions 1 to 3, C order) or a .safetensors file
// (every tensor, in file order), read from their headers only, so files of any size are
// streamed later rather than loaded. The format is chosen by the file's magic bytes.
// INVALID_ARGUMENT starting with "[npy]" or "[safetensors]" for anything ferry cannot
// hold (big-endian or Fortran-order arrays, unknown dtypes, data past the end of the file).
// A .safetensors file's "__metadata__" (string values) goes to `metadata` when given.
absl::StatusOr<std::vector<FileTensor>> ReadTensorIndex(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// Parses from the file's bytes already in memory: `file_size` is the whole file's length,
// `head` its first bytes (at least the header).
absl::StatusOr<std::vector<FileTensor>> ParseNpy(const std::string& head, uint64_t file_size);
absl::StatusOr<std::vector<FileTensor>> ParseSafetensors(
    const std::string& head, uint64_t file_size,
    std::map<std::string, std::string>* metadata = nullptr);

// What precedes the data when writing. A .npy file of version 1, as NumPy writes it
// (INVALID_ARGUMENT for bfloat16, which NumPy has no dtype for).
absl::StatusOr<std::string> NpyHeader(DType dtype, const std::vector<int64_t>& shape);
// A .safetensors file holding `tensors` (name, dtype, shape) one after another in this
// order, and `metadata`; sets each one's offset from the file's start and nbytes.
// INVALID_ARGUMENT for a name or metadata string that is not UTF-8 (JSON holds only that).
absl::StatusOr<std::string> SafetensorsHeader(std::vector<FileTensor>& tensors,
                                              const std::map<std::string, std::string>& metadata);

// "float32[2, 3]".
std::string DescribeTensor(const FileTensor& tensor);

}  // namespace ferry::core

#endif  // FERRY_CORE_TENSOR_FILE_H_
