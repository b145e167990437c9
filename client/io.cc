#include "client/io.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/host_buffer.h"
#include "client/ops.h"
#include "client/status.h"
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
      [&](size_t i, char* dst) {
        in.seekg(static_cast<std::streamoff>(tensors[i].offset));
        in.read(dst, static_cast<std::streamsize>(tensors[i].nbytes));
        if (!in) detail::ThrowIfError(absl::DataLossError(absl::StrCat("cannot read ", path)));
      },
      device);
}

// Writes the arrays' bytes one after the other, each read into one HostBuffer sized to the
// largest: from a ferryd on this host, the daemon's copy into it is the only one.
void WriteAll(std::ofstream& out, const std::string& path, std::vector<Array> arrays) {
  size_t largest = 0;
  for (const Array& a : arrays) largest = std::max(largest, static_cast<size_t>(a.nbytes()));
  if (arrays.empty()) return;
  // Mapping a buffer costs two calls to the daemon: worth it for large arrays only.
  constexpr size_t kMappedMinBytes = size_t{1} << 20;
  HostBuffer buffer(largest, largest >= kMappedMinBytes ? arrays.front().device() : local());
  for (Array& a : arrays) {
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
  const std::string header = core::SafetensorsHeader(
      tensors, std::map<std::string, std::string>(metadata.begin(), metadata.end()));
  std::ofstream out = Create(path);
  out << header;
  std::vector<Array> in_order;
  for (const core::FileTensor& tensor : tensors) in_order.push_back(arrays.at(tensor.name));
  WriteAll(out, path, std::move(in_order));
}

}  // namespace ferry
