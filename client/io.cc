#include "client/io.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/gguf_blocks.h"
#include "client/host_buffer.h"
#include "client/ops.h"
#include "client/status.h"
#include "core/gguf.h"
#include "core/gguf_tensors.h"
#include "core/page_aligned.h"
#include "core/tensor_file.h"

namespace ferry {
namespace {

std::vector<core::FileTensor> Index(const std::string& path,
                                    std::map<std::string, std::string>* metadata) {
  return detail::ValueOrThrow(core::ReadTensorIndex(path, metadata));
}

std::ifstream Open(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::ThrowIfError(absl::NotFoundError(absl::StrCat("cannot open ", path)));
  return in;
}

std::ofstream Create(const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    detail::ThrowIfError(absl::PermissionDeniedError(absl::StrCat("cannot write ", path)));
  }
  return out;
}

// `nbytes` of the file at `offset` into `dst`; DATA_LOSS naming the file when it is short.
void ReadAt(std::ifstream& in, const std::string& path, uint64_t offset, uint64_t nbytes,
            char* dst) {
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(dst, static_cast<std::streamsize>(nbytes));
  if (!in) detail::ThrowIfError(absl::DataLossError(absl::StrCat("cannot read ", path)));
}

// The tensors' arrays on `device`, each read from the file when the device asks for its
// bytes, inside a CachedUploads scope: a daemon that still holds a tensor's bytes from an
// earlier load makes it resident without them crossing the network.
std::vector<Array> ReadAll(const std::string& path, const std::vector<core::FileTensor>& tensors,
                           const Device& device) {
  std::ifstream in = Open(path);
  std::vector<core::TensorType> types;
  for (const core::FileTensor& tensor : tensors) types.push_back({tensor.dtype, tensor.shape});
  CachedUploads cached;
  return detail::FromHostReader(
      types,
      [&](size_t i, char* dst) { ReadAt(in, path, tensors[i].offset, tensors[i].nbytes, dst); },
      device);
}

// Writes the arrays' bytes one after the other, each starting at a multiple of `alignment`
// from the file's start (zeros between), each read into one HostBuffer sized to the
// largest: from a ferryd on this host, the daemon's copy into it is the only one.
void WriteAll(std::ofstream& out, const std::string& path, std::vector<Array> arrays,
              uint64_t alignment = 1) {
  size_t largest = 0;
  for (const Array& a : arrays) largest = std::max(largest, static_cast<size_t>(a.nbytes()));
  if (arrays.empty()) return;
  // Mapping a buffer costs two calls to the daemon: worth it for large arrays only.
  constexpr size_t kMappedMinBytes = size_t{1} << 20;
  HostBuffer buffer(largest, largest >= kMappedMinBytes ? arrays.front().device() : local());
  for (Array& a : arrays) {
    const uint64_t at = static_cast<uint64_t>(out.tellp());
    out << std::string((alignment - at % alignment) % alignment, '\0');
    const size_t nbytes = static_cast<size_t>(a.nbytes());
    a.copy_to(buffer.data(), nbytes);
    out.write(buffer.data<char>(), static_cast<std::streamsize>(nbytes));
    if (!out) detail::ThrowIfError(absl::DataLossError(absl::StrCat("cannot write ", path)));
  }
}

}  // namespace

Array load(const std::string& path, Device device) {
  std::vector<core::FileTensor> tensors = Index(path, nullptr);
  if (tensors.size() != 1 || !tensors[0].name.empty()) {
    detail::ThrowIfError(absl::InvalidArgumentError(
        absl::StrCat(path, " is a .safetensors file: read it with load_safetensors")));
  }
  return ReadAll(path, tensors, device)[0];
}

void save(const std::string& path, Array a) {
  const std::string file = absl::EndsWith(path, ".npy") ? path : path + ".npy";
  const std::string header = detail::ValueOrThrow(core::NpyHeader(a.dtype(), a.shape()));
  std::ofstream out = Create(file);
  out << header;
  WriteAll(out, file, {a});
}

SafetensorsLoad load_safetensors(const std::string& path, Device device) {
  std::map<std::string, std::string> metadata;
  std::vector<core::FileTensor> tensors = Index(path, &metadata);
  if (tensors.size() == 1 && tensors[0].name.empty()) {
    detail::ThrowIfError(
        absl::InvalidArgumentError(absl::StrCat(path, " is a .npy file: read it with load")));
  }
  std::vector<Array> arrays = ReadAll(path, tensors, device);
  SafetensorsLoad loaded;
  for (size_t i = 0; i < tensors.size(); ++i) loaded.first.emplace(tensors[i].name, arrays[i]);
  loaded.second.insert(metadata.begin(), metadata.end());
  return loaded;
}

