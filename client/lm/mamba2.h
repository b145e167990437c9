#ifndef FERRY_CLIENT_LM_MAMBA2_H_
#define FERRY_CLIENT_LM_MAMBA2_H_

// Mamba-2 as mlx-lm builds it (models/mamba2.py), and the mixer Granite 4.0 shares with it
// (granitemoehybrid.h): in_proj gives a gate, the conv's input (x, B and C) and the time
// steps; a causal depthwise conv1d and silu, the state-space scan (ssm.h), the gated norm,
// out_proj. A mixer's cache is KVCache::arrays(2): slot 0 its last d_conv - 1 conv inputs,
// slot 1 the scan's state (B, heads, head_dim, d_state).

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "client/lm/model.h"
#include "client/nn/convolution.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's MambaRMSNormGated: rms_norm(silu(gate) * x) times its weight ("weight"); with
// `before_gate` (Falcon-H1's FalconH1RMSNormGated, norm_before_gate) silu(gate) times
// rms_norm(x) times the weight; of `groups` > 1 (Nemotron-H's) each of that many groups of
// features of silu(gate) * x normalized apart, then times the weight.
class MambaRMSNormGated : public nn::Module {
 public:
  MambaRMSNormGated(int64_t dims, float eps, bool before_gate = false, int groups = 1);
  Array operator()(const Array& x, const Array& gate);

 private:
  float eps_;
  bool before_gate_;
  int groups_;
};

// mlx-lm's Mamba2Block (Granite's GraniteMoeHybridMamba2Mixer): "in_proj", "conv1d" (weight
// (conv_dim, d_conv, 1)), "dt_bias", "A_log", "D", "norm", "out_proj", sized by
// ModelArgs::mamba_*; Nemotron-H's NemotronHMamba2Mixer (its gated norm per group:
// ModelArgs::mamba_norm_per_group); Falcon-H1's FalconH1Mixer too, whose "norm" is there
// only when ModelArgs::mamba_rms_norm (without it y times silu(gate)). Its cache must be an
// arrays cache of 2 (KVCache::arrays). A `mask` (B, L) bool (the cache's arrays_mask: a
// batch's left padding) zeroes the false steps' conv inputs and keeps them out of the state,
// as mlx-lm's. `cast_d`: D in the input's dtype first (Granite's).
class Mamba2Mixer : public nn::Module {
 public:
  Mamba2Mixer(const ModelArgs& args, bool cast_d);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache);

 private:
  int heads_, groups_, kernel_;
  int64_t head_dim_, state_size_, inner_, conv_dim_, chunk_;
  std::pair<float, float> time_step_limit_;
  bool cast_d_;
  nn::Linear& in_proj_;
  nn::Conv1d& conv1d_;
  MambaRMSNormGated* norm_ = nullptr;  // none: y times silu(gate)
  nn::Linear& out_proj_;
};

// "mixer", "norm" (mlx-lm's RMSNorm of eps 1e-5): x + mixer(norm(x)).
class Mamba2ResidualBlock : public nn::Module {
 public:
  explicit Mamba2ResidualBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache);

 private:
  Mamba2Mixer& mixer_;
  nn::RMSNorm& norm_;
};

// "embeddings", "layers.N", "norm_f".
class Mamba2Backbone : public nn::Module {
 public:
  explicit Mamba2Backbone(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embeddings() { return embeddings_; }

 private:
  nn::Embedding& embeddings_;
  std::vector<Mamba2ResidualBlock*> layers_;
  nn::RMSNorm* norm_f_ = nullptr;
};

// model_type "mamba2": "backbone" and, unless the embeddings are tied, "lm_head".
class Mamba2 : public Model {
 public:
  explicit Mamba2(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(2) for every layer.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's: Hugging Face's conv weights (C, 1, K) become (C, K, 1).
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Mamba2Backbone& backbone_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MAMBA2_H_
