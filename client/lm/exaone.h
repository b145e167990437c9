#ifndef FERRY_CLIENT_LM_EXAONE_H_
#define FERRY_CLIENT_LM_EXAONE_H_

// EXAONE 3 and 3.5 as mlx-lm builds them (models/exaone.py): Llama's layers under GPT-2's
// names ("transformer.wte", "transformer.h.N" of ln_1, attn.attention and its out_proj, ln_2,
// mlp's c_fc_0, c_fc_1 and c_proj, "transformer.ln_f"), RMSNorms, RoPE as rope_scaling says,
// q, k, v and out biased where attention_bias, the MLP where mlp_bias, tied unless
// tie_word_embeddings is false. EXAONE 4 is olmo2.h's.

#include <cstdint>
#include <optional>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's AttentionModule: "q_proj", "k_proj", "v_proj", "out_proj".
class ExaoneAttention : public nn::Module {
 public:
  explicit ExaoneAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &out_proj_;
  Rope rope_;
};

// c_proj(silu(c_fc_0(x)) * c_fc_1(x)).
class ExaoneMlp : public nn::Layer {
 public:
  explicit ExaoneMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &c_fc_0_, &c_fc_1_, &c_proj_;
};

// "ln_1", "attn.attention", "ln_2", "mlp".
class ExaoneBlock : public nn::Module {
 public:
  explicit ExaoneBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  nn::RMSNorm& ln_1_;
  ExaoneAttention& attention_;
  nn::RMSNorm& ln_2_;
  ExaoneMlp& mlp_;
};

// "wte", "h.N", "ln_f".
class ExaoneModel : public nn::Module {
 public:
  explicit ExaoneModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& wte() { return wte_; }

 private:
  nn::Embedding& wte_;
  std::vector<ExaoneBlock*> h_;
  nn::RMSNorm* ln_f_ = nullptr;
};

// model_type "exaone": "transformer" and, unless tied, "lm_head".
class Exaone : public Model {
 public:
  explicit Exaone(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }

 private:
  ModelArgs args_;
  ExaoneModel& transformer_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_EXAONE_H_
