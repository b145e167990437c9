#ifndef FERRY_CLIENT_LM_QWEN3_5_H_
#define FERRY_CLIENT_LM_QWEN3_5_H_

// Qwen3.5's text model as mlx-lm builds it (models/qwen3_5.py, qwen3_5_moe.py): Qwen3-Next's
// layers (qwen3_next.h) with the gated delta net's projections separate (in_proj_qkv,
// in_proj_z, in_proj_b, in_proj_a), under "language_model"; a mixture of experts in every
// layer when num_experts is set (model_type "qwen3_5_moe"). The vision tower is dropped.

#include <optional>
#include <vector>

#include "client/lm/model.h"
#include "client/lm/qwen3_next.h"

namespace ferry::lm {

// model_type "qwen3_5" and "qwen3_5_moe": "language_model" ("model", "lm_head").
class Qwen35 : public Model {
 public:
  explicit Qwen35(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  std::vector<KVCache> make_cache() const override { return language_model_.make_cache(); }
  // mlx-lm's: the vision tower (model.visual.*, vision_tower.*) and the multi-token
  // prediction layer (mtp.*) dropped, Hugging Face's model.language_model.* renamed
  // language_model.model.* (any other name put under language_model.), each layer's fused
  // experts.gate_up_proj split into switch_mlp's gate_proj and up_proj (down_proj moved
  // beside them), and, where the conv1d weights are Hugging Face's (C, 1, K), those moved to
  // (C, K, 1) and the norms stored as weight - 1 shifted back.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: a mixture's routers in 8 bits (as Qwen3-Next's), A_log kept in its dtype.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  bool casts(const std::string& name) const override;

 private:
  ModelArgs args_;
  Qwen3Next& language_model_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_QWEN3_5_H_
