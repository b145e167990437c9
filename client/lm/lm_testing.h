#ifndef FERRY_CLIENT_LM_LM_TESTING_H_
#define FERRY_CLIENT_LM_LM_TESTING_H_

// For ferry::lm's tests: their testdata, random prompts, a tiny random Llama, the tokens a sequence
// gets alone and the cache a fresh prefill leaves (what batches, servers and caches are checked
// against).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/load.h"
#include "client/lm/model.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"

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

}  // namespace ferry::lm::testing

#endif  // FERRY_CLIENT_LM_LM_TESTING_H_
