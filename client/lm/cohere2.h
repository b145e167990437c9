#ifndef FERRY_CLIENT_LM_COHERE2_H_
#define FERRY_CLIENT_LM_COHERE2_H_

// Cohere 2 (Command R7B, Command A) as mlx-lm builds it (models/cohere2.py): one LayerNorm
// (ModelArgs::layer_norm, biased when layer_norm_bias) before Llama's attention and MLP
// side by side, x + attention + MLP. Every sliding_window_pattern-th layer attends over
// every position without RoPE, the others over the last sliding_window positions (a ring of
// the window in make_prompt_cache) with traditional RoPE. The output is the embedding,
// times logit_scale.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"

namespace ferry::lm {

// "self_attn", "mlp", "input_layernorm".
class Cohere2Block : public nn::Module {
 public:
  Cohere2Block(const ModelArgs& args, bool sliding);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  Attention& self_attn_;
  Mlp& mlp_;
  nn::Layer& input_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class Cohere2Model : public nn::Module {
 public:
  explicit Cohere2Model(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  int64_t window_;
  nn::Embedding& embed_tokens_;
  std::vector<Cohere2Block*> layers_;
  nn::Layer* norm_ = nullptr;
};

// model_type "cohere2": "model" only (tied embeddings).
class Cohere2 : public Model {
 public:
  explicit Cohere2(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // sliding_window for every layer but each sliding_window_pattern-th.
  std::optional<int64_t> sliding_window(int layer) const override;

 private:
  ModelArgs args_;
  Cohere2Model& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_COHERE2_H_
