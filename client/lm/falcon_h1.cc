#include "client/lm/falcon_h1.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/conv_weights.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

constexpr char kOp[] = "FalconH1";

// mlx-lm's compute_mup_vector: in_proj's rows, one multiplier for each part of its output
// (the gate, x, B, C and the time steps), as a column of `dtype`.
Array MupColumn(const ModelArgs& args, Dtype dtype, const Device& device) {
  const int64_t inner = args.mamba_n_heads * args.mamba_d_head;
  const int64_t bc = args.mamba_n_groups * args.mamba_d_state;
  const int64_t sizes[] = {inner, inner, bc, bc, args.mamba_n_heads};
  std::vector<float> mup;
  for (size_t i = 0; i < 5; ++i) mup.insert(mup.end(), sizes[i], args.ssm_multipliers[i]);
  const int64_t rows = static_cast<int64_t>(mup.size());
  return reshape(astype(from_host(mup, {rows}, device), dtype), {rows, 1});
}

}  // namespace

FalconH1Layer::FalconH1Layer(const ModelArgs& args)
    : feed_forward_(register_module("feed_forward",
                                    Mlp(args.hidden_size, args.intermediate_size, args.mlp_bias))),
      mamba_(register_module("mamba", Mamba2Mixer(args, /*cast_d=*/false))),
      self_attn_(register_module("self_attn", Attention(args))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      pre_ff_layernorm_(
          register_module("pre_ff_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array FalconH1Layer::operator()(const Array& x, const std::optional<Array>& attention_mask,
                                const std::optional<Array>& mamba_mask, KVCache* cache,
                                const std::optional<Array>& position) {
  if (cache && !(cache->is_list() && cache->parts() == 2)) {
    detail::ThrowOpError(kOp,
                         "a layer's cache is a KVCache::list of an arrays cache and a plain one "
                         "(the model's make_cache() or make_prompt_cache()).");
  }
  const Array h = input_layernorm_(x);
  const Array mixed = mamba_(h, mamba_mask, cache ? &cache->part(0) : nullptr);
  const Array attended = self_attn_(h, attention_mask, cache ? &cache->part(1) : nullptr, position);
  const Array residual = x + mixed + attended;
  return residual + feed_forward_(pre_ff_layernorm_(residual));
}

FalconH1Model::FalconH1Model(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), FalconH1Layer(args)));
  }
  final_layernorm_ =
      &register_module("final_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array FalconH1Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs(kOp, tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  // The attention's position and mask from the first layer's attention cache, the mixers'
  // mask (a batch's padding) from its arrays cache: every layer's advance together.
  std::optional<Array> position, attention_mask, mamba_mask;
  if (cache && cache->front().is_list() && cache->front().parts() == 2) {
    const KVCache& attention = cache->front().part(1);
    position = attention.offset_array(tokens.device());
    attention_mask = attention.make_mask(tokens.shape(1), *position);
    mamba_mask = cache->front().part(0).arrays_mask(tokens.shape(1));
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, attention_mask, mamba_mask, cache ? &(*cache)[i] : nullptr, position);
    });
  }
  return (*final_layernorm_)(h);
}

FalconH1::FalconH1(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", FalconH1Model(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array FalconH1::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  if (lm_head_) return (*lm_head_)(h);
  // mlx-lm's: the embedding holds embedding_multiplier (sanitize), which this takes back.
  const double scale = static_cast<double>(args_.lm_head_multiplier) / args_.embedding_multiplier;
  return model_.embed_tokens().as_linear(h) * static_cast<float>(scale);
}

std::vector<KVCache> FalconH1::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(KVCache::list({KVCache::arrays(2), KVCache()}));
  }
  return cache;
}

nn::Parameters FalconH1::sanitize(nn::Parameters weights) const {
  // mlx-lm's test: a Hugging Face checkpoint's conv weight is (C, 1, K), mlx-lm's (C, K, 1).
  const auto conv = std::find_if(weights.begin(), weights.end(), [](const auto& w) {
    return w.first == "model.layers.0.mamba.conv1d.weight";
  });
  if (conv == weights.end() || conv->second.ndim() != 3 ||
      conv->second.shape(-1) <= conv->second.shape(1)) {
    return weights;
  }
  for (auto& weight : weights) {
    const std::string& name = weight.first;
    Array& param = weight.second;
    auto ends = [&name](const char* suffix) { return absl::EndsWith(name, suffix); };
    if (ends("embed_tokens.weight")) {
      param = param * args_.embedding_multiplier;
    } else if (ends("lm_head.weight")) {
      param = param * args_.lm_head_multiplier;
    } else if (ends("q_proj.weight") || ends("k_proj.weight")) {
      param = param * args_.attention_in_multiplier;
    } else if (ends("o_proj.weight")) {
      param = param * args_.attention_out_multiplier;
    } else if (ends("out_proj.weight")) {
      param = param * args_.ssm_out_multiplier;
    } else if (ends("gate_proj.weight")) {
      param = param * args_.mlp_multipliers[0];
    } else if (ends("down_proj.weight")) {
      param = param * args_.mlp_multipliers[1];
    } else if (ends("in_proj.weight")) {
      param = param * (args_.ssm_in_multiplier * MupColumn(args_, param.dtype(), param.device()));
    }
  }
  return sanitize_conv_weights(std::move(weights), "conv1d.weight");
}

}  // namespace ferry::lm
