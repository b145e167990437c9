// Continuous batching: sequences that join a running batch at any step, leave it at their
// own end or when removed, and carry their own sampler, seed, logits processors and cache
// each get the tokens they would get alone, for dense, grouped-query, q/k-normalized,
// mixture-of-experts, sliding-window (Gemma 3, gpt-oss) and gated-delta-net (Qwen3-Next,
// Qwen3.5) models; the sliding layers keep rings of their window (max_kv_size: every layer),
// bounded however long the rows run, and the tokens are mlx-lm's BatchGenerator's
// (testdata/lm_batch_rotating_mlx.py, lm_batch_qwen3_next_mlx.py).

#include "client/lm/batch_generator.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::BuildError;

using ::ferry::testing::Runfile;
using testing::Alone;
using testing::RandomTokens;

std::unique_ptr<Model> Llama() { return testing::TinyLlama(); }

// Runs the generator to its end, `join` inserting more sequences before given calls of
// next(); each sequence's tokens by uid, checking each comes with its uid in order and the
// last (only) with a finish reason.
// `check` sees the generator and each call's generations.
using Check = std::function<void(const BatchGenerator&, const std::vector<BatchGeneration>&)>;
std::map<uint64_t, std::vector<int32_t>> RunAll(
    BatchGenerator& generator, const std::map<int, std::vector<BatchSequence>>& join,
    std::map<uint64_t, std::string>* finish = nullptr, const Check& check = nullptr) {
  std::map<uint64_t, std::vector<int32_t>> tokens;
  std::map<uint64_t, std::string> reasons;
  for (int call = 0; generator.size() > 0 || join.count(call) > 0; ++call) {
    if (auto it = join.find(call); it != join.end()) {
      for (const BatchSequence& sequence : it->second) generator.insert(sequence);
    }
    const std::vector<BatchGeneration> generations = generator.next();
    if (check) check(generator, generations);
    for (const BatchGeneration& generation : generations) {
      EXPECT_EQ(reasons.count(generation.uid), 0u) << "a token after the last: " << generation.uid;
      tokens[generation.uid].push_back(generation.token);
      if (!generation.finish_reason.empty()) reasons[generation.uid] = generation.finish_reason;
    }
    EXPECT_LT(call, 1000) << "never ends";
    if (call >= 1000) break;
  }
  EXPECT_EQ(reasons.size(), tokens.size());
  if (finish) *finish = reasons;
  return tokens;
}

// The batch's caches, and those a finished sequence returns, are make_prompt_cache's: a
// sliding layer's a ring of its window (its memory bounded however long the rows run), a
// global layer's plain.
void ExpectCachesBounded(const Model& model, const std::vector<KVCache>& cache,
                         const std::string& what) {
  for (size_t i = 0; i < cache.size(); ++i) {
    const std::optional<int64_t> window = model.sliding_window(static_cast<int>(i));
    EXPECT_EQ(cache[i].max_size(), window) << what << ", layer " << i;
    if (window) {
      EXPECT_LE(cache[i].capacity(), *window) << what << ", layer " << i;
    }
  }
}

void ExpectEachAsAlone(Model& model, int vocab, const std::string& name) {
  const int lengths[] = {5, 17, 1, 9, 30, 2};
  for (int steps_in_flight : {1, 3}) {
    BatchGeneratorOptions options;
    options.prefill_step_size = 4;  // prompts in chunks
    options.steps_in_flight = steps_in_flight;
    options.completion_batch_size = 4;  // the last two wait for a place
    BatchGenerator generator(model, options);
    // Two at the start, one at the third call, three more at the fifth: rows join a batch
    // already decoding, shorter and longer than what it holds.
    std::map<int, std::vector<BatchSequence>> join;
    std::vector<std::vector<int32_t>> prompts;
    const int at[] = {0, 0, 2, 4, 4, 4};
    for (int i = 0; i < 6; ++i) {
      BatchSequence sequence;
      sequence.prompt = RandomTokens(lengths[i], vocab, 100 + i);
      sequence.max_tokens = 6 + 2 * i;
      sequence.return_cache = true;
      prompts.push_back(sequence.prompt);
      join[at[i]].push_back(sequence);
    }
    std::map<uint64_t, std::string> finish;
    int64_t most = 0;  // positions a row held, past the window for a sliding model
    const auto tokens = RunAll(
        generator, join, &finish,
        [&](const BatchGenerator& g, const std::vector<BatchGeneration>& generations) {
          ExpectCachesBounded(model, g.cache(), name + "'s batch");
          if (!g.cache().empty()) most = std::max(most, g.cache().front().offset());
          for (const BatchGeneration& generation : generations) {
            if (generation.finish_reason.empty()) continue;
            EXPECT_EQ(static_cast<int>(generation.cache.size()), model.args().num_hidden_layers)
                << name;
            ExpectCachesBounded(model, generation.cache, name + "'s returned");
          }
        });
    EXPECT_GT(most, 30) << name;
    ASSERT_EQ(tokens.size(), 6u) << name;
    for (uint64_t uid = 0; uid < 6; ++uid) {
      GenerateOptions alone;
      alone.max_tokens = 6 + 2 * static_cast<int>(uid);
      EXPECT_EQ(tokens.at(uid), Alone(model, prompts[uid], alone))
          << name << ", sequence " << uid << " of " << prompts[uid].size() << " tokens, "
          << steps_in_flight << " steps in flight";
      EXPECT_EQ(finish.at(uid), "length");
    }
    // Never more than completion_batch_size at once; long prompts (in chunks of 4) join
    // later than short ones.
    EXPECT_LE(generator.largest_batch(), 4) << name;
    EXPECT_GE(generator.largest_batch(), 3) << name;
  }
}

