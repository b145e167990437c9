// Qwen3-Next and Qwen3.5 (their logits and greedy tokens against mlx-lm's are
// arrays_models_mlx_test's): the arrays cache their linear layers keep, its rows moved by
// continuous batching, and what refuses it.

#include "client/lm/qwen3_next.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "client/error.h"
#include "client/fast.h"
#include "client/io.h"
#include "client/lm/batch_generator.h"
#include "client/lm/gated_delta.h"
#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/prompt_cache.h"
#include "client/lm/speculative_generate.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

using ::ferry::testing::ExpectAllClose;
using ::ferry::testing::Failure;

// The routers and the shared experts' gates of qwen3_next_4bit are 8-bit in groups of 64, as
// config.json names them, the other layers 4-bit; the conv1d stays as it was.
TEST(Qwen3NextQuantizedTest, LayersKeepTheirBits) {
  std::unique_ptr<Model> model = load_model(TestData("qwen3_next_4bit"));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : model->parameters()) shapes[name] = array.shape();
  // 64 inputs in 32-bit words: 8 of 4 bits, 16 of 8.
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate.weight"), (Shape{4, 16}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate.scales"), (Shape{4, 1}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.shared_expert_gate.weight"), (Shape{1, 16}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.switch_mlp.gate_proj.weight"), (Shape{4, 32, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.linear_attn.in_proj_qkvz.weight"), (Shape{128, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.linear_attn.conv1d.weight"), (Shape{96, 4, 1}));
}

// Every full_attention_interval-th layer (here 2) keeps keys and values, the others an
// arrays cache of the conv1d's last 3 inputs and the state, for any max_kv_size (mlx-lm's
// make_prompt_cache gives the model's own).
TEST(Qwen3NextCacheTest, LinearLayersKeepArraysCaches) {
  std::unique_ptr<Model> model = load_model(TestData("qwen3_next"));
  for (const std::vector<KVCache>& cache : {model->make_cache(), make_prompt_cache(*model, 64)}) {
    ASSERT_EQ(cache.size(), 4u);
    EXPECT_TRUE(cache[0].is_arrays());
    EXPECT_FALSE(cache[1].is_arrays());
    EXPECT_FALSE(cache[1].max_size().has_value());
    EXPECT_TRUE(cache[2].is_arrays());
    EXPECT_FALSE(cache[3].is_arrays());
  }
  std::vector<KVCache> cache = model->make_cache();
  EXPECT_TRUE(cache[0].empty());
  EXPECT_TRUE(cache[0].state().empty());
  (*model)(reshape(arange(0, 5, int32), {1, 5}), &cache);
  EXPECT_FALSE(cache[0].empty());
  EXPECT_EQ(cache[0].offset(), 5);
  // Conv channels: 2 key heads of 16 for q and k, 4 value heads of 8.
  ASSERT_EQ(cache[0].state().size(), 2u);
  EXPECT_EQ(cache[0].state()[0].shape(), (Shape{1, 3, 2 * 32 + 32}));
  EXPECT_EQ(cache[0].state()[1].shape(), (Shape{1, 4, 8, 16}));
  EXPECT_EQ(cache[0].state()[1].dtype(), float32);
  EXPECT_EQ(cache[0].nbytes(), (3 * 96 + 4 * 8 * 16) * 4);
  EXPECT_EQ(CacheState(cache).size(), 2u + 2u + 2u + 2u);
}

