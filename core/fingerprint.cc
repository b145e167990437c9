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
  }
  return 0;
}

// The canonical encoding: fixed-width little-endian integers, length-prefixed strings and
// lists, so that no two different graphs encode to the same bytes.
class Encoder {
 public:
  explicit Encoder(Sha256& sha) : sha_(sha) {}

  void U8(uint8_t v) { sha_.Update(&v, 1); }

  void U64(uint64_t v) {
    uint8_t bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(v >> (8 * i));
    sha_.Update(bytes, 8);
  }

  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }

  void Double(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    U64(bits);
  }

  void String(const std::string& s) {
    U64(s.size());
    sha_.Update(s);
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
  Sha256& sha_;
};

}  // namespace

std::string GraphFingerprint(const Graph& graph) {
  Sha256 sha;
  Encoder enc(sha);
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
  const std::array<uint8_t, 32> digest = sha.Finish();
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
