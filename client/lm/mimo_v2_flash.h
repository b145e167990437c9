#ifndef FERRY_CLIENT_LM_MIMO_V2_FLASH_H_
#define FERRY_CLIENT_LM_MIMO_V2_FLASH_H_

// Xiaomi's MiMo-V2-Flash as mlx-lm builds it (models/mimo_v2_flash.py): sliding-window and
// full attention layers as hybrid_layer_pattern says, each kind with its own heads, head
// sizes (the values' apart from the queries'), RoPE base and optional attention sinks, the
// values scaled by attention_value_scale, partial rotary; DeepSeek V3's grouped sigmoid
// router and shared experts (DeepseekV3MoE) in the layers moe_layer_freq marks, Llama's MLP
// in the others.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// "q_proj", "k_proj", "v_proj", "o_proj" and, where the layer's kind has sinks,
// "attention_sink_bias" (heads,).
class MimoV2FlashAttention : public nn::Module {
 public:
  MimoV2FlashAttention(const ModelArgs& args, bool sliding);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_, v_head_dim_;
  bool sinks_;
  std::optional<float> value_scale_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  Rope rope_;
};

// "self_attn", "mlp" (DeepseekV3MoE, or an Mlp of intermediate_size), "input_layernorm",
// "post_attention_layernorm".
class MimoV2FlashBlock : public nn::Module {
 public:
  MimoV2FlashBlock(const ModelArgs& args, int index);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  MimoV2FlashAttention& self_attn_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
  nn::Layer* mlp_ = nullptr;
};

// "embed_tokens", "layers.N", "norm".
class MimoV2FlashModel : public nn::Module {
 public:
  explicit MimoV2FlashModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  int64_t window_;
  nn::Embedding& embed_tokens_;
  std::vector<MimoV2FlashBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "mimo_v2_flash": "model" and "lm_head".
class MimoV2Flash : public Model {
 public:
  explicit MimoV2Flash(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's attention with sinks does not read a quantized cache.
  bool reads_quantized_cache() const override { return !args_.swa_sinks && !args_.full_sinks; }
  // sliding_window for the sliding layers (mlx-lm's make_cache: RotatingKVCache).
  std::optional<int64_t> sliding_window(int layer) const override;
  // mlx-lm's sanitize: Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as
  // mlp.switch_mlp's, the multi-token prediction layers (model.mtp.*) dropped. FP8 checkpoints
  // (weight_scale_inv), which mlx-lm dequantizes, throw UNIMPLEMENTED.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: e_score_correction_bias kept in its dtype.
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  MimoV2FlashModel& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MIMO_V2_FLASH_H_