TEST(Qwen3NextCacheTest, AnArraysCacheRefusesWhatItCannotDo) {
  KVCache cache = KVCache::arrays(2);
  cache.set_array(0, zeros({1, 3, 4}));
  cache.advance(3);
  EXPECT_FALSE(cache.is_trimmable());
  EXPECT_EQ(Failure([&] { cache.trim(1); }),
            std::make_pair(ErrorCode::kInvalidArgument,
                           std::string("[KVCache] an arrays cache (a linear-attention layer's "
                                       "state, mlx-lm's ArraysCache) cannot be trimmed: its state "
                                       "holds every token seen.")));
  EXPECT_EQ(cache.offset(), 3);
  EXPECT_EQ(Failure([&] { cache.to_quantized(); }),
            std::make_pair(ErrorCode::kInvalidArgument,
                           std::string("[KVCache] to_quantized takes a cache of keys and values, "
                                       "not an arrays cache (a linear-attention layer's state, "
                                       "mlx-lm's ArraysCache).")));
  EXPECT_EQ(Failure([&] { cache.filter({1}); }).first, ErrorCode::kInvalidArgument);
  // Its state is after all 3 tokens: it cannot give that of 1.
  EXPECT_EQ(Failure([&] { cache.extract(0, 1); }).first, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Failure([&] {
              cache.set_left_padding({0, 1}, default_device());
            }).first,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Failure([&] {
              cache.update_and_fetch(zeros({1, 1, 1, 4}), zeros({1, 1, 1, 4}),
                                     cache.offset_array(default_device()));
            }).first,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Failure([&] { cache.array(2); }).first, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Failure([] { KVCache().array(0); }).first, ErrorCode::kInvalidArgument);
  // maybe_quantize_kv_cache leaves it, as mlx-lm's (it has no to_quantized).
  std::vector<KVCache> caches = {cache, KVCache()};
  maybe_quantize_kv_cache(caches, 0, 64, 4);
  EXPECT_TRUE(caches[0].is_arrays());
  EXPECT_TRUE(caches[1].bits().has_value());
}

// A conversation's cache is left holding the prompt and the tokens given but the last, as a
// fresh prefill of them leaves it, however many steps were in flight past the last token
// read: the linear layers go back to the state they kept for that step. The next turn
// continuing it gets what the whole conversation gets afresh.
TEST(Qwen3NextCacheTest, APromptCacheIsLeftAsTokenGeneratorLeavesIt) {
  std::unique_ptr<Model> model = load_model(TestData("qwen3_next"));
  const std::vector<int32_t> prompt = {5, 17, 2, 40, 9};
  for (int steps_in_flight : {1, 2, 4}) {
    const std::string what = std::to_string(steps_in_flight) + " steps in flight";
    std::vector<KVCache> cache = make_prompt_cache(*model);
    GenerateOptions options;
    options.max_tokens = 20;
    options.steps_in_flight = steps_in_flight;
    options.prompt_cache = &cache;
    std::vector<int32_t> conversation = prompt;
    {
      TokenGenerator generator(*model, prompt, options);
      for (int i = 0; i < 3; ++i) conversation.push_back(generator.next()->token);
    }  // stopped with steps sent past the third token
    ASSERT_EQ(cache.size(), 4u) << what;
    const int32_t last = conversation.back();
    conversation.pop_back();
    EXPECT_EQ(cache[0].offset(), 5 + 2) << what;
    EXPECT_EQ(testing::CacheDifference(cache, testing::Prefilled(*model, conversation)), "")
        << what;
    std::vector<int32_t> other = conversation;  // the state tells another last token apart
    other.back() = (other.back() + 1) % 300;
    EXPECT_NE(testing::CacheDifference(cache, testing::Prefilled(*model, other)), "") << what;
    options.max_tokens = 4;
    const std::vector<int32_t> next_turn = {last, 8, 13};
    const std::vector<int32_t> continued = testing::Alone(*model, next_turn, options);
    conversation.insert(conversation.end(), next_turn.begin(), next_turn.end());
    EXPECT_EQ(continued, testing::Alone(*model, conversation, 4)) << what;
  }
}

