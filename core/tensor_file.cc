#include "core/tensor_file.h"

#include <fstream>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace ferry::core {
namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr uint64_t kMaxHeaderBytes = 100 << 20;  // safetensors' own limit

// The dtypes by their names in each format, for reading and (inverted) for writing.
const std::map<std::string, DType>& NpyDtypes() {
  static const auto* const dtypes = new std::map<std::string, DType>{
      {"|b1", DType::kBool},     {"|u1", DType::kUInt8},   {"<u2", DType::kUInt16},
      {"<u4", DType::kUInt32},   {"<u8", DType::kUInt64},  {"|i1", DType::kInt8},
      {"<i2", DType::kInt16},    {"<i4", DType::kInt32},   {"<i8", DType::kInt64},
      {"<f2", DType::kFloat16},  {"<f4", DType::kFloat32}, {"<f8", DType::kFloat64},
      {"<c8", DType::kComplex64}};
  return *dtypes;
}

const std::map<std::string, DType>& SafetensorsDtypes() {
  static const auto* const dtypes = new std::map<std::string, DType>{
      {"BOOL", DType::kBool},   {"U8", DType::kUInt8},      {"U16", DType::kUInt16},
      {"U32", DType::kUInt32},  {"U64", DType::kUInt64},    {"I8", DType::kInt8},
      {"I16", DType::kInt16},   {"I32", DType::kInt32},     {"I64", DType::kInt64},
      {"F16", DType::kFloat16}, {"BF16", DType::kBFloat16}, {"F32", DType::kFloat32},
      {"F64", DType::kFloat64}, {"C64", DType::kComplex64}};
  return *dtypes;
}

std::optional<std::string> NameIn(const std::map<std::string, DType>& names, DType dtype) {
  for (const auto& [name, d] : names) {
    if (d == dtype) return name;
  }
  return std::nullopt;
}

uint64_t LittleEndian(const std::string& bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return value;
}

// Sets nbytes from dtype and shape; INVALID_ARGUMENT when the data does not fit the file.
absl::Status Size(const char* format, FileTensor& tensor, uint64_t file_size) {
  uint64_t count = 1;
  for (int64_t dim : tensor.shape) {
    if (dim < 0) return absl::InvalidArgumentError(absl::StrCat("[", format, "] negative dim"));
    count *= static_cast<uint64_t>(dim);
  }
  tensor.nbytes = count * SizeOf(tensor.dtype);
  if (tensor.offset > file_size || tensor.nbytes > file_size - tensor.offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[", format, "] ", tensor.name.empty() ? "the array" : "tensor \"" + tensor.name + "\"",
        " needs ", tensor.nbytes, " bytes at offset ", tensor.offset, " but the file has ",
        file_size, " bytes"));
  }
  return absl::OkStatus();
}

// The text after `'key':` in a .npy header dict, up to the next top-level ',' or '}'.
absl::StatusOr<std::string> NpyField(absl::string_view header, absl::string_view key) {
  const std::string quoted = absl::StrCat("'", key, "'");
  size_t at = header.find(quoted);
  if (at == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("[npy] the header has no ", quoted));
  }
  size_t colon = header.find(':', at + quoted.size());
  if (colon == absl::string_view::npos) return absl::InvalidArgumentError("[npy] bad header");
  size_t end = colon + 1;
  int depth = 0;
  while (end < header.size() && (depth > 0 || (header[end] != ',' && header[end] != '}'))) {
    if (header[end] == '(') ++depth;
    if (header[end] == ')') --depth;
    ++end;
  }
  return std::string(absl::StripAsciiWhitespace(header.substr(colon + 1, end - colon - 1)));
}

}  // namespace

