#ifndef FERRY_CLIENT_LM_CONFIG_JSON_H_
#define FERRY_CLIENT_LM_CONFIG_JSON_H_

// config.json as Python's json module writes it (transformers' save_pretrained): JSON, but
// for Infinity, -Infinity and NaN, which JSON lacks (Mamba-2's time_step_limit is
// [0.0, Infinity]). They are read as the largest double (inf once cast to float32), its
// negation and null.

#include <string>

#include "nlohmann/json.hpp"

namespace ferry::lm {

// The parsed text; discarded (is_discarded()) when it is not JSON even so.
nlohmann::json parse_config_json(const std::string& text);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_CONFIG_JSON_H_
