#ifndef FERRY_CLIENT_LM_LLAMA_H_
#define FERRY_CLIENT_LM_LLAMA_H_

// The Llama family as mlx-lm builds it (models/llama.py, qwen2.py, qwen3.py), under its
// parameter names ("model.layers.0.self_attn.q_proj.weight"), so a checkpoint mlx-lm or
// Hugging Face saved loads unchanged: Llama 2 and 3, Mistral (model_type "llama" or
// "mistral"), Qwen2 and Qwen2.5 (biased q, k and v), Qwen3 (normalized q and k per head).
// The mixtures of experts (mixtral.h, qwen2_moe.h, qwen3_moe.h) are these layers with
// another feed-forward; Llama 4 (llama4.h) too, its attention's weightless q/k norms and
// temperature tuning options of this one (ModelArgs::weightless_qk_norm,
// attn_temperature_tuning). Granite's multipliers (ModelArgs::embedding_multiplier and the
// others), StarCoder 2's LayerNorm (ModelArgs::layer_norm) and GLM-4's norms after attention
// and the MLP (ModelArgs::sandwich_norms) are options of these layers; so are Ministral 3's
// (ministral3.h) sliding layers (ModelArgs::layer_types) and its queries scaled at every layer
// as Llama 4 tunes them (llama_4_scaling); Hunyuan's (hunyuan.h) q/k norms after RoPE
// (ModelArgs::qk_norm_after_rope) and its cross-layer attention (cla_share_factor) too.

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/layer_masks.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// Rotary positions as mlx-lm's initialize_rope makes them: plain, "linear" (positions
// divided by the factor), "llama3" (long wavelengths stretched by the factor, the middle
// ones smoothed), "yarn" (YarnRoPE: wavelengths past the original context stretched, a ramp
// between, the rotated features scaled by its mscale), "longrope" (phi3's SuScaledRoPE:
// wavelengths times rope_long_factor, the rotated features scaled by
// sqrt(1 + ln(max / original) / ln(original)) where the context is longer than the original)
// or "proportional" (Gemma 4's: base^(2i/dims) times the factor for the first
// partial_rotary_factor of the features, the rest not rotated), or "ntk_alpha" (Hunyuan's
// DynamicNTKAlphaRoPE: base * alpha^(dims / (dims - 2)) for every length).
class Rope {
 public:
  Rope(int64_t dims, const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& offset) const;

 private:
  int dims_;
  bool traditional_;
  float base_, scale_;
  float input_scale_ = 1.0f;  // yarn's and longrope's, of the rotated features
  std::vector<float> freqs_;  // llama3's, yarn's, longrope's, else empty
  mutable std::optional<Array> freqs_array_;
};

// Llama 4's temperature tuning (ModelArgs::attn_temperature_tuning): the queries at position
// p times log(floor((p + 1) / floor_scale) + 1) * attn_scale + 1; with llama_4_scaling
// (Ministral 3's, Mistral 4's) at p itself, the scales rounded to the queries' dtype first.
class TemperatureTuning {
 public:
  explicit TemperatureTuning(const ModelArgs& args);
  // queries (B, heads, L, D), each row from its position `at` (B,), or from 0 without one.
  Array operator()(const Array& queries, const std::optional<Array>& at) const;

 private:
  float floor_scale_, attn_scale_;
  bool from_zero_;
};

// The keys' and values' projections (B, L, kv_heads * head_dim), before their heads split:
// what a layer of Hunyuan's cross-layer attention hands to the next ones.
struct KvProjections {
  Array keys, values;
};

class Attention : public nn::Module {
 public:
  explicit Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  // With the projections of keys and values it attends over: its own, or `shared` (an
  // earlier layer's) where it has no k_proj and v_proj (ModelArgs::kv_proj false); a layer
  // without them given none throws INVALID_ARGUMENT.
  std::pair<Array, KvProjections> operator()(const Array& x, const std::optional<Array>& mask,
                                             KVCache* cache, const std::optional<Array>& position,
                                             const std::optional<KvProjections>& shared);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  bool rotates_;  // false for SmolLM3's NoPE layers
  nn::Linear& q_proj_;
  nn::Linear *k_proj_, *v_proj_;  // null in Hunyuan's CLA layers
  nn::Linear& o_proj_;
  nn::RMSNorm *q_norm_ = nullptr, *k_norm_ = nullptr;
  bool norm_whole_;       // OLMo's norms of the whole projections (ModelArgs::qk_norm_whole)
  bool norm_after_rope_;  // Hunyuan's (ModelArgs::qk_norm_after_rope)
  Rope rope_;
  // Llama 4's (ModelArgs::weightless_qk_norm, attn_temperature_tuning).
  std::string weightless_qk_norm_;
  float weightless_eps_;
  // Llama 4's NoPE layers', every layer's with llama_4_scaling.
  std::optional<TemperatureTuning> temperature_;
  float scale_;  // Granite's attention_multiplier, else head_dim^-0.5
};

