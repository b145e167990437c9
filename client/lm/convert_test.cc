// mlx_lm.convert here: each of testdata/convert_mlx.py's conversions (quantized in groups,
// with a mixed recipe, cast, dequantized; a model's own router bits and uncast parameters)
// gives mlx-lm's files: the same config.json, the same index, and every tensor equal to the
// bit. What it saves loads back, and what it refuses is named.

#include "client/lm/convert.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::Runfile;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::string OutDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/convert_" + name;
  fs::remove_all(dir);
  return dir;
}

// convert_mlx.py's cases: the source and mlx_lm.convert's options.
struct Case {
  std::string name, source;
  ConvertOptions options;
};

std::vector<Case> Cases() {
  const std::string tiny = "examples/models/ferry-tiny-llama";
  ConvertOptions q4;
  q4.quantize = true;
  q4.q_group_size = 32;
  ConvertOptions mixed = q4;
  mixed.quant_predicate = "mixed_3_6";
  ConvertOptions f32;
  f32.dtype = "float32";
  ConvertOptions dequantize;
  dequantize.dequantize = true;
  ConvertOptions bf16;
  bf16.dtype = "bfloat16";
  return {{"tiny_q4", tiny, q4},
          {"tiny_mixed_3_6", tiny, mixed},
          {"tiny_float32", tiny, f32},
          {"llama_4bit_dequantized", "client/lm/testdata/llama_4bit", dequantize},
          {"gpt_oss_q4", "client/lm/testdata/gpt_oss", q4},
          {"glm4_moe_bf16", "client/lm/testdata/glm4_moe", bf16},
          {"qwen3_5_moe_bf16", "client/lm/testdata/qwen3_5_moe", bf16}};
}

TEST(Convert, EachConversionWritesMlxLmsFiles) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const std::string out = OutDir(c.name);
    convert(Runfile(c.source), out, c.options);
    const fs::path mlx = Runfile("client/lm/testdata/convert/" + c.name);
    EXPECT_EQ(ReadJson(fs::path(out) / "config.json"), ReadJson(mlx / "config.json"));
    EXPECT_EQ(ReadJson(fs::path(out) / "model.safetensors.index.json"),
              ReadJson(mlx / "model.safetensors.index.json"));
    auto [got, metadata] = load_safetensors((fs::path(out) / "model.safetensors").string());
    EXPECT_EQ(metadata.at("format"), "mlx");
    const auto want = load_safetensors((mlx / "model.safetensors").string()).first;
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [name, value] : want) {
      ASSERT_TRUE(got.count(name)) << name;
      const Array& mine = got.at(name);
      EXPECT_EQ(mine.dtype(), value.dtype()) << name;
      ASSERT_EQ(mine.shape(), value.shape()) << name;
      EXPECT_TRUE(array_equal(mine, value).item<bool>()) << name;
    }
  }
}

TEST(Convert, AConvertedModelLoadsWithItsTokenizer) {
  const std::string out = OutDir("loads");
  ConvertOptions options;
  options.quantize = true;
  options.q_group_size = 32;
  convert(Runfile("examples/models/ferry-tiny-llama"), out, options);
  EXPECT_TRUE(fs::exists(fs::path(out) / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "tokenizer_config.json"));
  auto [model, tokenizer] = load(out);
  ASSERT_TRUE(model->args().quantization.has_value());
  EXPECT_EQ(model->args().quantization->bits, 4);
  const std::vector<int32_t> ids = tokenizer.encode("ferry lets a C++ program");
  const Array tokens = from_host(ids, {1, static_cast<int64_t>(ids.size())});
  // The weights mlx-lm converted give the same logits, to the bit.
  std::unique_ptr<Model> mlx = load_model(Runfile("client/lm/testdata/convert/tiny_q4"));
  EXPECT_TRUE(array_equal((*model)(tokens), (*mlx)(tokens)).item<bool>());
}

TEST(Convert, WhatItCannotDoIsRefusedByName) {
  const std::string tiny = Runfile("examples/models/ferry-tiny-llama");
  auto code_and_message = [&](const std::string& out, ConvertOptions options) {
    try {
      convert(tiny, out, options);
    } catch (const Error& e) {
      return std::make_pair(e.code(), std::string(e.what()));
    }
    return std::make_pair(ErrorCode::kOk, std::string());
  };
  const std::string exists = OutDir("exists");
  fs::create_directories(exists);
  auto [code, message] = code_and_message(exists, {});
  EXPECT_EQ(code, ErrorCode::kAlreadyExists);
  EXPECT_THAT(message, HasSubstr("as it already exists"));
  ConvertOptions both;
  both.quantize = both.dequantize = true;
  std::tie(code, message) = code_and_message(OutDir("both"), both);
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("either quantize or dequantize"));
  ConvertOptions recipe;
  recipe.quantize = true;
  recipe.quant_predicate = "mixed_5_8";
  std::tie(code, message) = code_and_message(OutDir("recipe"), recipe);
  EXPECT_THAT(message, HasSubstr("quant_predicate must be mixed_2_6"));
  ConvertOptions dtype;
  dtype.dtype = "float8";
  std::tie(code, message) = code_and_message(OutDir("dtype"), dtype);
  EXPECT_THAT(message, HasSubstr("dtype must be float16, bfloat16 or float32, got \"float8\""));
}

}  // namespace
}  // namespace ferry::lm