// keep_steps: an arrays cache keeps its states after its last few advances, moved with its
// rows by a batch and carried by extract, and trim() goes back to one of them; past them it
// refuses, as an arrays cache keeping none does.
TEST(Qwen3NextCacheTest, AnArraysCacheGoesBackToTheStepsItKept) {
  auto Slot = [](const KVCache& c) {
    Array a = *c.array(0);
    return a.to_vector<float>();
  };
  auto step = [](KVCache& c, const std::vector<float>& rows) {
    c.set_array(0, from_host(rows, {static_cast<int64_t>(rows.size()), 1}));
    c.advance(1);
  };
  KVCache cache = KVCache::arrays(1);
  cache.set_left_padding({0, 1}, default_device());
  cache.keep_steps(2);
  step(cache, {1, 10});
  step(cache, {2, 20});
  step(cache, {3, 30});
  EXPECT_EQ(cache.trim(0), 0);
  EXPECT_EQ(Slot(cache), (std::vector<float>{3, 30}));
  // A row joins: in the states kept before, it is as it joins.
  KVCache joining = KVCache::arrays(1);
  joining.set_array(0, full({1, 1}, 7.0f));
  joining.advance(1);
  cache.extend(joining);
  step(cache, {4, 40, 77});
  // Row 1 leaves: rows 0 and 2 stay, in every kept state.
  cache.filter({0, 2});
  EXPECT_EQ(Slot(cache), (std::vector<float>{4, 77}));
  KVCache row = cache.extract(0, 4);
  EXPECT_EQ(row.trim(2), 2);  // two steps back: after its second token
  EXPECT_EQ(row.offset(), 2);
  EXPECT_EQ(Slot(row), (std::vector<float>{2}));
  KVCache joined = cache.extract(1, 2);  // its token before joining and one step
  EXPECT_EQ(Slot(joined), (std::vector<float>{77}));
  EXPECT_EQ(joined.trim(1), 1);
  EXPECT_EQ(Slot(joined), (std::vector<float>{7}));
  EXPECT_EQ(cache.trim(1), 1);
  EXPECT_EQ(Slot(cache), (std::vector<float>{3, 7}));
  // Only the steps kept: not three back from here.
  EXPECT_EQ(Failure([&] { cache.trim(3); }),
            std::make_pair(ErrorCode::kInvalidArgument,
                           std::string("[KVCache] an arrays cache keeps the states of its last 2 "
                                       "steps (keep_steps), none after 0 of its 3 tokens: it "
                                       "cannot forget 3.")));
  cache.keep_steps(0);
  EXPECT_EQ(Failure([&] { cache.trim(1); }).first, ErrorCode::kInvalidArgument);
}

// nbytes counts the states kept for steps in flight (a prompt cache's budget holds them),
// each array once.
TEST(Qwen3NextCacheTest, AnArraysCachesBytesCountTheStepsItKept) {
  KVCache cache = KVCache::arrays(2);
  cache.set_array(0, full({2, 3}, 1.0f));  // 24 bytes, never replaced
  cache.keep_steps(2);
  for (int step = 0; step < 4; ++step) {
    cache.set_array(1, full({2, 5}, static_cast<float>(step)));  // 40 bytes a step
    cache.advance(1);
  }
  EXPECT_EQ(cache.nbytes(), 24 + 3 * 40);  // the current state and the two kept before it
  cache.keep_steps(0);
  EXPECT_EQ(cache.nbytes(), 24 + 40);
}

// PromptCache takes a kept cache whose tokens the prompt continues, but cuts none of a
// linear layer's state back to a shared beginning: a fresh cache then.
TEST(Qwen3NextCacheTest, APromptCacheReusesOnlyWholeConversations) {
  std::unique_ptr<Model> model = load_model(TestData("qwen3_next"));
  PromptCache kept(*model, 2);
  std::vector<KVCache> cache = model->make_cache();
  (*model)(reshape(from_host<int32_t>({1, 2, 3, 4}, {4}), {1, 4}), &cache);
  kept.Put({1, 2, 3, 4}, std::move(cache));
  auto [shared, shared_length] = kept.Take({1, 2, 9, 9});
  EXPECT_EQ(shared_length, 0);
  EXPECT_TRUE(shared[0].empty());
  EXPECT_EQ(kept.size(), 1);
  auto [continued, continued_length] = kept.Take({1, 2, 3, 4, 5, 6});
  EXPECT_EQ(continued_length, 4);
  EXPECT_EQ(continued[0].offset(), 4);
  EXPECT_EQ(kept.size(), 0);
}

