#ifndef FERRY_CLIENT_LM_MAMBA_H_
#define FERRY_CLIENT_LM_MAMBA_H_

// Mamba (1: model_type "mamba", and "falcon_mamba", which mlx-lm's MODEL_REMAPPING reads as
// mamba with use_bcdt_rms) as mlx-lm builds it (models/mamba.py): "backbone" ("embeddings",
// "layers.N", "norm_f") and, unless tied, "lm_head". Each layer is x + mixer(norm(x)); the
// mixer's in_proj gives x and a gate z, a causal depthwise conv1d and silu, then the
// selective scan a step at a time: x_proj gives dt (time_step_rank wide), B and C
// (Falcon-Mamba's each normalized without weight), dt_proj and softplus the step sizes, the
// state (B, intermediate, state) decayed by exp(dt * A) plus dt * x * B, read through C,
// plus D * x; out_proj of silu(z) times that. A layer's cache is KVCache::arrays(2): slot 0
// its last conv_kernel - 1 conv inputs, slot 1 the state. As mlx-lm's, the mixer reads no
// mask: a batch's left padding steps through the conv and the state.

#include <cstdint>
#include <vector>

#include "client/lm/model.h"
#include "client/nn/convolution.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's MambaBlock: "in_proj", "conv1d" (weight (intermediate, conv_kernel, 1)),
// "x_proj", "dt_proj", "A_log", "D", "out_proj".
class MambaMixer : public nn::Module {
 public:
  explicit MambaMixer(const ModelArgs& args);
  Array operator()(const Array& x, KVCache* cache);

 private:
  int kernel_;
  int64_t inner_, state_size_, rank_;
  bool bcdt_rms_;
  float mixer_eps_;
  nn::Linear& in_proj_;
  nn::Conv1d& conv1d_;
  nn::Linear &x_proj_, &dt_proj_, &out_proj_;
};

// "mixer", "norm" (RMSNorm of eps 1e-5).
class MambaResidualBlock : public nn::Module {
 public:
  explicit MambaResidualBlock(const ModelArgs& args);
  Array operator()(const Array& x, KVCache* cache);

 private:
  MambaMixer& mixer_;
  nn::RMSNorm& norm_;
};

// "embeddings", "layers.N", "norm_f" (RMSNorm of eps 1e-5).
class MambaBackbone : public nn::Module {
 public:
  explicit MambaBackbone(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embeddings() { return embeddings_; }

 private:
  nn::Embedding& embeddings_;
  std::vector<MambaResidualBlock*> layers_;
  nn::RMSNorm* norm_f_ = nullptr;
};

// model_type "mamba" and "falcon_mamba": "backbone" and, unless tied, "lm_head".
class Mamba : public Model {
 public:
  explicit Mamba(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(2) for every layer.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's: Hugging Face's conv weights (C, 1, K) become (C, K, 1).
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  MambaBackbone& backbone_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MAMBA_H_
