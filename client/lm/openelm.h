#ifndef FERRY_CLIENT_LM_OPENELM_H_
#define FERRY_CLIENT_LM_OPENELM_H_

// Apple's OpenELM as mlx-lm builds it (models/openelm.py): Llama's pre-norm blocks whose
// every layer has its own query and key/value heads (ModelArgs::layer_num_attention_heads,
// layer_num_key_value_heads) and MLP width (intermediate_sizes), q, k and v fused in one
// qkv_proj whose rows run over all query heads, then the key heads, then the value heads,
// RMSNorms of each head's queries and keys (ModelArgs::qk_norm), the MLP's gate and up fused
// in proj_1 (gate first), the embeddings tied unless share_input_output_layers is false.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "qkv_proj", "out_proj", and "q_norm", "k_norm" where normalized. Layer `layer`'s heads.
class OpenELMAttention : public nn::Module {
 public:
  OpenELMAttention(const ModelArgs& args, int layer);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &qkv_proj_, &out_proj_;
  nn::RMSNorm *q_norm_ = nullptr, *k_norm_ = nullptr;
  Rope rope_;
};

// proj_2(silu(gate) * up), gate and up the halves of proj_1.
class OpenELMMlp : public nn::Layer {
 public:
  OpenELMMlp(int64_t dims, int64_t hidden_dims);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &proj_1_, &proj_2_;
};

// "attn", "ffn", "attn_norm", "ffn_norm".
class OpenELMBlock : public nn::Module {
 public:
  OpenELMBlock(const ModelArgs& args, int layer);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  OpenELMAttention& attn_;
  OpenELMMlp& ffn_;
  nn::RMSNorm &ffn_norm_, &attn_norm_;
};

// "token_embeddings", "layers.N", "norm".
class OpenELMModel : public nn::Module {
 public:
  explicit OpenELMModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& token_embeddings() { return token_embeddings_; }

 private:
  nn::Embedding& token_embeddings_;
  std::vector<OpenELMBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "openelm": "transformer" and, unless tied, "lm_head".
class OpenELM : public Model {
 public:
  explicit OpenELM(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  OpenELMModel& transformer_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_OPENELM_H_
