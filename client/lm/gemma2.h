#ifndef FERRY_CLIENT_LM_GEMMA2_H_
#define FERRY_CLIENT_LM_GEMMA2_H_

// Gemma 2 as mlx-lm builds it (models/gemma2.py): Gemma's norms (1 + weight) before and
// after both attention and feed-forward, its GELU (tanh) gated MLP, the embedding scaled by
// sqrt(hidden_size) and tied to the output, attention scaled by query_pre_attn_scalar^-0.5
// whose scores are soft-capped (cap * tanh(scores / cap), attn_logit_softcapping) before the
// softmax, and the logits soft-capped the same way (final_logit_softcapping). mlx-lm's gemma2
// attends over every position in every layer, with a plain cache: config.json's
// sliding_window is not read, so neither is it here.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/gemma_layers.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// cap * tanh(x / cap): Gemma 2's soft cap, for the attention scores and the logits.
Array soft_cap(const Array& x, float cap);

class Gemma2Attention : public nn::Module {
 public:
  explicit Gemma2Attention(const ModelArgs& args);
  // `mask` bool, (L, S) or with left padding (B, 1, L, S); none for a single query over the
  // whole of its keys.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  float scale_, softcap_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  Rope rope_;
};

class Gemma2Block : public nn::Module {
 public:
  explicit Gemma2Block(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  Gemma2Attention& self_attn_;
  GemmaMlp& mlp_;
  GemmaRMSNorm &input_layernorm_, &pre_feedforward_layernorm_, &post_feedforward_layernorm_,
      &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class Gemma2Model : public nn::Module {
 public:
  explicit Gemma2Model(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  int64_t hidden_size_;
  nn::Embedding& embed_tokens_;
  std::vector<Gemma2Block*> layers_;
  GemmaRMSNorm* norm_ = nullptr;
};

// model_type "gemma2": "model", its output layer the embedding.
class Gemma2 : public Model {
 public:
  explicit Gemma2(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  bool reads_quantized_cache() const override { return false; }

 private:
  ModelArgs args_;
  Gemma2Model& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GEMMA2_H_
