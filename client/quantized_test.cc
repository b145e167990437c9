// quantize, dequantize and quantized_matmul against MLX: testdata/quantized_mlx_cases.txt,
// written by testdata/quantized_mlx_cases.py with mlx 0.32.4 (not needed to run this test).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "client/ferry.h"
#include "client/testing.h"
#include "core/dtype.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Fixture {
  Dtype dtype;
  Shape shape;
  std::vector<double> values;

  Array ToArray() const { return astype(from_host(values, shape), dtype); }
};

Dtype ParseDtype(absl::string_view name) {
  for (Dtype dtype : {uint32, float16, bfloat16, float32}) {
    if (core::DTypeName(dtype) == name) return dtype;
  }
  ADD_FAILURE() << "unknown dtype " << name;
  return float32;
}

// "case/array" -> its fixture.
std::map<std::string, Fixture> ReadFixtures() {
  std::string path = "client/testdata/quantized_mlx_cases.txt";
  if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
    path = std::string(srcdir) + "/ferry/" + path;
  }
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << "cannot read " << path;
  std::map<std::string, Fixture> fixtures;
  std::string line;
  while (std::getline(file, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ';');
    if (f.size() != 4) {
      ADD_FAILURE() << "bad line: " << line.substr(0, 80);
      continue;
    }
    Fixture fixture{ParseDtype(f[1]), {}, {}};
    for (absl::string_view d : absl::StrSplit(f[2], ',', absl::SkipEmpty())) {
      int64_t dim = 0;
      EXPECT_TRUE(absl::SimpleAtoi(d, &dim)) << d;
      fixture.shape.push_back(dim);
    }
    for (absl::string_view v : absl::StrSplit(f[3], ',')) {
      double value = 0;
      EXPECT_TRUE(absl::SimpleAtod(v, &value)) << v;
      fixture.values.push_back(value);
    }
    fixtures[f[0]] = fixture;
  }
  return fixtures;
}

// The case names: "bits4_group64_float32" and the like.
std::vector<std::string> CaseNames(const std::map<std::string, Fixture>& fixtures) {
  std::vector<std::string> names;
  for (const auto& [name, fixture] : fixtures) {
    const std::string prefix = name.substr(0, name.find('/'));
    if (name == prefix + "/w") names.push_back(prefix);
  }
  return names;
}

int Field(const std::string& name, const std::string& key) {
  const size_t at = name.find(key) + key.size();
  return std::stoi(name.substr(at, name.find('_', at) - at));
}

void ExpectValues(const Array& got, const Fixture& want, double tolerance) {
  ASSERT_EQ(got.dtype(), want.dtype);
  ASSERT_EQ(got.shape(), want.shape);
  const std::vector<double> values = astype(got, float64).to_vector<double>();
  for (size_t i = 0; i < values.size(); ++i) {
    if (tolerance == 0) {
      ASSERT_EQ(values[i], want.values[i]) << "element " << i;
    } else {
      ASSERT_NEAR(values[i], want.values[i], tolerance * std::max(1.0, std::abs(want.values[i])))
          << "element " << i;
    }
  }
}

TEST(QuantizedTest, QuantizeAndDequantizeMatchMLXBitForBit) {
  const std::map<std::string, Fixture> fixtures = ReadFixtures();
  const std::vector<std::string> names = CaseNames(fixtures);
  EXPECT_EQ(names.size(), 12u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const int bits = Field(name, "bits");
    const int group_size = Field(name, "group");
    auto [wq, scales, biases] = quantize(fixtures.at(name + "/w").ToArray(), group_size, bits);
    ExpectValues(wq, fixtures.at(name + "/wq"), 0);
    ExpectValues(scales, fixtures.at(name + "/scales"), 0);
    ExpectValues(biases, fixtures.at(name + "/biases"), 0);
    // From MLX's own quantized arrays, so a packing error cannot cancel out.
    Array deq =
        dequantize(fixtures.at(name + "/wq").ToArray(), fixtures.at(name + "/scales").ToArray(),
                   fixtures.at(name + "/biases").ToArray(), group_size, bits);
    ExpectValues(deq, fixtures.at(name + "/deq"), 0);
  }
}

