#include "client/lm/llama.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/error.h"
#include "client/fast.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {
namespace {

// mlx-lm's Llama3RoPE (the inverse frequencies fast::rope takes): base^(2i/dims), times the
// factor for wavelengths past the original context, smoothed between (float32, as MLX).
std::vector<float> Llama3Freqs(int64_t dims, float base, const std::map<std::string, double>& s) {
  auto get = [&](const char* key, double fallback) {
    auto it = s.find(key);
    return static_cast<float>(it == s.end() ? fallback : it->second);
  };
  const float factor = get("factor", 1.0), low = get("low_freq_factor", 1.0),
              high = get("high_freq_factor", 4.0),
              context = get("original_max_position_embeddings", 8192);
  const float low_wavelen = context / low, high_wavelen = context / high;
  std::vector<float> freqs;
  for (int64_t i = 0; i < dims; i += 2) {
    float freq = std::pow(base, static_cast<float>(i) / static_cast<float>(dims));
    const float wavelen = 2.0f * static_cast<float>(M_PI) * freq;
    if (wavelen > low_wavelen) freq = freq * factor;
    if (wavelen > high_wavelen && wavelen < low_wavelen) {
      const float smooth = (context / wavelen - low) / (high - low);
      freq = freq / ((1.0f - smooth) / factor + smooth);
    }
    freqs.push_back(freq);
  }
  return freqs;
}

// mlx-lm's YarnRoPE: the inverse frequencies, and the scale of the rotated features.
std::pair<std::vector<float>, float> Yarn(int64_t dims, float base,
                                          const std::map<std::string, double>& s) {
  auto get = [&](const char* key, double fallback) {
    auto it = s.find(key);
    return it == s.end() ? fallback : it->second;
  };
  const double factor = get("factor", 1.0),
               original = get("original_max_position_embeddings", 4096);
  const double d = static_cast<double>(dims);
  auto correction_dim = [&](double rotations) {
    return d * std::log(original / (rotations * 2 * M_PI)) /
           (2 * std::log(static_cast<double>(base)));
  };
  const double low = std::max(std::floor(correction_dim(get("beta_fast", 32))), 0.0);
  double high = std::min(std::ceil(correction_dim(get("beta_slow", 1))), d - 1);
  if (low == high) high += 0.001;  // as mlx-lm, against a division by zero
  std::vector<float> freqs;
  for (int64_t i = 0; i < dims / 2; ++i) {
    const float extra = std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dims));
    const float inter = static_cast<float>(factor) * extra;
    const float ramp = std::clamp(
        (static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low), 0.0f,
        1.0f);
    const float mask = 1.0f - ramp;
    freqs.push_back((inter * extra) / (inter * mask + extra * (1.0f - mask)));
  }
  auto mscale = [&](double m) { return factor <= 1 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; };
  return {freqs, static_cast<float>(mscale(get("mscale", 1)) / mscale(get("mscale_all_dim", 0)))};
}

// phi3's SuScaledRoPE: base^(2i/dims) times the long factors, and the scale of the rotated
// features where the context is stretched past the original.
std::pair<std::vector<float>, float> LongRope(int64_t dims, const ModelArgs& args) {
  std::vector<float> freqs;
  for (int64_t i = 0; i < dims / 2; ++i) {
    freqs.push_back(
        args.rope_long_factor.at(static_cast<size_t>(i)) *
        std::pow(args.rope_theta, static_cast<float>(2 * i) / static_cast<float>(dims)));
  }
  const double original = args.rope_scaling.at("original_max_position_embeddings");
  const double factor = static_cast<double>(args.max_position_embeddings) / original;
  double scale = factor <= 1 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(original));
  // PhiMoE's long_mscale, where not 0, in place of the default (SuScaledRoPE's `or`).
  const auto mscale = args.rope_scaling.find("long_mscale");
  if (mscale != args.rope_scaling.end() && mscale->second != 0) scale = mscale->second;
  return {freqs, static_cast<float>(scale)};
}

// mlx-lm's ProportionalRoPE (Gemma 4's full layers): factor * base^(2i/dims) for the first
// dims * partial_rotary_factor features' pairs, infinite (no rotation) for the others.
std::vector<float> ProportionalFreqs(int64_t dims, float base,
                                     const std::map<std::string, double>& s) {
  auto get = [&](const char* key, double fallback) {
    auto it = s.find(key);
    return it == s.end() ? fallback : it->second;
  };
  const int64_t rotated =
      static_cast<int64_t>(static_cast<double>(dims) * get("partial_rotary_factor", 1.0));
  const float factor = static_cast<float>(get("factor", 1.0));
  std::vector<float> freqs;
  for (int64_t i = 0; i < rotated; i += 2) {
    freqs.push_back(factor * std::pow(base, static_cast<float>(i) / static_cast<float>(dims)));
  }
  freqs.resize(static_cast<size_t>(dims / 2), std::numeric_limits<float>::infinity());
  return freqs;
}

