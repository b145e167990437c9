// Arrays to and from .npy, .safetensors and .gguf files: files NumPy, MLX and llama.cpp's
// writer wrote load with their values, and every dtype survives a save and a load.

#include "client/io.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

std::string TestData(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) + "client/testdata/" + name;
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name;
}

ErrorCode CodeOf(const std::function<void()>& f, std::string* message) {
  try {
    f();
  } catch (const Error& e) {
    *message = e.what();
    return e.code();
  }
  return ErrorCode::kOk;
}

TEST(IoTest, LoadsWhatNumPyWrote) {
  Array a = load(TestData("numpy_written.npy"));
  EXPECT_EQ(a.dtype(), int16);
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_THAT(a.to_vector<int16_t>(), ElementsAre(1, -2, 3, -25536, -32768, 0));
}

TEST(IoTest, LoadsWhatMlxWroteWithItsMetadata) {
  auto [arrays, metadata] = load_safetensors(TestData("mlx_written.safetensors"));
  EXPECT_THAT(metadata, UnorderedElementsAre(Pair("format", "mlx"), Pair("step", "42")));
  ASSERT_EQ(arrays.size(), 5u);
  Array weight = arrays.at("layer.weight");
  EXPECT_EQ(weight.dtype(), bfloat16);
  EXPECT_THAT(astype(weight, float32).to_vector<float>(),
              ElementsAre(1.5, -2.25, 3.0, 0.5, 0.00099945068359375, -7.0));
  EXPECT_THAT(arrays.at("layer.bias").to_vector<float>(), ElementsAre(0.1f, -0.2f, 0.3f));
  EXPECT_THAT(arrays.at("codes").to_vector<int8_t>(), ElementsAre(-128, -1, 0, 127));
  EXPECT_THAT(arrays.at("ids").to_vector<uint16_t>(), ElementsAre(0, 65535, 7, 300));
  EXPECT_THAT(arrays.at("mask").to_vector<bool>(), ElementsAre(true, false, true));
}

TEST(IoTest, EveryDtypeRoundTrips) {
  std::unordered_map<std::string, Array> arrays;
  for (Dtype dtype : core::kAllDTypes) {
    Array a = astype(reshape(arange(-3, 3, 1, float32), {2, 3}), dtype);
    arrays.emplace(core::DTypeName(dtype), a);
    if (dtype == bfloat16) continue;  // no .npy dtype: below
    const std::string path = TempPath(std::string("round_trip_") + core::DTypeName(dtype));
    save(path, a);  // ".npy" appended
    Array back = load(path + ".npy");
    EXPECT_EQ(back.dtype(), dtype);
    EXPECT_EQ(back.shape(), a.shape());
    EXPECT_TRUE(array_equal(back, a).item<bool>()) << core::DTypeName(dtype);
  }
  const std::string path = TempPath("every_dtype.safetensors");
  save_safetensors(path, arrays, {{"written_by", "ferry"}});
  auto [back, metadata] = load_safetensors(path);
  EXPECT_THAT(metadata, ElementsAre(Pair("written_by", "ferry")));
  ASSERT_EQ(back.size(), arrays.size());
  for (auto& [name, a] : arrays) {
    EXPECT_EQ(back.at(name).dtype(), a.dtype()) << name;
    EXPECT_TRUE(array_equal(back.at(name), a).item<bool>()) << name;
  }
  // Scalars and empty arrays keep their shapes.
  save(TempPath("scalar.npy"), full({}, 2.5));
  EXPECT_EQ(load(TempPath("scalar.npy")).shape(), Shape{});
  save(TempPath("empty.npy"), zeros({0, 4}, int64));
  EXPECT_EQ(load(TempPath("empty.npy")).shape(), (Shape{0, 4}));
}