// Against MLX's results in float32. MLX's CPU kernel accumulates 16-bit products in 16
// bits (0.75 off in bfloat16 on sums of 256); ferry multiplies in float32 and rounds once,
// as MLX's GPU kernels do, so 16-bit cases are held to the float64 product instead.
TEST(QuantizedTest, QuantizedMatmulMatchesMLX) {
  const std::map<std::string, Fixture> fixtures = ReadFixtures();
  for (const std::string& name : CaseNames(fixtures)) {
    SCOPED_TRACE(name);
    const int bits = Field(name, "bits");
    const int group_size = Field(name, "group");
    Array wq = fixtures.at(name + "/wq").ToArray();
    Array scales = fixtures.at(name + "/scales").ToArray();
    Array biases = fixtures.at(name + "/biases").ToArray();
    for (bool transpose : {true, false}) {
      Array x = fixtures.at(name + (transpose ? "/x" : "/xt")).ToArray();
      Array y = quantized_matmul(x, wq, scales, biases, transpose, group_size, bits);
      Fixture want = fixtures.at(name + (transpose ? "/y" : "/yt"));
      if (scales.dtype() == float32) {
        // Sums of up to 256 products in another order (by group, s * sum(x q) + b * sum(x),
        // for widths dividing 32) and cancelling: a few ulps of the terms' magnitude.
        ExpectValues(y, want, 5e-5);
        continue;
      }
      Array w = dequantize(wq, astype(scales, float64), astype(biases, float64), group_size, bits);
      Array exact = matmul(astype(x, float64), transpose ? swapaxes(w, -1, -2) : w);
      want.values = astype(astype(exact, want.dtype), float64).to_vector<double>();  // rounded once
      ExpectValues(y, want, 1.0 / 128);  // an ulp of bfloat16
    }
  }
}

// The kernels' paths (dequantized in registers or panels for OpenBLAS past 256 rows of x,
// widths dividing 32 or not, float32 or float64, word counts that fill no whole vector) against the
// float64 product of the dequantized matrix.
TEST(QuantizedTest, EveryPathAgreesWithTheDequantizedProduct) {
  Array w = random::normal({24, 160}, float32, 0, 1, random::key(9));
  for (int bits : {1, 2, 3, 4, 5, 6, 8}) {
    auto [wq, scales, biases] = quantize(w, 32, bits);
    Array exact = dequantize(wq, astype(scales, float64), astype(biases, float64), 32, bits);
    for (int64_t m : {1, 2, 3, 8, 11, 16, 17, 40, 300}) {
      for (bool transpose : {true, false}) {
        for (Dtype dtype : {float32, float64}) {
          SCOPED_TRACE(::testing::Message()
                       << bits << " bits, " << m << " rows, transpose " << transpose
                       << (dtype == float64 ? ", float64" : ", float32"));
          Array x = random::uniform({m, transpose ? 160 : 24}, dtype, -1, 1, random::key(m));
          Array y = quantized_matmul(x, wq, scales, biases, transpose, 32, bits);
          Array want = matmul(astype(x, float64), transpose ? swapaxes(exact, 0, 1) : exact);
          EXPECT_TRUE(allclose(astype(y, float64), want, 1e-5, 1e-4).item<bool>());
        }
      }
    }
  }
}

// Big enough that the rows of w are split among the cores (each part a million
// multiply-adds or more).
TEST(QuantizedTest, ProductsSplitAmongCoresAgreeWithTheDequantizedProduct) {
  Array w = random::normal({2048, 1024}, float32, 0, 1, random::key(3));
  auto [wq, scales, biases] = quantize(w, 64, 4);
  Array exact = dequantize(wq, astype(scales, float64), astype(biases, float64), 64, 4);
  for (int64_t m : {1, 5, 33}) {
    SCOPED_TRACE(::testing::Message() << m << " rows");
    Array x = random::uniform({m, 1024}, float32, -1, 1, random::key(m));
    Array y = quantized_matmul(x, wq, scales, biases, true, 64, 4);
    Array want = matmul(astype(x, float64), swapaxes(exact, 0, 1));
    EXPECT_TRUE(allclose(astype(y, float64), want, 1e-5, 1e-3).item<bool>());
  }
}

