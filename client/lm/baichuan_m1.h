#ifndef FERRY_CLIENT_LM_BAICHUAN_M1_H_
#define FERRY_CLIENT_LM_BAICHUAN_M1_H_

// Baichuan-M1 as mlx-lm builds it (models/baichuan_m1.py): q, k and v from one W_pack, the
// keys and values (before RoPE) through a causal convolution of two taps per key/value head
// (conv_k, conv_v: the previous position's times the first, this one's times the second),
// plain RoPE; the layers of sliding_window_layers attend over the last sliding_window
// positions with heads of their own (num_swa_attention_heads), the others over all. Each
// layer's cache is a KVCache::list, mlx-lm's CacheList: an arrays cache of the last key and
// value before the convolution, and a plain or rotating cache. lm_head is normalized row by
// row when loaded unquantized (sanitize).

#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "W_pack", "o_proj", "conv_k", "conv_v".
class BaichuanM1Attention : public nn::Module {
 public:
  BaichuanM1Attention(const ModelArgs& args, bool sliding);
  // cache: the layer's list (arrays, then keys and values), or none; position its keys'
  // offset_array.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  // u (B, kv_heads, L, D) convolved with `weights` (1, 1, kv_heads, 1, 2) after `state`
  // (B, kv_heads, 1, D; zeros when none): the last position before u.
  Array Convolve(const Array& u, const Array& weights, const std::optional<Array>& state) const;

  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &w_pack_, &o_proj_;
  Rope rope_;
};

// "self_attn", "mlp", "input_layernorm", "post_attention_layernorm".
class BaichuanM1Block : public nn::Module {
 public:
  BaichuanM1Block(const ModelArgs& args, bool sliding);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  BaichuanM1Attention& self_attn_;
  Mlp& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class BaichuanM1Model : public nn::Module {
 public:
  explicit BaichuanM1Model(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  int64_t window_;
  std::vector<bool> sliding_;
  nn::Embedding& embed_tokens_;
  std::vector<BaichuanM1Block*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "baichuan_m1": "model" and "lm_head".
class BaichuanM1 : public Model {
 public:
  explicit BaichuanM1(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's make_cache: per layer a list of an arrays cache of two and a plain cache, or a
  // rotating one of sliding_window for a sliding layer.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's: lm_head.weight's rows divided by their norms (+ 1e-7, in float32), unless the
  // checkpoint is quantized (lm_head.scales).
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  BaichuanM1Model& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_BAICHUAN_M1_H_