TEST(IoTest, FailuresAreNamed) {
  std::string message;
  EXPECT_EQ(CodeOf([] { load(TempPath("missing.npy")); }, &message), ErrorCode::kNotFound);
  EXPECT_THAT(message, HasSubstr("cannot open"));
  EXPECT_EQ(CodeOf([] { save(TempPath("bf16"), ones({2}, bfloat16)); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("NumPy has no bfloat16 dtype"));
  EXPECT_EQ(CodeOf([] { load(TestData("mlx_written.safetensors")); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("load_safetensors"));
  EXPECT_EQ(CodeOf([] { load_safetensors(TestData("numpy_written.npy")); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(
                [] {
                  save_safetensors(TempPath("bad"), {{"__metadata__", ones({1})}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  // The header is JSON, which holds UTF-8 only.
  EXPECT_EQ(CodeOf(
                [] {
                  save_safetensors(TempPath("latin1"), {{"caf\xe9", ones({1})}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("the array name \"caf\\xe9\" is not UTF-8"));
  EXPECT_EQ(CodeOf(
                [] {
                  save_safetensors(TempPath("latin1"), {{"w", ones({1})}}, {{"by", "\xff"}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("the metadata value"));
}

// llama.cpp's writer wrote the file (testdata/gguf_mlx.py); MLX 0.32.4 loaded it: each array
// equal to MLX's to the bit (Q4_K: llama.cpp's dequantization, see core/gguf_tensors.h).
TEST(GgufTest, LoadsWhatLlamaCppWroteAsMlxDoes) {
  auto [arrays, metadata] = load_gguf(TestData("gguf_written.gguf"));
  auto [mlx, unused] = load_safetensors(TestData("gguf_mlx_loaded.safetensors"));
  ASSERT_EQ(arrays.size(), mlx.size() - 1);  // all but plain.original
  for (auto& [name, expected] : mlx) {
    if (name == "plain.original") continue;
    ASSERT_TRUE(arrays.count(name)) << name;
    Array got = arrays.at(name);
    if (name == "brain.weight") {  // ferry keeps BF16; MLX makes it float16
      EXPECT_EQ(got.dtype(), bfloat16);
      EXPECT_TRUE(
          allclose(astype(got, float32), astype(expected, float32), 0.0, 1e-6).item<bool>());
      continue;
    }
    EXPECT_EQ(got.dtype(), expected.dtype()) << name;
    EXPECT_EQ(got.shape(), expected.shape()) << name;
    EXPECT_TRUE(array_equal(got, expected).item<bool>()) << name;
  }
  // The quantized tensors hold the weights they came from, to within their codes' step
  // (relative to the largest weight: 1/8 with 4 bits, 1/128 with 8; Q4_0 may clip by one).
  Array original = mlx.at("plain.original") * reshape(arange(1, 5, 1, float32), {4, 1});
  const double largest = max(abs(original)).item<float>();
  for (const auto& [prefix, bits] :
       {std::pair<std::string, int>{"q4_0", 4}, {"q4_1", 4}, {"q8_0", 8}}) {
    Array w = dequantize(arrays.at(prefix + ".weight"), arrays.at(prefix + ".scales"),
                         arrays.at(prefix + ".biases"), 32, bits);
    const double step = largest / (bits == 4 ? 8 : 128);
    EXPECT_TRUE(allclose(astype(w, float32), original, 0.0, step).item<bool>()) << prefix;
  }
  // Named captures: C++17 lambdas cannot capture a structured binding by default (clang).
  auto number = [&metadata = metadata](const std::string& key) {
    return std::get<Array>(metadata.at(key));
  };
  EXPECT_EQ(number("u8").dtype(), uint8);
  EXPECT_EQ(number("u8").item<uint8_t>(), 200);
  EXPECT_EQ(number("i8").item<int8_t>(), -7);
  EXPECT_EQ(number("u16").item<uint16_t>(), 60000);
  EXPECT_EQ(number("i16").item<int16_t>(), -30000);
  EXPECT_EQ(number("u32").item<uint32_t>(), 4000000000u);
  EXPECT_EQ(number("i32").item<int32_t>(), -2000000000);
  EXPECT_EQ(number("f32").item<float>(), 1.5f);
  EXPECT_EQ(number("flag").item<bool>(), true);
  EXPECT_EQ(number("u64").item<uint64_t>(), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(number("i64").item<int64_t>(), -(int64_t{1} << 40));
  EXPECT_EQ(number("ints").shape(), Shape{3});
  EXPECT_THAT(number("ints").to_vector<int32_t>(), ElementsAre(1, -2, 3));
  EXPECT_THAT(number("floats").to_vector<float>(), ElementsAre(0.5f, -1.25f));
  EXPECT_EQ(std::get<std::string>(metadata.at("text")), "h\xc3\xa9llo");
  EXPECT_EQ(std::get<std::string>(metadata.at("general.architecture")), "llama");
  EXPECT_THAT(std::get<std::vector<std::string>>(metadata.at("words")), ElementsAre("a", "bc", ""));
}

// Types MLX 0.32.4 refuses, against llama.cpp's own dequantization (gguf.quants), in float16.
TEST(GgufTest, DequantizesWhatMlxRefusesAsLlamaCppDoes) {
  auto [arrays, metadata] = load_gguf(TestData("gguf_k_quants.gguf"));
  auto [expected, unused] = load_safetensors(TestData("gguf_k_quants_dequantized.safetensors"));
  ASSERT_EQ(arrays.size(), 7u);  // Q5_0, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_XS, IQ4_NL
  for (auto& [name, want] : expected) {
    ASSERT_TRUE(arrays.count(name)) << name;
    EXPECT_EQ(arrays.at(name).dtype(), float16) << name;
    EXPECT_EQ(arrays.at(name).shape(), want.shape()) << name;
    EXPECT_TRUE(array_equal(arrays.at(name), want).item<bool>()) << name;
  }
}

// On request, Q4_K and Q5_K load as MLX's affine quantization with float32 scales and
// biases, whose dequantization is the float16 load's values before rounding.
TEST(GgufTest, KQuantsLoadAsAffineQuantizationOnRequest) {
  GGUFOptions options;
  options.k_quants_affine = true;
  for (const auto& [file, name, bits] :
       {std::tuple<std::string, std::string, int>{"gguf_written.gguf", "q4_k", 4},
        {"gguf_k_quants.gguf", "q5_k", 5}}) {
    SCOPED_TRACE(file);
    auto [plain, plain_metadata] = load_gguf(TestData(file));
    auto [affine, affine_metadata] = load_gguf(TestData(file), default_device(), options);
    ASSERT_EQ(affine.size(), plain.size() + 2);  // the scales and biases
    const Array& codes = affine.at(name + ".weight");
    const Array& scales = affine.at(name + ".scales");
    const Array& biases = affine.at(name + ".biases");
    EXPECT_EQ(codes.dtype(), uint32);
    EXPECT_EQ(codes.shape(), (Shape{2, 512 * bits / 32}));
    EXPECT_EQ(scales.dtype(), float32);
    EXPECT_EQ(scales.shape(), (Shape{2, 16}));
    EXPECT_EQ(biases.shape(), (Shape{2, 16}));
    const Array values = dequantize(codes, scales, biases, 32, bits);
    EXPECT_TRUE(array_equal(astype(values, float16), plain.at(name + ".weight")).item<bool>());
    const Array x = reshape(arange(0, 1024, 1, float32), {2, 512}) / 512.0f;
    EXPECT_TRUE(allclose(quantized_matmul(x, codes, scales, biases, true, 32, bits),
                         matmul(x, transpose(values)), 1e-4, 1e-4)
                    .item<bool>());
    for (auto& [other, a] : plain) {  // the rest as without the option
      if (other == name + ".weight") continue;
      EXPECT_TRUE(array_equal(affine.at(other), a).item<bool>()) << other;
    }
  }
}

// MXFP4 (which MLX 0.32.4 leaves out) loads as MLX's mxfp4 quantization: its dequantize
// gives llama.cpp's values exactly, and quantized_matmul takes the arrays as they are.
TEST(GgufTest, LoadsMxfp4AsMlxsMxfp4Quantization) {
  auto [arrays, metadata] = load_gguf(TestData("gguf_mxfp4.gguf"));
  auto [expected, unused] = load_safetensors(TestData("gguf_mxfp4_dequantized.safetensors"));
  ASSERT_EQ(arrays.size(), 2u);
  const Array& codes = arrays.at("blk.0.ffn_down_exps.weight");
  const Array& scales = arrays.at("blk.0.ffn_down_exps.scales");
  EXPECT_EQ(codes.dtype(), uint32);
  EXPECT_EQ(codes.shape(), (Shape{3, 4, 12}));
  EXPECT_EQ(scales.dtype(), uint8);
  EXPECT_EQ(scales.shape(), (Shape{3, 4, 3}));
  const Array want = expected.at("blk.0.ffn_down_exps.weight");
  EXPECT_TRUE(array_equal(dequantize(codes, scales, std::nullopt, 32, 4, "mxfp4", float32), want)
                  .item<bool>());
  const Array x = reshape(arange(0, 96, 1, float32), {1, 96}) / 96.0f;
  const Array expert = take(codes, 1, 0);
  EXPECT_TRUE(
      allclose(quantized_matmul(x, expert, take(scales, 1, 0), std::nullopt, true, 32, 4, "mxfp4"),
               matmul(x, transpose(take(want, 1, 0))), 1e-5, 1e-6)
          .item<bool>());
}

TEST(GgufTest, SavedFilesLoadBack) {
  std::unordered_map<std::string, Array> arrays;
  for (Dtype dtype : {float32, float16, bfloat16, float64, int8, int16, int32, int64}) {
    arrays.emplace(core::DTypeName(dtype),
                   astype(reshape(arange(-3, 3, 1, float32), {2, 3}), dtype));
  }
  arrays.emplace("odd", arange(0, 5, 1, int8));  // 5 bytes: the next tensor is padded
  arrays.emplace("cube", reshape(arange(0, 24, 1, float32), {2, 3, 4}));
  const std::unordered_map<std::string, GGUFMetaData> metadata = {
      {"name", std::string("ferry")},
      {"tags", std::vector<std::string>{"x", "yz"}},
      {"step", full({}, 7, int64)},
      {"lr", full({}, 0.25, float64)},
      {"flags", from_host(std::vector<bool>{true, false}, {2}, default_device())}};
  const std::string path = TempPath("saved");
  save_gguf(path, arrays, metadata);  // ".gguf" appended
  auto [back, read] = load_gguf(path + ".gguf");
  ASSERT_EQ(back.size(), arrays.size());
  for (auto& [name, a] : arrays) {
    EXPECT_EQ(back.at(name).dtype(), a.dtype()) << name;
    EXPECT_EQ(back.at(name).shape(), a.shape()) << name;
    EXPECT_TRUE(array_equal(back.at(name), a).item<bool>()) << name;
  }
  EXPECT_EQ(std::get<std::string>(read.at("name")), "ferry");
  EXPECT_THAT(std::get<std::vector<std::string>>(read.at("tags")), ElementsAre("x", "yz"));
  EXPECT_EQ(std::get<Array>(read.at("step")).shape(), Shape{});
  EXPECT_EQ(std::get<Array>(read.at("step")).item<int64_t>(), 7);
  EXPECT_EQ(std::get<Array>(read.at("lr")).item<double>(), 0.25);
  EXPECT_THAT(std::get<Array>(read.at("flags")).to_vector<bool>(), ElementsAre(true, false));
}

TEST(GgufTest, FailuresAreNamed) {
  std::string message;
  EXPECT_EQ(CodeOf(
                [] {
                  save_gguf(TempPath("u8"), {{"w", ones({2}, uint8)}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("array w: GGUF has no tensor type for uint8"));
  EXPECT_EQ(CodeOf(
                [] {
                  save_gguf(TempPath("m"), {}, {{"m", ones({2, 2})}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("metadata m: an array of 2 dimensions"));
  EXPECT_EQ(CodeOf(
                [] {
                  save_gguf(TempPath("h"), {}, {{"h", ones({2}, float16)}});
                },
                &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("metadata h: GGUF has no metadata type for float16"));
  EXPECT_EQ(CodeOf([] { load_gguf(TestData("numpy_written.npy")); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("not a GGUF file"));

  // A type ferry does not read (IQ3_S: 21), and a file cut short, named.
  std::string bytes;
  {
    std::ifstream in(TestData("gguf_written.gguf"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t at = bytes.find("q6_k.weight");
  ASSERT_NE(at, std::string::npos);
  std::string iq3 = bytes;
  const size_t type_at = at + 11 + 4 + 2 * 8;  // name, n_dims, two dimensions
  ASSERT_EQ(iq3[type_at], 14);
  iq3[type_at] = 21;  // IQ3_S
  std::ofstream(TempPath("iq3.gguf"), std::ios::binary) << iq3;
  EXPECT_EQ(CodeOf([] { load_gguf(TempPath("iq3.gguf")); }, &message), ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("tensor q6_k.weight: IQ3_S is not a type ferry reads"));
  std::ofstream(TempPath("cut.gguf"), std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  EXPECT_EQ(CodeOf([] { load_gguf(TempPath("cut.gguf")); }, &message), ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("past the end of the file"));
  std::ofstream(TempPath("header.gguf"), std::ios::binary) << bytes.substr(0, 200);
  EXPECT_EQ(CodeOf([] { load_gguf(TempPath("header.gguf")); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("[gguf]"));

  // Any byte of the header changed: a load or an Error, never a crash (run under ASan too).
  std::mt19937 random(7);
  const size_t header_bytes = bytes.find("q6_k.weight") + 40;
  for (int i = 0; i < 300; ++i) {
    std::string corrupt = bytes;
    corrupt[random() % header_bytes] = static_cast<char>(random());
    std::ofstream(TempPath("corrupt.gguf"), std::ios::binary) << corrupt;
    try {
      load_gguf(TempPath("corrupt.gguf"), local());
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace ferry
