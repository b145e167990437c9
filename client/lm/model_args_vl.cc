// ModelArgs::from_json's readers for mlx-lm's vision-language wrappers (qwen2_vl, qwen3_vl,
// qwen3_vl_moe, lfm2-vl, pixtral, kimi_vl, kimi_k25: the text model of an existing family
// under "text_config", their vision towers unread) and for mlx-lm's MODEL_REMAPPING (a
// model_type read, and built, as another's).

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/lm/model_args_internal.h"
#include "client/lm/vl.h"

namespace ferry::lm::internal {
namespace {

// initialize_rope's "mrope" (Qwen2-VL's, Qwen2.5-VL's) is plain RoPE over text positions
// once its three sections are given; ReadRopeScaling knows it as "default". mlx-lm reads
// "type" before "rope_type".
void PlainMrope(json& text, const char* key) {
  if (!text.contains(key) || !text[key].is_object()) return;
  json& scaling = text[key];
  std::string type = Optional<std::string>(scaling, "type", "");
  if (type.empty()) type = Optional<std::string>(scaling, "rope_type", "default");
  if (type != "mrope") return;
  if (!scaling.contains("mrope_section") || !scaling["mrope_section"].is_array() ||
      scaling["mrope_section"].size() != 3) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's ", key, " must give \"mrope\" three mrope_section's."));
  }
  scaling.erase("type");
  scaling["rope_type"] = "default";
}

}  // namespace

// mlx-lm's wrapper ModelArgs: the text model under "text_config" (or, where qwen2_vl's and
// qwen3_vl's from_dict allow, the whole config when it has none) read by its family's reader,
// with what each wrapper's __post_init__ sets: lfm2-vl and pixtral untied, pixtral's 32
// query heads where text_config names none; kimi_vl's TextArgs has deepseek_v3's defaults.
void ReadVisionLanguage(const json& top, ModelArgs& args) {
  const std::string wrapper = args.model_type;
  const std::string type = vision_language_text_type(wrapper);
  json text;
  if (top.contains("text_config") && top["text_config"].is_object()) {
    text = top["text_config"];
  } else if (wrapper == "qwen2_vl" || wrapper == "qwen3_vl") {
    text = top;
  } else {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json lacks \"text_config\" (", wrapper, "'s text model)."));
  }
  if (wrapper == "lfm2-vl" || wrapper == "pixtral") text["tie_word_embeddings"] = false;
  if (wrapper == "pixtral" && !text.contains("num_attention_heads")) {
    text["num_attention_heads"] = 32;
  }
  PlainMrope(text, "rope_scaling");
  PlainMrope(text, "rope_parameters");
  text["model_type"] = type;
  args = ModelArgs::from_json(text.dump());
  args.model_type = wrapper;
  args.text_model_type = type;
}

// mlx-lm's MODEL_REMAPPING (utils.py): these model_types are built by another's module, and
// their config read by its ModelArgs; ModelArgs::model_type names that module.
void ReadRemapped(const json& config, ModelArgs& args) {
  static const auto* remapping = new std::map<std::string, std::string>{
      {"llava", "mistral3"},       {"joyai_llm_flash", "deepseek_v3"}, {"qwen2_5_vl", "qwen2_vl"},
      {"minimax_m2", "minimax"},   {"iquestcoder", "llama"},           {"xverse", "llama"},
      {"gemma4_unified", "gemma4"}};
  json target = config;
  target["model_type"] = remapping->at(args.model_type);
  args = ModelArgs::from_json(target.dump());
}

}  // namespace ferry::lm::internal