// mlx-lm's DynamicNTKAlphaRoPE (Hunyuan's): (base * alpha^(dims / (dims - 2)))^(2i/dims).
std::vector<float> NtkAlphaFreqs(int64_t dims, float base, const std::map<std::string, double>& s) {
  auto it = s.find("alpha");
  const double alpha = it == s.end() ? 1.0 : it->second;
  const double d = static_cast<double>(dims);
  const float scaled = static_cast<float>(base * std::pow(alpha, d / (d - 2)));
  std::vector<float> freqs;
  for (int64_t i = 0; i < dims; i += 2) {
    freqs.push_back(std::pow(scaled, static_cast<float>(i) / static_cast<float>(dims)));
  }
  return freqs;
}

}  // namespace

Rope::Rope(int64_t dims, const ModelArgs& args)
    : dims_(static_cast<int>(dims)),
      traditional_(args.rope_traditional),
      base_(args.rope_theta),
      scale_(1.0f) {
  if (args.rope_type == "linear")
    scale_ = 1.0f / static_cast<float>(args.rope_scaling.at("factor"));
  if (args.rope_type == "llama3") freqs_ = Llama3Freqs(dims, base_, args.rope_scaling);
  if (args.rope_type == "yarn") {
    std::tie(freqs_, input_scale_) = Yarn(dims, base_, args.rope_scaling);
  }
  if (args.rope_type == "proportional") freqs_ = ProportionalFreqs(dims, base_, args.rope_scaling);
  if (args.rope_type == "ntk_alpha") freqs_ = NtkAlphaFreqs(dims, base_, args.rope_scaling);
  if (args.rope_type == "longrope") {
    std::tie(freqs_, input_scale_) = LongRope(dims, args);
    traditional_ = false;  // SuScaledRoPE's, whatever rope_traditional says
  }
}

Array Rope::operator()(const Array& input, const std::optional<Array>& offset) const {
  Array x = input;
  if (input_scale_ != 1.0f) {
    // Only the rotated features: those past dims_ (phi3's partial rotary) pass unscaled.
    const int64_t width = x.shape(-1);
    if (dims_ == width) {
      x = x * input_scale_;
    } else {
      Shape start(x.ndim(), 0), middle = x.shape();
      middle.back() = dims_;
      Shape rest_start = start;
      rest_start.back() = dims_;
      x = concatenate({slice(x, start, middle) * input_scale_, slice(x, rest_start, x.shape())},
                      -1);
    }
  }
  std::optional<float> base = base_;
  if (!freqs_.empty()) {
    base = std::nullopt;
    // Uploaded once per device, then resident: not bound to every step.
    if (!freqs_array_ || freqs_array_->device() != x.device()) {
      freqs_array_ = from_host(freqs_, {static_cast<int64_t>(freqs_.size())}, x.device());
    }
  }
  if (offset) return fast::rope(x, dims_, traditional_, base, scale_, *offset, freqs_array_);
  return fast::rope(x, dims_, traditional_, base, scale_, 0, freqs_array_);
}

TemperatureTuning::TemperatureTuning(const ModelArgs& args)
    : floor_scale_(args.floor_scale),
      attn_scale_(args.attn_scale),
      from_zero_(args.llama_4_scaling) {}

Array TemperatureTuning::operator()(const Array& queries, const std::optional<Array>& at) const {
  const int64_t length = queries.shape(2);
  const double first = from_zero_ ? 0 : 1;
  Array p =
      reshape(arange(first, first + static_cast<double>(length), int32, queries.device()), {1, -1});
  // A batch's left padding sits at negative positions: scaled by 1 there rather than by
  // log(0), whose infinity would reach the rows' own positions as NaN through the masked
  // attention (mlx's keeps it finite; either way no row reads the padding).
  if (at) p = maximum(p + reshape(*at, {-1, 1}), 0);
  const Array scales =
      reshape(log(floor(astype(p, float32) / floor_scale_) + 1.0f) * attn_scale_ + 1.0f,
              {p.shape(0), 1, length, 1});
  if (from_zero_) return queries * astype(scales, queries.dtype());
  return astype(queries * scales, queries.dtype());
}

