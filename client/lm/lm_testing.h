#ifndef FERRY_CLIENT_LM_LM_TESTING_H_
#define FERRY_CLIENT_LM_LM_TESTING_H_

// For ferry::lm's tests: random prompts, a tiny random Llama, and the tokens a sequence gets
// alone (what batches, servers and caches are checked against).

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/lm/model.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::lm::testing {

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

}  // namespace ferry::lm::testing

#endif  // FERRY_CLIENT_LM_LM_TESTING_H_