// A batch of quantized matrices: up to 256 go through the kernel one matrix each (x and wq
// batches broadcast first), more through one dequantization; both are the dequantized
// product, and so are the gradients that reach x.
TEST(QuantizedTest, BatchesOfMatricesSmallAndLarge) {
  for (int64_t experts : {3, 130}) {
    SCOPED_TRACE(::testing::Message() << experts << " matrices");
    Array w = random::normal({experts, 8, 64}, float32, 0, 1, random::key(30));
    auto [wq, scales, biases] = quantize(w, 32, 4);
    Array exact = dequantize(wq, astype(scales, float64), astype(biases, float64), 32, 4);
    Array x = random::uniform({2, 1, 5, 64}, float32, -1, 1, random::key(31));  // batch (2, E)
    Array y = quantized_matmul(x, wq, scales, biases, true, 32, 4);
    ASSERT_EQ(y.shape(), (Shape{2, experts, 5, 8}));
    Array want = matmul(astype(x, float64), swapaxes(exact, -1, -2));
    EXPECT_TRUE(allclose(astype(y, float64), want, 1e-5, 1e-4).item<bool>());
    Array dx = grad([&wq = wq, &scales = scales, &biases = biases](const Array& v) {
      return sum(quantized_matmul(v, wq, scales, biases, true, 32, 4));
    })(x);
    Array want_dx = sum(matmul(ones({2, experts, 5, 8}, float64), exact), 1, true);
    EXPECT_TRUE(allclose(astype(dx, float64), want_dx, 1e-5, 1e-4).item<bool>());
  }
}

TEST(QuantizedTest, RoundTripErrorIsWithinAStep) {
  Array w = random::normal({8, 256}, float32, 0, 1, random::key(3));
  for (int bits : {2, 3, 4, 6, 8}) {
    auto [wq, scales, biases] = quantize(w, 64, bits);
    EXPECT_EQ(wq.shape(), (Shape{8, 256 * bits / 32}));
    EXPECT_EQ(scales.shape(), (Shape{8, 4}));
    Array error = abs(dequantize(wq, scales, biases, 64, bits) - w);
    // Half a step, but for the far edge of a group: the step is fitted to the near one.
    Array step = repeat(abs(scales), 64, 1);
    EXPECT_TRUE(all(error <= step * 1.0001f).item<bool>()) << bits;
    EXPECT_LT(mean(error / step).item<float>(), 0.3f) << bits;
  }
}

TEST(QuantizedTest, GradientFlowsToXScalesAndBiases) {
  Array w = random::normal({4, 64}, float32, 0, 1, random::key(5));
  auto [wq, scales, biases] = quantize(w, 32, 4);
  Array x = random::normal({3, 64}, float32, 0, 1, random::key(6));
  auto loss = [&wq = wq](const std::vector<Array>& args) {
    return sum(quantized_matmul(args[0], wq, args[1], args[2], true, 32, 4));
  };
  std::vector<Array> grads = grad(loss, {0, 1, 2})({x, scales, biases});
  Array deq = dequantize(wq, scales, biases, 32, 4);
  // d/dx sum(x @ w.T) is w's rows summed; a group's bias adds to its 32 weights, each of
  // which multiplies a column of x.
  EXPECT_TRUE(allclose(grads[0], broadcast_to(sum(deq, 0), {3, 64}), 1e-5, 1e-5).item<bool>());
  Array per_group = sum(reshape(sum(x, 0), {2, 32}), 1);
  EXPECT_TRUE(allclose(grads[2], broadcast_to(per_group, {4, 2}), 1e-5, 1e-5).item<bool>());
  EXPECT_EQ(grads[1].shape(), (Shape{4, 2}));
}

