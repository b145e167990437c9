#include "client/lm/llama4.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool Chunked(const ModelArgs& args, int layer) {
  return args.model_type == "llama4" && (layer + 1) % 4 != 0;
}

// Layer `index`'s attention: llama4 rotates (and normalizes q and k) off every fourth layer,
// llama4_text where no_rope_layers says 1.
ModelArgs LayerArgs(const ModelArgs& args, int index) {
  ModelArgs layer = args;
  if (args.model_type == "llama4") {
    layer.rope = Chunked(args, index);
    if (!layer.rope) layer.weightless_qk_norm.clear();
  } else {
    layer.rope = args.no_rope_layers.at(static_cast<size_t>(index)) != 0;
  }
  return layer;
}

TransformerBlock MakeBlock(const ModelArgs& args, int index) {
  const ModelArgs layer = LayerArgs(args, index);
  const int step = args.interleave_moe_layer_step;
  if (args.model_type == "llama4" && index % step == step - 1) {
    return TransformerBlock(layer, "feed_forward", Llama4Moe(layer));
  }
  return TransformerBlock(layer, "feed_forward", Mlp(args.hidden_size, args.intermediate_size_mlp));
}

}  // namespace

Llama4Moe::Llama4Moe(const ModelArgs& args)
    : experts_(register_module(
          "experts", SwitchGLU(args.hidden_size, args.intermediate_size, args.num_experts))),
      router_(register_module("router",
                              nn::Linear(args.hidden_size, args.num_experts, /*bias=*/false))),
      shared_expert_(
          register_module("shared_expert", Mlp(args.hidden_size, args.intermediate_size))) {}

Array Llama4Moe::operator()(const Array& x) {
  const Array logits = router_(x);
  // The top expert as mlx-lm picks it (argpartition of the negated logits).
  const Array index = slice_last_axis(argpartition(-logits, 0, -1), 0, 1);
  const Array score =
      astype(sigmoid(astype(take_along_axis(logits, index, -1), float32)), x.dtype());
  return squeeze(experts_(x * score, index), -2) + shared_expert_(x);
}

Llama4TextModel::Llama4TextModel(const ModelArgs& args)
    : chunk_(args.model_type == "llama4" ? args.attention_chunk_size : 0),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), MakeBlock(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

std::optional<int64_t> Llama4TextModel::attention_chunk(int layer) const {
  if (chunk_ == 0 || (layer + 1) % 4 == 0) return std::nullopt;
  return chunk_;
}

Array Llama4TextModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Llama4", tokens, cache, layers_.size());
  const int64_t length = tokens.shape(1);
  LayerMasks masks;
  if (chunk_ == 0) {
    masks = causal_masks(length, tokens.device(), cache);
  } else {
    if (cache) {
      // One chunked mask serves every chunked layer: their caches are all of one kind.
      for (size_t i = 1; i < layers_.size(); ++i) {
        if (attention_chunk(static_cast<int>(i)) &&
            (*cache)[i].chunk_size() != (*cache)[0].chunk_size()) {
          detail::ThrowOpError(
              "Llama4", absl::StrCat("the chunked layers' caches must be of one kind: layer 0's "
                                     "is ",
                                     (*cache)[0].chunk_size() ? "chunked" : "not", ", layer ", i,
                                     "'s ", (*cache)[i].chunk_size() ? "chunked" : "not", "."));
        }
      }
    }
    masks = chunked_masks(length, tokens.device(), cache, chunk_);
  }
  Array h = embed_tokens_(tokens);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      const bool chunked = attention_chunk(static_cast<int>(i)).has_value();
      return (*layers_[i])(x, chunked ? masks.chunked : masks.global,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Llama4LanguageModel::Llama4LanguageModel(const ModelArgs& args)
    : model_(register_module("model", Llama4TextModel(args))),
      lm_head_(register_module("lm_head",
                               nn::Linear(args.hidden_size, args.vocab_size, /*bias=*/false))) {}

Array Llama4LanguageModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

Llama4::Llama4(ModelArgs args)
    : args_(std::move(args)),
      language_model_(register_module("language_model", Llama4LanguageModel(args_))) {}

Array Llama4::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return language_model_(tokens, cache);
}

nn::Parameters Llama4::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, weight] : weights) {
    if (absl::StrContains(name, "vision_model") ||
        absl::StrContains(name, "multi_modal_projector")) {
      continue;
    }
    if (absl::EndsWith(name, ".feed_forward.experts.gate_up_proj")) {
      const std::string prefix = name.substr(0, name.size() - std::string("gate_up_proj").size());
      const std::vector<Array> halves = split(weight, 2, -1);
      kept.emplace_back(prefix + "gate_proj.weight", swapaxes(halves[0], 1, 2));
      kept.emplace_back(prefix + "up_proj.weight", swapaxes(halves[1], 1, 2));
    } else if (absl::EndsWith(name, ".feed_forward.experts.down_proj")) {
      kept.emplace_back(name + ".weight", swapaxes(weight, 1, 2));
    } else {
      kept.emplace_back(std::move(name), std::move(weight));
    }
  }
  return kept;
}

Llama4Text::Llama4Text(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Llama4TextModel(args_))) {
  if (!args_.tie_word_embeddings) {
    output_ =
        &register_module("output", nn::Linear(args_.hidden_size, args_.vocab_size, /*bias=*/false));
  }
}

Array Llama4Text::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return output_ ? (*output_)(h) : model_.embed_tokens().as_linear(h);
}

}  // namespace ferry::lm
