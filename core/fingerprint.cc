#include "core/fingerprint.h"

#include <cstring>
#include <type_traits>

#include "core/sha256.h"

namespace ferry::core {
namespace {

// Attribute kinds as they appear in the encoding; fixed here so that reordering the
// AttrValue variant cannot change any fingerprint.
enum Tag : uint8_t {
  kTagInt = 1,
  kTagDouble = 2,
  kTagString = 3,
  kTagInts = 4,
  kTagDType = 5,
  kTagTensor = 6,
};

// Dtypes by a fixed code (the wire's numbering), not by the enum's order.
uint8_t DTypeCode(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return 1;
    case DType::kUInt8:
      return 2;
    case DType::kInt32:
      return 3;
    case DType::kInt64:
      return 4;
    case DType::kFloat16:
      return 5;
    case DType::kBFloat16:
      return 6;
    case DType::kFloat32:
      return 7;
    case DType::kFloat64:
      return 8;
    case DType::kUInt32:
      return 9;
    case DType::kUInt16:
      return 10;
    case DType::kUInt64:
      return 11;
    case DType::kInt8:
      return 12;
    case DType::kInt16:
      return 13;
    case DType::kComplex64:
      return 14;
  }
  return 0;
}

// The canonical encoding: fixed-width little-endian integers, length-prefixed strings and
// lists, so that no two different graphs encode to the same bytes. Gathered in a buffer
// and hashed a few kilobytes at a time: a graph is mostly fields of a few bytes each.
class Encoder {
 public:
  std::array<uint8_t, 32> Finish() {
    Flush();
    return sha_.Finish();
  }

  void U8(uint8_t v) {
    if (size_ == sizeof(buffer_)) Flush();
    buffer_[size_++] = v;
  }

  void U64(uint64_t v) {
    if (size_ + 8 > sizeof(buffer_)) Flush();
    for (int i = 0; i < 8; ++i) buffer_[size_ + i] = static_cast<uint8_t>(v >> (8 * i));
    size_ += 8;
  }

  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }

  void Double(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    U64(bits);
  }

  void String(const std::string& s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }

  void Ints(const std::vector<int64_t>& values) {
    U64(values.size());
    for (int64_t v : values) I64(v);
  }

  void Type(const TensorType& type) {
    U8(DTypeCode(type.dtype));
    Ints(type.shape);
  }

  void Attr(const AttrValue& value) {
    std::visit(
        [this](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t>) {
            U8(kTagInt);
            I64(v);
          } else if constexpr (std::is_same_v<T, double>) {
            U8(kTagDouble);
            Double(v);
          } else if constexpr (std::is_same_v<T, std::string>) {
            U8(kTagString);
            String(v);
          } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            U8(kTagInts);
            Ints(v);
          } else if constexpr (std::is_same_v<T, DType>) {
            U8(kTagDType);
            U8(DTypeCode(v));
          } else {
            static_assert(std::is_same_v<T, HostTensor>);
            U8(kTagTensor);
            Type(v.type);
            String(v.data);
          }
        },
        value);
  }

 private:
  void Bytes(const char* data, size_t size) {
    if (size_ + size > sizeof(buffer_)) Flush();
    if (size > sizeof(buffer_)) {
      sha_.Update(data, size);
      return;
    }
    std::memcpy(buffer_ + size_, data, size);
    size_ += size;
  }

  void Flush() {
    sha_.Update(buffer_, size_);
    size_ = 0;
  }

  Sha256 sha_;
  uint8_t buffer_[4096];
  size_t size_ = 0;
};

}  // namespace

std::string GraphFingerprint(const Graph& graph) {
  Encoder enc;
  enc.String("ferry.graph.v1");
  enc.U64(graph.nodes.size());
  for (const Node& node : graph.nodes) {
    enc.String(node.op);
    enc.U64(node.inputs.size());
    for (int32_t input : node.inputs) enc.I64(input);
    const auto& attrs = node.attrs.values();  // a std::map: already in name order
    enc.U64(attrs.size());
    for (const auto& [name, value] : attrs) {
      enc.String(name);
      enc.Attr(value);
    }
    enc.Type(node.out);
  }
  enc.U64(graph.outputs.size());
  for (int32_t output : graph.outputs) enc.I64(output);
  const std::array<uint8_t, 32> digest = enc.Finish();
  return std::string(digest.begin(), digest.begin() + 16);
}

std::string FingerprintToHex(const std::string& fingerprint) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * fingerprint.size());
  for (unsigned char c : fingerprint) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  return hex;
}

}  // namespace ferry::core
