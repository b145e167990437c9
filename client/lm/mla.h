#ifndef FERRY_CLIENT_LM_MLA_H_
#define FERRY_CLIENT_LM_MLA_H_

// Multi-head latent attention's layers as DeepSeek V2 and V3 share them, under mlx-lm's
// names (models/mla.py, deepseek_v2.py, deepseek_v3.py): the queries, the compressed keys
// and values (a latent and one head of rotated key features), the output projection and
// the softmax scale; and MultiLinear, V3's per-head up-projections of the latent.

#include <cstdint>
#include <optional>

#include "client/lm/kv_cache.h"
#include "client/lm/llama.h"
#include "client/lm/model_args.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"
#include "client/nn/quantizable.h"

namespace ferry::lm {

// mlx-lm's MultiLinear: weight (num_heads, output_dims, input_dims) drawn uniform in
// +-sqrt(1 / input_dims); head h multiplies x's head axis h, x (..., num_heads or 1, L, D).
// Quantized (quantize(), as load_model does), it is QuantizedMultiLinear: quantized_matmul of
// the codes, packed along input_dims.
class MultiLinear : public nn::QuantizableLayer {
 public:
  MultiLinear(int64_t input_dims, int64_t output_dims, int64_t num_heads);
  // x @ weight.T (..., input_dims) to (..., output_dims); with transpose false x @ weight,
  // (..., output_dims) to (..., input_dims).
  Array operator()(const Array& x, bool transpose);
  Array operator()(const Array& x) override { return (*this)(x, /*transpose=*/true); }
};

// "q_a_proj", "q_a_layernorm", "q_b_proj" (or "q_proj" without q_lora_rank),
// "kv_a_proj_with_mqa", "kv_a_layernorm" and "o_proj", each attention adding how it
// up-projects the latent. The scale is q_head_dim^-0.5 times yarn's mscale(factor,
// mscale_all_dim) squared where rope_scaling gives both (the half of yarn's attention
// scaling that the rotated features' own mscale / mscale_all_dim leaves out).
class MlaProjections : public nn::Module {
 protected:
  explicit MlaProjections(const ModelArgs& args);

  struct Projected {
    Array q_nope;             // (B, heads, L, qk_nope_head_dim)
    Array q_pe;               // (B, heads, L, qk_rope_head_dim), rotated
    Array latent;             // (B, L, kv_lora_rank), normalized
    Array k_pe;               // (B, 1, L, qk_rope_head_dim), rotated: one head every head shares
    std::optional<Array> qr;  // (B, L, q_lora_rank): q_a_layernorm's, none without it
  };
  // x (B, L, hidden_size) projected, each row rotated from its own position (the cache's
  // rope_offset of `position`, or 0 without a cache); nothing rotated where args.rope is
  // false (Kimi Linear's, whose q_pe and k_pe score unrotated). With
  // ModelArgs::llama_4_scaling (Mistral 4's) both halves of the queries are temperature-tuned.
  Projected Project(const Array& x, const KVCache* cache, const std::optional<Array>& position);
  // The heads' values (B, heads, L, v_head_dim) through o_proj: (B, L, hidden_size).
  Array Output(const Array& heads);

  int heads_;
  int64_t nope_dims_, rope_dims_, v_head_dim_, kv_lora_rank_;
  float scale_;

 private:
  nn::Linear *q_proj_ = nullptr, *q_a_proj_ = nullptr, *q_b_proj_ = nullptr;
  nn::RMSNorm* q_a_layernorm_ = nullptr;
  nn::Linear& kv_a_proj_with_mqa_;
  nn::RMSNorm& kv_a_layernorm_;
  nn::Linear& o_proj_;
  Rope rope_;
  bool rotate_;
  std::optional<TemperatureTuning> temperature_;  // Mistral 4's
  // LongCat-Flash's scales of the queries and the normalized latent (0: none).
  float q_scale_, kv_scale_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MLA_H_
