// Prompt cache files both ways with mlx-lm 0.32.2 (testdata/prompt_cache_mlx.py): a file
// save_prompt_cache wrote loads here and the model goes on from it as mlx-lm's did (plain,
// quantized, rotating, chunked and arrays caches, and Falcon-H1's lists of both); the file
// written here holds mlx-lm's state, and loads back to the same continuation.

#include "client/lm/prompt_cache_file.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;
using ::testing::HasSubstr;

constexpr double kTolerance = 2e-4;
const std::vector<int32_t> kPrompt = {3, 17, 5, 42, 8, 11, 29, 2, 33, 7, 19, 4, 25};

const std::unordered_map<std::string, Array>& Fixture() {
  static const auto* fixture = new std::unordered_map<std::string, Array>(
      load_safetensors(TestData("prompt_cache_mlx.safetensors")).first);
  return *fixture;
}

std::string ModelOf(const std::string& c) { return c == "llama_quantized" ? "llama_hd64" : c; }

std::string TempFile(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name + ".safetensors";
}

// The logits of the fixture's next tokens, fed a token at a time from `cache`.
Array Continue(Model& model, std::vector<KVCache>& cache, const std::string& c) {
  std::vector<Array> logits;
  for (int32_t token : Array(Fixture().at(c + ".next")).to_vector<int32_t>()) {
    logits.push_back(model(from_host(std::vector<int32_t>{token}, {1, 1}), &cache));
  }
  return concatenate(logits, 1);
}

// The caches a prefill of the prompt leaves, as the fixture made them.
std::vector<KVCache> Prefilled(Model& model, const std::string& c) {
  std::vector<KVCache> cache = make_prompt_cache(model);
  model(from_host(kPrompt, {1, static_cast<int64_t>(kPrompt.size())}), &cache);
  if (c == "llama_quantized") {
    for (KVCache& layer : cache) layer = layer.to_quantized(32, 4);
  }
  eval(CacheState(cache));
  return cache;
}

class PromptCacheFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PromptCacheFileTest, AnMlxLmFileContinuesAsMlxLmDid) {
  const std::string c = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(ModelOf(c)));
  auto [cache, metadata] = load_prompt_cache(TestData("prompt_cache/" + c + ".safetensors"));
  EXPECT_EQ(metadata.at("model"), ModelOf(c));
  ASSERT_EQ(cache.size(), make_prompt_cache(*model).size());
  for (const KVCache& layer : cache) EXPECT_EQ(layer.offset(), 13);  // arrays: the others'

  ExpectAllClose(Continue(*model, cache, c), Fixture().at(c + ".next_logits"), kTolerance,
                 kTolerance, c);
}

TEST_P(PromptCacheFileTest, AFileWrittenHereHoldsMlxLmsStateAndLoadsBack) {
  const std::string c = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(ModelOf(c)));
  const std::string path = TempFile(c);
  save_prompt_cache(path, Prefilled(*model, c), {{"model", ModelOf(c)}});
  auto [mine, my_metadata] = load_safetensors(path);
  auto [theirs, their_metadata] = load_safetensors(TestData("prompt_cache/" + c + ".safetensors"));
  // The class names, the scalars' list and the metadata; the arrays mlx-lm's (a rotating
  // layer's as mlx-lm's next step trims them: the window's positions in time order).
  EXPECT_EQ(my_metadata, their_metadata);
  ASSERT_EQ(mine.size(), theirs.size());
  for (const auto& [name, want] : theirs) {
    const Array& got = mine.at(name);
    const std::string layer = name.substr(0, name.find('.'));
    const std::string type = their_metadata.at("1." + layer);
    const bool ring = type == "RotatingKVCache" || type == "ChunkedKVCache";
    const int64_t held = ring ? mine.at(layer + ".0").shape(2) : 0;  // positions the ring holds
    if (type == "RotatingKVCache" && name == layer + ".5") {
      // _idx: after the positions held, mlx-lm's the prefill's whole chunk.
      EXPECT_EQ(Array(got).item<int32_t>(), held) << name;
    } else if (type == "ChunkedKVCache" && name == layer + ".4") {
      // start_position: the first position held, mlx-lm's its first not yet trimmed.
      EXPECT_EQ(Array(got).item<int32_t>(), 13 - held) << name;
    } else if (type == "ChunkedKVCache" && got.shape() != want.shape()) {
      // mlx-lm's buffer holds position start_position + i at index i.
      const int64_t at = 13 - held - Array(theirs.at(layer + ".4")).item<int32_t>();
      Shape start(4, 0), stop = want.shape();
      start[2] = at;
      stop[2] = at + held;
      ExpectAllClose(got, slice(want, start, stop), kTolerance, kTolerance, c + " " + name);
    } else if (got.shape() == want.shape()) {
      ExpectAllClose(got, want, kTolerance, kTolerance, c + " " + name);
    } else {
      const int64_t n = got.shape(2);
      Shape start(4, 0), stop = want.shape();
      start[2] = want.shape(2) - n;
      ExpectAllClose(got, slice(want, start, stop), kTolerance, kTolerance, c + " " + name);
    }
  }
  auto [cache, metadata] = load_prompt_cache(path);
  ExpectAllClose(Continue(*model, cache, c), Fixture().at(c + ".next_logits"), kTolerance,
                 kTolerance, c + " reloaded");
}

INSTANTIATE_TEST_SUITE_P(Caches, PromptCacheFileTest,
                         ::testing::Values("llama", "llama_quantized", "gemma3_text", "qwen3_next",
                                           "llama4", "falcon_h1"),
                         [](const auto& info) { return info.param; });

TEST(PromptCacheFile, WhatIsNotAPromptCacheIsRefusedByName) {
  try {
    load_prompt_cache(TestData("llama/model.safetensors"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("names no cache classes"));
  }
  std::unique_ptr<Model> model = load_model(TestData("llama"));
  std::vector<KVCache> batch = make_prompt_cache(*model);
  (*model)(zeros({2, 3}, int32), &batch);
  try {
    save_prompt_cache(TempFile("batch"), batch);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("a batch's cache"));
  }
}

}  // namespace
}  // namespace ferry::lm
