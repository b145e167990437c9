#ifndef FERRY_CLIENT_LM_AFMOE_H_
#define FERRY_CLIENT_LM_AFMOE_H_

// Arcee's AFM MoE as mlx-lm builds it (models/afmoe.py): attention with q/k norms per head,
// RoPE in the sliding layers only (the full ones see no positions) and a sigmoid gate on its
// output; norms before and after both attention and the MLP; the first num_dense_layers
// layers Llama's MLP, the others experts routed by sigmoid (or softmax) scores plus an
// expert bias, in groups as DeepSeek V3's, beside shared experts; muP's embeddings times
// sqrt(hidden_size) (ModelArgs::embedding_multiplier).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/llama.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// What multiplies the attention's output before o_proj: nothing, sigmoid(gate_proj(x)) per
// feature (AFM's), or sigmoid(g_proj(x)) per head (Step-3.5's, step3p5.h).
enum class OutputGate { kNone, kPerFeature, kPerHead };

// "q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm" (RMSNorm of each head) and the
// gate's projection; `heads` query heads over `kv_heads`, RoPE of `rope_dims` features as
// args' rope_theta and scaling say, none where args.rope is false.
class GatedAttention : public nn::Module {
 public:
  GatedAttention(const ModelArgs& args, int heads, int kv_heads, int64_t rope_dims,
                 OutputGate gate);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  int heads_, kv_heads_;
  int64_t head_dim_;
  OutputGate gate_kind_;
  nn::Linear &q_proj_, &k_proj_, &v_proj_, &o_proj_;
  nn::RMSNorm &q_norm_, &k_norm_;
  nn::Linear* gate_ = nullptr;
  std::optional<Rope> rope_;
  float scale_;
};

// "router" (its "gate" Linear), "expert_bias", "experts" (SwitchGLU) and, with
// num_shared_experts, "shared_experts".
class AfmoeMoE : public nn::Layer {
 public:
  explicit AfmoeMoE(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  bool sigmoid_;
  int top_k_, n_group_, topk_group_;
  float route_scale_;
  bool route_norm_;
  nn::Linear* router_gate_ = nullptr;
  SwitchGLU* experts_ = nullptr;
  Mlp* shared_experts_ = nullptr;
};

// "self_attn", "mlp", "input_layernorm", "post_attention_layernorm", "pre_mlp_layernorm",
// "post_mlp_layernorm".
class AfmoeBlock : public nn::Module {
 public:
  AfmoeBlock(const ModelArgs& args, int layer);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  GatedAttention& self_attn_;
  nn::Layer& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_, &pre_mlp_layernorm_,
      &post_mlp_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class AfmoeModel : public nn::Module {
 public:
  explicit AfmoeModel(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);
  nn::Embedding& embed_tokens() { return embed_tokens_; }

 private:
  float embedding_multiplier_;
  int64_t window_ = 0;  // sliding_window where a layer slides
  nn::Embedding& embed_tokens_;
  std::vector<AfmoeBlock*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "afmoe": "model" and, unless tied, "lm_head".
class Afmoe : public Model {
 public:
  explicit Afmoe(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::optional<int64_t> sliding_window(int layer) const override;
  // mlx-lm's: rotary_emb.inv_freq and a tied model's lm_head.weight dropped, Hugging Face's
  // mlp.experts.E.* stacked as mlp.experts'.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's quant_predicate: the router (router.gate) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  // mlx-lm's cast_predicate: expert_bias keeps its dtype.
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  AfmoeModel& model_;
  nn::Linear* lm_head_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_AFMOE_H_