absl::StatusOr<std::vector<FileTensor>> ParseNpy(const std::string& head, uint64_t file_size) {
  if (head.size() < 10 || head.compare(0, 6, kNpyMagic, 6) != 0) {
    return absl::InvalidArgumentError("[npy] not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(head[6]);
  const int width = major == 1 ? 2 : 4;
  if (major < 1 || major > 3) {
    return absl::InvalidArgumentError(absl::StrCat("[npy] format version ", major, " is unknown"));
  }
  const size_t start = 8 + width;
  if (head.size() < start) return absl::InvalidArgumentError("[npy] the header is cut short");
  const uint64_t header_length = LittleEndian(head, 8, width);
  if (head.size() < start + header_length) {
    return absl::InvalidArgumentError("[npy] the header is cut short");
  }
  const absl::string_view header(head.data() + start, header_length);

  absl::StatusOr<std::string> descr = NpyField(header, "descr");
  if (!descr.ok()) return descr.status();
  const std::map<std::string, DType>& dtypes = NpyDtypes();
  const std::string name = std::string(
      absl::StripAsciiWhitespace(absl::StripSuffix(absl::StripPrefix(*descr, "'"), "'")));
  auto dtype = dtypes.find(name);
  if (dtype == dtypes.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[npy] dtype ", name,
        " is not one ferry holds (little-endian bool, integers of 8 to 64 bits, float16/32/64)"));
  }
  absl::StatusOr<std::string> fortran = NpyField(header, "fortran_order");
  if (!fortran.ok()) return fortran.status();
  if (*fortran != "False") {
    return absl::InvalidArgumentError(
        "[npy] Fortran-order arrays are not supported: save a "
        "C-order copy (numpy.ascontiguousarray)");
  }
  absl::StatusOr<std::string> shape = NpyField(header, "shape");
  if (!shape.ok()) return shape.status();
  FileTensor tensor;
  tensor.dtype = dtype->second;
  tensor.offset = start + header_length;
  absl::string_view dims = absl::StripSuffix(absl::StripPrefix(*shape, "("), ")");
  for (absl::string_view dim : absl::StrSplit(dims, ',', absl::SkipWhitespace())) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(dim), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("[npy] bad shape ", *shape));
    }
    tensor.shape.push_back(value);
  }
  if (absl::Status sized = Size("npy", tensor, file_size); !sized.ok()) return sized;
  return std::vector<FileTensor>{tensor};
}

absl::StatusOr<std::vector<FileTensor>> ParseSafetensors(
    const std::string& head, uint64_t file_size, std::map<std::string, std::string>* metadata) {
  if (head.size() < 8) return absl::InvalidArgumentError("[safetensors] the file is too short");
  const uint64_t header_length = LittleEndian(head, 0, 8);
  if (header_length > kMaxHeaderBytes || head.size() < 8 + header_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("[safetensors] header of ", header_length, " bytes is cut short or too big"));
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(
      head.begin() + 8, head.begin() + 8 + static_cast<std::ptrdiff_t>(header_length), nullptr,
      /*allow_exceptions=*/false);
  if (!header.is_object()) {
    return absl::InvalidArgumentError("[safetensors] the header is not a JSON object");
  }
  const std::map<std::string, DType>& dtypes = SafetensorsDtypes();
  std::vector<FileTensor> tensors;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_null()) continue;  // MLX writes null when there is none
      if (!entry.is_object()) {
        return absl::InvalidArgumentError("[safetensors] __metadata__ is not a JSON object");
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat("[safetensors] __metadata__ \"", key, "\" is not a string"));
        }
        if (metadata != nullptr) (*metadata)[key] = value.get<std::string>();
      }
      continue;
    }
    // C++17 lambdas cannot capture a structured binding (GCC allows it; clang does not).
    const std::string& tensor_name = name;
    const auto bad = [&tensor_name](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("[safetensors] tensor \"", tensor_name, "\": ", why));
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry["dtype"].is_string() ||
        !entry.contains("shape") || !entry["shape"].is_array() || !entry.contains("data_offsets") ||
        !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2) {
      return bad("needs dtype, shape and data_offsets");
    }
    auto dtype = dtypes.find(entry["dtype"].get<std::string>());
    if (dtype == dtypes.end()) {
      return bad(
          absl::StrCat("dtype ", entry["dtype"].get<std::string>(), " is not one ferry holds"));
    }
    FileTensor tensor;
    tensor.name = name;
    tensor.dtype = dtype->second;
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_unsigned()) return bad("shape must hold non-negative integers");
      tensor.shape.push_back(dim.get<int64_t>());
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
      return bad("data_offsets must be non-negative integers");
    }
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    tensor.offset = 8 + header_length + begin;
    if (absl::Status sized = Size("safetensors", tensor, file_size); !sized.ok()) return sized;
    if (end < begin || end - begin != tensor.nbytes) {
      return bad(absl::StrCat("data_offsets [", begin, ", ", end, ") do not hold ",
                              DescribeTensor(tensor), " (", tensor.nbytes, " bytes)"));
    }
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

