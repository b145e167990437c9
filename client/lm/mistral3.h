#ifndef FERRY_CLIENT_LM_MISTRAL3_H_
#define FERRY_CLIENT_LM_MISTRAL3_H_

// mistral3 as mlx-lm builds it (models/mistral3.py: Mistral Small 3.1 and 3.2, Magistral,
// Ministral 3, Mistral Small 4): the text model of a vision-language checkpoint, under
// "language_model", as ModelArgs::text_model_type says (ministral3.h, mistral4.h, or
// Llama's layers for any other); the vision tower and its projector dropped.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/model.h"

namespace ferry::lm {

// model_type "mistral3": "language_model" (its own "model" and "lm_head").
class Mistral3 : public Model {
 public:
  explicit Mistral3(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // mlx-lm's mistral3 has no make_cache of its own: plain caches for every layer (the
  // default), a sliding layer's masked to its window over them, so no sliding_window.
  bool reads_quantized_cache() const override { return language_model_->reads_quantized_cache(); }
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  bool casts(const std::string& name) const override;
  // mlx-lm's sanitize: vision_tower and multi_modal_projector weights dropped, Hugging Face's
  // "model.language_model.X" read as "model.X" and "language_model.X" as "X" (a tied
  // lm_head dropped), through the text model's sanitize, then under "language_model.".
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  ModelArgs args_;
  Model* language_model_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MISTRAL3_H_