TEST(BatchGeneratorTest, SequencesJoiningARunningBatchGetTheirTokensAlone) {
  ExpectEachAsAlone(*Llama(), 60, "llama");
  random::seed(6);
  std::unique_ptr<Model> qwen3 = make_model(ModelArgs::from_json(R"({
    "model_type": "qwen3", "hidden_size": 32, "num_hidden_layers": 2, "head_dim": 16,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 1,
    "rms_norm_eps": 1e-6, "vocab_size": 60, "tie_word_embeddings": false})"));
  ExpectEachAsAlone(*qwen3, 60, "qwen3");
  std::unique_ptr<Model> mixtral = load_model(Runfile("client/lm/testdata/mixtral"));
  ExpectEachAsAlone(*mixtral, static_cast<int>(mixtral->args().vocab_size), "mixtral");
  // Sliding-window layers (a window of 8) and two RoPE bases.
  std::unique_ptr<Model> gemma3 = load_model(Runfile("client/lm/testdata/gemma3_text"));
  ExpectEachAsAlone(*gemma3, static_cast<int>(gemma3->args().vocab_size), "gemma3_text");
  // Soft-capped attention; fused projections and partial RoPE; sinks, yarn and mxfp4 experts.
  for (const char* name : {"gemma2", "phi3", "gpt_oss_mxfp4"}) {
    std::unique_ptr<Model> model = load_model(Runfile(std::string("client/lm/testdata/") + name));
    ExpectEachAsAlone(*model, static_cast<int>(model->args().vocab_size), name);
  }
  ExpectEachAsAlone(*load_model(Runfile("client/lm/testdata/deepseek_v3")), 300, "deepseek_v3");
  // GLM-4.5's router; SmolLM3's layers without positions; OLMo 3's post-norms and sliding
  // layers (a window of 6).
  ExpectEachAsAlone(*load_model(Runfile("client/lm/testdata/glm4_moe")), 300, "glm4_moe");
  for (const char* name : {"smollm3_layers", "olmo3"}) {
    ExpectEachAsAlone(*load_model(Runfile(std::string("client/lm/testdata/") + name)), 96, name);
  }
  // Gated delta nets beside full attention: each row's conv and recurrent state in an arrays
  // cache, its left padding masked out of both.
  for (const char* name : {"qwen3_next", "qwen3_5"}) {
    std::unique_ptr<Model> model = load_model(Runfile(std::string("client/lm/testdata/") + name));
    ExpectEachAsAlone(*model, 300, name);
  }
}

// A batch's cache grows past its first 256 positions, and a long prompt joining a batch of
// short ones (and leaving it) moves every row's positions in the cache (and turns the rings
// of Gemma 3's sliding layers, which stay the window's size).
void RowsKeepTheirTokensAcrossGrowthAndLongNeighbours(Model& model, const std::string& name) {
  BatchGeneratorOptions options;
  options.steps_in_flight = 2;
  BatchGenerator generator(model, options);
  std::map<int, std::vector<BatchSequence>> join;
  std::vector<std::vector<int32_t>> prompts;
  const int lengths[] = {3, 300, 7};
  const int max_tokens[] = {280, 4, 20};
  const int at[] = {0, 5, 30};
  for (int i = 0; i < 3; ++i) {
    BatchSequence sequence;
    sequence.prompt = RandomTokens(lengths[i], 60, 200 + i);
    sequence.max_tokens = max_tokens[i];
    prompts.push_back(sequence.prompt);
    join[at[i]].push_back(sequence);
  }
  const auto tokens = RunAll(generator, join, nullptr,
                             [&](const BatchGenerator& g, const std::vector<BatchGeneration>&) {
                               ExpectCachesBounded(model, g.cache(), name);
                             });
  for (uint64_t uid = 0; uid < 3; ++uid) {
    GenerateOptions alone;
    alone.max_tokens = max_tokens[uid];
    EXPECT_EQ(tokens.at(uid), Alone(model, prompts[uid], alone)) << name << ", sequence " << uid;
  }
}

TEST(BatchGeneratorTest, RowsKeepTheirTokensAcrossGrowthAndLongNeighbours) {
  for (const char* name : {"llama", "gemma3_text"}) {
    std::unique_ptr<Model> model = std::string(name) == "llama"
                                       ? Llama()
                                       : load_model(Runfile("client/lm/testdata/gemma3_text"));
    RowsKeepTheirTokensAcrossGrowthAndLongNeighbours(*model, name);
  }
}

