#ifndef FERRY_CLIENT_LM_DEEPSEEK_V3_H_
#define FERRY_CLIENT_LM_DEEPSEEK_V3_H_

// DeepSeek V3 as mlx-lm builds it (models/deepseek_v3.py; DeepSeek-R1 and Kimi K2 are this
// model): multi-head latent attention whose KV cache holds, per position, the normalized
// kv_lora_rank latent (as the keys) and the rotated qk_rope_head_dim key features every head
// shares (as the values); each layer's experts routed by sigmoid scores in groups, with
// shared experts beside them, after first_k_dense_replace dense layers. DeepSeek V2
// (models/deepseek_v2.py) is the same stack with its own attention and router
// (deepseek_v2.h).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/mla.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

class DeepseekV2Attention;  // deepseek_v2.h
class DeepseekV32Indexer;   // deepseek_v32.h

// MlaProjections' layers and "embed_q", "unembed_out". The positions score as
// (q_pe . k_pe) * scale, a mask added to the latent's scores: a decoding step (one query)
// brings its query into the latent (embed_q) and attends over the cached latent itself, its
// output then up-projected (unembed_out); a longer one up-projects the latent into keys and
// values, as mlx-lm does each. V3.2's ("deepseek_v32") adds "indexer": each query attends to
// the keys it chooses (deepseek_v32.h), its cache a list of the latent's and the indexer's.
class DeepseekV3Attention : public MlaProjections {
 public:
  explicit DeepseekV3Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  MultiLinear &embed_q_, &unembed_out_;
  DeepseekV32Indexer* indexer_ = nullptr;
};

// mlx-lm's group_expert_select: the experts (..., top_k) of router logits `gates` and their
// weights, in float32. Scores sigmoid(gates) + bias rank the experts; with n_group > 1 only
// the topk_group groups whose two best scores sum highest compete (the others' scores 0).
// The weights are the chosen experts' sigmoids, divided by their sum (norm_topk_prob, top_k
// > 1), times routed_scaling_factor.
std::pair<Array, Array> group_expert_select(const Array& gates, const Array& bias, int top_k,
                                            int n_group, int topk_group,
                                            float routed_scaling_factor, bool norm_topk_prob);

// group_expert_select's routing of scores already made (Kimi Linear's: sigmoids or a softmax
// in the gates' dtype): `original` plus `bias` (in original's dtype) ranks the experts, the
// chosen ones' `original` weighs them, `epsilon` added to their sum where they are
// normalized (Kimi Linear's 1e-20).
std::pair<Array, Array> select_grouped_experts(const Array& original, const Array& bias, int top_k,
                                               int n_group, int topk_group,
                                               float routed_scaling_factor, bool norm_topk_prob,
                                               float epsilon = 0);

// Scores (..., n_group, experts per group) with every expert of all but the topk_group groups
// of highest `group_scores` (..., n_group, 1) scored 0, as mlx-lm's put_along_axis does.
Array zero_weakest_groups(const Array& grouped, const Array& group_scores, int topk_group);

// mlx-lm's split of each layer's self_attn.kv_b_proj (heads x (qk_nope_head_dim + v_head_dim),
// kv_lora_rank) by head into embed_q (its key rows, transposed) and unembed_out (its value
// rows), as DeepSeek V3's and Kimi Linear's sanitize do: a quantized one dequantized, split
// and quantized again with the bits and group size its shapes imply. INVALID_ARGUMENT names
// a part (weight, scales, biases) a quantized kv_b_proj lacks.
nn::Parameters split_kv_b_proj(nn::Parameters weights, const ModelArgs& args);

// A DeepseekV3MoE's "gate": each token's experts (..., top_k) and their weights.
class ExpertRouter {
 public:
  virtual ~ExpertRouter() = default;
  virtual std::pair<Array, Array> route(const Array& x) = 0;
};

// Which "gate" a DeepseekV3MoE registers: DeepseekV3Gate, or Mistral 4's Linear
// (Mistral4Gate, mistral4.h), whose parameters are named and quantized as a Linear's.
enum class MoeRouter { kDeepseek, kMistral4 };

