#include "client/lm/gemma4.h"

#include <cmath>
#include <cstdlib>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/nn/activations.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {
namespace {

bool Sliding(const ModelArgs& args, int layer) {
  return args.layer_types.at(static_cast<size_t>(layer)) == "sliding_attention";
}

int FirstKvShared(const ModelArgs& args) {
  return args.num_hidden_layers - args.num_kv_shared_layers;
}

int64_t HeadDim(const ModelArgs& args, int layer) {
  return !Sliding(args, layer) && args.global_head_dim > 0 ? args.global_head_dim : args.head_dim;
}

bool KEqV(const ModelArgs& args, int layer) {
  return args.attention_k_eq_v && !Sliding(args, layer);
}

int KvHeads(const ModelArgs& args, int layer) {
  return KEqV(args, layer) && args.num_global_key_value_heads > 0 ? args.num_global_key_value_heads
                                                                  : args.num_key_value_heads;
}

// The sliding layers' RoPE: rope_parameters' "sliding_attention".
ModelArgs RopeArgs(const ModelArgs& args, bool sliding) {
  if (!sliding) return args;
  ModelArgs local = args;
  local.rope_theta = args.rope_local_base_freq;
  local.rope_type = args.rope_local_type;
  local.rope_scaling = args.rope_local_scaling;
  return local;
}

// (B, L, heads * D) as (B, L, heads, D).
Array Heads(const Array& y, int count, int64_t head_dim) {
  return reshape(y, {y.shape(0), y.shape(1), count, head_dim});
}

Array ToHeadsFirst(const Array& y) { return transpose(y, {0, 2, 1, 3}); }

// a[..., start:stop, :].
Array SliceRows(const Array& a, int64_t start, int64_t stop) {
  Shape begin(a.ndim(), 0), end = a.shape();
  begin[a.ndim() - 2] = start;
  end[a.ndim() - 2] = stop;
  return slice(a, begin, end);
}

}  // namespace

Gemma4Attention::Gemma4Attention(const ModelArgs& args, int index, bool own_kv)
    : index_(index),
      heads_(args.num_attention_heads),
      kv_heads_(KvHeads(args, index)),
      head_dim_(HeadDim(args, index)),
      has_kv_(own_kv || index < FirstKvShared(args)),
      k_eq_v_(KEqV(args, index)),
      eps_(args.rms_norm_eps),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      q_norm_(register_module("q_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      rope_(head_dim_, RopeArgs(args, Sliding(args, index))) {
  if (has_kv_) {
    k_proj_ =
        &register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false));
    if (!k_eq_v_) {
      v_proj_ =
          &register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false));
    }
    k_norm_ = &register_module("k_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps));
  }
  o_proj_ = &register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false));
}

std::pair<Array, Gemma4SharedKV> Gemma4Attention::operator()(const Array& x,
                                                             const std::optional<Array>& mask,
                                                             KVCache* cache,
                                                             const std::optional<Array>& position,
                                                             const Gemma4SharedKV* shared) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  Array queries = ToHeadsFirst(q_norm_(Heads(q_proj_(x), heads_, head_dim_)));
  auto output = [&](const Array& out) {
    return (*o_proj_)(reshape(ToHeadsFirst(out), {batch, length, heads_ * head_dim_}));
  };
  if (shared) {
    queries = rope_(queries, shared->at);
    return {output(attention(queries, shared->keys, shared->values, nullptr, position, 1.0f, mask)),
            *shared};
  }
  if (!has_kv_) {
    detail::ThrowOpError(
        "Gemma4", absl::StrCat("layer ", index_, " is a KV-shared layer but received no keys."));
  }
  const Array keys = Heads((*k_proj_)(x), kv_heads_, head_dim_);
  const Array values = k_eq_v_ ? keys : Heads((*v_proj_)(x), kv_heads_, head_dim_);
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  Gemma4SharedKV kv{rope_(ToHeadsFirst((*k_norm_)(keys)), at),
                    ToHeadsFirst(fast::rms_norm(values, std::nullopt, eps_)), at};
  queries = rope_(queries, at);
  if (cache && cache->bits()) {
    // A quantized cache is read by lm::attention itself (no KV-shared layer reads it:
    // reads_quantized_cache).
    return {output(attention(queries, kv.keys, kv.values, cache, position, 1.0f, mask)), kv};
  }
  if (cache) std::tie(kv.keys, kv.values) = cache->update_and_fetch(kv.keys, kv.values, *position);
  return {output(attention(queries, kv.keys, kv.values, nullptr, position, 1.0f, mask)), kv};
}

