#ifndef FERRY_CLIENT_LM_PLAMO2_H_
#define FERRY_CLIENT_LM_PLAMO2_H_

// PLaMo 2 as mlx-lm builds it (models/plamo2.py): Mamba mixers in the layers layer_types
// calls "mamba" (ModelArgs from mamba_step), attention in the others, each mixer and MLP
// between a norm before and one after, PLaMo's RMSNorms scaling by weight + offset (1, and
// 1/5 after the mixer, 1/5^1.5 after the MLP). A Mamba mixer: in_proj's gate z and input x
// per head, a causal depthwise conv of x, bcdt_proj's B, C and dt each RMS-normalized by its
// own weight (dt then through dt_proj), Mamba-2's scan (ssm.h: one group of B and C, time
// steps clipped to [0.001, 100]), silu(z) times its output. Its cache is KVCache::arrays(2),
// the conv's last inputs and the scan's state, as Mamba-2's. Attention: fused qkv_proj,
// weightless RMSNorms of each head's queries and keys (eps 1e-6) times q_weight and
// k_weight (one row per head), plain RoPE.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/convolution.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// PLaMo's RMSNorm: "weight" (zeros) + offset scales the normalized features.
class Plamo2RMSNorm : public nn::Layer {
 public:
  Plamo2RMSNorm(int64_t dims, float eps, float offset = 1.0f);
  Array operator()(const Array& x) override;

 private:
  float eps_, offset_;
};

// "in_proj", "conv1d", "bcdt_proj", "dt_proj", "out_proj", "dt_bias", "A_log", "D",
// "dt_norm_weight", "B_norm_weight", "C_norm_weight". A `mask` (B, L) bool (the cache's
// arrays_mask: a batch's left padding) keeps the false steps out of both states.
class Plamo2Mamba : public nn::Module {
 public:
  explicit Plamo2Mamba(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache);

 private:
  int heads_;
  int64_t head_dim_, state_size_, inner_, dt_dim_;
  int kernel_;
  float eps_;
  std::pair<float, float> time_step_limit_;
  nn::Linear& in_proj_;
  nn::Conv1d& conv1d_;
  nn::Linear &bcdt_proj_, &dt_proj_, &out_proj_;
};

// "qkv_proj", "o_proj", "q_weight", "k_weight".
class Plamo2Attention : public nn::Module {
 public:
  explicit Plamo2Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &qkv_proj_, &o_proj_;
  Rope rope_;
};

// down_proj(silu(gate) * up), gate and up the halves of gate_up_proj.
class Plamo2Mlp : public nn::Layer {
 public:
  explicit Plamo2Mlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &gate_up_proj_, &down_proj_;
};

// "mixer", "mlp", "pre_mixer_norm", "post_mixer_norm", "pre_mlp_norm", "post_mlp_norm".
class Plamo2Block : public nn::Module {
 public:
  Plamo2Block(const ModelArgs& args, int layer);
  // `mask` is the attention mask of an attention layer, the arrays_mask of a Mamba one.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool is_mamba() const { return mamba_ != nullptr; }

 private:
  Plamo2Mamba* mamba_ = nullptr;
  Plamo2Attention* attention_ = nullptr;
  Plamo2Mlp* mlp_ = nullptr;
  Plamo2RMSNorm *pre_mixer_norm_ = nullptr, *post_mixer_norm_ = nullptr, *pre_mlp_norm_ = nullptr,
                *post_mlp_norm_ = nullptr;
};

// mlx-lm's PlamoDecoder: "layers.N".
class Plamo2Decoder : public nn::Module {
 public:
  explicit Plamo2Decoder(const ModelArgs& args);
  Array operator()(const Array& h, std::vector<KVCache>* cache);
  size_t size() const { return layers_.size(); }

 private:
  std::vector<Plamo2Block*> layers_;
};

// "embed_tokens", "layers" (the decoder), "norm".
class Plamo2Model : public nn::Module {
 public:
  explicit Plamo2Model(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  Plamo2Decoder& layers_;
  Plamo2RMSNorm* norm_ = nullptr;
};

// model_type "plamo2": "model" and, unless tied, "lm_head". sanitize moves Hugging Face's
// conv weights (C, 1, K) to (C, K, 1).
class Plamo2 : public Model {
 public:
  explicit Plamo2(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(2) for each Mamba layer, a plain cache for the others.
  std::vector<KVCache> make_cache() const override;
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Plamo2Model& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PLAMO2_H_
