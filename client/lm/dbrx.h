#ifndef FERRY_CLIENT_LM_DBRX_H_
#define FERRY_CLIENT_LM_DBRX_H_

// DBRX (model_type "dbrx") as mlx-lm builds it (models/dbrx.py): "transformer" ("wte",
// "blocks.N", "norm_f") and "lm_head". Each block's "norm_attn_norm" is a LayerNorm without
// bias ("norm_1"), attention through one fused "Wqkv" clipped to [-clip_qkv, clip_qkv] and
// "out_proj" with plain RoPE, the residual, and "norm_2"; its "ffn" routes every token to
// its top-k experts by the softmax of "router.layer", the weights renormalized to sum to 1.
// mlx-lm keeps the experts as one MLP each (ffn.experts.E.w1, v1, w2) and loops over the
// tokens; here sanitize stacks them into a SwitchGLU ("ffn.switch_mlp": w1 the gate, v1 up,
// w2 down), the same sums through gather_mm (gather_qmm where quantized).

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

class DbrxAttention : public nn::Module {
 public:
  explicit DbrxAttention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_, dims_;
  float clip_qkv_;
  nn::Linear &Wqkv_, &out_proj_;
  Rope rope_;
};

// "norm_1", "attn", "norm_2": (x + attention(norm_1(x)), norm_2 of that).
class DbrxNormAttnNorm : public nn::Module {
 public:
  explicit DbrxNormAttnNorm(const ModelArgs& args);
  std::pair<Array, Array> operator()(const Array& x, const std::optional<Array>& mask,
                                     KVCache* cache, const std::optional<Array>& position);

 private:
  nn::LayerNorm &norm_1_, &norm_2_;
  DbrxAttention& attn_;
};

// "router.layer" and "switch_mlp".
class DbrxSparseMoeBlock : public nn::Layer {
 public:
  explicit DbrxSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  nn::Linear& router_;
  SwitchGLU& switch_mlp_;
};

// "ffn" and "norm_attn_norm".
class DbrxBlock : public nn::Module {
 public:
  explicit DbrxBlock(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  DbrxSparseMoeBlock& ffn_;
  DbrxNormAttnNorm& norm_attn_norm_;
};

// "wte", "blocks.N", "norm_f".
class DbrxTransformer : public nn::Module {
 public:
  explicit DbrxTransformer(const ModelArgs& args);
  // Hidden states (B, L, d_model).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  nn::Embedding& wte_;
  std::vector<DbrxBlock*> blocks_;
  nn::LayerNorm* norm_f_ = nullptr;
};

// model_type "dbrx": "transformer" and "lm_head".
class Dbrx : public Model {
 public:
  explicit Dbrx(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // Hugging Face's ffn.experts.mlp.w1, v1 and w2 ((experts * ffn, d_model), w2 transposed
  // per expert, as mlx-lm's sanitize splits them) and mlx-lm's ffn.experts.E.{w1,v1,w2}
  // (quantized too) stacked as ffn.switch_mlp's gate_proj, up_proj and down_proj.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  DbrxTransformer& transformer_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_DBRX_H_