// A long prompt is prefilled a chunk per step while the batch decodes: the sequences
// running keep getting a token per call meanwhile. One removed while its prompt is prefilled
// never joins.
TEST(BatchGeneratorTest, ALongPromptIsPrefilledBetweenTheRunningSequencesSteps) {
  std::unique_ptr<Model> model = Llama();
  BatchGeneratorOptions options;
  options.prefill_step_size = 4;
  BatchGenerator generator(*model, options);
  BatchSequence running{RandomTokens(3, 60, 600), 40};
  BatchSequence long_prompt{RandomTokens(41, 60, 601), 5};  // 10 chunks of 4
  BatchSequence left{RandomTokens(41, 60, 602), 5};
  const uint64_t a = generator.insert(running);
  std::map<uint64_t, std::vector<int32_t>> tokens;
  auto call = [&] {
    for (const BatchGeneration& generation : generator.next()) {
      tokens[generation.uid].push_back(generation.token);
    }
  };
  for (int i = 0; i < 3; ++i) call();
  const uint64_t b = generator.insert(long_prompt);
  const size_t before = tokens[a].size();
  while (tokens[b].empty() && generator.size() > 0) call();
  // The running sequence's tokens while the other's 40 prompt tokens went in, 4 a step.
  EXPECT_GE(tokens[a].size() - before, 10u);
  const uint64_t c = generator.insert(left);
  call();
  call();
  generator.remove(c);
  while (generator.size() > 0) call();
  EXPECT_EQ(tokens.count(c), 0u);
  GenerateOptions alone;
  alone.max_tokens = 40;
  EXPECT_EQ(tokens[a], Alone(*model, running.prompt, alone));
  alone.max_tokens = 5;
  EXPECT_EQ(tokens[b], Alone(*model, long_prompt.prompt, alone));
}

TEST(BatchGeneratorTest, EachLeavesAtItsOwnStopTokenOrWhenRemoved) {
  std::unique_ptr<Model> model = Llama();
  BatchGenerator generator(*model);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 3; ++i) prompts.push_back(RandomTokens(4 + i, 60, 300 + i));
  // Sequence 0 stops at the third token it would give alone.
  GenerateOptions ten;
  ten.max_tokens = 10;
  const std::vector<int32_t> first_alone = Alone(*model, prompts[0], ten);
  std::vector<uint64_t> uids;
  for (int i = 0; i < 3; ++i) {
    BatchSequence sequence;
    sequence.prompt = prompts[i];
    sequence.max_tokens = 10;
    if (i == 0) sequence.stop_tokens = {first_alone[2]};
    uids.push_back(generator.insert(sequence));
  }
  std::map<uint64_t, std::vector<int32_t>> tokens;
  std::map<uint64_t, std::string> finish;
  for (int call = 0; generator.size() > 0 && call < 100; ++call) {
    if (call == 4) generator.remove(uids[1]);  // a client that went away
    for (const BatchGeneration& generation : generator.next()) {
      tokens[generation.uid].push_back(generation.token);
      if (!generation.finish_reason.empty()) finish[generation.uid] = generation.finish_reason;
    }
  }
  const std::vector<int32_t> stopped(
      first_alone.begin(), std::find(first_alone.begin(), first_alone.end(), first_alone[2]) + 1);
  EXPECT_EQ(tokens[uids[0]], stopped);
  EXPECT_EQ(finish[uids[0]], "stop");
  EXPECT_EQ(tokens[uids[1]].size(), 4u);  // four calls, then nothing
  EXPECT_EQ(finish.count(uids[1]), 0u);
  EXPECT_EQ(tokens[uids[2]], Alone(*model, prompts[2], ten));
  EXPECT_EQ(finish[uids[2]], "length");
  EXPECT_EQ(generator.size(), 0);
  EXPECT_TRUE(generator.next().empty());
  // Removing a queued sequence: it never gives a token.
  const uint64_t queued = generator.insert(BatchSequence{prompts[0], 5});
  generator.remove(queued);
  EXPECT_TRUE(generator.next().empty());
}

// Samplers, seeds and logits processors are each sequence's own: a seeded row draws what
// it draws alone after random::seed, beside rows drawing otherwise.
TEST(BatchGeneratorTest, SamplersSeedsAndProcessorsAreEachSequencesOwn) {
  std::unique_ptr<Model> model = Llama();
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 4; ++i) prompts.push_back(RandomTokens(3 + 2 * i, 60, 400 + i));
  std::vector<BatchSequence> sequences(4);
  std::vector<GenerateOptions> alone(4);
  for (int i = 0; i < 4; ++i) {
    sequences[i].prompt = prompts[i];
    sequences[i].max_tokens = alone[i].max_tokens = 12;
  }
  sequences[0].sampler = seeded_sampler(make_sampler(1.5f), 7);
  sequences[1].logits_processors = alone[1].logits_processors =
      make_logits_processors({{3, 5.0f}}, 1.3f, 4, 0.5f, 6);
  sequences[2].sampler = seeded_sampler(make_sampler(0.9f, 0.9f, 0.0f, 1, 20), 8);
  sequences[2].logits_processors = alone[2].logits_processors =
      make_logits_processors({}, std::nullopt, 20, std::nullopt, 20, 0.7f, 3);
  // sequence 3: greedy, no processors
  BatchGeneratorOptions options;
  options.processor_history = alone[1].processor_history = alone[2].processor_history = 5;
  BatchGenerator generator(*model, options);
  const auto tokens =
      RunAll(generator, {{0, {sequences[0], sequences[1]}}, {3, {sequences[2], sequences[3]}}});
  random::seed(7);
  alone[0].sampler = make_sampler(1.5f);
  EXPECT_EQ(tokens.at(0), Alone(*model, prompts[0], alone[0]));
  EXPECT_EQ(tokens.at(1), Alone(*model, prompts[1], alone[1]));
  random::seed(8);
  alone[2].sampler = make_sampler(0.9f, 0.9f, 0.0f, 1, 20);
  EXPECT_EQ(tokens.at(2), Alone(*model, prompts[2], alone[2]));
  EXPECT_EQ(tokens.at(3), Alone(*model, prompts[3], alone[3]));
  // The seeds matter: another seed draws another reply.
  random::seed(9);
  EXPECT_NE(tokens.at(0), Alone(*model, prompts[0], alone[0]));
}

