#ifndef FERRY_CLIENT_LM_YOUTU_LLM_H_
#define FERRY_CLIENT_LM_YOUTU_LLM_H_

// Youtu-LLM as mlx-lm builds it (models/youtu_llm.py): DeepSeek V2's multi-head latent
// attention (deepseek_v2.h: keys and values up-projected and cached whole, the rotated key
// features shared by the heads), its scale q_head_dim^-0.5 and its norms of eps rms_norm_eps
// (mla.cc), Llama's MLP (biased where mlp_bias) in every layer, tied unless
// tie_word_embeddings is false.

#include <optional>
#include <vector>

#include "client/lm/deepseek_v2.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "self_attn", "mlp", "input_layernorm", "post_attention_layernorm".
class YoutuLlmBlock : public nn::Module {
 public:
  explicit YoutuLlmBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  DeepseekV2Attention& self_attn_;
  Mlp& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class YoutuLlmModel : public nn::Module {
 public:
  explicit YoutuLlmModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  nn::Embedding& embed_tokens_;
  std::vector<YoutuLlmBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "youtu_llm": "model" and, unless tied, "lm_head".
class YoutuLlm : public Model {
 public:
  explicit YoutuLlm(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  YoutuLlmModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_YOUTU_LLM_H_
