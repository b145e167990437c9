#ifndef FERRY_TOOLS_FERRYCTL_TENSOR_FILE_H_
#define FERRY_TOOLS_FERRYCTL_TENSOR_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/ferry/v1/ferry.pb.h"

namespace ferry::ctl {

// One tensor stored in a file: its bytes are `nbytes` at `offset`, little-endian, row-major.
struct FileTensor {
  std::string name;  // the safetensors key; "" for .npy
  v1::DType dtype = v1::DTYPE_UNSPECIFIED;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

// The tensors in a .npy file (one; format versions 1 to 3, C order) or a .safetensors file
// (every tensor, in file order), read from their headers only, so files of any size are
// streamed later rather than loaded. The format is chosen by the file's magic bytes.
// INVALID_ARGUMENT starting with "[npy]" or "[safetensors]" for anything ferry cannot
// hold (big-endian or Fortran-order arrays, unknown dtypes, data past the end of the file).
absl::StatusOr<std::vector<FileTensor>> ReadTensorIndex(const std::string& path);

// Parses from the file's bytes already in memory: `file_size` is the whole file's length,
// `head` its first bytes (at least the header).
absl::StatusOr<std::vector<FileTensor>> ParseNpy(const std::string& head, uint64_t file_size);
absl::StatusOr<std::vector<FileTensor>> ParseSafetensors(const std::string& head,
                                                         uint64_t file_size);

// "float32[2, 3]".
std::string DescribeTensor(const FileTensor& tensor);

}  // namespace ferry::ctl

#endif  // FERRY_TOOLS_FERRYCTL_TENSOR_FILE_H_
