#include "client/io.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/ops.h"
#include "client/status.h"
#include "core/tensor_file.h"

namespace ferry {
namespace {

std::vector<core::FileTensor> Index(const std::string& path,
                                    std::map<std::string, std::string>* metadata) {
  return detail::ValueOrThrow(core::ReadTensorIndex(path, metadata));
}

// Each tensor's bytes read into one reused buffer and handed to `device`, which copies or
// uploads them before from_host_bytes returns: through the daemon's upload cache, so a
// program loading the same checkpoint again does not send it again.
Array Read(std::ifstream& in, const std::string& path, const core::FileTensor& tensor,
           std::vector<char>& buffer, const Device& device) {
  buffer.resize(tensor.nbytes);
  in.seekg(static_cast<std::streamoff>(tensor.offset));
  in.read(buffer.data(), static_cast<std::streamsize>(tensor.nbytes));
  if (!in) detail::ThrowIfError(absl::DataLossError(absl::StrCat("cannot read ", path)));
  CachedUploads cached;
  return from_host_bytes(buffer.data(), buffer.size(), tensor.dtype, tensor.shape, device);
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

void Write(std::ofstream& out, const std::string& path, Array& a) {
  std::vector<char> bytes(static_cast<size_t>(a.nbytes()));
  a.copy_to(bytes.data(), bytes.size());
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) detail::ThrowIfError(absl::DataLossError(absl::StrCat("cannot write ", path)));
}

}  // namespace

Array load(const std::string& path, Device device) {
  std::vector<core::FileTensor> tensors = Index(path, nullptr);
  if (tensors.size() != 1 || !tensors[0].name.empty()) {
    detail::ThrowIfError(absl::InvalidArgumentError(
        absl::StrCat(path, " is a .safetensors file: read it with load_safetensors")));
  }
  std::ifstream in = Open(path);
  std::vector<char> buffer;
  return Read(in, path, tensors[0], buffer, device);
}

void save(const std::string& path, Array a) {
  const std::string file = absl::EndsWith(path, ".npy") ? path : path + ".npy";
  const std::string header = detail::ValueOrThrow(core::NpyHeader(a.dtype(), a.shape()));
  std::ofstream out = Create(file);
  out << header;
  Write(out, file, a);
}

SafetensorsLoad load_safetensors(const std::string& path, Device device) {
  std::map<std::string, std::string> metadata;
  std::vector<core::FileTensor> tensors = Index(path, &metadata);
  if (tensors.size() == 1 && tensors[0].name.empty()) {
    detail::ThrowIfError(
        absl::InvalidArgumentError(absl::StrCat(path, " is a .npy file: read it with load")));
  }
  std::ifstream in = Open(path);
  std::vector<char> buffer;
  SafetensorsLoad loaded;
  for (const core::FileTensor& tensor : tensors) {
    loaded.first.emplace(tensor.name, Read(in, path, tensor, buffer, device));
  }
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
  for (const core::FileTensor& tensor : tensors) Write(out, path, arrays.at(tensor.name));
}

}  // namespace ferry
