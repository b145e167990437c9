#ifndef FERRY_CLIENT_LM_GRANITEMOEHYBRID_H_
#define FERRY_CLIENT_LM_GRANITEMOEHYBRID_H_

// IBM Granite 4.0 as mlx-lm builds it (models/granitemoehybrid.py): layer_types' "mamba"
// layers are Mamba-2 mixers (mamba2.h), its "attention" layers Llama's attention scaled by
// attention_multiplier, with RoPE or none (position_embedding_type "nope"); each then a
// mixture of experts (Granite-MoE's block, granitemoe.h) beside a shared MLP, or a dense MLP.
// Granite's multipliers: the embeddings times embedding_multiplier, each block's output times
// residual_multiplier, the logits divided by logits_scaling. A mamba layer's cache is
// KVCache::arrays(2), an attention layer's a plain one.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/mamba2.h"
#include "client/lm/model.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's GraniteMoeHybridSharedMLP: output_linear(silu(gate) * up), gate and up the halves
// of input_linear (2 * shared_intermediate_size wide), unbiased.
class GraniteSharedMlp : public nn::Layer {
 public:
  explicit GraniteSharedMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &input_linear_, &output_linear_;
};

// "input_layernorm", "mamba" or "self_attn", then "block_sparse_moe" and "shared_mlp" (with
// experts) or "mlp", "post_attention_layernorm".
class GraniteMoeHybridLayer : public nn::Module {
 public:
  GraniteMoeHybridLayer(const ModelArgs& args, int index);
  // `mask` is the attention mask of an attention layer, the arrays_mask of a mamba one.
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool is_attention() const { return self_attn_ != nullptr; }

 private:
  float residual_multiplier_;
  nn::RMSNorm& input_layernorm_;
  Mamba2Mixer* mamba_ = nullptr;
  Attention* self_attn_ = nullptr;
  nn::Layer* moe_ = nullptr;  // the experts, or the dense MLP
  nn::Layer* shared_mlp_ = nullptr;
  nn::RMSNorm* post_attention_layernorm_ = nullptr;
};

// "embed_tokens", "layers.N", "norm".
class GraniteMoeHybridModel : public nn::Module {
 public:
  explicit GraniteMoeHybridModel(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  float embedding_multiplier_;
  nn::Embedding& embed_tokens_;
  std::vector<GraniteMoeHybridLayer*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "granitemoehybrid": "model" and, unless the embeddings are tied, "lm_head".
class GraniteMoeHybrid : public Model {
 public:
  explicit GraniteMoeHybrid(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's: KVCache::arrays(2) for a mamba layer, a plain cache for an attention one.
  std::vector<KVCache> make_cache() const override;
  // mlx-lm's: the conv weights (C, 1, K) become (C, K, 1); with experts, Hugging Face's
  // block_sparse_moe.input_linear (E, 2 * intermediate, hidden: gate's rows, then up's) and
  // output_linear become switch_mlp's gate_proj, up_proj, down_proj; without, shared_mlp's
  // input_linear and output_linear become mlp's gate_proj and up_proj, down_proj; a tied
  // model's lm_head.weight is dropped.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's quant_predicate: the routers at 8 bits in groups of 64.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;

 private:
  ModelArgs args_;
  GraniteMoeHybridModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GRANITEMOEHYBRID_H_
