#ifndef FERRY_CLIENT_LM_MISTRAL4_H_
#define FERRY_CLIENT_LM_MISTRAL4_H_

// Mistral 4 as mlx-lm builds it (models/mistral4.py; Mistral Small 4's text model, flat or
// under mistral3's "text_config"): DeepSeek V3's latent attention (deepseek_v3.h, mla.h) with
// every query scaled by Llama 4's 1 + llama_4_scaling_beta * log(1 + floor(p /
// original_max_position_embeddings)) (ModelArgs::llama_4_scaling), traditional RoPE unless
// rope_interleave is false; after first_k_dense_replace dense layers, experts routed by
// softmax scores in groups (Mistral4Gate) beside shared experts; an lm_head unless tied.

#include <optional>
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

// mlx-lm's mistral4_expert_select: the experts (..., top_k) of router logits `gates` and
// their weights, in float32. softmax(gates) ranks the experts; with n_group > 1 only the
// topk_group groups whose two best scores sum highest compete. The weights are the chosen
// experts' scores, divided by their sum plus 1e-20 where norm_topk_prob (one expert's too),
// times routed_scaling_factor.
std::pair<Array, Array> mistral4_expert_select(const Array& gates, int top_k, int n_group,
                                               int topk_group, float routed_scaling_factor,
                                               bool norm_topk_prob);

// Mistral 4's MoE "gate": a Linear (hidden_size to num_experts, unbiased, quantized with
// the model) whose logits mistral4_expert_select routes. Its experts are DeepseekV3MoE's
// (MoeRouter::kMistral4).
class Mistral4Gate : public nn::Linear, public ExpertRouter {
 public:
  explicit Mistral4Gate(const ModelArgs& args);
  std::pair<Array, Array> route(const Array& x) override;

 private:
  int top_k_, n_group_, topk_group_;
  float routed_scaling_factor_;
  bool norm_topk_prob_;
};

// "self_attn", "mlp" (DeepseekV3MoE routed by Mistral4Gate, or an Mlp of intermediate_size
// before first_k_dense_replace), "input_layernorm", "post_attention_layernorm".
class Mistral4Block : public nn::Module {
 public:
  Mistral4Block(const ModelArgs& args, int index);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  DeepseekV3Attention& self_attn_;
  nn::Layer* mlp_ = nullptr;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// model_type "mistral4": "model" ("embed_tokens", "layers.N", "norm") and, unless the
// embeddings are tied, "lm_head".
class Mistral4 : public Model {
 public:
  explicit Mistral4(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // Its latent is not keys and values lm::attention reads.
  bool reads_quantized_cache() const override { return false; }
  // mlx-lm's sanitize: Hugging Face's fused mlp.experts.gate_up_proj (E, 2 * moe
  // intermediate, hidden) split into switch_mlp's gate_proj and up_proj and
  // mlp.experts.down_proj taken as its down_proj, per-expert mlp.experts.E.* stacked, each
  // self_attn.kv_b_proj split into embed_q and unembed_out (split_kv_b_proj),
  // activation_scale dropped. FP8 (*_scale_inv) and compressed int4 (weight_packed)
  // checkpoints throw UNIMPLEMENTED.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  class Stack : public nn::Module {
   public:
    explicit Stack(const ModelArgs& args);
    Array operator()(const Array& tokens, std::vector<KVCache>* cache);
    nn::Embedding& embed_tokens() { return embed_tokens_; }

   private:
    nn::Embedding& embed_tokens_;
    std::vector<Mistral4Block*> layers_;
    nn::RMSNorm* norm_ = nullptr;
  };

  ModelArgs args_;
  Stack& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MISTRAL4_H_
