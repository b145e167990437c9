#include "client/lm/nemotron_h.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/conv_weights.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/nn/activations.h"
#include "client/ops.h"

namespace ferry::lm {

NemotronHMlp::NemotronHMlp(const ModelArgs& args, int64_t hidden_dims)
    : up_proj_(
          register_module("up_proj", nn::Linear(args.hidden_size, hidden_dims, args.mlp_bias))),
      down_proj_(
          register_module("down_proj", nn::Linear(hidden_dims, args.hidden_size, args.mlp_bias))) {}

Array NemotronHMlp::operator()(const Array& x) { return down_proj_(nn::relu2(up_proj_(x))); }

NemotronHMoE::NemotronHMoE(const ModelArgs& args)
    : gate_(register_module("gate", DeepseekV3Gate(args))),
      switch_mlp_(register_module(
          "switch_mlp",
          SwitchMLP(args.moe_latent_size > 0 ? args.moe_latent_size : args.hidden_size,
                    args.moe_intermediate_size, args.num_experts,
                    [](const Array& x) { return nn::relu2(x); }))) {
  if (args.n_shared_experts > 0) {
    shared_experts_ = &register_module("shared_experts",
                                       NemotronHMlp(args, args.shared_expert_intermediate_size));
  }
  if (args.moe_latent_size > 0) {
    fc1_latent_proj_ = &register_module(
        "fc1_latent_proj", nn::Linear(args.hidden_size, args.moe_latent_size, args.mlp_bias));
    fc2_latent_proj_ = &register_module(
        "fc2_latent_proj", nn::Linear(args.moe_latent_size, args.hidden_size, args.mlp_bias));
  }
}

Array NemotronHMoE::operator()(const Array& x) {
  const auto [indices, weights] = gate_(x);
  const Array y = switch_mlp_(fc1_latent_proj_ ? (*fc1_latent_proj_)(x) : x, indices);
  Array routed = astype(sum(y * expand_dims(weights, -1), -2), y.dtype());
  if (fc2_latent_proj_) routed = (*fc2_latent_proj_)(routed);
  return shared_experts_ ? routed + (*shared_experts_)(x) : routed;
}

NemotronHBlock::NemotronHBlock(const ModelArgs& args, const std::string& block_type)
    : norm_(register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  if (block_type == "M") {
    mamba_ = &register_module("mixer", Mamba2Mixer(args, /*cast_d=*/true));
  } else if (block_type == "*") {
    attention_ = &register_module("mixer", Attention(args));
  } else if (block_type == "-") {
    feed_forward_ = &register_module("mixer", NemotronHMlp(args, args.intermediate_size));
  } else {
    feed_forward_ = &register_module("mixer", NemotronHMoE(args));
  }
}

Array NemotronHBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                 const std::optional<Array>& position) {
  const Array normed = norm_(x);
  if (mamba_) return x + (*mamba_)(normed, mask, cache);
  if (attention_) return x + (*attention_)(normed, mask, cache, position);
  return x + (*feed_forward_)(normed);
}

NemotronHModel::NemotronHModel(const ModelArgs& args)
    : embeddings_(register_module("embeddings", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(
        &register_module(absl::StrCat("layers.", i), NemotronHBlock(args, args.layer_types[i])));
    if (layers_.back()->is_cached()) ++cached_layers_;
  }
  norm_f_ = &register_module("norm_f", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array NemotronHModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("NemotronH", tokens, cache, cached_layers_);
  Array h = embeddings_(tokens);
  // The attention layers' position and mask and the mamba layers' (a batch's padding),
  // from one cache of each kind: the caches advance together.
  const LayerMasks masks = hybrid_masks(tokens.shape(1), tokens.device(), cache);
  size_t next = 0;
  for (NemotronHBlock* layer : layers_) {
    KVCache* layer_cache = cache && layer->is_cached() ? &(*cache)[next] : nullptr;
    if (layer->is_cached()) ++next;
    h = call_block(*layer, h, [=](const Array& x) {
      return (*layer)(x, layer->is_attention() ? masks.global : masks.arrays, layer_cache,
                      masks.position);
    });
  }
  return (*norm_f_)(h);
}

NemotronH::NemotronH(ModelArgs args)
    : args_(std::move(args)),
      backbone_(register_module("backbone", NemotronHModel(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array NemotronH::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(backbone_(tokens, cache));
}

std::vector<KVCache> NemotronH::make_cache() const {
  std::vector<KVCache> cache;
  for (const std::string& block : args_.layer_types) {
    if (block == "M") cache.push_back(KVCache::arrays(2));
    if (block == "*") cache.push_back(KVCache());
  }
  return cache;
}

nn::Parameters NemotronH::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (!absl::StartsWith(name, "mtp.")) kept.emplace_back(std::move(name), std::move(array));
  }
  return stack_experts(sanitize_conv_weights(std::move(kept), "conv1d.weight"), args_.num_experts,
                       "experts", "switch_mlp", {{"up_proj", "fc1"}, {"down_proj", "fc2"}});
}

bool NemotronH::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias") && !absl::StrContains(name, "A_log");
}

}  // namespace ferry::lm
