#ifndef FERRY_CLIENT_LM_PHI_H_
#define FERRY_CLIENT_LM_PHI_H_

// Phi (Phi-1.5, Phi-2: model_type "phi") as mlx-lm builds it (models/phi.py): one LayerNorm
// before attention and an MLP side by side (x + attention + MLP), every Linear biased (the
// attention's output named "dense", lm_head too), RoPE over the first
// int(head_dim * partial_rotary_factor) features of each head, the queries in float32 through
// the attention, an MLP of fc1 and fc2 around gelu_approx, "final_layernorm" after the layers.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// The features RoPE rotates: int(head_dim * partial_rotary_factor), as mlx-lm rounds it
// (Phi's and StableLM's).
int64_t partial_rope_dims(const ModelArgs& args);

class PhiAttention : public nn::Module {
 public:
  explicit PhiAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &dense_;
  Rope rope_;
};

// fc2(gelu_approx(fc1(x))), both biased.
class PhiMlp : public nn::Layer {
 public:
  explicit PhiMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &fc1_, &fc2_;
};

// "self_attn", "input_layernorm", "mlp".
class PhiBlock : public nn::Module {
 public:
  explicit PhiBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  PhiAttention& self_attn_;
  nn::LayerNorm& input_layernorm_;
  PhiMlp& mlp_;
};

// "embed_tokens", "layers.N", "final_layernorm".
class PhiModel : public nn::Module {
 public:
  explicit PhiModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  nn::Embedding& embed_tokens_;
  std::vector<PhiBlock*> layers_;
  nn::LayerNorm* final_layernorm_ = nullptr;
};

// model_type "phi": "model" and "lm_head" (biased).
class Phi : public Model {
 public:
  explicit Phi(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  PhiModel& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PHI_H_
