#include "core/gguf.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <istream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/gguf_tensors.h"

namespace ferry::core {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF", little-endian
constexpr uint64_t kAlignment = 32;      // unless general.alignment says otherwise
constexpr uint32_t kMaxDimensions = 8;   // GGML's tensors have up to 4

// GGUF's metadata value types.
enum ValueType : uint32_t {
  kUInt8 = 0,
  kInt8 = 1,
  kUInt16 = 2,
  kInt16 = 3,
  kUInt32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUInt64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// The numeric (and bool) value types and the ferry dtypes they hold, both ways.
constexpr std::pair<uint32_t, DType> kNumericTypes[] = {
    {kUInt8, DType::kUInt8},     {kInt8, DType::kInt8},       {kUInt16, DType::kUInt16},
    {kInt16, DType::kInt16},     {kUInt32, DType::kUInt32},   {kInt32, DType::kInt32},
    {kFloat32, DType::kFloat32}, {kBool, DType::kBool},       {kUInt64, DType::kUInt64},
    {kInt64, DType::kInt64},     {kFloat64, DType::kFloat64},
};

// The ferry dtype of a numeric (or bool) value type; false for strings and arrays.
bool NumericDType(uint32_t type, DType* dtype) {
  for (const auto& [value_type, held] : kNumericTypes) {
    if (value_type == type) {
      *dtype = held;
      return true;
    }
  }
  return false;
}

absl::Status Invalid(const std::string& path, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("[gguf] ", path, ": ", why));
}

// Reads the header's fields in order, each checked to lie inside the file.
class HeaderReader {
 public:
  HeaderReader(std::istream& in, std::string path, uint64_t file_size)
      : in_(in), path_(std::move(path)), file_size_(file_size) {}

  uint64_t position() const { return position_; }

