#ifndef FERRY_CLIENT_LM_COHERE_H_
#define FERRY_CLIENT_LM_COHERE_H_

// Cohere (Command-R, Command-R+) as mlx-lm builds it (models/cohere.py): Cohere 2's block
// (cohere2.h: one LayerNorm, biased when layer_norm_bias, before attention and Llama's MLP
// side by side, x + attention + MLP) in every layer, each attending over every position with
// traditional RoPE; head_dim hidden_size / heads, all four projections biased when
// attention_bias, with use_qk_norm (ModelArgs::qk_norm) each head's queries and keys through
// a LayerNorm of its own weight (LayerNorm2D). The output is the embedding, times
// logit_scale.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// mlx-lm's LayerNorm2D: weight (heads, head_dim) times x (B, L, heads, head_dim) normalized
// over each head's features, without a weight or bias of its own.
class CohereHeadNorm : public nn::Layer {
 public:
  CohereHeadNorm(int heads, int64_t head_dim, float eps);
  Array operator()(const Array& x) override;

 private:
  float eps_;
};

// "q_proj", "k_proj", "v_proj", "o_proj", and with qk_norm "q_norm", "k_norm".
class CohereAttention : public nn::Module {
 public:
  explicit CohereAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  CohereHeadNorm *q_norm_ = nullptr, *k_norm_ = nullptr;
  Rope rope_;
};

// "self_attn", "mlp", "input_layernorm".
class CohereBlock : public nn::Module {
 public:
  explicit CohereBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  CohereAttention& self_attn_;
  Mlp& mlp_;
  nn::Layer& input_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class CohereModel : public nn::Module {
 public:
  explicit CohereModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<CohereBlock*> layers_;
  nn::Layer* norm_ = nullptr;
};

// model_type "cohere": "model" only (tied embeddings).
class Cohere : public Model {
 public:
  explicit Cohere(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  CohereModel& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_COHERE_H_