TEST(QuantizedTest, EmptyMatricesGiveEmptyOrZeroProducts) {
  Array wq = zeros({0, 16}, uint32);
  Array s = zeros({0, 2});
  EXPECT_EQ(quantized_matmul(ones({3, 128}), wq, s, s, true, 64, 4).shape(), (Shape{3, 0}));
  Array y = quantized_matmul(ones({3, 0}), wq, s, s, false, 64, 4);
  EXPECT_EQ(y.shape(), (Shape{3, 128}));
  EXPECT_TRUE(all(y == 0).item<bool>());
}

TEST(QuantizedTest, BadArgumentsThrowWhereTheOpIsBuilt) {
  Array w = zeros({3, 128});
  EXPECT_EQ(BuildError([&] { quantize(w, 16); }),
            "[quantize] group_size must be 32, 64 or 128, got 16.");
  EXPECT_EQ(BuildError([&] { quantize(w, 64, 7); }),
            "[quantize] bits must be 1, 2, 3, 4, 5, 6 or 8, got 7.");
  EXPECT_EQ(BuildError([&] {
              quantize(zeros({3, 100}));
            }),
            "[quantize] w must have rank 2 or more and a last dim divisible by group_size 64, "
            "got shape (3, 100).");
  EXPECT_EQ(BuildError([&] { quantize(astype(w, int32)); }),
            "[quantize] w must be floating, got int32.");
  // References, not a structured binding: the lambdas below capture them (clang, C++17).
  const std::tuple<Array, Array, Array> quantized = quantize(w);
  const Array& wq = std::get<0>(quantized);
  const Array& scales = std::get<1>(quantized);
  const Array& biases = std::get<2>(quantized);
  EXPECT_EQ(BuildError([&] { dequantize(astype(wq, int32), scales, biases); }),
            "[dequantize] the quantized matrix must be uint32, got int32.");
  EXPECT_EQ(BuildError([&] { dequantize(wq, scales, biases, 32); }),
            "[dequantize] scales (3, 2) and biases (3, 2) do not fit the quantized matrix "
            "(3, 16) with group_size=32 and bits=4 (expected (3, 4)).");
  EXPECT_EQ(BuildError([&] { dequantize(wq, scales, biases, 128, 8); }),
            "[dequantize] the quantized matrix (3, 16) must have rank 2 or more and rows of "
            "whole groups: 64 elements per row at bits=8 is not a multiple of group_size=128.");
  EXPECT_EQ(BuildError([&] {
              quantized_matmul(ones({2, 100}), wq, scales, biases);
            }),
            "[quantized_matmul] x's last dim must be 128 (the dequantized matrix is (3, 128), "
            "transposed), got shape (2, 100).");
}

// MLX's floating-point modes against what MLX 0.32.4 computed (a .safetensors fixture
// written by MLX itself): codes and scales decode exactly, products within float32 rounding.
TEST(QuantizedTest, FloatingPointModesMatchMLX) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string path = (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) +
                           "client/testdata/quantized_fp_modes_mlx.safetensors";
  auto [mlx, metadata] = load_safetensors(path);
  for (const std::string mode : {"mxfp4", "mxfp8", "nvfp4"}) {
    SCOPED_TRACE(mode);
    Array wq = mlx.at(mode + ".wq"), scales = mlx.at(mode + ".scales");
    Array w = dequantize(wq, scales, std::nullopt, std::nullopt, std::nullopt, mode, float32);
    EXPECT_TRUE(array_equal(w, mlx.at(mode + ".dequantized")).item<bool>());
    EXPECT_EQ(dequantize(wq, scales, std::nullopt, std::nullopt, std::nullopt, mode).dtype(),
              bfloat16);  // MLX's default where scales say nothing
    Array y = quantized_matmul(mlx.at("x"), wq, scales, std::nullopt, true, std::nullopt,
                               std::nullopt, mode);
    EXPECT_TRUE(allclose(y, mlx.at(mode + ".x_wt"), 1e-5, 1e-5).item<bool>());
  }
  Array y = quantized_matmul(mlx.at("x2"), mlx.at("mxfp8.wq"), mlx.at("mxfp8.scales"), std::nullopt,
                             false, 32, 8, "mxfp8");
  EXPECT_TRUE(allclose(y, mlx.at("mxfp8.x2_w"), 1e-5, 1e-5).item<bool>());
  // The affine mode through the same signature.
  auto [awq, ascales, abiases] = quantize(mlx.at("w"), 64, 4);
  EXPECT_TRUE(array_equal(dequantize(awq, ascales, abiases, 64, 4, "affine"),
                          dequantize(awq, ascales, abiases, 64, 4))
                  .item<bool>());
}

