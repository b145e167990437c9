#ifndef FERRY_CLIENT_LM_PHIMOE_H_
#define FERRY_CLIENT_LM_PHIMOE_H_

// PhiMoE (Phi-3.5-MoE: model_type "phimoe") as mlx-lm builds it (models/phimoe.py): Llama's
// layers with LayerNorms (ModelArgs::layer_norm), q, k, v and o biased, SuScaledRoPE
// (Rope's longrope, with its long_mscale) or plain RoPE, in each layer a "block_sparse_moe"
// whose experts sparsemixer picks; lm_head biased.

#include <vector>

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate" (the router) and "switch_mlp": Hugging Face's sparsemixer at inference, top_k
// times the best gate left, weighted by the softmax of the gates within
// 2 * router_jitter_noise (relative) of it, that expert then masked out.
class PhimoeSparseMoeBlock : public nn::Layer {
 public:
  explicit PhimoeSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  float jitter_eps_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
};

// "model" (LlamaModel's layers with PhimoeSparseMoeBlock) and "lm_head" (biased).
class Phimoe : public Model {
 public:
  explicit Phimoe(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // Hugging Face's block_sparse_moe.experts.E.w1, w2, w3 stacked as switch_mlp's gate_proj,
  // down_proj, up_proj.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  LlamaModel& model_;
  nn::Linear& lm_head_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PHIMOE_H_