// A batch moves an arrays cache's rows as mlx-lm's ArraysCache: padding counted in columns
// as the other caches count it, masked (arrays_mask) until every row's has passed, so a
// decode step once prefilled takes no mask; a row's state is its own, whatever its column.
TEST(Qwen3NextCacheTest, ABatchMovesAnArraysCachesRows) {
  const std::unique_ptr<Model> model = load_model(TestData("qwen3_5"));
  EXPECT_TRUE(batchable(*model));
  auto Slot = [](const KVCache& c, int i) {
    Array a = *c.array(i);
    return a.to_vector<float>();
  };
  KVCache cache = KVCache::arrays(2);
  cache.set_left_padding({2, 0}, default_device());
  EXPECT_EQ(cache.rows(), 2);
  ASSERT_TRUE(cache.arrays_mask(3).has_value());
  EXPECT_EQ(astype(*cache.arrays_mask(3), int32).to_vector<int32_t>(),
            (std::vector<int32_t>{0, 0, 1, 1, 1, 1}));
  cache.set_array(0, reshape(astype(arange(0, 6), float32), {2, 3, 1}));
  cache.set_array(1, reshape(astype(arange(10, 12), float32), {2, 1}));
  cache.advance(3);
  EXPECT_FALSE(cache.arrays_mask(1).has_value());  // a decode step
  // Row 0 saw 1 token (2 columns of padding), row 1 all 3.
  const KVCache first = cache.extract(0, 1);
  EXPECT_EQ(first.offset(), 1);
  EXPECT_EQ(Slot(first, 0), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(Slot(first, 1), (std::vector<float>{10}));
  EXPECT_EQ(Failure([&] { cache.extract(0, 3); }).first, ErrorCode::kInvalidArgument);
  // A fresh row joins, right-aligned: 2 columns of padding, then 1 token of its own.
  KVCache joining = KVCache::arrays(2);
  joining.set_array(1, full({1, 1}, 20.0f));
  joining.advance(1);
  cache.extend(joining);
  EXPECT_EQ(cache.left_padding(), (std::vector<int32_t>{2, 0, 2}));
  EXPECT_EQ(cache.offset(), 3);
  EXPECT_EQ(Slot(cache, 0), (std::vector<float>{0, 1, 2, 3, 4, 5, 0, 0, 0}));  // never set: zeros
  EXPECT_EQ(Slot(cache, 1), (std::vector<float>{10, 11, 20}));
  cache.filter({1, 2});
  EXPECT_EQ(cache.rows(), 2);
  EXPECT_EQ(Slot(cache, 1), (std::vector<float>{11, 20}));
  EXPECT_EQ(Slot(cache.extract(1, 1), 1), (std::vector<float>{20}));
  EXPECT_EQ(Failure([&] { cache.extend(KVCache()); }).first, ErrorCode::kInvalidArgument);
}

// Speculative decoding cannot trim the linear layers' state: it refuses before generating.
TEST(Qwen3NextCacheTest, SpeculativeDecodingRefusesIt) {
  std::unique_ptr<Model> model = load_model(TestData("qwen3_5"));
  std::unique_ptr<Model> draft = load_model(TestData("qwen3_next"));
  GenerateOptions options;
  options.draft_model = draft.get();
  const auto [code, message] = Failure([&] {
    SpeculativeGenerator generator(*model, {1, 2, 3}, options);
  });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("cannot be trimmed"), std::string::npos) << message;
}