TEST(QuantizedTest, QuantizeInFloatingPointModesIsMlxs) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string path = (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) +
                           "client/testdata/quantize_fp_modes_mlx.safetensors";
  auto [mlx, metadata] = load_safetensors(path);
  for (const std::string mode : {"mxfp4", "mxfp8", "nvfp4"}) {
    for (const std::string suffix : {"", ".bf16"}) {
      SCOPED_TRACE(mode + suffix);
      std::vector<Array> q =
          quantize(mlx.at(suffix.empty() ? "w" : "w_bf16"), std::nullopt, std::nullopt, mode);
      ASSERT_EQ(q.size(), 2u);
      EXPECT_EQ(q[1].dtype(), uint8);
      EXPECT_EQ(q[0].to_vector<uint32_t>(), mlx.at(mode + suffix + ".wq").to_vector<uint32_t>());
      EXPECT_EQ(q[1].to_vector<uint8_t>(), mlx.at(mode + suffix + ".scales").to_vector<uint8_t>());
    }
  }
  EXPECT_EQ(quantize(zeros({2, 64}, float32), 64, 4, "affine").size(), 3u);
  EXPECT_THAT(BuildError([] {
                quantize(zeros({2, 64}, float32), 64, 4, "mxfp4");
              }),
              HasSubstr("mode \"mxfp4\" takes group_size 32 and bits 4."));
  EXPECT_THAT(BuildError([] {
                quantize(zeros({2, 48}, float32), std::nullopt, 8, "mxfp8");
              }),
              HasSubstr("last dim divisible by group_size 32"));
}

TEST(QuantizedTest, FloatingPointModesRefuseWhatTheyDoNotTake) {
  Array wq = zeros({2, 8}, uint32), scales = zeros({2, 2}, uint8);
  EXPECT_THAT(BuildError([&] { dequantize(wq, scales, std::nullopt, 64, std::nullopt, "mxfp4"); }),
              ::testing::HasSubstr("mode \"mxfp4\" takes group_size 32 and bits 4."));
  EXPECT_THAT(BuildError([&] {
                dequantize(wq, scales, zeros({2, 2}), std::nullopt, std::nullopt, "mxfp4");
              }),
              ::testing::HasSubstr("takes no biases"));
  EXPECT_THAT(
      BuildError([&] { dequantize(wq, scales, std::nullopt, std::nullopt, std::nullopt, "fp3"); }),
      ::testing::HasSubstr("mode must be"));
  EXPECT_THAT(BuildError([&] {
                dequantize(wq, zeros({2, 2}), std::nullopt, std::nullopt, std::nullopt, "mxfp4");
              }),
              ::testing::HasSubstr("needs uint32 words and uint8 scales"));
  EXPECT_THAT(
      BuildError([&] {
        dequantize(wq, zeros({2, 4}, uint8), std::nullopt, std::nullopt, std::nullopt, "mxfp4");
      }),
      ::testing::HasSubstr("do not fit the quantized matrix"));
  EXPECT_THAT(BuildError([&] {
                quantized_matmul(ones({1, 32}), wq, scales, std::nullopt, true, std::nullopt,
                                 std::nullopt, "mxfp4");
              }),
              ::testing::HasSubstr("x's last dim must be 64"));
}