void save_safetensors(std::string path, std::unordered_map<std::string, Array> arrays,
                      const std::unordered_map<std::string, std::string>& metadata) {
  if (!absl::EndsWith(path, ".safetensors")) path += ".safetensors";
  std::vector<core::FileTensor> tensors;
  std::vector<Array> all;  // evaluated as one graph before any is read
  for (const auto& [name, a] : arrays) {
    if (name.empty() || name == "__metadata__") {
      detail::ThrowIfError(absl::InvalidArgumentError(
          absl::StrCat("[save_safetensors] \"", name, "\" cannot name an array")));
    }
    tensors.push_back({name, a.dtype(), a.shape(), 0, 0});
    all.push_back(a);
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const core::FileTensor& x, const core::FileTensor& y) { return x.name < y.name; });
  eval(all);
  const std::string header = detail::ValueOrThrow(core::SafetensorsHeader(
      tensors, std::map<std::string, std::string>(metadata.begin(), metadata.end())));
  std::ofstream out = Create(path);
  out << header;
  std::vector<Array> in_order;
  for (const core::FileTensor& tensor : tensors) in_order.push_back(arrays.at(tensor.name));
  WriteAll(out, path, std::move(in_order));
}

}  // namespace ferry

namespace ferry {
namespace {

GGUFMetaData MetadataOf(const core::GgufValue& value, const Device& device) {
  switch (value.kind) {
    case core::GgufValue::Kind::kString:
      return value.bytes;
    case core::GgufValue::Kind::kStrings:
      return value.strings;
    case core::GgufValue::Kind::kNumbers:
      break;
  }
  const int64_t count = static_cast<int64_t>(value.bytes.size() / core::SizeOf(value.dtype));
  return from_host_bytes(value.bytes.data(), value.bytes.size(), value.dtype,
                         value.is_array ? Shape{count} : Shape{}, device);
}

core::GgufValue ValueOf(const std::string& key, const GGUFMetaData& metadata) {
  auto invalid = [&](const std::string& why) {
    detail::ThrowIfError(
        absl::InvalidArgumentError(absl::StrCat("[save_gguf] metadata ", key, ": ", why)));
  };
  core::GgufValue value;
  if (const auto* text = std::get_if<std::string>(&metadata)) {
    value.kind = core::GgufValue::Kind::kString;
    value.bytes = *text;
  } else if (const auto* texts = std::get_if<std::vector<std::string>>(&metadata)) {
    value.kind = core::GgufValue::Kind::kStrings;
    value.strings = *texts;
  } else if (const auto* array = std::get_if<Array>(&metadata)) {
    Array a = *array;
    if (a.ndim() > 1) invalid(absl::StrCat("an array of ", a.ndim(), " dimensions (at most 1)"));
    if (a.size() == 0) invalid("an empty array");
    value.dtype = a.dtype();
    value.is_array = a.ndim() == 1;
    value.bytes.resize(static_cast<size_t>(a.nbytes()));
    a.copy_to(value.bytes.data(), value.bytes.size());
  } else {
    invalid("no value");
  }
  return value;
}

}  // namespace

GGUFLoad load_gguf(const std::string& path, Device device) {
  return load_gguf(path, std::move(device), GGUFOptions());
}

GGUFLoad load_gguf(const std::string& path, Device device, const GGUFOptions& options) {
  const core::GgufIndex index = detail::ValueOrThrow(core::ReadGgufIndex(path));
  GGUFLoad loaded;
  for (const auto& [key, value] : index.metadata) loaded.second[key] = MetadataOf(value, device);
  // Each tensor's arrays (a quantized one's three): which part of which tensor each is.
  struct Piece {
    core::GgufArray array;
    size_t tensor;
    int part;
  };
  std::vector<Piece> pieces;
  std::vector<core::TensorType> types;
  std::unordered_set<std::string> names;
  for (size_t t = 0; t < index.tensors.size(); ++t) {
    absl::StatusOr<std::vector<core::GgufArray>> arrays =
        core::GgufArraysOf(index.tensors[t], options.k_quants_affine);
    if (!arrays.ok()) {
      detail::ThrowIfError(absl::InvalidArgumentError(
          absl::StrCat("[load_gguf] ", path, ": ", arrays.status().message())));
    }
    for (size_t k = 0; k < arrays->size(); ++k) {
      core::GgufArray& array = (*arrays)[k];
      if (!names.insert(array.name).second) {
        detail::ThrowIfError(absl::InvalidArgumentError(
            absl::StrCat("[load_gguf] ", path, ": two arrays are named ", array.name)));
      }
      types.push_back({array.dtype, array.shape});
      pieces.push_back({std::move(array), t, static_cast<int>(k)});
    }
  }
  // A repacked tensor's blocks, read once for its three arrays; page-aligned
  // (core/page_aligned.h).
  uint64_t largest_raw = 0;
  for (const core::GgufTensor& tensor : index.tensors) {
    if (!core::GgmlLoadsAsIs(tensor.type)) largest_raw = std::max(largest_raw, tensor.nbytes);
  }
  core::PageAlignedBuffer raw(largest_raw);
  if (raw.data() == nullptr) {
    detail::ThrowIfError(absl::ResourceExhaustedError(
        absl::StrCat("[load_gguf] cannot allocate ", largest_raw, " bytes")));
  }
  size_t raw_tensor = index.tensors.size();
  std::ifstream in = Open(path);
  CachedUploads cached;
  std::vector<Array> arrays = detail::FromHostReader(
      types,
      [&](size_t i, char* dst) {
        const Piece& piece = pieces[i];
        const core::GgufTensor& tensor = index.tensors[piece.tensor];
        if (core::GgmlLoadsAsIs(tensor.type)) {
          return ReadAt(in, path, tensor.offset, tensor.nbytes, dst);
        }
        if (raw_tensor != piece.tensor) {
          ReadAt(in, path, tensor.offset, tensor.nbytes, raw.data());
          raw_tensor = piece.tensor;
        }
        core::DecodeGgufArray(tensor, raw.data(), piece.part, dst);
      },
      device);
  for (size_t i = 0; i < arrays.size(); ++i) {
    const core::GgufArray& array = pieces[i].array;
    const uint32_t type = index.tensors[pieces[i].tensor].type;
    if (array.affine) {
      const std::vector<Array> made =
          detail::AffineFromGgufBlocks(arrays[i], type, array.dequantized_shape);
      const std::vector<std::string> names = core::GgufQuantizedNames(array.name);
      for (size_t k = 0; k < made.size(); ++k) loaded.first.emplace(names[k], made[k]);
      continue;
    }
    loaded.first.emplace(
        array.name, array.dequantized_shape.empty()
                        ? arrays[i]
                        : detail::DequantizeGgufBlocks(arrays[i], type, array.dequantized_shape));
  }
  return loaded;
}

void save_gguf(std::string path, std::unordered_map<std::string, Array> arrays,
               std::unordered_map<std::string, GGUFMetaData> metadata) {
  if (!absl::EndsWith(path, ".gguf")) path += ".gguf";
  std::vector<std::pair<std::string, core::GgufValue>> values;
  for (const auto& [key, value] :
       std::map<std::string, GGUFMetaData>(metadata.begin(), metadata.end())) {
    values.emplace_back(key, ValueOf(key, value));
  }
  std::vector<core::GgufTensor> tensors;
  std::vector<Array> in_order;
  for (const auto& [name, a] : std::map<std::string, Array>(arrays.begin(), arrays.end())) {
    absl::StatusOr<uint32_t> type = core::GgmlTypeOf(a.dtype());
    if (!type.ok()) {
      detail::ThrowIfError(absl::InvalidArgumentError(
          absl::StrCat("[save_gguf] array ", name, ": ", type.status().message())));
    }
    core::GgufTensor tensor;
    tensor.name = name;
    tensor.type = *type;
    tensor.shape = a.shape();
    tensor.nbytes = static_cast<uint64_t>(a.nbytes());
    tensors.push_back(std::move(tensor));
    in_order.push_back(a);
  }
  eval(in_order);
  absl::StatusOr<std::string> header = core::GgufHeader(tensors, values);
  if (!header.ok()) {
    detail::ThrowIfError(
        absl::InvalidArgumentError(absl::StrCat("[save_gguf] ", header.status().message())));
  }
  std::ofstream out = Create(path);
  out << *header;
  WriteAll(out, path, std::move(in_order), /*alignment=*/32);
}

}  // namespace ferry