Attention::Attention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      rotates_(args.rope),
      q_proj_(register_module(
          "q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, args.attention_bias))),
      // Hunyuan's cross-layer attention layers have none (ModelArgs::kv_proj).
      k_proj_(args.kv_proj
                  ? &register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_,
                                                          args.attention_bias))
                  : nullptr),
      v_proj_(args.kv_proj
                  ? &register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_,
                                                          args.attention_bias))
                  : nullptr),
      o_proj_(register_module("o_proj",
                              nn::Linear(heads_ * head_dim_, args.hidden_size, args.output_bias))),
      // GLM-4.5's rotates head_dim * partial_rotary_factor features (the rest pass).
      rope_(static_cast<int64_t>(static_cast<double>(head_dim_) * args.partial_rotary_factor),
            args),
      weightless_qk_norm_(args.weightless_qk_norm),
      // mlx-lm's llama4 normalizes after RoPE with 1e-6, llama4_text before it with its eps.
      weightless_eps_(args.weightless_qk_norm == "after_rope" ? 1e-6f : args.rms_norm_eps),
      scale_(args.attention_multiplier > 0 ? args.attention_multiplier
                                           : 1.0f / std::sqrt(static_cast<float>(head_dim_))) {
  norm_whole_ = args.qk_norm_whole;
  norm_after_rope_ = args.qk_norm_after_rope;
  if (args.attn_temperature_tuning && (!args.rope || args.llama_4_scaling)) {
    temperature_.emplace(args);
  }
  if (args.qk_norm || args.qk_norm_whole || args.qk_norm_after_rope) {
    const int64_t q = norm_whole_ ? heads_ * head_dim_ : head_dim_;
    const int64_t k = norm_whole_ ? kv_heads_ * head_dim_ : head_dim_;
    q_norm_ = &register_module(norm_after_rope_ ? "query_layernorm" : "q_norm",
                               nn::RMSNorm(q, args.rms_norm_eps));
    k_norm_ = &register_module(norm_after_rope_ ? "key_layernorm" : "k_norm",
                               nn::RMSNorm(k, args.rms_norm_eps));
  }
}

Array Attention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                            const std::optional<Array>& position) {
  return (*this)(x, mask, cache, position, std::nullopt).first;
}

std::pair<Array, KvProjections> Attention::operator()(const Array& x,
                                                      const std::optional<Array>& mask,
                                                      KVCache* cache,
                                                      const std::optional<Array>& position,
                                                      const std::optional<KvProjections>& shared) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  // Hunyuan's normalize each head after RoPE, the others before it.
  nn::RMSNorm* q_before = norm_after_rope_ ? nullptr : q_norm_;
  nn::RMSNorm* k_before = norm_after_rope_ ? nullptr : k_norm_;
  // (B, L, heads * D) to (B, heads, L, D), each head's features normalized first (qwen3), or
  // the whole projection's before the split (OLMo).
  auto heads = [&](const Array& y, int count, nn::RMSNorm* norm) {
    Array split = reshape(norm && norm_whole_ ? (*norm)(y) : y, {batch, length, count, head_dim_});
    if (norm && !norm_whole_) split = (*norm)(split);
    return transpose(split, {0, 2, 1, 3});
  };
  if (!k_proj_ && !shared) {
    throw Error(ErrorCode::kInvalidArgument,
                "[Attention] a layer without k_proj and v_proj (cross-layer attention) was "
                "given no earlier layer's keys and values.");
  }
  const KvProjections projected = k_proj_ ? KvProjections{(*k_proj_)(x), (*v_proj_)(x)} : *shared;
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  Array queries = heads(q_proj_(x), heads_, q_before);
  Array keys = heads(projected.keys, kv_heads_, k_before);
  auto normalize = [&](const char* when) {
    if (weightless_qk_norm_ != when) return;
    queries = fast::rms_norm(queries, std::nullopt, weightless_eps_);
    keys = fast::rms_norm(keys, std::nullopt, weightless_eps_);
  };
  normalize("before_rope");
  if (rotates_) {
    queries = rope_(queries, at);
    keys = rope_(keys, at);
  }
  normalize("after_rope");
  if (norm_after_rope_ && q_norm_) {
    queries = (*q_norm_)(queries);
    keys = (*k_norm_)(keys);
  }
  // Llama 4's: queries further along sharpened.
  if (temperature_) queries = (*temperature_)(queries, at);
  Array values = heads(projected.values, kv_heads_, nullptr);
  const Array out = attention(queries, keys, values, cache, position, scale_, mask);
  return {o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_})),
          projected};
}

Mlp::Mlp(const ModelArgs& args) : Mlp(args.hidden_size, args.intermediate_size, args.mlp_bias) {}

Mlp::Mlp(int64_t dims, int64_t hidden_dims, bool bias)
    : gate_proj_(register_module("gate_proj", nn::Linear(dims, hidden_dims, bias))),
      down_proj_(register_module("down_proj", nn::Linear(hidden_dims, dims, bias))),
      up_proj_(register_module("up_proj", nn::Linear(dims, hidden_dims, bias))) {}