// A sequence continuing a cache (a conversation's earlier turns) gets what TokenGenerator
// gets continuing it, and its returned cache serves the next turn as TokenGenerator's does.
// Gemma 3's: rotating caches of its window for the sliding layers, wrapped in either turn.
void ContinuesAGivenCache(Model& model, const std::string& name) {
  const std::vector<int32_t> first_turn = RandomTokens(11, 60, 500);
  const std::vector<int32_t> second_turn = RandomTokens(6, 60, 501);
  GenerateOptions options;
  options.max_tokens = 7;
  // Alone: the first turn fills a prompt cache, the second continues it.
  std::vector<KVCache> alone_cache = make_prompt_cache(model);
  options.prompt_cache = &alone_cache;
  const std::vector<int32_t> alone_reply = Alone(model, first_turn, options);
  const std::vector<int32_t> alone_next = Alone(model, second_turn, options);

  BatchGenerator generator(model);
  BatchSequence first;
  first.prompt = first_turn;
  first.max_tokens = 7;
  first.return_cache = true;
  BatchSequence neighbour;  // shares the batch, longer than the first turn
  neighbour.prompt = RandomTokens(20, 60, 502);
  neighbour.max_tokens = 30;
  generator.insert(first);
  generator.insert(neighbour);
  std::map<uint64_t, std::vector<int32_t>> tokens;
  std::vector<KVCache> cache;
  bool second_inserted = false;
  while (generator.size() > 0) {
    for (BatchGeneration& generation : generator.next()) {
      tokens[generation.uid].push_back(generation.token);
      if (generation.uid == 0 && !generation.finish_reason.empty()) {
        cache = std::move(generation.cache);
      }
    }
    if (!cache.empty() && !second_inserted) {
      // The first turn's tokens and its reply but the last, as TokenGenerator leaves them.
      EXPECT_EQ(cache.front().offset(), 11 + 7 - 1);
      ExpectCachesBounded(model, cache, name);
      BatchSequence next;  // joins while the neighbour still decodes
      next.prompt = second_turn;
      next.max_tokens = 7;
      next.cache = std::move(cache);
      generator.insert(std::move(next));
      second_inserted = true;
    }
  }
  EXPECT_EQ(tokens[0], alone_reply) << name;
  EXPECT_TRUE(second_inserted) << name;
  EXPECT_EQ(tokens[2], alone_next) << name;
}

TEST(BatchGeneratorTest, ASequenceContinuesAGivenCacheAndReturnsItForTheNextTurn) {
  ContinuesAGivenCache(*Llama(), "llama");
  ContinuesAGivenCache(*load_model(Runfile("client/lm/testdata/gemma3_text")), "gemma3_text");
  // The linear layers' arrays caches: their state handed back and continued.
  ContinuesAGivenCache(*load_model(Runfile("client/lm/testdata/qwen3_next")), "qwen3_next");
}

// A sequence removed with return_cache (a server's stop string met) hands back the cache
// its last token would: its prompt and the tokens given but the last, the steps sent past
// them undone (Qwen3-Next's linear layers back to the state they kept for that step), as a
// fresh prefill of them leaves it; a next turn continuing it gets what a fresh cache gives.
void ExpectARemovedSequenceHandsBackItsCache(Model& model, int steps_in_flight,
                                             const std::string& name) {
  const std::string what = name + ", " + std::to_string(steps_in_flight) + " steps in flight";
  const std::vector<int32_t> first_turn = RandomTokens(11, 60, 601);
  GenerateOptions four;
  four.max_tokens = 4;
  const std::vector<int32_t> reply = Alone(model, first_turn, four);
  BatchGeneratorOptions options;
  options.steps_in_flight = steps_in_flight;  // sent past the fourth token
  BatchGenerator generator(model, options);
  BatchSequence first{first_turn, 20};
  BatchSequence neighbour{RandomTokens(20, 60, 602), 30};
  const uint64_t uid = generator.insert(first);
  generator.insert(neighbour);
  std::vector<int32_t> tokens;
  std::vector<KVCache> cache;
  while (tokens.size() < 4) {
    for (const BatchGeneration& generation : generator.next()) {
      if (generation.uid == uid) tokens.push_back(generation.token);
    }
  }
  cache = generator.remove(uid, /*return_cache=*/true);
  EXPECT_EQ(tokens, reply) << what;
  ASSERT_EQ(cache.size(), static_cast<size_t>(model.args().num_hidden_layers)) << what;
  EXPECT_EQ(cache.front().offset(), 11 + 4 - 1) << what;
  std::vector<int32_t> held = first_turn;
  held.insert(held.end(), reply.begin(), reply.end() - 1);
  EXPECT_EQ(testing::CacheDifference(cache, testing::Prefilled(model, held)), "") << what;
  for (const BatchGeneration& generation : generator.next()) EXPECT_NE(generation.uid, uid);

  std::vector<int32_t> second_turn = first_turn;
  second_turn.insert(second_turn.end(), reply.begin(), reply.end());
  for (int32_t t : RandomTokens(3, 60, 603)) second_turn.push_back(t);
  GenerateOptions seven;
  seven.max_tokens = 7;
  BatchSequence next{std::vector<int32_t>(second_turn.begin() + 14, second_turn.end()), 7};
  next.cache = std::move(cache);
  const uint64_t next_uid = generator.insert(std::move(next));
  std::vector<int32_t> continued;
  while (generator.size() > 0) {
    for (const BatchGeneration& generation : generator.next()) {
      if (generation.uid == next_uid) continued.push_back(generation.token);
    }
  }
  EXPECT_EQ(continued, Alone(model, second_turn, seven)) << what;
  // A sequence still queued has no cache to give.
  const uint64_t queued = generator.insert(BatchSequence{first_turn, 5});
  EXPECT_TRUE(generator.remove(queued, /*return_cache=*/true).empty()) << what;
}

