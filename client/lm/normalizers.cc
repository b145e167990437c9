// Hugging Face normalizers: NFC (Qwen2), Prepend and Replace (Llama 2's SentencePiece
// emulation), Strip, and Sequence of them.

#include <string>
#include <utility>
#include <vector>

#include "client/lm/tokenizer_internal.h"

namespace ferry::lm::internal {
namespace {

Normalizer MakeReplace(const Json& config) {
  const Json& pattern = config.at("pattern");
  const std::string content = config.at("content").get<std::string>();
  if (pattern.contains("String")) {
    const std::string from = pattern.at("String").get<std::string>();
    return [from, content](std::string text) { return ReplaceAll(text, from, content); };
  }
  if (!pattern.contains("Regex")) Unsupported("Replace pattern must be a String or a Regex");
  const Regex regex(pattern.at("Regex").get<std::string>());
  return [regex, content](std::string text) {
    std::string out;
    size_t previous = 0;
    for (const auto& [start, end] : regex.FindAll(text)) {
      out.append(text, previous, start - previous);
      out += content;
      previous = end;
    }
    out.append(text, previous, std::string::npos);
    return out;
  };
}

// Strips Unicode whitespace from either end.
Normalizer MakeStrip(const Json& config) {
  const bool left = BoolOr(config, "strip_left", false);
  const bool right = BoolOr(config, "strip_right", false);
  return [left, right](std::string text) {
    std::vector<char32_t> cps = DecodeUtf8(text);
    size_t begin = 0, end = cps.size();
    while (left && begin < end && IsWhitespace(cps[begin])) ++begin;
    while (right && end > begin && IsWhitespace(cps[end - 1])) --end;
    std::string out;
    for (size_t i = begin; i < end; ++i) AppendUtf8(cps[i], out);
    return out;
  };
}

}  // namespace

Normalizer MakeNormalizer(const Json& config) {
  const std::string type = StringOr(config, "type", "");
  if (type == "NFC") return [](std::string text) { return Nfc(text); };
  if (type == "Prepend") {
    const std::string prepend = config.at("prepend").get<std::string>();
    return [prepend](std::string text) { return text.empty() ? text : prepend + text; };
  }
  if (type == "Replace") return MakeReplace(config);
  if (type == "Strip") return MakeStrip(config);
  if (type == "Sequence") {
    std::vector<Normalizer> steps;
    for (const Json& step : config.at("normalizers")) steps.push_back(MakeNormalizer(step));
    return [steps](std::string text) {
      for (const Normalizer& step : steps) text = step(std::move(text));
      return text;
    };
  }
  Unsupported("normalizer type \"" + type +
              "\" is not supported (NFC, Prepend, Replace, Strip and Sequence are)");
}

}  // namespace ferry::lm::internal