absl::StatusOr<std::vector<FileTensor>> ReadTensorIndex(
    const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  std::string head(std::min<uint64_t>(file_size, 16), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  uint64_t header_end = 0;
  const bool npy = head.compare(0, 6, kNpyMagic, 6) == 0;
  if (npy && head.size() >= 12) {
    header_end = head[6] == 1 ? 10 + LittleEndian(head, 8, 2) : 12 + LittleEndian(head, 8, 4);
  } else if (!npy && head.size() >= 8) {
    header_end = 8 + LittleEndian(head, 0, 8);
  }
  header_end = std::min({header_end, file_size, kMaxHeaderBytes + 8});
  head.resize(header_end);
  in.seekg(0);
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (!in) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return npy ? ParseNpy(head, file_size) : ParseSafetensors(head, file_size, metadata);
}

std::string DescribeTensor(const FileTensor& tensor) {
  return absl::StrCat(DTypeName(tensor.dtype), "[", absl::StrJoin(tensor.shape, ", "), "]");
}

absl::StatusOr<std::string> NpyHeader(DType dtype, const std::vector<int64_t>& shape) {
  std::optional<std::string> descr = NameIn(NpyDtypes(), dtype);
  if (!descr.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("[npy] NumPy has no ", DTypeName(dtype), " dtype: save it as .safetensors"));
  }
  std::string dims = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) dims += ",";
  std::string dict =
      absl::StrCat("{'descr': '", *descr, "', 'fortran_order': False, 'shape': (", dims, "), }");
  // Version 1: magic, 2 version bytes, a 2-byte length, then the dict padded with spaces
  // and a newline to a multiple of 64 bytes, as NumPy writes it.
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string header(kNpyMagic, 6);
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

namespace {

// JSON holds UTF-8 only: a name or a metadata string that is not is the caller's mistake.
absl::Status CheckUtf8(const std::string& text, const char* what) {
  try {
    nlohmann::json(text).dump();
  } catch (const nlohmann::json::type_error&) {
    return absl::InvalidArgumentError(absl::StrCat("[save_safetensors] ", what, " \"",
                                                   absl::CHexEscape(text), "\" is not UTF-8"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> SafetensorsHeader(std::vector<FileTensor>& tensors,
                                              const std::map<std::string, std::string>& metadata) {
  for (const FileTensor& tensor : tensors) {
    if (absl::Status s = CheckUtf8(tensor.name, "the array name"); !s.ok()) return s;
  }
  for (const auto& [key, value] : metadata) {
    if (absl::Status s = CheckUtf8(key, "the metadata key"); !s.ok()) return s;
    if (absl::Status s = CheckUtf8(value, "the metadata value"); !s.ok()) return s;
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t at = 0;
  for (FileTensor& tensor : tensors) {
    uint64_t count = 1;
    for (int64_t dim : tensor.shape) count *= static_cast<uint64_t>(dim);
    tensor.nbytes = count * SizeOf(tensor.dtype);
    header[tensor.name] = {{"dtype", *NameIn(SafetensorsDtypes(), tensor.dtype)},
                           {"shape", tensor.shape},
                           {"data_offsets", {at, at + tensor.nbytes}}};
    tensor.offset = at;
    at += tensor.nbytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  for (FileTensor& tensor : tensors) tensor.offset += out.size() + json.size();
  return out + json;
}

}  // namespace ferry::core
