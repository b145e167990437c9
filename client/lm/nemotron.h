#ifndef FERRY_CLIENT_LM_NEMOTRON_H_
#define FERRY_CLIENT_LM_NEMOTRON_H_

// Nemotron (Nemotron-4, Minitron) as mlx-lm builds it (models/nemotron.py): Llama's attention
// (biased where attention_bias, plain RoPE over int(head_dim * partial_rotary_factor)
// features, never traditional, linear scaling), LayerNorm1P (a LayerNorm scaling by
// 1 + weight, biased) before attention, before the MLP and at the end, an MLP of relu(x)^2
// (up_proj, down_proj, biased where mlp_bias), an lm_head unless tied.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// mlx-lm's NemotronLayerNorm1P: fast::layer_norm(x, 1 + weight, bias, eps).
class NemotronLayerNorm1P : public nn::Layer {
 public:
  NemotronLayerNorm1P(int64_t dims, float eps);
  Array operator()(const Array& x) override;

 private:
  float eps_;
};

// down_proj(relu(up_proj(x))^2).
class NemotronMlp : public nn::Layer {
 public:
  explicit NemotronMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &down_proj_, &up_proj_;
};

// "self_attn", "mlp", "input_layernorm", "post_attention_layernorm".
class NemotronBlock : public nn::Module {
 public:
  explicit NemotronBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  Attention& self_attn_;
  NemotronMlp& mlp_;
  NemotronLayerNorm1P &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class NemotronModel : public nn::Module {
 public:
  explicit NemotronModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<NemotronBlock*> layers_;
  NemotronLayerNorm1P* norm_ = nullptr;
};

// model_type "nemotron": "model" and, unless tied, "lm_head".
class Nemotron : public Model {
 public:
  explicit Nemotron(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  NemotronModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_NEMOTRON_H_