TEST(Qwen3NextArgsTest, ConfigsAreReadAsMlxLmReadsThem) {
  // Qwen3.5's defaults, and RoPE from rope_parameters (its default when absent).
  const ModelArgs qwen35 = ModelArgs::from_json(R"({"model_type": "qwen3_5",
      "text_config": {"rope_theta": 7}})");
  EXPECT_EQ(qwen35.hidden_size, 4096);
  EXPECT_EQ(qwen35.head_dim, 128);
  EXPECT_EQ(qwen35.linear_num_value_heads, 64);
  EXPECT_EQ(qwen35.linear_key_head_dim, 192);
  EXPECT_EQ(qwen35.full_attention_interval, 4);
  EXPECT_FLOAT_EQ(qwen35.rope_theta, 100000.0f);
  EXPECT_FLOAT_EQ(qwen35.partial_rotary_factor, 0.25f);
  EXPECT_TRUE(qwen35.norm_topk_prob);
  EXPECT_FALSE(qwen35.tie_word_embeddings);
  // Qwen3-Next's sizes are required, as in mlx-lm's dataclass.
  EXPECT_EQ(Failure([] { ModelArgs::from_json(R"({"model_type": "qwen3_next"})"); }),
            std::make_pair(ErrorCode::kInvalidArgument,
                           std::string("[ModelArgs] config.json lacks \"hidden_size\".")));
  const ModelArgs next = ModelArgs::from_directory(TestData("qwen3_next"));
  EXPECT_EQ(next.linear_num_key_heads, 2);
  EXPECT_EQ(next.mlp_only_layers, std::vector<int>{1});
  EXPECT_FALSE(next.norm_topk_prob);
  EXPECT_EQ(Failure([] {
              ModelArgs::from_json(R"({"model_type": "qwen3_5", "text_config": {
                  "linear_num_value_heads": 6, "linear_num_key_heads": 4}})");
            }).first,
            ErrorCode::kInvalidArgument);
}

// mlx-lm's sanitize of a Hugging Face checkpoint: conv1d weights (C, 1, K) to (C, K, 1) and
// the norms' weight - 1 back to weight; the gated norm is stored as it is.
TEST(Qwen3NextSanitizeTest, ConvWeightsMoveAndNormsShift) {
  const nn::Parameters out =
      sanitize_conv_and_norms({{"model.layers.0.linear_attn.conv1d.weight", zeros({6, 1, 4})},
                               {"model.layers.0.input_layernorm.weight", zeros({2})},
                               {"model.layers.3.self_attn.q_norm.weight", zeros({2})},
                               {"model.norm.weight", zeros({2})},
                               {"model.layers.0.linear_attn.norm.weight", zeros({2})}},
                              /*shift_norms=*/true);
  EXPECT_EQ(out[0].second.shape(), (Shape{6, 4, 1}));
  for (int i : {1, 2, 3}) ExpectAllClose(out[i].second, ones({2}), 0, 0, out[i].first);
  ExpectAllClose(out[4].second, zeros({2}), 0, 0, out[4].first);
}

// The recurrence on a hand-worked case: one head, Dk = Dv = 1. With g = 1/2 and beta = 1,
// each step decays S by half and then sets S k = v: S = v / k, y = S q.
TEST(GatedDeltaTest, TheStateFollowsTheDeltaRule) {
  const Array q = reshape(from_host<float>({1, 2}, {2}), {1, 2, 1, 1});
  const Array k = reshape(from_host<float>({2, 4}, {2}), {1, 2, 1, 1});
  const Array v = reshape(from_host<float>({3, 5}, {2}), {1, 2, 1, 1});
  const Array g = full({1, 2, 1}, 0.5);
  const Array beta = ones({1, 2, 1});
  auto [y, state] = fast::gated_delta_update(q, k, v, g, beta, zeros({1, 1, 1, 1}));
  // Step 1: S = 0, delta = 3 - 0 S = 3, S = 0 + 2 * 3 = 6, y = 6 * 1. Step 2: S = 3,
  // delta = 5 - 4 S = -7, S = 3 + 4 * -7 = -25, y = -25 * 2.
  ExpectAllClose(y, reshape(from_host<float>({6, -50}, {2}), {1, 2, 1, 1}), 1e-6, 1e-6, "y");
  ExpectAllClose(state, full({1, 1, 1, 1}, -25.0), 1e-6, 1e-6, "state");
  // A masked step leaves the state as it was.
  const Array mask = greater(reshape(from_host<float>({1, 0}, {2}), {1, 2}), 0.5);
  std::tie(y, state) = fast::gated_delta_update(q, k, v, g, beta, zeros({1, 1, 1, 1}), mask);
  ExpectAllClose(state, full({1, 1, 1, 1}, 6.0), 1e-6, 1e-6, "masked state");
}

}  // namespace
}  // namespace ferry::lm
