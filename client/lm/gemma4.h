#ifndef FERRY_CLIENT_LM_GEMMA4_H_
#define FERRY_CLIENT_LM_GEMMA4_H_

// Gemma 4's text model as mlx-lm builds it (models/gemma4_text.py, and gemma4.py for a
// checkpoint of the whole multimodal model, whose language_model it runs). Layers slide
// (sliding_window, head_dim, their RoPE) or attend fully (global_head_dim, their own RoPE,
// "proportional" in Gemma 4's configs; values that are the keys with attention_k_eq_v), with
// q and k norms, weightless v norms and attention unscaled. The last num_kv_shared_layers
// layers have no keys of their own: each attends over the keys and values the last earlier
// layer of its type attended over (mlx-lm's make_cache makes caches for the others only), and
// their MLPs are twice as wide with use_double_wide_mlp. Per-layer inputs (an embedding of
// every layer's hidden_size_per_layer_input features per token, plus a projection of the
// embedded input) gate a residual after each layer's feed-forward; each layer's output is
// scaled by its layer_scalar. enable_moe_block adds, beside each MLP, experts (SwitchGLU over
// GELU-gated units) chosen by a router. The logits are soft-capped by
// final_logit_softcapping.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/gemma_layers.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// What a layer with keys hands the KV-shared layers after it (mlx-lm's shared_kv and
// offset): the keys and values it attended over (its cache's, or its own without one) and
// the positions it rotated them from.
struct Gemma4SharedKV {
  Array keys, values;
  std::optional<Array> at;
};

class Gemma4Attention : public nn::Module {
 public:
  // With own_kv, a KV-shared layer keeps its own k_proj, v_proj and k_norm too, for a call
  // given no `shared` (Gemma 3n's, which use them without a cache).
  Gemma4Attention(const ModelArgs& args, int index, bool own_kv = false);
  // Without `shared`, the layer's own keys and values, through `cache`, returned for the
  // layers that share them; with it (a KV-shared layer), those. Throws INVALID_ARGUMENT for
  // a KV-shared layer given none (without own_kv).
  std::pair<Array, Gemma4SharedKV> operator()(const Array& x, const std::optional<Array>& mask,
                                              KVCache* cache, const std::optional<Array>& position,
                                              const Gemma4SharedKV* shared);

 private:
  int index_, heads_, kv_heads_;
  int64_t head_dim_;
  bool has_kv_, k_eq_v_;
  float eps_;
  nn::Linear &q_proj_, *k_proj_ = nullptr, *v_proj_ = nullptr, *o_proj_ = nullptr;
  nn::RMSNorm &q_norm_, *k_norm_ = nullptr;
  Rope rope_;
};

// The top_k_experts of the highest scores of proj(rms_norm(x) * scale / sqrt(hidden_size)),
// their weights the softmax of those scores times per_expert_scale.
class Gemma4Router : public nn::Module {
 public:
  explicit Gemma4Router(const ModelArgs& args);
  // (indices, weights), each (..., top_k_experts).
  std::pair<Array, Array> operator()(const Array& x);

 private:
  int top_k_;
  float eps_, root_size_;
  nn::Linear& proj_;
};

// "switch_glu": each token through its experts, their outputs summed by the router's weights.
class Gemma4Experts : public nn::Module {
 public:
  explicit Gemma4Experts(const ModelArgs& args);
  Array operator()(const Array& x, const Array& indices, const Array& weights);

 private:
  SwitchGLU& switch_glu_;
};

class Gemma4Block : public nn::Module {
 public:
  Gemma4Block(const ModelArgs& args, int index);
  std::pair<Array, Gemma4SharedKV> operator()(const Array& x, const std::optional<Array>& mask,
                                              KVCache* cache, const std::optional<Array>& position,
                                              const std::optional<Array>& per_layer_input,
                                              const Gemma4SharedKV* shared);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  Gemma4Attention& self_attn_;
  GemmaMlp& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_, &pre_feedforward_layernorm_,
      &post_feedforward_layernorm_;
  // enable_moe_block's, else null.
  Gemma4Router* router_ = nullptr;
  Gemma4Experts* experts_ = nullptr;
  nn::RMSNorm *post_feedforward_layernorm_1_ = nullptr, *post_feedforward_layernorm_2_ = nullptr,
              *pre_feedforward_layernorm_2_ = nullptr;
  // hidden_size_per_layer_input's, else null.
  nn::Linear *per_layer_input_gate_ = nullptr, *per_layer_projection_ = nullptr;
  nn::RMSNorm* post_per_layer_input_norm_ = nullptr;
};

