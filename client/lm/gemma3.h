#ifndef FERRY_CLIENT_LM_GEMMA3_H_
#define FERRY_CLIENT_LM_GEMMA3_H_

// Gemma 3's text model as mlx-lm builds it (models/gemma3_text.py, and gemma3.py for a
// checkpoint of the whole vision-language model, whose language_model it runs): norms that
// scale by 1 + weight around both attention and feed-forward, q/k norms, a GELU (tanh) gated
// MLP, the embedding scaled by sqrt(hidden_size), and every sliding_window_pattern-th layer
// global (rope_theta, with rope_scaling) while the others attend over the last
// sliding_window positions (rope_local_base_freq).

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/gemma_layers.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm {

class Gemma3Attention : public nn::Module {
 public:
  Gemma3Attention(const ModelArgs& args, bool sliding);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  float scale_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  GemmaRMSNorm &q_norm_, &k_norm_;
  Rope rope_;
};

class Gemma3Block : public nn::Module {
 public:
  Gemma3Block(const ModelArgs& args, int index);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  Gemma3Attention& self_attn_;
  GemmaMlp& mlp_;
  GemmaRMSNorm &input_layernorm_, &post_attention_layernorm_, &pre_feedforward_layernorm_,
      &post_feedforward_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class Gemma3TextModel : public nn::Module {
 public:
  explicit Gemma3TextModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  int64_t hidden_size_, window_;
  nn::Embedding& embed_tokens_;
  std::vector<Gemma3Block*> layers_;
  GemmaRMSNorm* norm_ = nullptr;
};

// model_type "gemma3_text": "model" and, unless the embeddings are tied, "lm_head".
class Gemma3Text : public Model {
 public:
  explicit Gemma3Text(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // sliding_window for all but every sliding_window_pattern-th layer.
  std::optional<int64_t> sliding_window(int layer) const override;

 private:
  ModelArgs args_;
  Gemma3TextModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

// model_type "gemma3": the text model as "language_model"; the vision tower and its
// projector are dropped by sanitize (this runs text only).
class Gemma3 : public Model {
 public:
  explicit Gemma3(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::optional<int64_t> sliding_window(int layer) const override {
    return language_model_.sliding_window(layer);
  }
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Gemma3Text& language_model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GEMMA3_H_
