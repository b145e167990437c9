#ifndef FERRY_CLIENT_LM_NEMOTRON_H_H_
#define FERRY_CLIENT_LM_NEMOTRON_H_H_

// NVIDIA's Nemotron-H as mlx-lm builds it (models/nemotron_h.py): one block per character of
// hybrid_override_pattern (ModelArgs::layer_types), each x + mixer(norm(x)), its mixer a
// Mamba-2 mixer ("M", mamba2.h, the gated norm per group), attention that sees no positions
// ("*", Llama's), a relu2 MLP ("-") or experts ("E": DeepSeek V3's grouped sigmoid router over
// relu2 experts, a shared relu2 MLP beside them). Only the mamba and attention layers have
// caches, in the layers' order: KVCache::arrays(2) for a mamba layer, a plain one for an
// attention layer.

#include <optional>
#include <string>
#include <vector>

#include "client/lm/deepseek_v3.h"
#include "client/lm/llama.h"
#include "client/lm/mamba2.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's NemotronHMLP: down_proj(relu2(up_proj(x))), biased when mlp_bias.
class NemotronHMlp : public nn::Layer {
 public:
  NemotronHMlp(const ModelArgs& args, int64_t hidden_dims);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &up_proj_, &down_proj_;
};

// mlx-lm's NemotronHMoE: "gate" (DeepSeek V3's MoEGate), "switch_mlp" (fc1, fc2: relu2
// experts), "shared_experts" when n_shared_experts, and with moe_latent_size the experts
// between "fc1_latent_proj" and "fc2_latent_proj". The routed experts' weighted sum plus the
// shared experts' output.
class NemotronHMoE : public nn::Layer {
 public:
  explicit NemotronHMoE(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  DeepseekV3Gate& gate_;
  SwitchMLP& switch_mlp_;
  NemotronHMlp* shared_experts_ = nullptr;
  nn::Linear *fc1_latent_proj_ = nullptr, *fc2_latent_proj_ = nullptr;
};

// "norm" and "mixer": x + mixer(norm(x)).
class NemotronHBlock : public nn::Module {
 public:
  NemotronHBlock(const ModelArgs& args, const std::string& block_type);
  // `mask` is the attention mask of an attention layer, the arrays_mask of a mamba one; the
  // cache theirs (none for an MLP or experts); `position` the cache's offset_array.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool is_attention() const { return attention_ != nullptr; }
  bool is_cached() const { return mamba_ != nullptr || attention_ != nullptr; }

 private:
  nn::RMSNorm& norm_;
  Mamba2Mixer* mamba_ = nullptr;
  Attention* attention_ = nullptr;
  nn::Layer* feed_forward_ = nullptr;  // the MLP or the experts
};

// "embeddings", "layers.N", "norm_f".
class NemotronHModel : public nn::Module {
 public:
  explicit NemotronHModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size); the cache one per mamba or attention layer.
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  nn::Embedding& embeddings_;
  std::vector<NemotronHBlock*> layers_;
  size_t cached_layers_ = 0;
  nn::RMSNorm* norm_f_ = nullptr;
};

// model_type "nemotron_h": "backbone" and "lm_head" (never tied).
class NemotronH : public Model {
 public:
  explicit NemotronH(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(2) for a mamba layer, a plain cache for an attention one, none
  // for the others.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's: the multi-token prediction weights ("mtp.") dropped, the conv weights (C, 1, K)
  // become (C, K, 1), Hugging Face's experts (mixer.experts.E.up_proj, down_proj) stacked
  // into switch_mlp's fc1 and fc2.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's cast_predicate: e_score_correction_bias and A_log kept in their dtype.
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  NemotronHModel& backbone_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_NEMOTRON_H_H_
