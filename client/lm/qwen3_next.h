#ifndef FERRY_CLIENT_LM_QWEN3_NEXT_H_
#define FERRY_CLIENT_LM_QWEN3_NEXT_H_

// Qwen3-Next as mlx-lm builds it (models/qwen3_next.py), and the layers Qwen3.5 shares with
// it (qwen3_5.h): a hybrid whose every full_attention_interval-th layer is gated full
// attention (q_proj also gives a sigmoid gate on the output, q and k normalized per head,
// partial_rotary_factor of each head rotated) and the others gated delta nets (linear
// attention: a causal depthwise conv1d over the projected q, k and v, then the gated delta
// rule, gated_delta.h). A linear layer's cache is KVCache::arrays(2): the conv1d's last
// kernel - 1 inputs and the recurrent state. The feed-forward is a mixture of experts with a
// gated shared expert, or a dense Mlp (mlp_only_layers, off decoder_sparse_step, none).

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/convolution.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's Qwen3NextRMSNormGated: rms_norm(x) * silu(gate), in float32, in x's dtype.
class RMSNormGated : public nn::Module {
 public:
  RMSNormGated(int64_t dims, float eps);
  Array operator()(const Array& x, const Array& gate);

 private:
  float eps_;
};

// Gated full attention: "q_proj" (queries and their gates), "k_proj", "v_proj", "o_proj",
// "q_norm", "k_norm".
class Qwen3NextAttention : public nn::Module {
 public:
  explicit Qwen3NextAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  nn::RMSNorm &q_norm_, &k_norm_;
  Rope rope_;
};

// The gated delta net: "conv1d", "dt_bias", "A_log", "norm", "out_proj", and the input
// projections: Qwen3-Next's "in_proj_qkvz" and "in_proj_ba" (each key head's q, k, v, z and
// b, a together) when `fused`, else Qwen3.5's "in_proj_qkv", "in_proj_z", "in_proj_b" and
// "in_proj_a". Its cache must be an arrays cache of 2 (KVCache::arrays). A `mask` (B, L)
// bool (the cache's arrays_mask: a batch's left padding) keeps the false steps out of both
// states, as mlx-lm: their conv inputs zeroed, the recurrence skipping them.
class GatedDeltaNet : public nn::Module {
 public:
  GatedDeltaNet(const ModelArgs& args, bool fused);
  Array operator()(const Array& x, KVCache* cache, const std::optional<Array>& mask = std::nullopt);

 private:
  // The conv1d's input (B, L, conv channels: q, k, v), the output gate z (B, L, Hv, Dv), and
  // b, a (B, L, Hv) of the projections.
  struct Projected {
    Array qkv, z, b, a;
  };
  Projected Project(const Array& x);

  int key_heads_, value_heads_;
  int64_t key_head_dim_, value_head_dim_;
  int conv_kernel_;
  nn::Linear *in_proj_qkvz_ = nullptr, *in_proj_ba_ = nullptr;  // fused
  nn::Linear *in_proj_qkv_ = nullptr, *in_proj_z_ = nullptr, *in_proj_b_ = nullptr,
             *in_proj_a_ = nullptr;
  nn::Conv1d& conv1d_;
  RMSNormGated& norm_;
  nn::Linear& out_proj_;
};

// "linear_attn" or "self_attn", "mlp", "input_layernorm", "post_attention_layernorm".
class Qwen3NextBlock : public nn::Module {
 public:
  Qwen3NextBlock(const ModelArgs& args, int index, bool fused);
  // `mask` is the attention mask of a full-attention layer, the arrays_mask of a linear one.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool is_linear() const { return linear_attn_ != nullptr; }

 private:
  GatedDeltaNet* linear_attn_ = nullptr;
  Qwen3NextAttention* self_attn_ = nullptr;
  nn::Layer* mlp_ = nullptr;
  nn::RMSNorm *input_layernorm_ = nullptr, *post_attention_layernorm_ = nullptr;
};

// "embed_tokens", "layers.N", "norm".
class Qwen3NextModel : public nn::Module {
 public:
  Qwen3NextModel(const ModelArgs& args, bool fused);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<Qwen3NextBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// Whether layer `index` is a gated delta net (the others full attention).
bool is_linear_layer(const ModelArgs& args, int index);

// model_type "qwen3_next": "model" and, unless the embeddings are tied, "lm_head". `fused`
// false builds Qwen3.5's projections (Qwen35's language_model).
class Qwen3Next : public Model {
 public:
  explicit Qwen3Next(ModelArgs args, bool fused = true);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(2) for each linear layer, a plain cache for the others.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's, for a Hugging Face checkpoint (one with per-expert weights; any other is taken
  // as mlx-lm saved it): the experts stacked, the multi-token prediction layer (mtp.*)
  // dropped, conv1d weights (C, 1, K) to (C, K, 1), and the norms stored as weight - 1
  // shifted back.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: the routers (mlp.gate, shared_expert_gate) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;

 private:
  ModelArgs args_;
  Qwen3NextModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

// mlx-lm's sanitize of the conv1d weights and the norms, shared with Qwen3.5: the conv1d
// weights as sanitize_conv_weights moves them, and, with `shift_norms`, the 1-D norms
// of the residual stream, q and k (input_layernorm, post_attention_layernorm, model.norm,
// q_norm, k_norm; not the gated norm) gain 1.
nn::Parameters sanitize_conv_and_norms(nn::Parameters weights, bool shift_norms);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_QWEN3_NEXT_H_