// Gemma 3n's and 4's KV sharing: for each layer, the layer whose keys and values it attends
// over (with a cache), itself before the last num_kv_shared_layers and after them the last
// layer of its type before those.
std::vector<int> gemma_kv_sources(const ModelArgs& args);
// Their make_cache, as mlx-lm's: for each layer before the KV-shared ones, rotating of
// sliding_window where it slides, plain where not.
std::vector<KVCache> gemma_make_cache(const ModelArgs& args);

// Gemma 3n's and 4's per-layer inputs (B, L, layers, width): embed_per_layer(tokens) times
// sqrt(width), plus norm(projection(h) / sqrt(hidden_size)) of the embedded tokens h (B, L,
// hidden_size), both split per layer, times sqrt(1/2).
Array gemma_per_layer_inputs(nn::Embedding& embed_per_layer, nn::Linear& projection,
                             nn::RMSNorm& norm, const Array& tokens, const Array& h, int layers,
                             int64_t width);

// "embed_tokens", "layers.N", "norm", and with per-layer inputs "embed_tokens_per_layer",
// "per_layer_model_projection", "per_layer_projection_norm".
class Gemma4TextModel : public nn::Module {
 public:
  explicit Gemma4TextModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size). The cache is make_cache()'s: one per layer before the
  // KV-shared ones.
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  // The per-layer inputs of `tokens` whose embeddings (scaled) are `h`: (B, L, layers, width).
  Array PerLayerInputs(const Array& tokens, const Array& h);

  int64_t hidden_size_, window_, per_layer_width_;
  int layers_with_kv_;
  nn::Embedding& embed_tokens_;
  std::vector<Gemma4Block*> layers_;
  std::vector<int> previous_kvs_;  // the layer whose keys each layer attends over
  nn::RMSNorm* norm_ = nullptr;
  nn::Embedding* embed_tokens_per_layer_ = nullptr;
  nn::Linear* per_layer_model_projection_ = nullptr;
  nn::RMSNorm* per_layer_projection_norm_ = nullptr;
};

// model_type "gemma4_text": "model" and, unless the embeddings are tied, "lm_head".
class Gemma4Text : public Model {
 public:
  explicit Gemma4Text(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's make_cache: for each layer before the KV-shared ones, rotating of sliding_window
  // where it slides, plain where not.
  std::vector<KVCache> make_cache() const override;
  std::optional<int64_t> sliding_window(int layer) const override;
  // Not with KV-shared layers: mlx-lm's hand a quantized cache's keys to plain attention,
  // which fails.
  bool reads_quantized_cache() const override { return args_.num_kv_shared_layers == 0; }
  // The routers' 8 bits in groups of 64 (mlx-lm's quant_predicate).
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  // mlx-lm's sanitize: rotary tables and the input/output clipping bounds dropped, the
  // KV-shared layers' k_proj, v_proj and k_norm too, and Hugging Face's experts
  // (experts.gate_up_proj, gate's rows then up's; experts.down_proj) as switch_glu's.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Gemma4TextModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

// model_type "gemma4": the text model as "language_model". sanitize takes Hugging Face's
// "model.language_model." as "language_model.model.", drops the vision and audio towers and
// embedders, then sanitizes as Gemma4Text.
class Gemma4 : public Model {
 public:
  explicit Gemma4(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::vector<KVCache> make_cache() const override { return language_model_.make_cache(); }
  std::optional<int64_t> sliding_window(int layer) const override {
    return language_model_.sliding_window(layer);
  }
  bool reads_quantized_cache() const override { return language_model_.reads_quantized_cache(); }
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override {
    return language_model_.own_quantization(path);
  }
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Gemma4Text& language_model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GEMMA4_H_
