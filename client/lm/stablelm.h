#ifndef FERRY_CLIENT_LM_STABLELM_H_
#define FERRY_CLIENT_LM_STABLELM_H_

// StableLM (StableLM 2, StableLM-3B-4E1T, StableCode: model_type "stablelm") as mlx-lm builds
// it (models/stablelm.py): LayerNorms (with bias) where Llama has RMSNorm, q, k and v biased
// when use_qkv_bias (o never), RoPE over the first int(head_dim * partial_rotary_factor)
// features of each head (phi.h's partial_rope_dims), with qk_layernorm (ModelArgs::qk_norm)
// each head's queries and keys through a LayerNorm without bias of its own, the queries in
// float32 through the attention, Llama's MLP, and with use_parallel_residual
// (ModelArgs::parallel_residual) attention and the MLP side by side on one norm's output; an
// lm_head of its own.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// One head's LayerNorm weight ("norms.N": "weight", of head_dim).
class StableLmHeadWeight : public nn::Module {
 public:
  explicit StableLmHeadWeight(int64_t head_dim);
  const Array& weight() const { return parameter("weight"); }
};

// mlx-lm's LayerNormPerHead: x (B, L, heads, head_dim) normalized over each head's features,
// times that head's weight (the heads' "norms.N.weight" stacked).
class StableLmHeadNorm : public nn::Layer {
 public:
  StableLmHeadNorm(int heads, int64_t head_dim, float eps);
  Array operator()(const Array& x) override;

 private:
  float eps_;
  std::vector<StableLmHeadWeight*> norms_;
};

// "q_proj", "k_proj", "v_proj", "o_proj", and with qk_norm "q_layernorm", "k_layernorm".
class StableLmAttention : public nn::Module {
 public:
  explicit StableLmAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  Rope rope_;
  StableLmHeadNorm *q_layernorm_ = nullptr, *k_layernorm_ = nullptr;
};

// "self_attn", "mlp", "input_layernorm", and without parallel_residual
// "post_attention_layernorm".
class StableLmBlock : public nn::Module {
 public:
  explicit StableLmBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  StableLmAttention& self_attn_;
  Mlp& mlp_;
  nn::LayerNorm& input_layernorm_;
  nn::LayerNorm* post_attention_layernorm_ = nullptr;  // null with parallel_residual
};

// "embed_tokens", "layers.N", "norm".
class StableLmModel : public nn::Module {
 public:
  explicit StableLmModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  nn::Embedding& embed_tokens_;
  std::vector<StableLmBlock*> layers_;
  nn::LayerNorm* norm_ = nullptr;
};

// model_type "stablelm": "model" and "lm_head" (no bias).
class StableLm : public Model {
 public:
  explicit StableLm(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  StableLmModel& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_STABLELM_H_