TEST(BatchGeneratorTest, ARemovedSequenceHandsBackItsCacheForTheNextTurn) {
  ExpectARemovedSequenceHandsBackItsCache(*Llama(), 4, "llama");
  std::unique_ptr<Model> qwen3_next = load_model(Runfile("client/lm/testdata/qwen3_next"));
  for (int steps_in_flight : {1, 4}) {
    ExpectARemovedSequenceHandsBackItsCache(*qwen3_next, steps_in_flight, "qwen3_next");
  }
}

// max_kv_size: every layer of a plain model keeps a ring of that many positions (none of
// them first ones, as mlx-lm's batch), rows joining and leaving as they do through plain
// caches, each getting what it gets alone through such rings.
TEST(BatchGeneratorTest, MaxKvSizeBoundsEveryLayerOfAPlainModel) {
  std::unique_ptr<Model> model = Llama();
  const int max_kv_size = 10;
  BatchGeneratorOptions options;
  options.prefill_step_size = 4;
  options.max_kv_size = max_kv_size;
  BatchGenerator generator(*model, options);
  std::map<int, std::vector<BatchSequence>> join;
  std::vector<std::vector<int32_t>> prompts;
  const int lengths[] = {5, 17, 9, 30};
  const int at[] = {0, 0, 3, 6};
  for (int i = 0; i < 4; ++i) {
    BatchSequence sequence;
    sequence.prompt = RandomTokens(lengths[i], 60, 700 + i);
    sequence.max_tokens = 15 + 3 * i;
    prompts.push_back(sequence.prompt);
    join[at[i]].push_back(sequence);
  }
  const auto tokens = RunAll(generator, join, nullptr,
                             [&](const BatchGenerator& g, const std::vector<BatchGeneration>&) {
                               for (const KVCache& layer : g.cache()) {
                                 EXPECT_EQ(layer.max_size(), max_kv_size);
                                 EXPECT_EQ(layer.keep(), 0);
                                 EXPECT_LE(layer.capacity(), max_kv_size);
                               }
                             });
  for (uint64_t uid = 0; uid < 4; ++uid) {
    std::vector<KVCache> rings(2, KVCache::rotating(max_kv_size));
    GenerateOptions alone;
    alone.max_tokens = 15 + 3 * static_cast<int>(uid);
    alone.prompt_cache = &rings;
    EXPECT_EQ(tokens.at(uid), Alone(*model, prompts[uid], alone)) << "sequence " << uid;
  }
  // A cache keeping first positions (TokenGenerator's with max_kv_size) is not the batch's.
  BatchSequence kept{{1, 2}, 3};
  kept.cache = make_prompt_cache(*model, max_kv_size);
  EXPECT_NE(BuildError([&] { generator.insert(kept); }).find("the cache's layer 0 is rotating"),
            std::string::npos);
}

