#ifndef FERRY_CLIENT_LM_LONGCAT_FLASH_H_
#define FERRY_CLIENT_LM_LONGCAT_FLASH_H_

// Meituan's LongCat-Flash as mlx-lm builds it (models/longcat_flash.py): each layer two
// sublayers of DeepSeek V3's latent attention (the queries and the latent scaled by
// sqrt(hidden_size / rank)) and an MLP each, and one mixture of experts on the first
// sublayer's normalized output whose result joins after the second ("shortcut"): softmax
// scores plus a correction bias choose moe_topk of the routed experts and zero_expert_num
// identity experts (which add the input times their weight). Each layer's cache is a
// KVCache::list of its two attentions' latent caches (mlx-lm's CacheList).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/deepseek_v3.h"
#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's LongcatFlashTopkRouter: "classifier" (biased where router_bias) and
// "e_score_correction_bias", over the routed and the identity experts.
class LongcatFlashRouter : public nn::Module {
 public:
  explicit LongcatFlashRouter(const ModelArgs& args);
  // Each token's experts (..., top_k) and their weights, in x's dtype.
  std::pair<Array, Array> operator()(const Array& x);

 private:
  int top_k_;
  float routed_scaling_factor_;
  bool norm_topk_prob_;
  nn::Linear& classifier_;
};

// "switch_mlp" and "router": the routed experts' weighted outputs plus the input times the
// chosen identity experts' weights.
class LongcatFlashMoE : public nn::Layer {
 public:
  explicit LongcatFlashMoE(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int64_t routed_;
  SwitchGLU& switch_mlp_;
  LongcatFlashRouter& router_;
};

// "mlp" (the mixture), "self_attn.0/1", "mlps.0/1", "input_layernorm.0/1",
// "post_attention_layernorm.0/1".
class LongcatFlashBlock : public nn::Module {
 public:
  explicit LongcatFlashBlock(const ModelArgs& args);
  // `cache`: a KVCache::list of two, or null.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  LongcatFlashMoE& mlp_;
  std::vector<DeepseekV3Attention*> self_attn_;
  std::vector<Mlp*> mlps_;
  std::vector<nn::RMSNorm*> input_layernorm_, post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class LongcatFlashModel : public nn::Module {
 public:
  explicit LongcatFlashModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  nn::Embedding& embed_tokens_;
  std::vector<LongcatFlashBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "longcat_flash": "model" and "lm_head".
class LongcatFlash : public Model {
 public:
  explicit LongcatFlash(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // Each layer's KVCache::list of two plain caches (mlx-lm's CacheList(KVCache(), KVCache())).
  std::vector<KVCache> make_cache() const override;
  // The latent attention reads its cache whole.
  bool reads_quantized_cache() const override { return false; }
  // mlx-lm's sanitize: Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as
  // mlp.switch_mlp's; each self_attn.I.kv_b_proj split by head into embed_q and unembed_out
  // (a quantized one dequantized, split and quantized again); model.mtp.* dropped.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's quant_predicate: the routers' classifiers in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  // mlx-lm's: e_score_correction_bias kept in its dtype.
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  LongcatFlashModel& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LONGCAT_FLASH_H_
