#include "client/lm/mistral4.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

std::pair<Array, Array> mistral4_expert_select(const Array& gates, int top_k, int n_group,
                                               int topk_group, float routed_scaling_factor,
                                               bool norm_topk_prob) {
  const Array scores = softmax(astype(gates, float32), -1);
  // DeepSeek's grouped routing without a bias; its sum normalized with mlx-lm's 1e-20, which
  // Mistral 4 divides by for a single expert too.
  auto [indices, weights] =
      select_grouped_experts(scores, zeros({}, float32, scores.device()), top_k, n_group,
                             topk_group, /*routed_scaling_factor=*/1.0f, norm_topk_prob, 1e-20f);
  if (top_k == 1 && norm_topk_prob) weights = weights / (weights + 1e-20f);
  return {indices, weights * routed_scaling_factor};
}

Mistral4Gate::Mistral4Gate(const ModelArgs& args)
    : nn::Linear(args.hidden_size, args.num_experts, false),
      top_k_(args.num_experts_per_tok),
      n_group_(args.n_group),
      topk_group_(args.topk_group),
      routed_scaling_factor_(args.routed_scaling_factor),
      norm_topk_prob_(args.norm_topk_prob) {}

std::pair<Array, Array> Mistral4Gate::route(const Array& x) {
  return mistral4_expert_select((*this)(x), top_k_, n_group_, topk_group_, routed_scaling_factor_,
                                norm_topk_prob_);
}

Mistral4Block::Mistral4Block(const ModelArgs& args, int index)
    : self_attn_(register_module("self_attn", DeepseekV3Attention(args))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  if (args.num_experts > 0 && index >= args.first_k_dense_replace) {
    mlp_ = &register_module("mlp", DeepseekV3MoE(args, "switch_mlp", MoeRouter::kMistral4));
  } else {
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
  }
}

Array Mistral4Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + (*mlp_)(post_attention_layernorm_(h));
}

Mistral4::Stack::Stack(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Mistral4Block(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Mistral4::Stack::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Mistral4", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  // An array for the whole sequence too: the latent attention adds its positions' scores.
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache, /*as_array=*/true);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Mistral4::Mistral4(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Stack(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Mistral4::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

nn::Parameters Mistral4::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  const std::string fused = ".mlp.experts.gate_up_proj", down = ".mlp.experts.down_proj";
  for (auto& [name, array] : weights) {
    if (absl::EndsWith(name, "_scale_inv") || absl::EndsWith(name, "weight_packed")) {
      throw Error(ErrorCode::kUnimplemented,
                  absl::StrCat("[load_model] ", name,
                               ": Mistral 4's FP8 and compressed int4 checkpoints are not read by "
                               "ferry::lm (mlx-lm's conversions of them are)."));
    }
    if (absl::EndsWith(name, "activation_scale") ||
        absl::StrContains(name, "rotary_emb.inv_freq")) {
      continue;
    }
    if (absl::EndsWith(name, fused)) {
      // (E, 2 * intermediate, hidden): gate's rows, then up's.
      const std::string prefix = name.substr(0, name.size() - fused.size());
      const std::vector<Array> halves = split(array, 2, 1);
      kept.emplace_back(prefix + ".mlp.switch_mlp.gate_proj.weight", halves[0]);
      kept.emplace_back(prefix + ".mlp.switch_mlp.up_proj.weight", halves[1]);
    } else if (absl::EndsWith(name, down)) {
      kept.emplace_back(
          name.substr(0, name.size() - down.size()) + ".mlp.switch_mlp.down_proj.weight",
          std::move(array));
    } else {
      kept.emplace_back(std::move(name), std::move(array));
    }
  }
  const std::map<std::string, std::string> experts = {
      {"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}};
  return stack_experts(split_kv_b_proj(std::move(kept), args_), args_.num_experts, "mlp.experts",
                       "mlp.switch_mlp", experts);
}

}  // namespace ferry::lm