// The tokens mlx-lm's BatchGenerator gave for `fixture`'s cases (five prompts joining at the
// first, fourth and seventh calls, prefilled in chunks), each case's name its model's
// testdata directory (and "_kv" and max_kv_size), with `steps_in_flight`. With `end_early`,
// row i also ends at its token 2 + 3i (a stop token of its own: rows ending at different
// steps, the steps in flight past them undone), its tokens mlx-lm's up to the first such,
// and hands back the cache a fresh prefill of its prompt and tokens but the last leaves.
void ExpectMlxLmsBatchTokens(const std::string& fixture, const std::vector<std::string>& names,
                             int steps_in_flight = 4, bool end_early = false) {
  std::unordered_map<std::string, Array> want =
      load_safetensors(Runfile("client/lm/testdata/" + fixture)).first;
  for (const std::string& name : names) {
    const std::string what = name + ", " + std::to_string(steps_in_flight) + " steps in flight";
    const std::vector<int32_t> given = want.at(name + ".options").to_vector<int32_t>();
    std::unique_ptr<Model> model =
        load_model(Runfile("client/lm/testdata/" + name.substr(0, name.find("_kv"))));
    BatchGeneratorOptions options;
    if (given[0] > 0) options.max_kv_size = given[0];
    options.prefill_step_size = given[1];
    options.steps_in_flight = steps_in_flight;
    BatchGenerator generator(*model, options);
    std::map<int, std::vector<BatchSequence>> join;  // as the script joins them
    std::vector<std::vector<int32_t>> prompts, expected;
    const int at[] = {0, 0, 3, 3, 6};
    for (int i = 0; i < 5; ++i) {
      BatchSequence sequence;
      sequence.prompt = want.at(name + ".prompt" + std::to_string(i)).to_vector<int32_t>();
      sequence.max_tokens = 20;
      std::vector<int32_t> tokens =
          want.at(name + ".tokens" + std::to_string(i)).to_vector<int32_t>();
      if (end_early) {
        const int32_t stop = tokens[2 + 3 * i];
        tokens.erase(std::find(tokens.begin(), tokens.end(), stop) + 1, tokens.end());
        sequence.stop_tokens = {stop};
        sequence.return_cache = true;
      }
      prompts.push_back(sequence.prompt);
      expected.push_back(tokens);
      join[at[i]].push_back(sequence);
    }
    std::map<uint64_t, std::vector<KVCache>> caches;
    const auto tokens =
        RunAll(generator, join, nullptr,
               [&](const BatchGenerator&, const std::vector<BatchGeneration>& generations) {
                 for (const BatchGeneration& generation : generations) {
                   if (!generation.finish_reason.empty()) {
                     caches[generation.uid] = generation.cache;
                   }
                 }
               });
    for (uint64_t i = 0; i < 5; ++i) {
      EXPECT_EQ(tokens.at(i), expected[i]) << what << ", prompt " << i;
      if (!end_early) continue;
      std::vector<int32_t> held = prompts[i];
      held.insert(held.end(), expected[i].begin(), expected[i].end() - 1);
      EXPECT_EQ(testing::CacheDifference(caches.at(i), testing::Prefilled(*model, held)), "")
          << what << ", prompt " << i;
    }
  }
}

// mlx-lm's BatchGenerator through its BatchRotatingKVCache (testdata/lm_batch_rotating_mlx.py
// writes its tokens): Gemma 3's sliding layers, and max_kv_size on every layer of Qwen2.
TEST(BatchGeneratorTest, RotatingBatchesGiveMlxLmsTokens) {
  ExpectMlxLmsBatchTokens("lm_batch_rotating_mlx.safetensors", {"gemma3_text", "qwen2_kv10"});
}

// mlx-lm's BatchGenerator over Granite's multipliers, Granite-MoE's experts, Cohere 2's
// sliding layers (its BatchRotatingKVCache) and StarCoder 2's LayerNorms
// (testdata/lm_more_families_mlx.py writes the tokens).
TEST(BatchGeneratorTest, MoreFamiliesBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_more_families_mlx.safetensors",
                          {"granite", "granitemoe", "cohere2", "starcoder2"});
}

// mlx-lm's BatchGenerator over GLM-4's sandwich norms, EXAONE 4's sliding layers (its
// BatchRotatingKVCache) and global ones without RoPE, ERNIE 4.5's experts beside shared ones
// and OLMoE's (testdata/lm_families_2_mlx.py writes the tokens).
TEST(BatchGeneratorTest, GlmExaoneErnieAndOlmoeBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_families_2_mlx.safetensors",
                          {"glm4", "exaone4", "ernie4_5_moe", "olmoe"});
}

// mlx-lm's BatchGenerator over Hunyuan's q/k norms after RoPE, its cross-layer attention
// (layers attending over an earlier layer's projections, each caching its own) and experts
// beside a shared MLP, Seed-OSS and Apertus's xIELU (testdata/lm_families_3_mlx.py writes the
// tokens).
TEST(BatchGeneratorTest, HunyuanSeedOssAndApertusBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_families_3_mlx.safetensors",
                          {"hunyuan_v1_dense", "hunyuan", "seed_oss", "apertus"});
}

// mlx-lm's BatchGenerator over GPT-2's learned positions (each row's from its own offset,
// its padding's negative) and GPT-NeoX's partial rotary and parallel residual
// (testdata/lm_gpt_mlx.py writes the tokens; mlx-lm's gpt_bigcode does not batch).
TEST(BatchGeneratorTest, Gpt2AndGptNeoxBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_gpt_mlx.safetensors", {"gpt2", "gpt_neox"});
}

// mlx-lm's BatchGenerator over Gemma's norms, Cohere's per-head LayerNorms, Phi's partial
// rotary and biased layers and StableLM's per-head LayerNorms, each row at its own position
// (testdata/lm_families_4_mlx.py writes the tokens).
TEST(BatchGeneratorTest, GemmaCoherePhiAndStablelmBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_families_4_mlx.safetensors", {"gemma", "cohere", "phi", "stablelm"});
}

// mlx-lm's BatchGenerator over PhiMoE's sparsemixer and SuScaledRoPE, DBRX's clipped fused
// q/k/v and experts, and MiMo, each row at its own position (testdata/lm_families_6_mlx.py
// writes the tokens).
TEST(BatchGeneratorTest, PhimoeDbrxAndMimoBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_families_6_mlx.safetensors", {"phimoe", "dbrx", "mimo"});
}