Gemma4Router::Gemma4Router(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      eps_(args.rms_norm_eps),
      root_size_(static_cast<float>(std::pow(static_cast<double>(args.hidden_size), -0.5))),
      proj_(register_module("proj", nn::Linear(args.hidden_size, args.num_experts, false))) {
  register_parameter("scale", ones({args.hidden_size}));
  register_parameter("per_expert_scale", ones({args.num_experts}));
}

std::pair<Array, Array> Gemma4Router::operator()(const Array& x) {
  const Array scores = proj_(fast::rms_norm(x, parameter("scale") * root_size_, eps_));
  const int64_t experts = scores.shape(-1);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(scores, -top_k_, -1), -top_k_, experts));
  const Array weights = softmax(take_along_axis(scores, indices, -1), -1);
  return {indices, weights * take(parameter("per_expert_scale"), indices)};
}

Gemma4Experts::Gemma4Experts(const ModelArgs& args)
    : switch_glu_(register_module(
          "switch_glu", SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts,
                                  false, [](const Array& up, const Array& gate) {
                                    return nn::gelu_approx(gate) * up;
                                  }))) {}

Array Gemma4Experts::operator()(const Array& x, const Array& indices, const Array& weights) {
  return sum(expand_dims(weights, -1) * switch_glu_(x, indices), -2);
}

