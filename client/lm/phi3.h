#ifndef FERRY_CLIENT_LM_PHI3_H_
#define FERRY_CLIENT_LM_PHI3_H_

// Phi-3 (and Phi-3.5, Phi-4-mini: model_type "phi3") as mlx-lm builds it (models/phi3.py):
// Llama's layers with q, k and v in one projection (qkv_proj, split after) and the MLP's gate
// and up in one (gate_up_proj), head_dim hidden_size / heads, RoPE over the first
// head_dim * partial_rotary_factor features, scaled "longrope"/"su" (Rope's longrope) or
// "linear".

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

class Phi3Attention : public nn::Module {
 public:
  explicit Phi3Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &qkv_proj_, &o_proj_;
  Rope rope_;
};

// down_proj(silu(gate) * up) for gate, up the halves of gate_up_proj(x).
class Phi3Mlp : public nn::Layer {
 public:
  explicit Phi3Mlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int64_t hidden_;
  nn::Linear &gate_up_proj_, &down_proj_;
};

class Phi3Block : public nn::Module {
 public:
  explicit Phi3Block(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  Phi3Attention& self_attn_;
  Phi3Mlp& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class Phi3Model : public nn::Module {
 public:
  explicit Phi3Model(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<Phi3Block*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "phi3": "model" and, unless the embeddings are tied, "lm_head".
class Phi3 : public Model {
 public:
  explicit Phi3(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  Phi3Model& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PHI3_H_