class Mlp : public nn::Layer {
 public:
  explicit Mlp(const ModelArgs& args);
  // Of another width (qwen2_moe's shared expert, qwen3_moe's dense layers).
  Mlp(int64_t dims, int64_t hidden_dims, bool bias = false);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &gate_proj_, &down_proj_, &up_proj_;
};

class TransformerBlock : public nn::Module {
 public:
  explicit TransformerBlock(const ModelArgs& args) : TransformerBlock(args, "mlp", Mlp(args)) {}
  // With another feed-forward, named `name`: a mixture of experts ("mlp", or mixtral's
  // "block_sparse_moe"); the norms before attention and before it named `norms` (Apertus's
  // "attention_layernorm" and "feedforward_layernorm").
  template <typename FeedForward>
  TransformerBlock(const ModelArgs& args, const std::string& name, FeedForward feed_forward,
                   const std::pair<std::string, std::string>& norms = {"input_layernorm",
                                                                       "post_attention_layernorm"})
      : residual_multiplier_(args.residual_multiplier),
        self_attn_(register_module("self_attn", Attention(args))),
        mlp_(register_module(name, std::move(feed_forward))),
        input_layernorm_(register_norm(norms.first, args)),
        post_attention_layernorm_(register_norm(norms.second, args)) {
    if (args.sandwich_norms) {
      post_self_attn_layernorm_ = &register_norm("post_self_attn_layernorm", args);
      post_mlp_layernorm_ = &register_norm("post_mlp_layernorm", args);
    }
  }
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  // Hunyuan's cross-layer attention: Attention's second form.
  std::pair<Array, KvProjections> operator()(const Array& x, const std::optional<Array>& mask,
                                             KVCache* cache, const std::optional<Array>& position,
                                             const std::optional<KvProjections>& shared);

 private:
  nn::Layer& register_norm(const std::string& name, const ModelArgs& args);

  float residual_multiplier_;
  Attention& self_attn_;
  nn::Layer& mlp_;
  nn::Layer &input_layernorm_, &post_attention_layernorm_;
  // GLM-4's, of what attention and the MLP add (ModelArgs::sandwich_norms), else null.
  nn::Layer *post_self_attn_layernorm_ = nullptr, *post_mlp_layernorm_ = nullptr;
};

// Layer `index` of a model; TransformerBlock(args) when none is given.
using MakeLayer = std::function<TransformerBlock(const ModelArgs& args, int index)>;

// The stack without its output layer: "embed_tokens", "layers.N", "norm".
class LlamaModel : public nn::Module {
 public:
  explicit LlamaModel(const ModelArgs& args, const MakeLayer& make_layer = nullptr);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }
  // sliding_window for the layers layer_types calls "sliding_attention" (Ministral 3's).
  std::optional<int64_t> sliding_window(int layer) const;

 private:
  // The layers of Hunyuan's cross-layer attention, from the embeddings.
  Array CrossLayer(Array h, const LayerMasks& masks, std::vector<KVCache>* cache);

  float embedding_multiplier_;
  int cla_share_factor_;       // Hunyuan's cross-layer attention (1: none)
  int64_t window_ = 0;         // sliding_window where a layer slides, else 0
  std::vector<bool> sliding_;  // per layer
  nn::Embedding& embed_tokens_;
  std::vector<TransformerBlock*> layers_;
  nn::Layer* norm_ = nullptr;
};

// RMSNorm(hidden_size), or LayerNorm where args.layer_norm (biased where layer_norm_bias),
// both of eps rms_norm_eps: what `register_module` registers under `name`.
template <typename Register>
nn::Layer& LlamaNorm(const ModelArgs& args, const Register& register_module) {
  if (args.layer_norm) {
    return register_module(
        nn::LayerNorm(args.hidden_size, args.rms_norm_eps, true, args.layer_norm_bias));
  }
  return register_module(nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

// "model" and, unless the embeddings are tied, "lm_head".
class Llama : public Model {
 public:
  explicit Llama(ModelArgs args, const MakeLayer& make_layer = nullptr);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::optional<int64_t> sliding_window(int layer) const override {
    return model_.sliding_window(layer);
  }

 private:
  ModelArgs args_;
  LlamaModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LLAMA_H_