// The E4M3 code nearest to v (ties to the even code), by searching all of them: the
// definition to_fp8's arithmetic must meet (and MLX 0.32.4's to_fp8 meets, for every
// float16, checked by the same search in Python).
uint8_t NearestE4m3(float v, const std::vector<float>& values) {
  const float a = std::isnan(v) ? 448.0f : std::min(std::fabs(v), 448.0f);
  int best = 0;
  for (int code = 1; code < 127; ++code) {
    const float d = std::fabs(values[code] - a), best_d = std::fabs(values[best] - a);
    if (d < best_d || (d == best_d && code % 2 == 0)) best = code;
  }
  return static_cast<uint8_t>(best | (std::signbit(v) ? 0x80 : 0));  // -NaN too, as MLX
}

TEST(Fp8Test, CodesAreMlxs) {
  // mx.to_fp8 of these, printed by MLX 0.32.4: ties go to even, subnormals from 2^-9,
  // saturation at 448 (NaN too).
  const std::vector<float> x = {0.0f, -0.0f, 1.0f,  1.0625f, 1.125f,   1.1875f, 448,      460,
                                464,  1000,  -1000, NAN,     INFINITY, 0x1p-9f, 0x1p-10f, 0x3p-10f};
  EXPECT_THAT(to_fp8(from_host(x, {16})).to_vector<uint8_t>(),
              ElementsAre(0, 128, 56, 56, 57, 58, 126, 126, 126, 126, 254, 126, 126, 1, 0, 2));
  EXPECT_THAT(
      to_fp8(astype(from_host(std::vector<float>{1, 2}, {2}), float16)).to_vector<uint8_t>(),
      ElementsAre(56, 64));
}

TEST(Fp8Test, EveryCodeRoundTripsAndEveryHalfRoundsToTheNearest) {
  std::vector<uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);
  const std::vector<float> values = from_fp8(from_host(codes, {256}), float32).to_vector<float>();
  EXPECT_EQ(values[56], 1.0f);
  EXPECT_EQ(values[126], 448.0f);
  EXPECT_EQ(values[1], 0x1p-9f);
  EXPECT_TRUE(std::isnan(values[127]) && std::isnan(values[255]));
  // Every finite code comes back as itself.
  std::vector<float> finite;
  std::vector<uint8_t> finite_codes;
  for (int i = 0; i < 256; ++i) {
    if (i == 127 || i == 255) continue;
    finite.push_back(values[i]);
    finite_codes.push_back(static_cast<uint8_t>(i));
  }
  EXPECT_EQ(to_fp8(from_host(finite, {254})).to_vector<uint8_t>(), finite_codes);
  // Every float16, against the definition.
  std::vector<uint16_t> bits(65536);
  for (int i = 0; i < 65536; ++i) bits[i] = static_cast<uint16_t>(i);
  const Array halves = view(from_host(bits, {65536}), float16);
  const std::vector<uint8_t> got = to_fp8(halves).to_vector<uint8_t>();
  std::vector<float> as_float = astype(halves, float32).to_vector<float>();
  int wrong = 0;
  for (int i = 0; i < 65536; ++i) {
    if (got[i] != NearestE4m3(as_float[i], values) && ++wrong <= 5) {
      ADD_FAILURE() << "float16 " << as_float[i] << ": got code " << int{got[i]};
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(from_fp8(from_host(std::vector<uint8_t>{56}, {1}), bfloat16).dtype(), bfloat16);
  EXPECT_THAT(BuildError([] { to_fp8(arange(3, int32)); }),
              HasSubstr("[to_fp8] needs a floating input, got int32."));
  EXPECT_THAT(BuildError([] { from_fp8(arange(3, int32), float32); }),
              HasSubstr("[from_fp8] needs uint8 E4M3 codes, got int32."));
}

}  // namespace
}  // namespace ferry
