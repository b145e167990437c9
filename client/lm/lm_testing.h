#ifndef FERRY_CLIENT_LM_LM_TESTING_H_
#define FERRY_CLIENT_LM_LM_TESTING_H_

// For ferry::lm's tests: their testdata, random prompts, a tiny random Llama, the tokens a sequence
// gets alone and the cache a fresh prefill leaves (what batches, servers and caches are checked
// against), and a prompt's logits through a cache in the mlx-lm scripts' chunks.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/load.h"
#include "client/lm/model.h"
#include "client/lm/model_args.h"
#include "client/lm/tokenizer.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm::testing {

// A file or directory of client/lm/testdata/ among the test's runfiles.
inline std::string TestData(const std::string& name) {
  return ::ferry::testing::Runfile("client/lm/testdata/" + name);
}

// n tokens below `vocab`, the same for the same seed.
inline std::vector<int32_t> RandomTokens(int n, int vocab, uint64_t seed) {
  return astype(random::randint(0, vocab, {n}, int32, random::key(seed)), int32)
      .to_vector<int32_t>();
}

// A 2-layer Llama of width 32 (4 heads over 2), random weights drawn after random::seed(5).
inline std::unique_ptr<Model> TinyLlama(int vocab = 60) {
  random::seed(5);
  return make_model(ModelArgs::from_json(
      R"({"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2,
          "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
          "rms_norm_eps": 1e-5, "tie_word_embeddings": true, "vocab_size": )" +
      std::to_string(vocab) + "}"));
}

// The tokens of `prompt` generated alone by TokenGenerator, until a token of `stop`.
inline std::vector<int32_t> Alone(Model& model, const std::vector<int32_t>& prompt,
                                  GenerateOptions options, const std::vector<int32_t>& stop = {}) {
  TokenGenerator generator(model, prompt, options);
  std::vector<int32_t> tokens;
  while (std::optional<GenerationStep> step = generator.next()) {
    tokens.push_back(step->token);
    if (std::find(stop.begin(), stop.end(), step->token) != stop.end()) break;
  }
  return tokens;
}

// Greedy, max_tokens of them.
inline std::vector<int32_t> Alone(Model& model, const std::vector<int32_t>& prompt,
                                  int max_tokens) {
  GenerateOptions options;
  options.max_tokens = max_tokens;
  return Alone(model, prompt, options);
}

// The cache a fresh prefill of `tokens` leaves (make_prompt_cache's, in one graph).
inline std::vector<KVCache> Prefilled(Model& model, const std::vector<int32_t>& tokens) {
  std::vector<KVCache> cache = make_prompt_cache(model);
  const int64_t n = static_cast<int64_t>(tokens.size());
  model(from_host(tokens, {1, n}), &cache);
  return cache;
}