Gemma4Block::Gemma4Block(const ModelArgs& args, int index)
    : sliding_(Sliding(args, index)),
      self_attn_(register_module("self_attn", Gemma4Attention(args, index))),
      mlp_(register_module(
          "mlp", GemmaMlp(args.hidden_size,
                          args.intermediate_size * (args.use_double_wide_mlp &&
                                                            index >= FirstKvShared(args) &&
                                                            FirstKvShared(args) > 0
                                                        ? 2
                                                        : 1)))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      pre_feedforward_layernorm_(register_module("pre_feedforward_layernorm",
                                                 nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_feedforward_layernorm_(register_module(
          "post_feedforward_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  auto norm = [&](const char* name) {
    return &register_module(name, nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  };
  if (args.num_experts > 0) {
    router_ = &register_module("router", Gemma4Router(args));
    experts_ = &register_module("experts", Gemma4Experts(args));
    post_feedforward_layernorm_1_ = norm("post_feedforward_layernorm_1");
    post_feedforward_layernorm_2_ = norm("post_feedforward_layernorm_2");
    pre_feedforward_layernorm_2_ = norm("pre_feedforward_layernorm_2");
  }
  if (args.hidden_size_per_layer_input > 0) {
    per_layer_input_gate_ =
        &register_module("per_layer_input_gate",
                         nn::Linear(args.hidden_size, args.hidden_size_per_layer_input, false));
    per_layer_projection_ =
        &register_module("per_layer_projection",
                         nn::Linear(args.hidden_size_per_layer_input, args.hidden_size, false));
    post_per_layer_input_norm_ = norm("post_per_layer_input_norm");
  }
  register_parameter("layer_scalar", ones({1}));
}

std::pair<Array, Gemma4SharedKV> Gemma4Block::operator()(
    const Array& x, const std::optional<Array>& mask, KVCache* cache,
    const std::optional<Array>& position, const std::optional<Array>& per_layer_input,
    const Gemma4SharedKV* shared) {
  std::pair<Array, Gemma4SharedKV> attended =
      self_attn_(input_layernorm_(x), mask, cache, position, shared);
  const Array h = x + post_attention_layernorm_(attended.first);
  Array fed = mlp_(pre_feedforward_layernorm_(h));
  if (router_) {
    const std::pair<Array, Array> chosen = (*router_)(h);
    const Array experts =
        (*experts_)((*pre_feedforward_layernorm_2_)(h), chosen.first, chosen.second);
    fed = (*post_feedforward_layernorm_1_)(fed) + (*post_feedforward_layernorm_2_)(experts);
  }
  Array out = h + post_feedforward_layernorm_(fed);
  if (per_layer_input_gate_ && per_layer_input) {
    const Array gate = nn::gelu_approx((*per_layer_input_gate_)(out)) * *per_layer_input;
    out = out + (*post_per_layer_input_norm_)((*per_layer_projection_)(gate));
  }
  return {out * parameter("layer_scalar"), std::move(attended.second)};
}

Gemma4TextModel::Gemma4TextModel(const ModelArgs& args)
    : hidden_size_(args.hidden_size),
      window_(args.sliding_window),
      per_layer_width_(args.hidden_size_per_layer_input),
      layers_with_kv_(FirstKvShared(args)),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  const int layers = args.num_hidden_layers;
  for (int i = 0; i < layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Gemma4Block(args, i)));
  }
  previous_kvs_ = gemma_kv_sources(args);
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  if (per_layer_width_ > 0) {
    embed_tokens_per_layer_ =
        &register_module("embed_tokens_per_layer",
                         nn::Embedding(args.vocab_size_per_layer_input, layers * per_layer_width_));
    per_layer_model_projection_ =
        &register_module("per_layer_model_projection",
                         nn::Linear(args.hidden_size, layers * per_layer_width_, false));
    per_layer_projection_norm_ = &register_module("per_layer_projection_norm",
                                                  nn::RMSNorm(per_layer_width_, args.rms_norm_eps));
  }
}

std::vector<int> gemma_kv_sources(const ModelArgs& args) {
  const int layers = args.num_hidden_layers, first_shared = FirstKvShared(args);
  std::vector<int> sources;
  for (int i = 0; i < layers; ++i) {
    int source = i;
    for (int j = 0; i >= first_shared && j < first_shared; ++j) {
      if (args.layer_types[j] == args.layer_types[i]) source = j;
    }
    sources.push_back(source);
  }
  return sources;
}

std::vector<KVCache> gemma_make_cache(const ModelArgs& args) {
  std::vector<KVCache> cache;
  for (int i = 0; i < FirstKvShared(args); ++i) {
    cache.push_back(Sliding(args, i) ? KVCache::rotating(args.sliding_window) : KVCache());
  }
  return cache;
}

Array gemma_per_layer_inputs(nn::Embedding& embed_per_layer, nn::Linear& projection,
                             nn::RMSNorm& norm, const Array& tokens, const Array& h, int layers,
                             int64_t width) {
  const Shape split = {tokens.shape(0), tokens.shape(1), layers, width};
  const Array embedded = reshape(
      embed_per_layer(tokens) * static_cast<float>(std::sqrt(static_cast<double>(width))), split);
  const Array projected = norm(reshape(
      projection(h) * static_cast<float>(std::pow(static_cast<double>(h.shape(-1)), -0.5)), split));
  return (projected + embedded) * static_cast<float>(std::pow(2.0, -0.5));
}

Array Gemma4TextModel::PerLayerInputs(const Array& tokens, const Array& h) {
  return gemma_per_layer_inputs(*embed_tokens_per_layer_, *per_layer_model_projection_,
                                *per_layer_projection_norm_, tokens, h,
                                static_cast<int>(layers_.size()), per_layer_width_);
}

Array Gemma4TextModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Gemma4", tokens, cache, static_cast<size_t>(layers_with_kv_));
  const int64_t length = tokens.shape(1);
  Array h =
      embed_tokens_(tokens) * static_cast<float>(std::sqrt(static_cast<double>(hidden_size_)));
  std::optional<Array> per_layer;
  if (embed_tokens_per_layer_) per_layer = PerLayerInputs(tokens, h);
  const LayerMasks masks = layer_masks(length, tokens.device(), cache, window_);
  // Each kind of layer's mask, the KV-shared layers' too (mlx-lm's _make_masks: from the
  // first cache of the kind).
  const int layers = static_cast<int>(layers_.size());
  std::vector<std::optional<Gemma4SharedKV>> kvs(layers_.size());
  for (int i = 0; i < layers; ++i) {
    const bool own = i < layers_with_kv_;
    // The block's inputs, which grad_checkpoint recomputes it from (call_block): h, its
    // per-layer input, and a KV-shared layer's keys and values; it gives h and its own.
    std::vector<Array> inputs = {h};
    if (per_layer) inputs.push_back(take(*per_layer, i, 2));
    const std::optional<Gemma4SharedKV> shared =
        own ? std::nullopt : std::optional<Gemma4SharedKV>(*kvs[previous_kvs_[i]]);
    if (shared) {
      inputs.push_back(shared->keys);
      inputs.push_back(shared->values);
    }
    const bool has_input = per_layer.has_value();
    auto produced_at = std::make_shared<std::optional<Array>>();  // its keys' positions
    const std::vector<Array> out =
        call_block(*layers_[i], std::move(inputs), [=](const std::vector<Array>& in) {
          Gemma4Block& layer = *layers_[i];
          const std::optional<Array> input = has_input ? std::optional<Array>(in[1]) : std::nullopt;
          std::optional<Gemma4SharedKV> kv;
          if (shared) kv = Gemma4SharedKV{in[in.size() - 2], in.back(), shared->at};
          std::pair<Array, Gemma4SharedKV> result = layer(
              in[0], layer.sliding() ? masks.sliding : masks.global,
              cache && own ? &(*cache)[i] : nullptr, masks.position, input, kv ? &*kv : nullptr);
          *produced_at = result.second.at;
          return std::vector<Array>{result.first, result.second.keys, result.second.values};
        });
    h = out[0];
    kvs[i] = Gemma4SharedKV{out[1], out[2], *produced_at};
  }
  return (*norm_)(h);
}

