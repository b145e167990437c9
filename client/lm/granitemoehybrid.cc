#include "client/lm/granitemoehybrid.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/lm/conv_weights.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/granitemoe.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool IsMamba(const ModelArgs& args, int index) {
  return args.layer_types[static_cast<size_t>(index)] == "mamba";
}

}  // namespace

GraniteSharedMlp::GraniteSharedMlp(const ModelArgs& args)
    : input_linear_(register_module(
          "input_linear",
          nn::Linear(args.hidden_size, 2 * args.shared_expert_intermediate_size, false))),
      output_linear_(register_module(
          "output_linear",
          nn::Linear(args.shared_expert_intermediate_size, args.hidden_size, false))) {}

Array GraniteSharedMlp::operator()(const Array& x) {
  const std::vector<Array> gate_up = split(input_linear_(x), 2, -1);
  return output_linear_(silu(gate_up[0]) * gate_up[1]);
}

GraniteMoeHybridLayer::GraniteMoeHybridLayer(const ModelArgs& args, int index)
    : residual_multiplier_(args.residual_multiplier),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  if (IsMamba(args, index)) {
    mamba_ = &register_module("mamba", Mamba2Mixer(args, /*cast_d=*/true));
  } else {
    self_attn_ = &register_module("self_attn", Attention(args));
  }
  if (args.num_experts > 0) {
    shared_mlp_ = &register_module("shared_mlp", GraniteSharedMlp(args));
    moe_ = &register_module("block_sparse_moe", GraniteMoeBlock(args));
  } else {
    moe_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size, args.mlp_bias));
  }
  post_attention_layernorm_ = &register_module("post_attention_layernorm",
                                               nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array GraniteMoeHybridLayer::operator()(const Array& x, const std::optional<Array>& mask,
                                        KVCache* cache, const std::optional<Array>& position) {
  const Array normed = input_layernorm_(x);
  const Array mixed =
      mamba_ ? (*mamba_)(normed, mask, cache) : (*self_attn_)(normed, mask, cache, position);
  const Array h = x + mixed * residual_multiplier_;
  const Array ff_in = (*post_attention_layernorm_)(h);
  Array ff = (*moe_)(ff_in);
  if (shared_mlp_) ff = ff + (*shared_mlp_)(ff_in);
  return h + ff * residual_multiplier_;
}

GraniteMoeHybridModel::GraniteMoeHybridModel(const ModelArgs& args)
    : embedding_multiplier_(args.embedding_multiplier),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), GraniteMoeHybridLayer(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array GraniteMoeHybridModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("GraniteMoeHybrid", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens) * embedding_multiplier_;
  // The attention layers' position and mask and the mamba layers' (a batch's padding),
  // from one cache of each kind: the caches advance together.
  const LayerMasks masks = hybrid_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, layers_[i]->is_attention() ? masks.global : masks.arrays,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

GraniteMoeHybrid::GraniteMoeHybrid(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", GraniteMoeHybridModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array GraniteMoeHybrid::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  // Divided by logits_scaling, as mlx-lm does (not times its inverse).
  return (lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h)) / args_.logits_scaling;
}

std::vector<KVCache> GraniteMoeHybrid::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(IsMamba(args_, i) ? KVCache::arrays(2) : KVCache());
  }
  return cache;
}

nn::Parameters GraniteMoeHybrid::sanitize(nn::Parameters weights) const {
  const bool moe = args_.num_experts > 0;
  nn::Parameters out;
  for (auto& [name, value] : sanitize_conv_weights(std::move(weights), "conv1d.weight")) {
    if (moe && absl::EndsWith(name, "block_sparse_moe.input_linear.weight")) {
      const std::vector<Array> halves = split(value, 2, 1);
      out.emplace_back(absl::StrReplaceAll(name, {{"input_linear", "switch_mlp.gate_proj"}}),
                       halves[0]);
      out.emplace_back(absl::StrReplaceAll(name, {{"input_linear", "switch_mlp.up_proj"}}),
                       halves[1]);
    } else if (moe && absl::EndsWith(name, "block_sparse_moe.output_linear.weight")) {
      out.emplace_back(absl::StrReplaceAll(name, {{"output_linear", "switch_mlp.down_proj"}}),
                       std::move(value));
    } else if (!moe && absl::EndsWith(name, "shared_mlp.input_linear.weight")) {
      const std::vector<Array> halves = split(value, 2, 0);
      out.emplace_back(absl::StrReplaceAll(name, {{"shared_mlp.input_linear", "mlp.gate_proj"}}),
                       halves[0]);
      out.emplace_back(absl::StrReplaceAll(name, {{"shared_mlp.input_linear", "mlp.up_proj"}}),
                       halves[1]);
    } else if (!moe && absl::EndsWith(name, "shared_mlp.output_linear.weight")) {
      out.emplace_back(absl::StrReplaceAll(name, {{"shared_mlp.output_linear", "mlp.down_proj"}}),
                       std::move(value));
    } else if (!(args_.tie_word_embeddings && name == "lm_head.weight")) {
      out.emplace_back(name, std::move(value));
    }
  }
  return out;
}

std::optional<std::pair<int, int>> GraniteMoeHybrid::own_quantization(
    const std::string& path) const {
  if (args_.num_experts > 0 && absl::EndsWith(path, "router.layer")) return kRouterQuantization;
  return std::nullopt;
}

}  // namespace ferry::lm
