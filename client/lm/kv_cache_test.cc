// KVCache's sliding window: a windowed cached decode attends as the whole sequence does under
// the window mask, the window combines with left padding, and a Gemma 3 model decoding with
// its cache (prefilled in chunks, growing past 256 positions) predicts what it computes over
// the whole sequence at once.

#include "client/lm/kv_cache.h"

#include <string>
#include <vector>

#include "client/fast.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::BuildError;
using ::ferry::testing::ExpectAllClose;

// Query i sees key j when j <= i < j + window (mlx-lm's create_causal_mask).
Array WindowMask(int64_t length, int64_t window) {
  std::vector<bool> visible;
  for (int64_t i = 0; i < length; ++i) {
    for (int64_t j = 0; j < length; ++j) visible.push_back(j <= i && i < j + window);
  }
  return from_host(visible, {length, length});
}

TEST(KVCacheTest, AWindowedCachedDecodeIsTheWholeSequencesAttention) {
  const int64_t length = 20, window = 5;
  const Array q = random::normal({1, 4, length, 8}, float32, 0, 1, random::key(1));
  const Array k = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(2));
  const Array v = random::normal({1, 2, length, 8}, float32, 0, 1, random::key(3));
  const Array want =
      fast::scaled_dot_product_attention(q, k, v, 0.5f, "", WindowMask(length, window));
  KVCache cache;
  // A prefill of 7 (past the window), a chunk of 3, then one position at a time.
  std::vector<int64_t> chunks = {7, 3};
  chunks.resize(12, 1);
  int64_t start = 0;
  for (int64_t n : chunks) {
    auto rows = [&](const Array& a) {
      return slice(a, {0, 0, start, 0}, {1, a.shape(1), start + n, 8});
    };
    const Array position = cache.offset_array(default_device());
    const Array mask = cache.make_mask(n, position, window);
    EXPECT_EQ(mask.shape(), (Shape{n, 256}));  // one graph per step until the cache grows
    const auto [keys, values] = cache.update_and_fetch(rows(k), rows(v), position);
    ExpectAllClose(fast::scaled_dot_product_attention(rows(q), keys, values, 0.5f, "", mask),
                   rows(want), 1e-5, 1e-5, "positions from " + std::to_string(start));
    start += n;
  }
  EXPECT_EQ(start, length);
}

TEST(KVCacheTest, TheWindowCombinesWithLeftPadding) {
  const int64_t length = 6, window = 3;
  const std::vector<int32_t> padding = {2, 0};
  KVCache cache;
  cache.set_left_padding(padding, default_device());
  const Array mask = cache.make_mask(length, cache.offset_array(default_device()), window);
  ASSERT_EQ(mask.shape(), (Shape{2, 1, length, 256}));
  const std::vector<int32_t> got = astype(mask, int32).to_vector<int32_t>();
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < length; ++i) {
      for (int64_t j = 0; j < 256; ++j) {
        const bool want = j <= i && i < j + window && (j >= padding[b] || j == i);
        EXPECT_EQ(got[(b * length + i) * 256 + j] != 0, want)
            << "row " << b << ", " << i << ", " << j;
      }
    }
  }
}

// Continuous batching's moves: extend right-aligns two caches (the shorter padded on the
// left), filter keeps rows and drops whole steps of padding they all share, extract gives
// a row's own positions back; RoPE then puts each row at its own count of tokens.
TEST(KVCacheTest, ExtendFilterAndExtractMoveRowsWithTheirPositions) {
  auto filled = [](int64_t length, uint64_t seed) {
    KVCache cache;
    const Array k = random::normal({1, 2, length, 4}, float32, 0, 1, random::key(seed));
    cache.update_and_fetch(k, k * 2.0f, cache.offset_array(default_device()));
    return std::make_pair(cache, k);
  };
  auto [batch, short_keys] = filled(5, 1);
  auto [other, long_keys] = filled(300, 2);
  batch.extend(other);
  EXPECT_EQ(batch.rows(), 2);
  EXPECT_EQ(batch.offset(), 300);
  EXPECT_EQ(batch.capacity(), 512);
  EXPECT_EQ(batch.left_padding(), (std::vector<int32_t>{295, 0}));
  const Array position = batch.offset_array(default_device());
  EXPECT_EQ(batch.rope_offset(position).to_vector<int32_t>(), (std::vector<int32_t>{5, 300}));
  EXPECT_EQ(batch.extract(0, 5).state()[0].to_vector<float>(), short_keys.to_vector<float>());
  EXPECT_EQ(batch.extract(1, 300).state()[1].to_vector<float>(),
            (long_keys * 2.0f).to_vector<float>());
  // The long row leaves: the short one's 295 positions of padding lose one whole step.
  batch.filter({0});
  EXPECT_EQ(batch.rows(), 1);
  EXPECT_EQ(batch.offset(), 44);
  EXPECT_EQ(batch.capacity(), 256);
  EXPECT_EQ(batch.left_padding(), (std::vector<int32_t>{39}));
  EXPECT_EQ(batch.extract(0, 5).state()[0].to_vector<float>(), short_keys.to_vector<float>());
  EXPECT_NE(BuildError([&] { batch.extract(0, 6); }).find("row 0 does not hold 6 positions"),
            std::string::npos);
  EXPECT_NE(BuildError([&] { batch.filter({1}); }).find("row 1 is not among the 1 rows"),
            std::string::npos);
}

TEST(KVCacheTest, AGemma3CachedDecodeIsTheWholeSequencesPrediction) {
  random::seed(4);
  std::unique_ptr<Model> model = make_model(ModelArgs::from_json(R"({
    "model_type": "gemma3_text", "hidden_size": 32, "num_hidden_layers": 4,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "vocab_size": 50, "sliding_window": 6, "sliding_window_pattern": 2,
    "query_pre_attn_scalar": 8})"));
  // 250 prompt tokens in chunks of 100, then 12 steps: the cache grows from 256 to 512.
  const std::vector<int32_t> prompt =
      astype(random::randint(0, 50, {250}, int32, random::key(9)), int32).to_vector<int32_t>();
  GenerateOptions options;
  options.max_tokens = 12;
  options.prefill_step_size = 100;
  TokenGenerator generator(*model, prompt, options);
  std::vector<int32_t> sequence = prompt;
  std::vector<Array> logprobs;
  while (std::optional<GenerationStep> step = generator.next()) {
    sequence.push_back(step->token);
    logprobs.push_back(step->logprobs);
  }
  ASSERT_EQ(logprobs.size(), 12u);
  const int64_t n = static_cast<int64_t>(sequence.size()) - 1;
  const Array logits =
      (*model)(from_host(std::vector<int32_t>(sequence.begin(), sequence.end() - 1), {1, n}));
  for (int64_t i = 0; i < 12; ++i) {
    const Array row = reshape(slice(logits, {0, 249 + i, 0}, {1, 250 + i, 50}), {50});
    ExpectAllClose(logprobs[static_cast<size_t>(i)], row - logsumexp(row), 1e-4, 1e-5,
                   "step " + std::to_string(i));
  }
}

}  // namespace
}  // namespace ferry::lm
