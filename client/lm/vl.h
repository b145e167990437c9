#ifndef FERRY_CLIENT_LM_VL_H_
#define FERRY_CLIENT_LM_VL_H_

// The text models of mlx-lm's vision-language wrappers (models/qwen2_vl.py, qwen3_vl.py,
// qwen3_vl_moe.py, lfm2-vl.py, pixtral.py, kimi_vl.py, kimi_k25.py): each module builds an
// existing family's model under "language_model" and calls it as it is; they differ only in
// which family and in what their sanitize drops and renames, so one class serves them all.
// mistral3 (mistral3.h) is another such wrapper, with a sanitize of its own.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/model.h"

namespace ferry::lm {

// The model_type of the text model the wrapper `model_type` builds ("qwen2" for "qwen2_vl",
// "qwen3", "qwen3_moe", "lfm2", "llama" for "pixtral", "deepseek_v3" for "kimi_vl" and
// "kimi_k25"); INVALID_ARGUMENT for any other.
const std::string& vision_language_text_type(const std::string& model_type);
// Whether `model_type` is one of those wrappers.
bool is_vision_language_wrapper(const std::string& model_type);

// "language_model": the text model (its own "model" and "lm_head", or LFM2's embedding as
// its output), as ModelArgs::text_model_type names it.
class VisionLanguageWrapper : public Model {
 public:
  explicit VisionLanguageWrapper(ModelArgs args);
  Array operator()(const Array& tokens, std::vector<KVCache>* cache = nullptr) override;
  const ModelArgs& args() const override { return args_; }
  // The text model's caches (LFM2's arrays caches: lfm2-vl's make_cache is its text
  // model's; the others have plain ones either way).
  std::vector<KVCache> make_cache() const override { return language_model_->make_cache(); }
  std::optional<int64_t> sliding_window(int layer) const override {
    return language_model_->sliding_window(layer);
  }
  bool reads_quantized_cache() const override { return language_model_->reads_quantized_cache(); }
  // qwen3_vl_moe forwards its text model's quant_predicate (8-bit routers); the others have
  // none.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  // kimi_vl's and kimi_k25's cast_predicate (DeepSeek V3's): e_score_correction_bias kept in
  // its dtype.
  bool casts(const std::string& name) const override;
  // Each module's sanitize:
  // - qwen2_vl, qwen3_vl: "visual" and "vision_tower" dropped; Hugging Face's newer
  //   "model.language_model.X" read as "model.X" (the rest of "model." dropped); every key
  //   put under "language_model." that is not already.
  // - qwen3_vl_moe: only the text model kept, from "model.language_model." and "lm_head."
  //   or "language_model.model." and "language_model.lm_head." (INVALID_ARGUMENT names the
  //   part missing); each layer's fused mlp.experts.gate_up_proj and down_proj transposed
  //   into mlp.switch_mlp's gate_proj, up_proj and down_proj.
  // - lfm2-vl, pixtral: "vision_tower" and "multi_modal_projector" dropped.
  // - kimi_vl: every key naming vision_tower, rotary_emb or multi_modal_projector dropped,
  //   experts per expert stacked (not DeepSeek V3's sanitize).
  // - kimi_k25: "vision_tower", "vision_model", "multi_modal_projector" and "mm_projector"
  //   dropped, "language_model." through DeepSeek V3's sanitize.
  // Like mlx-lm's, none runs the text model's own sanitize but kimi_k25.
  nn::Parameters sanitize(nn::Parameters weights) const override;

 private:
  nn::Parameters SanitizeQwen3VlMoe(nn::Parameters weights) const;

  ModelArgs args_;
  Model* language_model_ = nullptr;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_VL_H_
