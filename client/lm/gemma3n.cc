#include "client/lm/gemma3n.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/nn/activations.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

const float kRootHalf = static_cast<float>(std::pow(2.0, -0.5));

// a[start:] along axis 0.
Array From(const Array& a, int64_t start) {
  Shape begin(a.ndim(), 0);
  begin[0] = start;
  return slice(a, begin, a.shape());
}

// sqrt(mean(x^2)) over the last axis, kept.
Array Magnitude(const Array& x) { return sqrt(mean(square(x), -1, true)); }

}  // namespace

Array Gemma3nCoefs::apply(const Array& x, float bound) const {
  Array weight = astype(parameter("weight"), float32);
  if (bound > 0) weight = clip(weight, -bound, bound);
  return matmul(x, transpose(weight));
}

Gemma3nAltUp::Gemma3nAltUp(const ModelArgs& args)
    : inputs_(args.altup_num_inputs),
      active_(args.altup_active_idx),
      clip_(args.altup_coef_clip),
      inverse_size_(static_cast<float>(1.0 / static_cast<double>(args.hidden_size))),
      correction_coefs_(register_module("correction_coefs", Gemma3nCoefs(inputs_, inputs_, false))),
      prediction_coefs_(
          register_module("prediction_coefs", Gemma3nCoefs(inputs_, inputs_ * inputs_, false))),
      modality_router_(
          register_module("modality_router", nn::Linear(args.hidden_size, inputs_, false))),
      router_norm_(
          register_module("router_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  register_parameter("correct_output_scale", zeros({args.hidden_size}));
}

Array Gemma3nAltUp::Modalities(const Array& x) {
  return tanh(astype(modality_router_(router_norm_(x) * inverse_size_), float32));
}

Array Gemma3nAltUp::predict(const Array& x) {
  const Array modalities = Modalities(take(x, active_, 0));
  Shape square = modalities.shape();
  square.back() = inputs_;
  square.push_back(inputs_);
  // (B, L, n, n): coefs[b, l, j, i], prediction i's share of prediction j.
  const Array coefs = swapaxes(reshape(prediction_coefs_.apply(modalities, clip_), square), -1, -2);
  const Array x_up = astype(x, float32);
  const Array mixed = matmul(transpose(x_up, {1, 2, 3, 0}), coefs);
  return astype(transpose(mixed, {3, 0, 1, 2}) + x_up, x.dtype());
}

Array Gemma3nAltUp::correct(const Array& predictions, const Array& activated) {
  const Array coefs = correction_coefs_.apply(Modalities(activated), clip_) + 1.0f;
  const Array innovation = activated - take(predictions, active_, 0);
  const Array corrected =
      expand_dims(innovation, 0) * expand_dims(moveaxis(coefs, 2, 0), -1) + predictions;
  return astype(corrected, activated.dtype());
}

Array Gemma3nAltUp::scale_output(const Array& x) const {
  return x * parameter("correct_output_scale");
}

Gemma3nLaurel::Gemma3nLaurel(const ModelArgs& args)
    : linear_left_(
          register_module("linear_left", nn::Linear(args.hidden_size, args.laurel_rank, false))),
      linear_right_(
          register_module("linear_right", nn::Linear(args.laurel_rank, args.hidden_size, false))),
      post_laurel_norm_(
          register_module("post_laurel_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array Gemma3nLaurel::operator()(const Array& x) {
  return x + post_laurel_norm_(linear_right_(linear_left_(x)));
}

Gemma3nBlock::Gemma3nBlock(const ModelArgs& args, int index)
    : sliding_(args.layer_types.at(static_cast<size_t>(index)) == "sliding_attention"),
      correct_scale_(args.altup_correct_scale),
      active_(args.altup_active_idx),
      self_attn_(register_module("self_attn", Gemma4Attention(args, index, /*own_kv=*/true))),
      mlp_(register_module(
          "mlp", GemmaMlp(args.hidden_size,
                          args.intermediate_sizes.empty() ? args.intermediate_size
                                                          : args.intermediate_sizes.at(index),
                          args.activation_sparsity_pattern.empty()
                              ? 0.0f
                              : args.activation_sparsity_pattern.at(index)))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      pre_feedforward_layernorm_(register_module("pre_feedforward_layernorm",
                                                 nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_feedforward_layernorm_(register_module(
          "post_feedforward_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      altup_(register_module("altup", Gemma3nAltUp(args))),
      laurel_(register_module("laurel", Gemma3nLaurel(args))),
      per_layer_input_gate_(
          register_module("per_layer_input_gate",
                          nn::Linear(args.hidden_size, args.hidden_size_per_layer_input, false))),
      per_layer_projection_(
          register_module("per_layer_projection",
                          nn::Linear(args.hidden_size_per_layer_input, args.hidden_size, false))),
      post_per_layer_input_norm_(register_module(
          "post_per_layer_input_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

std::pair<Array, Gemma4SharedKV> Gemma3nBlock::operator()(const Array& x,
                                                          const std::optional<Array>& mask,
                                                          KVCache* cache,
                                                          const std::optional<Array>& position,
                                                          const Array& per_layer_input,
                                                          const Gemma4SharedKV* shared) {
  const Array predictions = altup_.predict(x);
  const Array active = take(predictions, active_, 0);
  const Array normed = input_layernorm_(active);
  const Array laurel = laurel_(normed);
  std::pair<Array, Gemma4SharedKV> attended = self_attn_(normed, mask, cache, position, shared);
  const Array h = (active + post_attention_layernorm_(attended.first) + laurel) * kRootHalf;
  const Array activated = h + post_feedforward_layernorm_(mlp_(pre_feedforward_layernorm_(h)));
  const Array corrected = altup_.correct(predictions, activated);
  Array first = take(corrected, active_, 0);
  if (correct_scale_) first = altup_.scale_output(first);
  first = nn::gelu_approx(per_layer_input_gate_(first)) * per_layer_input;
  first = post_per_layer_input_norm_(per_layer_projection_(first));
  // Added to every prediction but the first (whichever is active).
  Shape head = corrected.shape();
  head[0] = 1;
  const Array out = concatenate(
      {slice(corrected, Shape(corrected.ndim(), 0), head), From(corrected, 1) + first}, 0);
  return {out, std::move(attended.second)};
}

Gemma3nLanguageModel::Gemma3nLanguageModel(const ModelArgs& args)
    : hidden_size_(args.hidden_size),
      window_(args.sliding_window),
      per_layer_width_(args.hidden_size_per_layer_input),
      per_layer_vocab_(args.vocab_size_per_layer_input),
      layers_with_kv_(args.num_hidden_layers - args.num_kv_shared_layers),
      softcap_(args.final_logit_softcapping),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))),
      layers_([&] {
        std::vector<Gemma3nBlock*> layers;
        for (int i = 0; i < args.num_hidden_layers; ++i) {
          layers.push_back(&register_module(absl::StrCat("layers.", i), Gemma3nBlock(args, i)));
        }
        return layers;
      }()),
      kv_sources_(gemma_kv_sources(args)),
      embed_tokens_per_layer_(register_module(
          "embed_tokens_per_layer",
          nn::Embedding(args.vocab_size_per_layer_input,
                        args.num_hidden_layers * args.hidden_size_per_layer_input))),
      per_layer_model_projection_(register_module(
          "per_layer_model_projection",
          nn::Linear(args.hidden_size, args.num_hidden_layers * args.hidden_size_per_layer_input,
                     false))),
      per_layer_projection_norm_(
          register_module("per_layer_projection_norm",
                          nn::RMSNorm(args.hidden_size_per_layer_input, args.rms_norm_eps))),
      norm_(register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  for (int i = 1; i < args.altup_num_inputs; ++i) {
    altup_projections_.push_back(
        &register_module(absl::StrCat("altup_projections.", i - 1),
                         nn::Linear(args.hidden_size, args.hidden_size, false)));
  }
  for (int i = 1; i < args.altup_num_inputs; ++i) {
    altup_unembed_projections_.push_back(
        &register_module(absl::StrCat("altup_unembed_projections.", i - 1),
                         nn::Linear(args.hidden_size, args.hidden_size, false)));
  }
}

Array Gemma3nLanguageModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Gemma3n", tokens, cache, static_cast<size_t>(layers_with_kv_));
  const int64_t length = tokens.shape(1);
  const Array h0 =
      embed_tokens_(tokens) * static_cast<float>(std::sqrt(static_cast<double>(hidden_size_)));
  // Tokens past the per-layer vocabulary read its first row (mlx-lm's get_per_layer_inputs).
  const Array per_layer = gemma_per_layer_inputs(
      embed_tokens_per_layer_, per_layer_model_projection_, per_layer_projection_norm_,
      where(less(tokens, per_layer_vocab_), tokens, zeros_like(tokens)), h0,
      static_cast<int>(layers_.size()), per_layer_width_);
  const LayerMasks masks = layer_masks(length, tokens.device(), cache, window_);
  // AltUp's predictions: the embedding and its projections at its magnitude.
  const Array target = Magnitude(h0);
  std::vector<Array> predictions = {h0};
  for (nn::Linear* projection : altup_projections_) {
    const Array p = (*projection)(h0);
    predictions.push_back(p * (target / Magnitude(p)));
  }
  Array h = stack(predictions, 0);
  const int layers = static_cast<int>(layers_.size());
  std::vector<std::optional<Gemma4SharedKV>> kvs(layers_.size());
  for (int i = 0; i < layers; ++i) {
    // A KV-shared layer reads its source's keys only through a cache (mlx-lm's).
    const bool own = i < layers_with_kv_ || !cache;
    // The block's inputs, which grad_checkpoint recomputes it from (call_block): the
    // predictions, its per-layer input, and a KV-shared layer's keys and values; it gives the
    // predictions and the keys and values it attended over.
    std::vector<Array> inputs = {h, take(per_layer, i, 2)};
    const std::optional<Gemma4SharedKV> shared =
        own ? std::nullopt : std::optional<Gemma4SharedKV>(*kvs[kv_sources_[i]]);
    if (shared) {
      inputs.push_back(shared->keys);
      inputs.push_back(shared->values);
    }
    KVCache* layer_cache = cache && i < layers_with_kv_ ? &(*cache)[i] : nullptr;
    auto produced_at = std::make_shared<std::optional<Array>>();  // its keys' positions
    const std::vector<Array> out =
        call_block(*layers_[i], std::move(inputs), [=](const std::vector<Array>& in) {
          Gemma3nBlock& layer = *layers_[i];
          std::optional<Gemma4SharedKV> kv;
          if (shared) kv = Gemma4SharedKV{in[2], in[3], shared->at};
          std::pair<Array, Gemma4SharedKV> result =
              layer(in[0], layer.sliding() ? masks.sliding : masks.global, layer_cache,
                    masks.position, in[1], kv ? &*kv : nullptr);
          *produced_at = result.second.at;
          return std::vector<Array>{result.first, result.second.keys, result.second.values};
        });
    h = out[0];
    kvs[i] = Gemma4SharedKV{out[1], out[2], *produced_at};
  }
  // The predictions projected back, at the first one's magnitude, averaged.
  const Array first = take(h, 0, 0);
  const Array magnitude = Magnitude(first);
  std::vector<Array> outputs = {first};
  for (size_t k = 0; k < altup_unembed_projections_.size(); ++k) {
    const Array p = (*altup_unembed_projections_[k])(take(h, static_cast<int64_t>(k) + 1, 0));
    outputs.push_back(p * (magnitude / Magnitude(p)));
  }
  Array logits = embed_tokens_.as_linear(norm_(mean(stack(outputs, 0), 0)));
  if (softcap_ > 0) logits = tanh(logits / softcap_) * softcap_;
  return logits;
}

Gemma3nMultimodal::Gemma3nMultimodal(const ModelArgs& args)
    : language_model_(register_module("language_model", Gemma3nLanguageModel(args))) {}

Gemma3n::Gemma3n(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Gemma3nMultimodal(args_))) {}

Array Gemma3n::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return model_.language_model()(tokens, cache);
}

std::optional<int64_t> Gemma3n::sliding_window(int layer) const {
  if (args_.layer_types.at(static_cast<size_t>(layer)) != "sliding_attention") return std::nullopt;
  return args_.sliding_window;
}

nn::Parameters Gemma3n::sanitize(nn::Parameters weights) const {
  static const char* const kDropped[] = {"model.vision_tower.", "model.audio_tower.",
                                         "model.embed_audio.", "model.embed_vision."};
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    bool dropped = false;
    for (const char* prefix : kDropped) dropped |= absl::StartsWith(name, prefix);
    if (!dropped) kept.emplace_back(std::move(name), std::move(array));
  }
  return kept;
}

}  // namespace ferry::lm