  absl::Status Bytes(uint64_t n, std::string* out) {
    if (n > file_size_ - position_) {
      return Invalid(path_, absl::StrCat("the header ends past the file (", n, " bytes at byte ",
                                         position_, " of ", file_size_, ")"));
    }
    out->resize(n);
    in_.read(out->data(), static_cast<std::streamsize>(n));
    if (!in_) return Invalid(path_, absl::StrCat("cannot read byte ", position_));
    position_ += n;
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Number(T* value) {
    std::string bytes;
    if (absl::Status read = Bytes(sizeof(T), &bytes); !read.ok()) return read;
    std::memcpy(value, bytes.data(), sizeof(T));
    return absl::OkStatus();
  }
  absl::Status String(std::string* value) {
    uint64_t length = 0;
    if (absl::Status read = Number(&length); !read.ok()) return read;
    return Bytes(length, value);
  }
  // A count of items of at least `min_bytes` each, checked against what is left.
  absl::Status Count(uint64_t min_bytes, uint64_t* count) {
    if (absl::Status read = Number(count); !read.ok()) return read;
    if (*count > (file_size_ - position_) / min_bytes) {
      return Invalid(path_, absl::StrCat("a count of ", *count, " at byte ", position_ - 8,
                                         " is more than the file holds"));
    }
    return absl::OkStatus();
  }

  absl::Status Value(uint32_t type, GgufValue* value) {
    DType dtype;
    if (NumericDType(type, &dtype)) {
      value->kind = GgufValue::Kind::kNumbers;
      value->dtype = dtype;
      return Bytes(SizeOf(dtype), &value->bytes);
    }
    if (type == kString) {
      value->kind = GgufValue::Kind::kString;
      return String(&value->bytes);
    }
    if (type != kArray) return Invalid(path_, absl::StrCat("unknown value type ", type));
    uint32_t element_type = 0;
    uint64_t count = 0;
    if (absl::Status read = Number(&element_type); !read.ok()) return read;
    if (NumericDType(element_type, &dtype)) {
      if (absl::Status read = Count(SizeOf(dtype), &count); !read.ok()) return read;
      value->kind = GgufValue::Kind::kNumbers;
      value->dtype = dtype;
      value->is_array = true;
      return Bytes(count * SizeOf(dtype), &value->bytes);
    }
    if (element_type != kString) {
      return Invalid(path_, absl::StrCat("an array of value type ", element_type,
                                         " (only numbers, bools and strings are read)"));
    }
    if (absl::Status read = Count(8, &count); !read.ok()) return read;
    value->kind = GgufValue::Kind::kStrings;
    value->strings.resize(count);
    for (std::string& s : value->strings) {
      if (absl::Status read = String(&s); !read.ok()) return read;
    }
    return absl::OkStatus();
  }

 private:
  std::istream& in_;
  const std::string path_;
  const uint64_t file_size_;
  uint64_t position_ = 0;
};

void Append(std::string& out, const void* data, size_t n) {
  out.append(static_cast<const char*>(data), n);
}
template <typename T>
void AppendNumber(std::string& out, T value) {
  Append(out, &value, sizeof(T));
}
void AppendString(std::string& out, const std::string& s) {
  AppendNumber<uint64_t>(out, s.size());
  out += s;
}

absl::StatusOr<uint32_t> ValueTypeOf(DType dtype) {
  for (const auto& [value_type, held] : kNumericTypes) {
    if (held == dtype) return value_type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("GGUF has no metadata type for ", DTypeName(dtype)));
}

}  // namespace

uint64_t GgufPadding(uint64_t offset) { return (kAlignment - offset % kAlignment) % kAlignment; }

absl::StatusOr<GgufIndex> ReadGgufIndex(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  return ParseGgufIndex(in, file_size, path);
}

absl::StatusOr<GgufIndex> ParseGgufIndex(std::istream& in, uint64_t file_size,
                                         const std::string& path) {
  HeaderReader header(in, path, file_size);
  uint32_t magic = 0, version = 0;
  if (absl::Status read = header.Number(&magic); !read.ok()) return read;
  if (magic != kMagic) return Invalid(path, "not a GGUF file (no \"GGUF\" at its start)");
  if (absl::Status read = header.Number(&version); !read.ok()) return read;
  if (version != 2 && version != 3) {
    return Invalid(path, absl::StrCat("GGUF version ", version, " (versions 2 and 3 are read)"));
  }
  uint64_t tensor_count = 0, metadata_count = 0;
  if (absl::Status read = header.Count(24, &tensor_count); !read.ok()) return read;
  if (absl::Status read = header.Count(12, &metadata_count); !read.ok()) return read;
  GgufIndex index;
  uint64_t alignment = kAlignment;
  for (uint64_t i = 0; i < metadata_count; ++i) {
    std::string key;
    uint32_t type = 0;
    GgufValue value;
    if (absl::Status read = header.String(&key); !read.ok()) return read;
    if (absl::Status read = header.Number(&type); !read.ok()) return read;
    if (absl::Status read = header.Value(type, &value); !read.ok()) return read;
    if (key == "general.alignment" && type == kUInt32) {
      uint32_t a = 0;
      std::memcpy(&a, value.bytes.data(), 4);
      if (a == 0 || (a & (a - 1)) != 0) {
        return Invalid(path, absl::StrCat("general.alignment ", a, " is not a power of two"));
      }
      alignment = a;
    }
    index.metadata.emplace_back(std::move(key), std::move(value));
  }
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensor tensor;
    uint32_t ndim = 0;
    if (absl::Status read = header.String(&tensor.name); !read.ok()) return read;
    if (absl::Status read = header.Number(&ndim); !read.ok()) return read;
    if (ndim > kMaxDimensions) {
      return Invalid(path, absl::StrCat("tensor ", tensor.name, " has ", ndim, " dimensions"));
    }
    tensor.shape.resize(ndim);
    for (uint32_t d = 0; d < ndim; ++d) {
      uint64_t dim = 0;
      if (absl::Status read = header.Number(&dim); !read.ok()) return read;
      if (dim > (uint64_t{1} << 62)) {
        return Invalid(path, absl::StrCat("tensor ", tensor.name, " has a dimension of ", dim));
      }
      tensor.shape[ndim - 1 - d] = static_cast<int64_t>(dim);  // GGUF's first is innermost
    }
    if (absl::Status read = header.Number(&tensor.type); !read.ok()) return read;
    if (absl::Status read = header.Number(&tensor.offset); !read.ok()) return read;
    index.tensors.push_back(std::move(tensor));
  }
  const uint64_t data_start =
      header.position() + (alignment - header.position() % alignment) % alignment;
  for (GgufTensor& tensor : index.tensors) {
    absl::StatusOr<uint64_t> nbytes = GgmlBytes(tensor.type, tensor.shape);
    if (!nbytes.ok()) {
      return Invalid(path, absl::StrCat("tensor ", tensor.name, ": ", nbytes.status().message()));
    }
    tensor.nbytes = *nbytes;
    if (tensor.offset > file_size || data_start > file_size - tensor.offset ||
        tensor.nbytes > file_size - tensor.offset - data_start) {
      return Invalid(path, absl::StrCat("tensor ", tensor.name, "'s ", tensor.nbytes,
                                        " bytes at data offset ", tensor.offset,
                                        " lie past the end of the file (", file_size, " bytes)"));
    }
    tensor.offset += data_start;
  }
  return index;
}