// mlx-lm's BatchGenerator over InternLM2's fused wqkv (its 4-bit model: mlx-lm's dynamic NTK
// RoPE does not batch), MiniCPM's scales, MiniCPM3's latent attention, Nemotron's LayerNorm1P
// and partial rotary, and EXAONE 3 (testdata/lm_families_5_mlx.py writes the tokens).
TEST(BatchGeneratorTest, Internlm2MinicpmMinicpm3NemotronAndExaoneBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_families_5_mlx.safetensors",
                          {"internlm2_4bit", "minicpm", "minicpm3", "nemotron", "exaone"});
}

// mlx-lm's BatchGenerator over Youtu-LLM's latent attention, Nanbeige's looped layers (a cache
// per layer per pass), TeleChat3 and Klear's experts mixed with a shared MLP
// (testdata/lm_families_7_mlx.py writes the tokens). Not Baichuan-M1: its rows 0 to 3 are
// mlx-lm's, but mlx-lm's own BatchGenerator gives prompt 4 (joining rows whose sliding rings
// have wrapped) other tokens than mlx-lm gives it alone, which ferry::lm's batch gives.
TEST(BatchGeneratorTest, YoutuNanbeigeTelechat3AndKlearBatchAsMlxLmDoes) {
  for (int steps_in_flight : {1, 4}) {
    ExpectMlxLmsBatchTokens("lm_families_7_mlx.safetensors",
                            {"youtu_llm", "nanbeige", "telechat3", "klear"}, steps_in_flight);
  }
}

// mlx-lm's BatchGenerator over EXAONE MoE's, AFM MoE's and Step-3.5's sliding layers (its
// BatchRotatingKVCache) beside global ones, AFM's and Step-3.5's gated attention and their
// experts (testdata/lm_families_8_mlx.py writes the tokens).
TEST(BatchGeneratorTest, ExaoneMoeAfmoeAndStep3p5BatchAsMlxLmDoes) {
  for (int steps_in_flight : {1, 4}) {
    ExpectMlxLmsBatchTokens("lm_families_8_mlx.safetensors", {"exaone_moe", "afmoe", "step3p5"},
                            steps_in_flight);
  }
}

// mlx-lm's BatchGenerator over OpenELM's heads per layer and PLaMo 2's Mamba mixers beside
// attention (testdata/lm_families_9_mlx.py writes the tokens). Not OLMo hybrid: its rows 0 to
// 3 are mlx-lm's, but mlx-lm's convs take a right-padded row's padding into their states, so
// its BatchGenerator gives prompt 4 other tokens than mlx-lm gives it alone, which ferry::lm's
// batch gives.
TEST(BatchGeneratorTest, OpenelmAndPlamo2BatchAsMlxLmDoes) {
  for (int steps_in_flight : {1, 4}) {
    ExpectMlxLmsBatchTokens("lm_families_9_mlx.safetensors", {"openelm", "plamo2"},
                            steps_in_flight);
  }
}

// mlx-lm's BatchGenerator over MiMo-V2-Flash's sliding layers with sinks (its
// BatchRotatingKVCache), Laguna's gated attention and LongCat-Flash's caches lists of two
// latent caches (testdata/lm_families_10_mlx.py writes the tokens).
TEST(BatchGeneratorTest, MimoV2FlashLagunaAndLongcatFlashBatchAsMlxLmDoes) {
  for (int steps_in_flight : {1, 4}) {
    ExpectMlxLmsBatchTokens("lm_families_10_mlx.safetensors",
                            {"mimo_v2_flash", "laguna", "longcat_flash"}, steps_in_flight);
  }
}

// mlx-lm's BatchGenerator over MiniMax-M2's sigmoid router and partial rotary, dots.llm1's
// grouped experts beside shared ones and Bailing MoE's (testdata/lm_moe_families_mlx.py
// writes the tokens).
TEST(BatchGeneratorTest, MinimaxDots1AndBailingMoeBatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_moe_families_mlx.safetensors", {"minimax", "dots1", "bailing_moe"});
}

// mlx-lm's BatchGenerator over Ministral 3's sliding layers (its BatchRotatingKVCache) and
// Llama 4's scaling of each row's queries by its own positions, and Mistral 4's latent
// attention and experts (testdata/lm_mistral3_mlx.py writes the tokens).
TEST(BatchGeneratorTest, Ministral3AndMistral4BatchAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_mistral3_mlx.safetensors", {"ministral3", "mistral4"});
}

// mlx-lm's BatchGenerator over DeepSeek V3.2 (testdata/lm_deepseek_v32_mlx.py): each layer's
// CacheList of the latent's and the indexer's caches, the indexer choosing 8 of each row's
// keys under its padding, with one step in flight and four.
TEST(BatchGeneratorTest, DeepseekV32BatchesAsMlxLmDoes) {
  for (int steps_in_flight : {1, 4}) {
    ExpectMlxLmsBatchTokens("lm_deepseek_v32_mlx.safetensors", {"deepseek_v32"}, steps_in_flight);
  }
}

