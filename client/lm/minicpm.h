#ifndef FERRY_CLIENT_LM_MINICPM_H_
#define FERRY_CLIENT_LM_MINICPM_H_

// MiniCPM as mlx-lm builds it (models/minicpm.py): Llama's layers, the embeddings times
// scale_emb (ModelArgs::embedding_multiplier), what attention and the MLP add times
// scale_depth / sqrt(num_hidden_layers) (residual_multiplier), the hidden state divided by
// hidden_size / dim_model_base (logits_scaling) before lm_head; tied, the embedding is the
// output layer with no division. MiniCPM3 (minicpm3.h) is these layers around DeepSeek V2's
// latent attention.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/deepseek_v2.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "self_attn" (Llama's Attention, or with args.q_lora_rank MiniCPM3's latent attention),
// "mlp", "input_layernorm", "post_attention_layernorm".
class MiniCPMDecoderLayer : public nn::Module {
 public:
  explicit MiniCPMDecoderLayer(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  float residual_multiplier_;
  Attention* attention_ = nullptr;         // MiniCPM's
  DeepseekV2Attention* latent_ = nullptr;  // MiniCPM3's
  Mlp* mlp_ = nullptr;
  nn::RMSNorm *input_layernorm_ = nullptr, *post_attention_layernorm_ = nullptr;
};

// "embed_tokens", "layers.N", "norm".
class MiniCPMModel : public nn::Module {
 public:
  explicit MiniCPMModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  float scale_emb_;
  nn::Embedding& embed_tokens_;
  std::vector<MiniCPMDecoderLayer*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "minicpm" (and "minicpm3", minicpm3.h): "model" and, unless tied, "lm_head".
// MiniCPM's sanitize gives a checkpoint without lm_head.weight the embedding's.
class MiniCPM : public Model {
 public:
  explicit MiniCPM(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  MiniCPMModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MINICPM_H_