absl::StatusOr<std::string> GgufHeader(
    std::vector<GgufTensor>& tensors,
    const std::vector<std::pair<std::string, GgufValue>>& metadata) {
  std::string out;
  AppendNumber<uint32_t>(out, kMagic);
  AppendNumber<uint32_t>(out, 3);
  AppendNumber<uint64_t>(out, tensors.size());
  AppendNumber<uint64_t>(out, metadata.size());
  for (const auto& [key, value] : metadata) {
    AppendString(out, key);
    switch (value.kind) {
      case GgufValue::Kind::kString:
        AppendNumber<uint32_t>(out, kString);
        AppendString(out, value.bytes);
        break;
      case GgufValue::Kind::kStrings:
        AppendNumber<uint32_t>(out, kArray);
        AppendNumber<uint32_t>(out, kString);
        AppendNumber<uint64_t>(out, value.strings.size());
        for (const std::string& s : value.strings) AppendString(out, s);
        break;
      case GgufValue::Kind::kNumbers: {
        absl::StatusOr<uint32_t> type = ValueTypeOf(value.dtype);
        if (!type.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("metadata ", key, ": ", type.status().message()));
        }
        if (value.is_array) {
          AppendNumber<uint32_t>(out, kArray);
          AppendNumber<uint32_t>(out, *type);
          AppendNumber<uint64_t>(out, value.bytes.size() / SizeOf(value.dtype));
        } else {
          AppendNumber<uint32_t>(out, *type);
        }
        out += value.bytes;
        break;
      }
    }
  }
  uint64_t offset = 0;  // from the data's start
  for (GgufTensor& tensor : tensors) {
    AppendString(out, tensor.name);
    AppendNumber<uint32_t>(out, static_cast<uint32_t>(tensor.shape.size()));
    for (auto dim = tensor.shape.rbegin(); dim != tensor.shape.rend(); ++dim) {
      AppendNumber<uint64_t>(out, static_cast<uint64_t>(*dim));
    }
    AppendNumber<uint32_t>(out, tensor.type);
    offset += GgufPadding(offset);
    AppendNumber<uint64_t>(out, offset);
    tensor.offset = offset;
    offset += tensor.nbytes;
  }
  out.append(GgufPadding(out.size()), '\0');
  for (GgufTensor& tensor : tensors) tensor.offset += out.size();
  return out;
}

}  // namespace ferry::core