// mlx-lm's MoEGate: "weight" (n_routed_experts, hidden_size) and, V3's,
// "e_score_correction_bias" (n_routed_experts,), which ranks the experts but does not weigh
// them.
class DeepseekV3Gate : public nn::Module, public ExpertRouter {
 public:
  explicit DeepseekV3Gate(const ModelArgs& args);
  // group_expert_select (V2: deepseek_v2_select) of x's router logits: the experts and
  // their weights.
  std::pair<Array, Array> operator()(const Array& x) const;
  std::pair<Array, Array> route(const Array& x) override { return (*this)(x); }

 private:
  bool v2_;
  int top_k_, n_group_, topk_group_;
  float routed_scaling_factor_;
  bool norm_topk_prob_, group_limited_;
  float epsilon_;  // added to the weights' sum: GLM-4.7-Flash's and MiMo-V2-Flash's 1e-20
};

// "gate" (`router`'s), "switch_mlp" (dots1's "experts": `experts`), and "shared_experts"
// when n_shared_experts (biased when mlp_bias, dots1's): the routed experts' weighted sum
// plus the shared experts' output. DeepSeek V2 and V3's, GLM-4.5's, dots1's and Mistral 4's.
class DeepseekV3MoE : public nn::Layer {
 public:
  explicit DeepseekV3MoE(const ModelArgs& args, const std::string& experts = "switch_mlp",
                         MoeRouter router = MoeRouter::kDeepseek);
  Array operator()(const Array& x) override;

 private:
  // Registers the router as "gate", before the experts, as mlx-lm orders the parameters.
  ExpertRouter& register_gate(const ModelArgs& args, MoeRouter router);

  ExpertRouter& gate_;
  SwitchGLU& switch_mlp_;
  Mlp* shared_experts_ = nullptr;
};

// "self_attn" (V3's, or V2's for model_type deepseek_v2), "mlp" (DeepseekV3MoE, or an Mlp
// of intermediate_size), "input_layernorm", "post_attention_layernorm".
class DeepseekV3Block : public nn::Module {
 public:
  DeepseekV3Block(const ModelArgs& args, int index);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  DeepseekV3Attention* v3_attn_ = nullptr;
  DeepseekV2Attention* v2_attn_ = nullptr;
  nn::Layer* mlp_ = nullptr;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class DeepseekV3Model : public nn::Module {
 public:
  explicit DeepseekV3Model(const ModelArgs& args);
  // Hidden states (B, L, hidden_size).
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  nn::Embedding& embed_tokens_;
  std::vector<DeepseekV3Block*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "deepseek_v3" (or "kimi_k2"), "deepseek_v32", "glm4_moe_lite" or
// "deepseek_v2": "model" and "lm_head". GLM-4.7-Flash's (mlx-lm's glm4_moe_lite.py) is V3
// with its query and latent norms of rms_norm_eps and 1e-20 added to its experts' weights'
// sum.
class DeepseekV3 : public Model {
 public:
  explicit DeepseekV3(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // V3.2's: each layer's KVCache::list of the latent's cache and the indexer's (mlx-lm's
  // CacheList); one plain cache a layer for the others.
  std::vector<KVCache> make_cache() const override;
  // V2's keys and values are whole, through lm::attention; V3's latent is not.
  bool reads_quantized_cache() const override { return args_.model_type == "deepseek_v2"; }
  // mlx-lm's sanitize: Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as
  // mlp.switch_mlp's; each self_attn.kv_b_proj split by head into embed_q and unembed_out
  // (a quantized one dequantized, split and quantized again with the bits and group size its
  // shapes imply); the multi-token prediction layer ("model.layers.61", DeepSeek V3's; V3.2's
  // and GLM-4.7-Flash's any from num_hidden_layers on) dropped. FP8 (weight_scale_inv) and
  // compressed int4 (weight_packed) checkpoints throw UNIMPLEMENTED. V2's only stacks the
  // experts, as mlx-lm's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's (V3's): e_score_correction_bias kept in its dtype.
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  DeepseekV3Model& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_DEEPSEEK_V3_H_
