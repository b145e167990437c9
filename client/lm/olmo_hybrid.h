#ifndef FERRY_CLIENT_LM_OLMO_HYBRID_H_
#define FERRY_CLIENT_LM_OLMO_HYBRID_H_

// OLMo hybrid as mlx-lm builds it (models/olmo_hybrid.py): gated delta nets (linear
// attention) in the layers layer_types calls "linear_attention", OLMo 2's blocks elsewhere
// (q/k norms over the whole projections, norms after attention and the MLP). A gated delta
// net projects q, k and v apart, each through its own causal depthwise conv (q_conv1d,
// k_conv1d, v_conv1d), then the gated delta rule
// (gated_delta.h; beta in [0, 2] with linear_allow_neg_eigval), its output through a gated
// RMSNorm by g_proj's gate. A linear layer's cache is KVCache::arrays(4): the three convs'
// last kernel - 1 inputs and the recurrent state.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/qwen3_next.h"
#include "client/nn/convolution.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "q_proj", "k_proj", "v_proj", "a_proj", "b_proj", "g_proj", "o_proj", "q_conv1d",
// "k_conv1d", "v_conv1d", "A_log", "dt_bias", "o_norm". A `mask` (B, L) bool (the cache's
// arrays_mask: a batch's left padding) keeps the false steps out of the recurrent state and
// zeroes their conv inputs (where mlx-lm's conv takes them in), so that a row of a batch gives
// its tokens alone.
class OlmoHybridGatedDeltaNet : public nn::Module {
 public:
  explicit OlmoHybridGatedDeltaNet(const ModelArgs& args);
  Array operator()(const Array& x, KVCache* cache, const std::optional<Array>& mask);

 private:
  // conv over x (B, L, C) after the cache's slot `slot` (zeros at the start), silu'd.
  Array Conv(const Array& x, nn::Conv1d& conv, KVCache* cache, int slot);

  int key_heads_, value_heads_;
  int64_t key_head_dim_, value_head_dim_;
  int conv_kernel_;
  bool allow_neg_eigval_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &a_proj_, &b_proj_, &g_proj_, &o_proj_;
  nn::Conv1d &q_conv1d_, &k_conv1d_, &v_conv1d_;
  RMSNormGated& o_norm_;
};

// A linear layer: "linear_attn", "mlp", "input_layernorm", "post_attention_layernorm"; a
// full one: "self_attn", "mlp", "post_attention_layernorm", "post_feedforward_layernorm".
class OlmoHybridBlock : public nn::Module {
 public:
  OlmoHybridBlock(const ModelArgs& args, int layer);
  // `mask` is the attention mask of a full layer, the arrays_mask of a linear one.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool is_linear() const { return linear_attn_ != nullptr; }

 private:
  OlmoHybridGatedDeltaNet* linear_attn_ = nullptr;
  Attention* self_attn_ = nullptr;
  Mlp* mlp_ = nullptr;
  nn::RMSNorm *input_layernorm_ = nullptr, *post_attention_layernorm_ = nullptr,
              *post_feedforward_layernorm_ = nullptr;
};

// "embed_tokens", "layers.N", "norm".
class OlmoHybridModel : public nn::Module {
 public:
  explicit OlmoHybridModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<OlmoHybridBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "olmo_hybrid": "model" and, unless tied, "lm_head". sanitize drops a tied
// checkpoint's lm_head.weight and moves Hugging Face's conv weights (C, 1, K) to (C, K, 1).
class OlmoHybrid : public Model {
 public:
  explicit OlmoHybrid(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(4) for each linear layer, a plain cache for the others.
  std::vector<KVCache> make_cache() const override;
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  OlmoHybridModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_OLMO_HYBRID_H_
