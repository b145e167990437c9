#ifndef FERRY_CLIENT_LM_LAGUNA_H_
#define FERRY_CLIENT_LM_LAGUNA_H_

// Laguna as mlx-lm builds it (models/laguna.py): Qwen3's attention (q and k normalized per
// head) with each layer's own number of query heads, a softplus gate per head on its output
// (gating), RoPE per layer type (rope_parameters: the full layers' possibly YaRN and partial,
// the sliding ones' their own), sliding-window layers as layer_types say; a mixture in the
// "sparse" layers of mlp_layer_types: sigmoid (or sqrt-softplus) scores of soft-capped router
// logits ranked with a correction bias, the chosen ones' renormalized, times
// moe_routed_scaling_factor, plus a shared expert; Llama's MLP in the "dense" ones.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm" and, with gating, "g_proj".
class LagunaAttention : public nn::Module {
 public:
  LagunaAttention(const ModelArgs& args, int index);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  nn::RMSNorm &q_norm_, &k_norm_;
  nn::Linear* g_proj_ = nullptr;
  Rope rope_;
};

// mlx-lm's MoEGate: "proj" (a Linear, so a quantized router loads) and
// "e_score_correction_bias".
class LagunaGate : public nn::Module {
 public:
  explicit LagunaGate(const ModelArgs& args);
  // Each token's experts (..., top_k) and their weights, float32.
  std::pair<Array, Array> operator()(const Array& x);

 private:
  int top_k_;
  float softcap_;
  bool sqrt_softplus_;
  nn::Linear& proj_;
};

// "gate", "switch_mlp", "shared_expert".
class LagunaMoE : public nn::Layer {
 public:
  explicit LagunaMoE(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  float routed_scaling_factor_;
  LagunaGate& gate_;
  SwitchGLU& switch_mlp_;
  Mlp& shared_expert_;
};

// "self_attn", "mlp", "input_layernorm", "post_attention_layernorm".
class LagunaBlock : public nn::Module {
 public:
  LagunaBlock(const ModelArgs& args, int index);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  LagunaAttention& self_attn_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
  nn::Layer* mlp_ = nullptr;
};

// "embed_tokens", "layers.N", "norm".
class LagunaModel : public nn::Module {
 public:
  explicit LagunaModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  int64_t window_;
  nn::Embedding& embed_tokens_;
  std::vector<LagunaBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "laguna": "model" and, unless tie_word_embeddings, "lm_head".
class Laguna : public Model {
 public:
  explicit Laguna(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // sliding_window for the "sliding_attention" layers (RotatingKVCache in mlx-lm's make_cache).
  std::optional<int64_t> sliding_window(int layer) const override;
  // mlx-lm's sanitize: a "language_model." prefix dropped, a tied model's lm_head.weight
  // dropped; the original layout's mlp.gate.weight as mlp.gate.proj.weight and
  // mlp.experts.e_score_correction_bias as mlp.gate's, its mlp.experts.E.{gate,up,down}_proj
  // stacked as mlp.switch_mlp's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's quant_predicate: the routers (mlp.gate.proj) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  // mlx-lm's: e_score_correction_bias kept in its dtype.
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  LagunaModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LAGUNA_H_
