#ifndef FERRY_CLIENT_LM_STEP3P5_H_
#define FERRY_CLIENT_LM_STEP3P5_H_

// StepFun's Step-3.5 as mlx-lm builds it (models/step3p5.py): AFM's attention (afmoe.h:
// q/k norms per head) with a sigmoid gate per head on its output, RoPE in every layer of its
// own rope_theta and rotated fraction, yarn only in the layers of yarn_only_types; sliding
// layers of heads of their own (attention_other_setting); Llama's pre-norm blocks; in the
// layers of moe_layers_enum experts routed by sigmoid scores plus a router bias beside a
// shared MLP, the others an MLP; every SwiGLU clamped where its layer's limit says.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/afmoe.h"
#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"
#include "client/nn/normalization.h"

namespace ferry::lm {

// mlx-lm's clamped_swiglu: min(silu(gate), limit) * clip(x, -limit, limit).
Array clamped_swiglu(const Array& x, const Array& gate, float limit);

// "gate_proj", "up_proj", "down_proj": Llama's MLP, its SwiGLU clamped at `limit` (0: not).
class Step3p5Mlp : public nn::Layer {
 public:
  Step3p5Mlp(int64_t dims, int64_t hidden_dims, float limit);
  Array operator()(const Array& x) override;

 private:
  float limit_;
  nn::Linear &gate_proj_, &up_proj_, &down_proj_;
};

// mlx-lm's Step3p5MoEGate: "gate" (a Linear) and "router_bias": the experts (..., top_k) by
// sigmoid scores plus the bias, weighted by the scores (renormalized where
// norm_expert_weight, 1e-20 added to their sum) times moe_router_scaling_factor.
class Step3p5Gate : public nn::Module {
 public:
  explicit Step3p5Gate(const ModelArgs& args);
  std::pair<Array, Array> operator()(const Array& x);

 private:
  int top_k_;
  float scale_;
  bool norm_;
  nn::Linear& gate_;
};

// "gate", "switch_mlp", "share_expert".
class Step3p5MoE : public nn::Layer {
 public:
  Step3p5MoE(const ModelArgs& args, float limit, float shared_limit);
  Array operator()(const Array& x) override;

 private:
  Step3p5Gate& gate_;
  SwitchGLU& switch_mlp_;
  Step3p5Mlp& share_expert_;
};

// "self_attn", "mlp", "input_layernorm", "post_attention_layernorm".
class Step3p5Block : public nn::Module {
 public:
  Step3p5Block(const ModelArgs& args, int layer);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);
  bool sliding() const { return sliding_; }

 private:
  bool sliding_;
  GatedAttention& self_attn_;
  nn::Layer& mlp_;
  nn::RMSNorm &input_layernorm_, &post_attention_layernorm_;
};

// "embed_tokens", "layers.N", "norm".
class Step3p5Model : public nn::Module {
 public:
  explicit Step3p5Model(const ModelArgs& args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache);

 private:
  int64_t window_ = 0;  // sliding_window where a layer slides
  nn::Embedding& embed_tokens_;
  std::vector<Step3p5Block*> layers_;
  nn::RMSNorm* norm_ = nullptr;
};

// model_type "step3p5": "model" and "lm_head".
class Step3p5 : public Model {
 public:
  explicit Step3p5(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::optional<int64_t> sliding_window(int layer) const override;
  // mlx-lm's: the multi-token-prediction weights (".mtp") and layers from num_hidden_layers
  // on dropped; Hugging Face's moe.{gate,up,down}_proj, moe.gate, moe.router_bias and
  // share_expert moved under mlp; and where any was (a "vanilla" checkpoint, its norms
  // zero-centred) every norm's weight plus 1.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's quant_predicate: the router (mlp.gate.gate) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  // mlx-lm's cast_predicate: router_bias keeps its dtype.
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  Step3p5Model& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_STEP3P5_H_