// mlx-lm's BatchGenerator over GLM-4.7-Flash's latent attention and experts
// (testdata/lm_glm4_moe_lite_mlx.py writes the tokens).
TEST(BatchGeneratorTest, Glm47FlashBatchesAsMlxLmDoes) {
  ExpectMlxLmsBatchTokens("lm_glm4_moe_lite_mlx.safetensors", {"glm4_moe_lite"});
}

// mlx-lm's BatchGenerator over Gemma 4 (testdata/lm_gemma4_mlx.py): its sliding layers'
// BatchRotatingKVCache, KV-shared layers attending over an earlier layer's rows under its
// masks, per-layer inputs, and experts beside the MLP; with one step in flight and four.
TEST(BatchGeneratorTest, Gemma4BatchesAsMlxLmDoes) {
  for (int steps_in_flight : {1, 4}) {
    ExpectMlxLmsBatchTokens("lm_gemma4_mlx.safetensors", {"gemma4", "gemma4_text", "gemma4_moe"},
                            steps_in_flight);
  }
}

// mlx-lm's BatchGenerator over Gemma 3n (testdata/lm_gemma3n_mlx.py): AltUp's predictions,
// KV-shared layers over an earlier layer's rows, activation sparsity, sliding layers' rings;
// with one step in flight and four.
TEST(BatchGeneratorTest, Gemma3nBatchesAsMlxLmDoes) {
  for (int steps_in_flight : {1, 4}) {
    ExpectMlxLmsBatchTokens("lm_gemma3n_mlx.safetensors", {"gemma3n", "gemma3n_mlx"},
                            steps_in_flight);
  }
}

// mlx-lm's BatchGenerator through its ArraysCache (testdata/lm_batch_qwen3_next_mlx.py):
// Qwen3-Next's and Qwen3.5's gated delta nets, their padding kept out of their states, with
// one step in flight and four, rows running their 20 tokens or ending early.
TEST(BatchGeneratorTest, ArraysBatchesGiveMlxLmsTokens) {
  for (int steps_in_flight : {1, 4}) {
    for (bool end_early : {false, true}) {
      ExpectMlxLmsBatchTokens("lm_batch_qwen3_next_mlx.safetensors", {"qwen3_next", "qwen3_5"},
                              steps_in_flight, end_early);
    }
  }
}

// The same through LFM2's short convolutions (testdata/lm_lfm2_mlx.py) and the Mamba-2 scans
// of Mamba-2 and Granite 4.0 (testdata/lm_mamba2_mlx.py: mlx-lm right-pads a prefill where
// ferry left-pads, either keeping the padding out of the states), and Falcon-H1's scans
// beside attention, each layer's caches a list (testdata/lm_falcon_h1_mlx.py), and
// Nemotron-H's, only its mamba and attention layers cached (testdata/lm_nemotron_h_mlx.py).
TEST(BatchGeneratorTest, ConvAndScanBatchesGiveMlxLmsTokens) {
  for (int steps_in_flight : {1, 4}) {
    for (bool end_early : {false, true}) {
      ExpectMlxLmsBatchTokens("lm_lfm2_mlx.safetensors", {"lfm2", "lfm2_moe"}, steps_in_flight,
                              end_early);
      ExpectMlxLmsBatchTokens("lm_mamba2_mlx.safetensors", {"mamba2", "granitemoehybrid"},
                              steps_in_flight, end_early);
      ExpectMlxLmsBatchTokens("lm_falcon_h1_mlx.safetensors", {"falcon_h1"}, steps_in_flight,
                              end_early);
      ExpectMlxLmsBatchTokens("lm_nemotron_h_mlx.safetensors", {"nemotron_h", "nemotron_h_moe"},
                              steps_in_flight, end_early);
    }
  }
}

// mlx-lm's BatchGenerator over Kimi Linear (testdata/lm_kimi_linear_mlx.py): its KDA layers'
// arrays caches (three convs' states and the recurrent one, the padding kept out of them)
// beside its latent attention's plain caches, with one step in flight and four, rows running
// their 20 tokens or ending early.
TEST(BatchGeneratorTest, KimiLinearBatchesGiveMlxLmsTokens) {
  for (int steps_in_flight : {1, 4}) {
    for (bool end_early : {false, true}) {
      ExpectMlxLmsBatchTokens("lm_kimi_linear_mlx.safetensors", {"kimi_linear"}, steps_in_flight,
                              end_early);
    }
  }
}

TEST(BatchGeneratorTest, BadArgumentsAreNamed) {
  std::unique_ptr<Model> model = Llama();
  BatchGenerator generator(*model);
  EXPECT_NE(BuildError([&] { generator.insert(BatchSequence{}); }).find("no tokens"),
            std::string::npos);
  EXPECT_NE(BuildError([&] {
              generator.insert(BatchSequence{{1}, 0});
            }).find("max_tokens must be positive, got 0"),
            std::string::npos);
  BatchSequence wrong;
  wrong.prompt = {1};
  wrong.cache.resize(5);
  EXPECT_NE(BuildError([&] { generator.insert(wrong); }).find("the cache holds 5 layers"),
            std::string::npos);
  BatchGeneratorOptions options;
  options.completion_batch_size = 0;
  EXPECT_NE(BuildError([&] { BatchGenerator bad(*model, options); }).find("must be positive"),
            std::string::npos);
}

}  // namespace
}  // namespace ferry::lm