Gemma4Text::Gemma4Text(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Gemma4TextModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Gemma4Text::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  Array logits = lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
  const float cap = args_.final_logit_softcapping;
  if (cap > 0) logits = tanh(logits / cap) * cap;
  return logits;
}

std::vector<KVCache> Gemma4Text::make_cache() const { return gemma_make_cache(args_); }

std::optional<int64_t> Gemma4Text::sliding_window(int layer) const {
  if (!Sliding(args_, layer)) return std::nullopt;
  return args_.sliding_window;
}

std::optional<std::pair<int, int>> Gemma4Text::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "router.proj")) return kRouterQuantization;
  return std::nullopt;
}

nn::Parameters Gemma4Text::sanitize(nn::Parameters weights) const {
  const int first_shared = FirstKvShared(args_);
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StrContains(name, "self_attn.rotary_emb") || absl::StrContains(name, "input_max") ||
        absl::StrContains(name, "input_min") || absl::StrContains(name, "output_max") ||
        absl::StrContains(name, "output_min")) {
      continue;
    }
    // The KV-shared layers' own projections: they read an earlier layer's keys.
    if (absl::StrContains(name, ".self_attn.k_proj") ||
        absl::StrContains(name, ".self_attn.v_proj") ||
        absl::StrContains(name, ".self_attn.k_norm")) {
      const size_t at = name.find("layers.");
      if (at != std::string::npos) {
        const char* digits = name.c_str() + at + 7;
        char* end = nullptr;
        const long layer = std::strtol(digits, &end, 10);
        if (end != digits && (*end == '.' || *end == '\0') && layer >= first_shared) continue;
      }
    }
    if (absl::EndsWith(name, ".experts.gate_up_proj")) {
      const std::string base = name.substr(0, name.size() - std::string(".gate_up_proj").size());
      const int64_t rows = array.ndim() >= 2 ? array.shape(array.ndim() - 2) : 1;
      if (array.ndim() < 2 || rows % 2 != 0) {
        detail::ThrowOpError("load_model",
                             absl::StrCat(name, " is ", core::ShapeToString(array.shape()),
                                          ": gate's and up's rows, an even "
                                          "number, on its second-to-last axis."));
      }
      kept.emplace_back(base + ".switch_glu.gate_proj.weight", SliceRows(array, 0, rows / 2));
      kept.emplace_back(base + ".switch_glu.up_proj.weight", SliceRows(array, rows / 2, rows));
      continue;
    }
    if (absl::EndsWith(name, ".experts.down_proj")) {
      const std::string base = name.substr(0, name.size() - std::string(".down_proj").size());
      kept.emplace_back(base + ".switch_glu.down_proj.weight", std::move(array));
      continue;
    }
    kept.emplace_back(std::move(name), std::move(array));
  }
  return kept;
}

Gemma4::Gemma4(ModelArgs args)
    : args_(std::move(args)),
      language_model_(register_module("language_model", Gemma4Text(args_))) {}

Array Gemma4::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return language_model_(tokens, cache);
}

nn::Parameters Gemma4::sanitize(nn::Parameters weights) const {
  static const char* const kDropped[] = {"vision_tower", "multi_modal_projector",
                                         "audio_tower",  "embed_audio",
                                         "embed_vision", "vision_embedder"};
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    const bool under_model = absl::StartsWith(name, "model.");
    std::string key = under_model ? name.substr(6) : name;
    bool dropped = false;
    for (const char* prefix : kDropped) dropped |= absl::StartsWith(key, prefix);
    if (dropped) continue;
    if (under_model && absl::StartsWith(key, "language_model")) {
      key = absl::StrReplaceAll(key, {{"language_model.", "language_model.model."}});
    }
    kept.emplace_back(std::move(key), std::move(array));
  }
  return language_model_.sanitize(std::move(kept));
}

}  // namespace ferry::lm
