#ifndef FERRY_CLIENT_LM_TOKENIZER_CONFIG_H_
#define FERRY_CLIENT_LM_TOKENIZER_CONFIG_H_

// A model directory's tokenizer_config.json, as transformers reads what ferry::lm needs of
// it: the special tokens (the end of a reply; the chat template's bos_token...).

#include <string>

#include "nlohmann/json.hpp"

namespace ferry::lm {

// The file's object; an empty one where the file is absent or not a JSON object (a model
// without one still loads, as with transformers).
nlohmann::ordered_json ReadTokenizerConfig(const std::string& model_path);

// Its named special tokens (bos_token, eos_token, unk_token, sep_token, pad_token, cls_token,
// mask_token: a string or {"content": ...}) as strings; those it does not set are absent.
nlohmann::ordered_json SpecialTokens(const nlohmann::ordered_json& config);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_TOKENIZER_CONFIG_H_