Array Mlp::operator()(const Array& x) { return down_proj_(silu(gate_proj_(x)) * up_proj_(x)); }

nn::Layer& TransformerBlock::register_norm(const std::string& name, const ModelArgs& args) {
  return LlamaNorm(args,
                   [&](auto norm) -> nn::Layer& { return register_module(name, std::move(norm)); });
}

Array TransformerBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                   const std::optional<Array>& position) {
  return (*this)(x, mask, cache, position, std::nullopt).first;
}

std::pair<Array, KvProjections> TransformerBlock::operator()(
    const Array& x, const std::optional<Array>& mask, KVCache* cache,
    const std::optional<Array>& position, const std::optional<KvProjections>& shared) {
  // Granite's residual_multiplier scales what each half adds (1 elsewhere: no op).
  auto scaled = [&](const Array& r) {
    return residual_multiplier_ == 1.0f ? r : r * residual_multiplier_;
  };
  std::pair<Array, KvProjections> attended =
      self_attn_(input_layernorm_(x), mask, cache, position, shared);
  if (post_self_attn_layernorm_) attended.first = (*post_self_attn_layernorm_)(attended.first);
  const Array h = x + scaled(attended.first);
  Array fed = mlp_(post_attention_layernorm_(h));
  if (post_mlp_layernorm_) fed = (*post_mlp_layernorm_)(fed);
  return {h + scaled(fed), attended.second};
}

LlamaModel::LlamaModel(const ModelArgs& args, const MakeLayer& make_layer)
    : embedding_multiplier_(args.embedding_multiplier),
      cla_share_factor_(args.cla_share_factor),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i),
                                       make_layer ? make_layer(args, i) : TransformerBlock(args)));
    sliding_.push_back(!args.layer_types.empty() &&
                       args.layer_types.at(static_cast<size_t>(i)) == "sliding_attention");
    if (sliding_.back()) window_ = args.sliding_window;
  }
  norm_ = &LlamaNorm(
      args, [&](auto norm) -> nn::Layer& { return register_module("norm", std::move(norm)); });
}

Array LlamaModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Llama", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  if (embedding_multiplier_ != 1.0f) h = h * embedding_multiplier_;  // Granite's
  // One position and one mask for every layer (the sliding ones another): the caches
  // advance together.
  const LayerMasks masks = window_ > 0
                               ? layer_masks(tokens.shape(1), tokens.device(), cache, window_)
                               : causal_masks(tokens.shape(1), tokens.device(), cache);
  if (cla_share_factor_ > 1) return (*norm_)(CrossLayer(h, masks, cache));
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, sliding_[i] ? masks.sliding : masks.global,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Array LlamaModel::CrossLayer(Array h, const LayerMasks& masks, std::vector<KVCache>* cache) {
  // Every cla_share_factor-th layer projects keys and values, the ones after it attend over
  // them (each caching them as it rotates and normalizes them). The block's inputs, which
  // grad_checkpoint recomputes it from (call_block): h, and an earlier layer's projections.
  std::optional<KvProjections> kv;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const bool own = i % static_cast<size_t>(cla_share_factor_) == 0;
    std::vector<Array> inputs = {h};
    if (!own) {
      inputs.push_back(kv->keys);
      inputs.push_back(kv->values);
    }
    const std::vector<Array> out =
        call_block(*layers_[i], std::move(inputs), [=](const std::vector<Array>& in) {
          const std::optional<KvProjections> shared =
              own ? std::nullopt : std::optional<KvProjections>(KvProjections{in[1], in[2]});
          std::pair<Array, KvProjections> result =
              (*layers_[i])(in[0], sliding_[i] ? masks.sliding : masks.global,
                            cache ? &(*cache)[i] : nullptr, masks.position, shared);
          return std::vector<Array>{result.first, result.second.keys, result.second.values};
        });
    h = out[0];
    kv = KvProjections{out[1], out[2]};
  }
  return h;
}

std::optional<int64_t> LlamaModel::sliding_window(int layer) const {
  if (!sliding_.at(static_cast<size_t>(layer))) return std::nullopt;
  return window_;
}

Llama::Llama(ModelArgs args, const MakeLayer& make_layer)
    : args_(std::move(args)), model_(register_module("model", LlamaModel(args_, make_layer))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Llama::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  const Array logits = lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
  // Granite divides by logits_scaling, as mlx-lm does (not times its inverse).
  return args_.logits_scaling == 1.0f ? logits : logits / args_.logits_scaling;
}

}  // namespace ferry::lm
