#ifndef FERRY_CLIENT_LM_LFM2_H_
#define FERRY_CLIENT_LM_LFM2_H_

// Liquid AI's LFM2 as mlx-lm builds it (models/lfm2.py), and the layers LFM2-MoE shares with
// it (lfm2_moe.h): a hybrid whose full_attn_idxs layers attend (queries and keys normalized
// per head) and whose others are short convolutions: in_proj gives B, C and x, and
// C * conv(B * x) goes out, the conv a causal depthwise conv1d of conv_L_cache taps. A short
// convolution's cache is KVCache::arrays(1): its last conv_L_cache - 1 inputs. The output
// layer is the embedding.

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/convolution.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "q_proj", "k_proj", "v_proj", "out_proj", "q_layernorm", "k_layernorm" (each head's).
class Lfm2Attention : public nn::Module {
 public:
  explicit Lfm2Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &out_proj_;
  nn::RMSNorm &q_layernorm_, &k_layernorm_;
  Rope rope_;
};

// mlx-lm's ShortConv: "in_proj", "conv" (weight (C, conv_L_cache, 1)), "out_proj", biased when
// conv_bias. Its cache must be an arrays cache of 1 (KVCache::arrays). A `mask` (B, L) bool
// (the cache's arrays_mask: a batch's left padding) zeroes the false steps' conv inputs, as
// mlx-lm's: a row's padding then reads as the zeros before its first token.
class ShortConv : public nn::Module {
 public:
  explicit ShortConv(const ModelArgs& args);
  Array operator()(const Array& x, KVCache* cache, const std::optional<Array>& mask);

 private:
  int64_t hidden_size_;
  int kernel_;
  nn::Linear& in_proj_;
  nn::Conv1d& conv_;
  nn::Linear& out_proj_;
};

// LFM2's MLP: w2(silu(w1(x)) * w3(x)), intermediate_size wide.
class Lfm2Mlp : public nn::Layer {
 public:
  explicit Lfm2Mlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &w1_, &w2_, &w3_;
};

// "self_attn" or "conv", "feed_forward", "operator_norm", "ffn_norm".
class Lfm2Block : public nn::Module {
 public:
  template <typename FeedForward>
  Lfm2Block(const ModelArgs& args, int index, FeedForward feed_forward) {
    AddOperator(args, index);
    feed_forward_ = &register_module("feed_forward", std::move(feed_forward));
  }
  // `mask` is the attention mask of an attention layer, the arrays_mask of a conv one.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool is_attention() const { return self_attn_ != nullptr; }

 private:
  // The attention or the short convolution, and the norms.
  void AddOperator(const ModelArgs& args, int index);

  Lfm2Attention* self_attn_ = nullptr;
  ShortConv* conv_ = nullptr;
  nn::Layer* feed_forward_ = nullptr;
  nn::RMSNorm *operator_norm_ = nullptr, *ffn_norm_ = nullptr;
};

// Layer `index` of a model; LFM2's (Lfm2Mlp) when none is given.
using MakeLfm2Layer = std::function<Lfm2Block(const ModelArgs& args, int index)>;

// "embed_tokens", "layers.N", "embedding_norm" (the last norm, despite its name).
class Lfm2Model : public nn::Module {
 public:
  Lfm2Model(const ModelArgs& args, const MakeLfm2Layer& make_layer);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<Lfm2Block*> layers_;
  nn::RMSNorm* embedding_norm_ = nullptr;
};

// Whether layer `index` attends (one of full_attn_idxs); the others are short convolutions.
bool is_attention_layer(const ModelArgs& args, int index);

// model_type "lfm2": "model"; the logits are the embedding's as_linear.
class Lfm2 : public Model {
 public:
  explicit Lfm2(ModelArgs args, const MakeLfm2Layer& make_layer = nullptr);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: a plain cache for each attention layer, KVCache::arrays(1) for the others.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's: Hugging Face's conv weights (C, 1, K) become (C, K, 1).
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Lfm2Model& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LFM2_H_