// How `got` differs from `want` (empty when it does not): a layer's offset, or an arrays
// cache's slot past atol + rtol |want| (a state after other tokens is far from it).
inline std::string CacheDifference(const std::vector<KVCache>& got,
                                   const std::vector<KVCache>& want, double rtol = 1e-3,
                                   double atol = 1e-4) {
  if (got.size() != want.size()) {
    return "layers: " + std::to_string(got.size()) + " and " + std::to_string(want.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string layer = "layer " + std::to_string(i);
    if (got[i].offset() != want[i].offset()) {
      return layer + " holds " + std::to_string(got[i].offset()) + " tokens, not " +
             std::to_string(want[i].offset());
    }
    if (got[i].is_list() && want[i].is_list()) {  // a CacheList: its parts compared so
      std::vector<KVCache> got_parts, want_parts;
      for (int j = 0; j < got[i].parts(); ++j) got_parts.push_back(got[i].part(j));
      for (int j = 0; j < want[i].parts(); ++j) want_parts.push_back(want[i].part(j));
      const std::string parts = CacheDifference(got_parts, want_parts, rtol, atol);
      if (!parts.empty()) return layer + "'s parts: " + parts;
      continue;
    }
    if (!got[i].is_arrays() || !want[i].is_arrays()) continue;
    const std::vector<Array> g = got[i].state(), w = want[i].state();
    if (g.size() != w.size()) return layer + ": another number of arrays";
    for (size_t j = 0; j < g.size(); ++j) {
      if (g[j].shape() != w[j].shape()) return layer + ", array " + std::to_string(j) + ": shape";
      const std::vector<float> a = astype(g[j], float32).to_vector<float>();
      const std::vector<float> b = astype(w[j], float32).to_vector<float>();
      for (size_t k = 0; k < a.size(); ++k) {
        if (std::abs(a[k] - b[k]) > atol + rtol * std::abs(b[k])) {
          return layer + ", array " + std::to_string(j) + "[" + std::to_string(k) +
                 "]: " + std::to_string(a[k]) + ", not " + std::to_string(b[k]);
        }
      }
    }
  }
  return "";
}

// mlx-lm's make_cache for a model with KV-shared layers (Gemma 3n, Gemma 4): a cache for each
// layer before them, rotating where the layer slides. The count's failure is fatal (wrap the
// call in ASSERT_NO_FATAL_FAILURE): the model would index past a short cache.
inline void ExpectKvSharedCachesAsMlxLm(const Model& model, const std::vector<KVCache>& cache,
                                        const std::string& name) {
  const ModelArgs& args = model.args();
  ASSERT_EQ(static_cast<int>(cache.size()), args.num_hidden_layers - args.num_kv_shared_layers)
      << name;
  for (int i = 0; i < static_cast<int>(cache.size()); ++i) {
    EXPECT_EQ(cache[i].max_size(), model.sliding_window(i)) << name << " layer " << i;
  }
}

// `prompt` (1 x n) through `cache` in the mlx-lm scripts' CHUNKS: a prefill of 7 tokens, one
// of 5 continuing it, then a token at a time, the cache evaluated after each as generation
// does. Expects each chunk's logits within `tolerance` (rtol and atol) of `want`'s
// (1 x n x vocab) there; returns the largest difference.
inline float ExpectCachedLogitsAsMlxLm(Model& model, std::vector<KVCache>& cache,
                                       const Array& prompt, const Array& want, double tolerance,
                                       const std::string& name) {
  const int64_t n = prompt.shape(1), vocab = want.shape(2);
  std::vector<int64_t> bounds = {0, 7, 12};
  for (int64_t i = 13; i <= n; ++i) bounds.push_back(i);
  float worst = 0;
  for (size_t b = 0; b + 1 < bounds.size(); ++b) {
    const Array logits =
        astype(model(slice(prompt, {0, bounds[b]}, {1, bounds[b + 1]}), &cache), float32);
    eval(CacheState(cache));
    const Array expected = slice(want, {0, bounds[b], 0}, {1, bounds[b + 1], vocab});
    worst = std::max(worst, max(abs(logits - expected)).item<float>());
    ::ferry::testing::ExpectAllClose(logits, expected, tolerance, tolerance,
                                     name + " from " + std::to_string(bounds[b]));
  }
  return worst;
}

// ModelArgs of config.json {"model_type": type, fields...}.
inline ModelArgs Config(const std::string& type, const std::string& fields) {
  return ModelArgs::from_json(R"({"model_type": ")" + type + R"(")" + (fields.empty() ? "" : ", ") +
                              fields + "}");
}

// The message of the ferry::Error `read` throws, which must be of `code`.
inline std::string Refusal(const std::function<void()>& read,
                           ErrorCode code = ErrorCode::kInvalidArgument) {
  try {
    read();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  return "no error";
}

// The shapes of testdata model `name`'s parameters, by name.
inline std::unordered_map<std::string, Shape> ParameterShapes(const std::string& name) {
  std::unique_ptr<Model> model = load_model(TestData(name));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [key, array] : model->parameters()) shapes[key] = array.shape();
  return shapes;
}

// stream_generate gives each testdata model of `names` the greedy tokens `file` recorded
// from mlx-lm ("NAME.greedy" after "NAME.prompt"), its prefill in pieces of 4 (which
// straddle the fixtures' sliding windows).
inline void ExpectStreamedTokensAsMlxLm(const std::string& file,
                                        const std::vector<std::string>& names) {
  std::unordered_map<std::string, Array> recorded = load_safetensors(TestData(file)).first;
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  for (const std::string& name : names) {
    std::unique_ptr<Model> model = load_model(TestData(name));
    const std::vector<int32_t> want = recorded.at(name + ".greedy").to_vector<int32_t>();
    GenerateOptions options;
    options.max_tokens = static_cast<int>(want.size());
    options.prefill_step_size = 4;
    std::vector<int32_t> streamed;
    stream_generate(*model, tokenizer, recorded.at(name + ".prompt").to_vector<int32_t>(), options,
                    [&](const GenerationResponse& response) {
                      streamed.push_back(response.token);
                      return true;
                    });
    EXPECT_EQ(streamed, want) << name;
  }
}

}  // namespace ferry::lm::testing

#endif  // FERRY_CLIENT_LM_LM_TESTING_H_
