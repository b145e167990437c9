#ifndef FERRY_CLIENT_LM_BAILING_MOE_H_
#define FERRY_CLIENT_LM_BAILING_MOE_H_

// Ling and Ring (model_type bailing_moe) as mlx-lm builds them (models/bailing_moe.py), under
// its names: "model.word_embeddings", each layer's "attention" (q, k and v in one
// query_key_value projection, biased when use_qkv_bias; "dense" after, biased when use_bias;
// q and k normalized per head when use_qk_norm; RoPE over rotary_dim, else head_dim *
// partial_rotary_factor, features as rope_scaling says), first_k_dense_replace dense layers,
// then experts (biased when use_bias) routed by a softmax or sigmoid (score_function) of the
// gates, ranked with an expert_bias when moe_router_enable_expert_bias, in DeepSeek V3's groups
// when n_group > 1, beside shared experts.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "query_key_value", "dense" and, use_qk_norm, "query_layernorm" and "key_layernorm".
class BailingMoeAttention : public nn::Module {
 public:
  explicit BailingMoeAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &query_key_value_, &dense_;
  nn::RMSNorm *query_layernorm_ = nullptr, *key_layernorm_ = nullptr;
  Rope rope_;
};

// "gate_proj" and, ModelArgs::router_expert_bias, "expert_bias" (num_experts,).
class BailingMoeGate : public nn::Module {
 public:
  explicit BailingMoeGate(const ModelArgs& args);
  // mlx-lm's group_expert_select of the softmax (or sigmoid_router: the sigmoids) of x's gates
  // in float32, ranked with expert_bias, in groups when n_group > 1: the experts and their
  // weights (renormalized, norm_topk_prob, 1e-20 added to their sum; times
  // routed_scaling_factor) in x's dtype.
  std::pair<Array, Array> operator()(const Array& x);

 private:
  int top_k_, n_group_, topk_group_;
  float routed_scaling_factor_;
  bool norm_topk_prob_, sigmoid_;
  nn::Linear& gate_proj_;
};

// "gate", "switch_mlp" (biased when use_bias) and, with shared experts, "shared_experts".
class BailingMoeSparseMoeBlock : public nn::Layer {
 public:
  explicit BailingMoeSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  BailingMoeGate& gate_;
  SwitchGLU& switch_mlp_;
  Mlp* shared_experts_ = nullptr;
};

// "attention", "mlp" (BailingMoeSparseMoeBlock, or an Mlp of intermediate_size before
// first_k_dense_replace), "input_layernorm", "post_attention_layernorm".
class BailingMoeBlock : public nn::Module {
 public:
  BailingMoeBlock(const ModelArgs& args, int index);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  BailingMoeAttention& attention_;
  nn::Layer& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "word_embeddings", "layers.N", "norm".
class BailingMoeModel : public nn::Module {
 public:
  explicit BailingMoeModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& word_embeddings() { return word_embeddings_; }

 private:
  nn::Embedding& word_embeddings_;
  std::vector<BailingMoeBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "bailing_moe": "model" and, unless the embeddings are tied, "lm_head".
class BailingMoe : public Model {
 public:
  explicit BailingMoe(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: lm_head dropped where the embeddings are tied, each column of lm_head divided
  // by its norm (plus 1e-7) in float32 when norm_head (a quantized one throws UNIMPLEMENTED),
  // Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as mlp.switch_mlp's and
  // mlp.gate.weight (bias) renamed mlp.gate.gate_proj's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: the routers (mlp.gate.gate_proj) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;

 private:
  ModelArgs args_;
  BailingMoeModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_BAILING_MOE_H_
