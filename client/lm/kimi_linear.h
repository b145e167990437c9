#ifndef FERRY_CLIENT_LM_KIMI_LINEAR_H_
#define FERRY_CLIENT_LM_KIMI_LINEAR_H_

// Kimi Linear as mlx-lm builds it (models/kimi_linear.py): a hybrid whose layers of
// linear_attn_config's kda_layers are Kimi Delta Attention (q, k and v each through a short
// causal conv, the gated delta rule of gated_delta.h with a decay per head and key feature,
// a gated RMSNorm of each head's output) and the others DeepSeek V3's multi-head latent
// attention without RoPE (deepseek_v3.h, mla.h); feed-forwards routed in groups as DeepSeek
// V3's, with shared experts, after first_k_dense_replace dense layers. A KDA layer's cache
// is KVCache::arrays(4): the three convs' last kernel - 1 inputs and the recurrent state.

#include <optional>
#include <utility>
#include <vector>

#include "client/lm/deepseek_v3.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/convolution.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's ShortConv1d: "conv", a causal depthwise Conv1d of `kernel` taps without bias,
// then silu.
class KimiShortConv : public nn::Module {
 public:
  KimiShortConv(int64_t channels, int kernel);
  // x (B, L, channels) after `state` (B, kernel - 1, channels), the inputs before it (zeros
  // at a sequence's start); a `mask` (B, L) zeroes x's false steps first. Returns the output
  // (B, L, channels) and the new state, the last kernel - 1 inputs.
  std::pair<Array, Array> operator()(const Array& x, const Array& state,
                                     const std::optional<Array>& mask);

 private:
  nn::Conv1d& conv_;
  int kernel_;
};

// Kimi Delta Attention: "q_proj", "k_proj", "v_proj", "q_conv", "k_conv", "v_conv",
// "f_a_proj", "f_b_proj" (the decay's low-rank logits, per head and key feature), "b_proj"
// (beta's), "g_a_proj", "g_b_proj" (the output gate's), "A_log" (1, 1, heads, 1),
// "dt_bias" (heads * head_dim), "o_norm", "o_proj". Its cache must be KVCache::arrays(4). A
// `mask` (B, L) bool (the cache's arrays_mask: a batch's left padding) keeps the false steps
// out of the conv and recurrent states, as mlx-lm.
class KimiDeltaAttention : public nn::Module {
 public:
  explicit KimiDeltaAttention(const ModelArgs& args);
  Array operator()(const Array& x, KVCache* cache, const std::optional<Array>& mask);

 private:
  int heads_, conv_kernel_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_;
  KimiShortConv &q_conv_, &k_conv_, &v_conv_;
  nn::Linear &f_a_proj_, &f_b_proj_, &b_proj_, &g_a_proj_, &g_b_proj_;
  nn::RMSNorm& o_norm_;
  nn::Linear& o_proj_;
};

// mlx-lm's KimiSparseMoE: "gate" (a Linear, quantized as the model's router), "switch_mlp",
// "e_score_correction_bias", and "shared_experts" when n_shared_experts. The experts chosen
// as select_grouped_experts chooses them from sigmoid (or, sigmoid_router false, softmax)
// scores in the gates' dtype; their outputs' weighted sum plus the shared experts'.
class KimiSparseMoE : public nn::Layer {
 public:
  explicit KimiSparseMoE(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_, n_group_, topk_group_;
  float routed_scaling_factor_;
  bool renormalize_, sigmoid_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
  Mlp* shared_experts_ = nullptr;
};

// "self_attn" (KimiDeltaAttention, or DeepseekV3Attention for the layers not in
// kda_layers), "mlp" (KimiSparseMoE, or an Mlp of intermediate_size), "input_layernorm",
// "post_attention_layernorm".
class KimiLinearBlock : public nn::Module {
 public:
  KimiLinearBlock(const ModelArgs& args, int index);
  // `mask` is the attention mask of a latent-attention layer, the arrays_mask of a KDA one.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool is_linear() const { return delta_attn_ != nullptr; }

 private:
  KimiDeltaAttention* delta_attn_ = nullptr;
  DeepseekV3Attention* latent_attn_ = nullptr;
  nn::Layer* mlp_ = nullptr;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class KimiLinearModel : public nn::Module {
 public:
  explicit KimiLinearModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<KimiLinearBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "kimi_linear": "model" and, unless the embeddings are tied, "lm_head".
class KimiLinear : public Model {
 public:
  explicit KimiLinear(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(4) for each KDA layer, a plain cache for the others.
  std::vector<KVCache> make_cache() const override;
  // The latent attention reads its cache as DeepSeek V3's does, not through lm::attention.
  bool reads_quantized_cache() const override { return false; }
  // mlx-lm's: the multi-token prediction layer (model.mtp.*) dropped, lm_head.weight too when
  // tied; Hugging Face's block_sparse_moe as mlp (its experts' w1, w2, w3 stacked as
  // switch_mlp's gate_proj, down_proj, up_proj; gate.e_score_correction_bias as
  // e_score_correction_bias); q_conv1d, k_conv1d, v_conv1d as q_conv.conv... with (C, 1, K)
  // weights moved to (C, K, 1); dt_bias flattened; each kv_b_proj split (split_kv_b_proj).
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: e_score_correction_bias, A_log and dt_bias kept in their dtype.
  bool casts(const std::string& name) const override;
  // mlx-lm's: the routers (mlp.gate) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;

 private:
  ModelArgs args_;
  KimiLinearModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

// Whether layer `index` is Kimi Delta Attention (its index + 1 in kda_layers), the others
// latent attention.
bool is_kda_layer(const ModelArgs& args, int index);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_KIMI_LINEAR_H_
