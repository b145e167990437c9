#ifndef FERRY_CLIENT_LM_GEMMA3N_H_
#define FERRY_CLIENT_LM_GEMMA3N_H_

// Gemma 3n's text model as mlx-lm builds it (models/gemma3n.py; its vision and audio towers
// dropped). The hidden state is carried as altup_num_inputs predictions (AltUp: the embedding
// and its projections, rescaled to its magnitude): each layer predicts all of them from each
// other, computes on the active one (Gemma 4's attention: q/k norms, weightless v norms,
// unscaled; sliding or full layers; a Laurel low-rank residual beside it; an MLP whose gate,
// in the first layers, keeps only a gaussian top-k of its features), corrects every
// prediction by what it computed, and adds its per-layer input (gated by the active
// prediction) to all but the first. With a cache, the last num_kv_shared_layers layers attend
// over the keys and values of the last earlier layer of their type; without one they use
// their own, as mlx-lm's do. At the end the predictions, projected back and rescaled, are
// averaged; the logits are the tied embedding's, soft-capped by final_logit_softcapping.

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "client/lm/gemma4.h"
#include "client/lm/gemma_layers.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// A Linear of AltUp's coefficients, which mlx-lm reads as float32 and clips.
class Gemma3nCoefs : public nn::Linear {
 public:
  using nn::Linear::Linear;
  // x (..., in) float32 times the weight, clipped to +-bound (0: not): (..., out).
  Array apply(const Array& x, float bound) const;
};

// Alternating updates: "correct_output_scale", "correction_coefs", "prediction_coefs",
// "modality_router", "router_norm".
class Gemma3nAltUp : public nn::Module {
 public:
  explicit Gemma3nAltUp(const ModelArgs& args);
  // Every prediction (n, B, L, D) as a mix of them all, by coefficients of the active one.
  Array predict(const Array& x);
  // The predictions (n, B, L, D) each moved by its share of what the layer computed from the
  // active one (`activated`, (B, L, D)) minus that.
  Array correct(const Array& predictions, const Array& activated);
  // x times correct_output_scale.
  Array scale_output(const Array& x) const;

 private:
  // tanh(modality_router(router_norm(x) / hidden_size)) in float32: (B, L, n).
  Array Modalities(const Array& x);

  int inputs_, active_;
  float clip_, inverse_size_;
  Gemma3nCoefs &correction_coefs_, &prediction_coefs_;
  nn::Linear& modality_router_;
  nn::RMSNorm& router_norm_;
};

// Laurel: x + post_laurel_norm(linear_right(linear_left(x))).
class Gemma3nLaurel : public nn::Module {
 public:
  explicit Gemma3nLaurel(const ModelArgs& args);
  Array operator()(const Array& x);

 private:
  nn::Linear &linear_left_, &linear_right_;
  nn::RMSNorm& post_laurel_norm_;
};

class Gemma3nBlock : public nn::Module {
 public:
  Gemma3nBlock(const ModelArgs& args, int index);
  // The predictions (n, B, L, D) after the layer, and the keys and values it attended over
  // (`shared`'s for a KV-shared layer given them, else its own through `cache`).
  std::pair<Array, Gemma4SharedKV> operator()(const Array& x, const std::optional<Array>& mask,
                                              KVCache* cache, const std::optional<Array>& position,
                                              const Array& per_layer_input,
                                              const Gemma4SharedKV* shared);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_, correct_scale_;
  int active_;
  Gemma4Attention& self_attn_;
  GemmaMlp& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_, &pre_feedforward_layernorm_,
      &post_feedforward_layernorm_;
  Gemma3nAltUp& altup_;
  Gemma3nLaurel& laurel_;
  nn::Linear &per_layer_input_gate_, &per_layer_projection_;
  nn::RMSNorm& post_per_layer_input_norm_;
};

// mlx-lm's LanguageModel: "embed_tokens", "layers.N", "embed_tokens_per_layer",
// "per_layer_model_projection", "per_layer_projection_norm", "altup_projections.N",
// "altup_unembed_projections.N", "norm".
class Gemma3nLanguageModel : public nn::Module {
 public:
  explicit Gemma3nLanguageModel(const ModelArgs& args);
  // Logits (B, L, vocab). The cache is gemma_make_cache()'s: one per layer before the
  // KV-shared ones.
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  int64_t hidden_size_, window_, per_layer_width_, per_layer_vocab_;
  int layers_with_kv_;
  float softcap_;
  nn::Embedding& embed_tokens_;
  std::vector<Gemma3nBlock*> layers_;
  std::vector<int> kv_sources_;
  nn::Embedding& embed_tokens_per_layer_;
  nn::Linear& per_layer_model_projection_;
  nn::RMSNorm& per_layer_projection_norm_;
  std::vector<nn::Linear*> altup_projections_, altup_unembed_projections_;
  nn::RMSNorm& norm_;
};

// mlx-lm's Gemma3n: the text model as "language_model".
class Gemma3nMultimodal : public nn::Module {
 public:
  explicit Gemma3nMultimodal(const ModelArgs& args);
  Gemma3nLanguageModel& language_model() { return language_model_; }

 private:
  Gemma3nLanguageModel& language_model_;
};

// model_type "gemma3n": "model" (Gemma3nMultimodal), so its weights are named
// "model.language_model.*" as in Hugging Face's checkpoints and mlx-lm's.
class Gemma3n : public Model {
 public:
  explicit Gemma3n(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::vector<KVCache> make_cache() const override { return gemma_make_cache(args_); }
  std::optional<int64_t> sliding_window(int layer) const override;
  // Not with KV-shared layers: they would read the owner's keys of this step only.
  bool reads_quantized_cache() const override { return args_.num_kv_shared_layers == 0; }
  // mlx-lm's sanitize: "model.vision_tower", "model.audio_tower", "model.embed_audio" and
  // "model.embed_vision" dropped.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Gemma3nMultimodal& model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GEMMA3N_H_
