// Fuzz target: the bytes of a model file, through the readers of the formats ferry loads
// (.npy, .safetensors, GGUF) and, for GGUF's quantized tensors, the decoding of their blocks
// into MLX's quantization. Properties: a file is read or refused with INVALID_ARGUMENT,
// never a crash or a read out of bounds (under ASan); every tensor a reader returns lies
// inside the file and holds as many bytes as its dtype and shape say.

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/gguf.h"
#include "core/gguf_tensors.h"
#include "core/shape.h"
#include "core/tensor_file.h"
#include "tests/fuzz/fuzz_target.h"

namespace ferry::fuzz {
namespace {

void CheckInside(const std::string& format, const std::string& name, uint64_t offset,
                 uint64_t nbytes, uint64_t file_size) {
  Check(offset <= file_size && nbytes <= file_size - offset,
        absl::StrCat(format, " tensor ", name, ": ", nbytes, " bytes at ", offset,
                     " lie past the file's ", file_size));
}

void ReadTensorFile(const std::string& file) {
  std::map<std::string, std::string> metadata;
  for (const bool npy : {true, false}) {
    absl::StatusOr<std::vector<core::FileTensor>> tensors =
        npy ? core::ParseNpy(file, file.size())
            : core::ParseSafetensors(file, file.size(), &metadata);
    const std::string format = npy ? "npy" : "safetensors";
    if (!tensors.ok()) {
      Check(tensors.status().code() == absl::StatusCode::kInvalidArgument,
            absl::StrCat(format, ": ", tensors.status().ToString()));
      continue;
    }
    for (const core::FileTensor& tensor : *tensors) {
      CheckInside(format, tensor.name, tensor.offset, tensor.nbytes, file.size());
      Check(tensor.nbytes ==
                static_cast<uint64_t>(core::NumElements(tensor.shape)) * core::SizeOf(tensor.dtype),
            absl::StrCat(format, " tensor ", tensor.name, ": ", tensor.nbytes, " bytes for ",
                         core::DescribeTensor(tensor)));
    }
  }
}

void ReadGguf(const std::string& file) {
  std::istringstream in(file);
  absl::StatusOr<core::GgufIndex> index = core::ParseGgufIndex(in, file.size(), "input");
  if (!index.ok()) {
    Check(index.status().code() == absl::StatusCode::kInvalidArgument,
          absl::StrCat("gguf: ", index.status().ToString()));
    return;
  }
  for (const core::GgufTensor& tensor : index->tensors) {
    CheckInside("gguf", tensor.name, tensor.offset, tensor.nbytes, file.size());
    for (const bool affine : {false, true}) {
      absl::StatusOr<std::vector<core::GgufArray>> arrays = core::GgufArraysOf(tensor, affine);
      if (!arrays.ok()) {
        Check(arrays.status().code() == absl::StatusCode::kInvalidArgument,
              absl::StrCat("gguf tensor ", tensor.name, ": ", arrays.status().ToString()));
        continue;
      }
      if (core::GgmlLoadsAsIs(tensor.type)) continue;
      for (size_t part = 0; part < arrays->size(); ++part) {
        const core::GgufArray& array = (*arrays)[part];
        std::string decoded(
            static_cast<size_t>(core::NumElements(array.shape)) * core::SizeOf(array.dtype), '\0');
        core::DecodeGgufArray(tensor, file.data() + tensor.offset, static_cast<int>(part),
                              decoded.data());
      }
    }
  }
}

// A file of `header` and then `data_bytes` bytes counting up.
std::string WithData(std::string header, uint64_t data_bytes) {
  for (uint64_t i = 0; i < data_bytes; ++i) header.push_back(static_cast<char>(i * 37));
  return header;
}

}  // namespace

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  const std::vector<std::pair<core::DType, std::vector<int64_t>>> arrays = {
      {core::DType::kFloat32, {2, 3}},
      {core::DType::kInt64, {4}},
      {core::DType::kFloat16, {}},
      {core::DType::kUInt8, {2, 0, 3}}};
  for (const auto& [dtype, shape] : arrays) {
    absl::StatusOr<std::string> npy = core::NpyHeader(dtype, shape);
    const uint64_t nbytes = static_cast<uint64_t>(core::NumElements(shape)) * core::SizeOf(dtype);
    if (npy.ok()) seeds.push_back(WithData(*npy, nbytes));
  }
  std::vector<core::FileTensor> tensors;
  for (const auto& [dtype, shape] : arrays) {
    tensors.push_back({absl::StrCat("t", tensors.size()), dtype, shape});
  }
  const std::string safetensors = *core::SafetensorsHeader(tensors, {{"format", "mlx"}});
  seeds.push_back(
      WithData(safetensors, tensors.back().offset + tensors.back().nbytes - safetensors.size()));
  // GGUF: one tensor of each type ferry loads, rows of 256 elements (every block size
  // divides it), and metadata of each kind.
  std::vector<core::GgufTensor> gguf;
  for (uint32_t type :
       {core::kGgmlF32, core::kGgmlF16, core::kGgmlQ4_0, core::kGgmlQ4_1, core::kGgmlQ5_0,
        core::kGgmlQ5_1, core::kGgmlQ8_0, core::kGgmlQ2_K, core::kGgmlQ3_K, core::kGgmlQ4_K,
        core::kGgmlQ5_K, core::kGgmlQ6_K, core::kGgmlIQ4_NL, core::kGgmlIQ4_XS, core::kGgmlI32,
        core::kGgmlBF16, core::kGgmlMXFP4}) {
    core::GgufTensor tensor{absl::StrCat("blk.0.w", type, ".weight"), type, {2, 256}};
    absl::StatusOr<uint64_t> nbytes = core::GgmlBytes(type, tensor.shape);
    if (!nbytes.ok()) continue;
    tensor.nbytes = *nbytes;
    gguf.push_back(tensor);
  }
  core::GgufValue name{core::GgufValue::Kind::kString};
  name.bytes = "fuzz";
  core::GgufValue layers{core::GgufValue::Kind::kNumbers, core::DType::kUInt32};
  layers.bytes = std::string("\x02\x00\x00\x00", 4);
  core::GgufValue tokens{core::GgufValue::Kind::kStrings};
  tokens.strings = {"a", "bc", ""};
  absl::StatusOr<std::string> header = core::GgufHeader(
      gguf, {{"general.name", name}, {"llama.block_count", layers}, {"tokenizer.tokens", tokens}});
  if (header.ok()) {
    seeds.push_back(WithData(*header, gguf.back().offset + gguf.back().nbytes - header->size()));
  }
  return seeds;
}

}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string file(reinterpret_cast<const char*>(data), size);
  ferry::fuzz::ReadTensorFile(file);
  ferry::fuzz::ReadGguf(file);
  return 0;
}
