#ifndef FERRY_CLIENT_LM_GEMMA_H_
#define FERRY_CLIENT_LM_GEMMA_H_

// Gemma (1) as mlx-lm builds it (models/gemma.py): Llama's attention (a head_dim of its own,
// plain RoPE, no biases), Gemma's norms (1 + weight, gemma_layers.h) before attention and
// before the MLP, an MLP around the exact (erf) gelu where Gemma 2's has the tanh one, the
// embedding scaled by sqrt(hidden_size) and tied to the output.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/gemma_layers.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// down_proj(gelu(gate_proj(x)) * up_proj(x)), without biases; gelu MLX's nn.gelu (erf),
// whatever config.json's hidden_activation says, as mlx-lm reads none.
class GemmaGeluMlp : public nn::Layer {
 public:
  explicit GemmaGeluMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &gate_proj_, &down_proj_, &up_proj_;
};

// "self_attn", "mlp", "input_layernorm", "post_attention_layernorm".
class GemmaBlock : public nn::Module {
 public:
  explicit GemmaBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  Attention& self_attn_;
  GemmaGeluMlp& mlp_;
  GemmaRMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class GemmaModel : public nn::Module {
 public:
  explicit GemmaModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  int64_t hidden_size_;
  nn::Embedding& embed_tokens_;
  std::vector<GemmaBlock*> layers_;
  GemmaRMSNorm* norm_ = nullptr;
};

// model_type "gemma": "model", its output layer the embedding.
class Gemma : public Model {
 public:
  explicit Gemma(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  GemmaModel& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GEMMA_H_
