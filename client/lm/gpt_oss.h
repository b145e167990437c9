#ifndef FERRY_CLIENT_LM_GPT_OSS_H_
#define FERRY_CLIENT_LM_GPT_OSS_H_

// gpt-oss as mlx-lm builds it (models/gpt_oss.py): biased q, k, v and o projections,
// attention sinks (a learned logit per head that joins each row's softmax, as
// fast::scaled_dot_product_attention takes them), layers attending over a sliding window or
// over everything as layer_types say, and a mixture of experts whose router and experts have
// biases and whose experts' activation is a clamped SwiGLU. Its RoPE is config.json's
// (gpt-oss's own is "yarn").

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's swiglu_oai: (clip(up, -limit, limit) + 1) * g * sigmoid(alpha * g) for
// g = min(gate, limit).
Array swiglu_oai(const Array& up, const Array& gate, float alpha = 1.702f, float limit = 7.0f);

// "q_proj", "k_proj", "v_proj", "o_proj" and "sinks" (num_attention_heads,).
class GptOssAttention : public nn::Module {
 public:
  explicit GptOssAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  Rope rope_;
};

// "router" and "experts": the top-k experts' outputs weighted by the softmax of their
// router logits.
class GptOssMlp : public nn::Layer {
 public:
  explicit GptOssMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  nn::Linear& router_;
  SwitchGLU& experts_;
};

class GptOssBlock : public nn::Module {
 public:
  GptOssBlock(const ModelArgs& args, bool sliding);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  GptOssAttention& self_attn_;
  GptOssMlp& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class GptOssModel : public nn::Module {
 public:
  explicit GptOssModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  int64_t window_;
  nn::Embedding& embed_tokens_;
  std::vector<GptOssBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "gpt_oss": "model" and "lm_head".
class GptOss : public Model {
 public:
  explicit GptOss(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  bool reads_quantized_cache() const override { return false; }
  // sliding_window for the "sliding_attention" layers.
  std::optional<int64_t> sliding_window(int layer) const override;
  // mlx-lm's sanitize of OpenAI's layout: each layer's mlp.experts.gate_up_proj (gate and up
  // rows interleaved, mxfp4 codes as _blocks (..., in / 32, 16) bytes and _scales, the biases
  // as gate_up_proj_bias) split into gate_proj and up_proj, down_proj_* renamed. A
  // checkpoint already in mlx-lm's layout (any "gate_proj.weight") is returned as it is.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: the routers (mlp.router) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;

 private:
  ModelArgs args_;
  GptOssModel& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GPT_OSS_H_
