#include "client/lm/config_json.h"

#include <cstring>

namespace ferry::lm {

nlohmann::json parse_config_json(const std::string& text) {
  static constexpr char kMax[] = "1.7976931348623157e308";
  std::string json;
  json.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      json += c;
      if (c == '\\' && i + 1 < text.size()) {
        json += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      json += c;
    } else if (text.compare(i, 8, "Infinity") == 0) {
      json += kMax;
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      json += "null";
      i += 2;
    } else {
      json += c;  // a '-' before Infinity stays: -1.79...e308
    }
  }
  return nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
}

}  // namespace ferry::lm
