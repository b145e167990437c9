#ifndef FERRY_CLIENT_LM_INTERNLM2_H_
#define FERRY_CLIENT_LM_INTERNLM2_H_

// InternLM2 as mlx-lm builds it (models/internlm2.py): Llama's layers under InternLM2's names,
// q, k and v fused in one wqkv whose rows run per key/value head (its query heads, then its
// key, then its value), wqkv and wo biased where `bias` (attention_bias), an MLP of w1, w2
// and w3 without biases, an "output" layer unless tied.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "wqkv", "wo".
class InternLM2Attention : public nn::Module {
 public:
  explicit InternLM2Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &wqkv_, &wo_;
  Rope rope_;
};

// w2(silu(w1(x)) * w3(x)).
class InternLM2Mlp : public nn::Layer {
 public:
  explicit InternLM2Mlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &w1_, &w2_, &w3_;
};

// "attention", "feed_forward", "attention_norm", "ffn_norm".
class InternLM2Block : public nn::Module {
 public:
  explicit InternLM2Block(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  InternLM2Attention& attention_;
  InternLM2Mlp& feed_forward_;
  nn::RMSNorm &attention_norm_, &ffn_norm_;
};

// "tok_embeddings", "layers.N", "norm".
class InternLM2Model : public nn::Module {
 public:
  explicit InternLM2Model(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& tok_embeddings() { return tok_embeddings_; }

 private:
  nn::Embedding& tok_embeddings_;
  std::vector<InternLM2Block*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "internlm2": "model" and, unless tied, "output". sanitize drops Hugging Face's
// "attention.rope.inv_freq".
class InternLM2 : public Model {
 public:
  explicit InternLM2(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  InternLM2Model& model_;
  nn::Linear* output_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_INTERNLM2_H_
