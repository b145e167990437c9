// Hugging Face decoders: ByteLevel (GPT-2's alphabet back to bytes), the SentencePiece chain
// (Replace, ByteFallback, Fuse, Strip) or Metaspace, and Sequence of them.

#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/tokenizer_internal.h"

namespace ferry::lm::internal {
namespace {

// All tokens' bytes as one string, invalid UTF-8 replaced by U+FFFD. A token with a character
// outside the byte-level alphabet (an added token such as "<|im_start|>" has none; one with a
// space would) contributes its own bytes.
std::vector<std::string> ByteLevel(std::vector<std::string> tokens) {
  std::string bytes;
  for (const std::string& token : tokens) {
    std::string token_bytes;
    bool all_mapped = true;
    for (char32_t cp : DecodeUtf8(token)) {
      const std::optional<uint8_t> byte = ByteLevelByte(cp);
      if (!byte) {
        all_mapped = false;
        break;
      }
      token_bytes += static_cast<char>(*byte);
    }
    bytes += all_mapped ? token_bytes : token;
  }
  return {Utf8Lossy(bytes)};
}

// Runs of "<0xAB>" tokens become the text their bytes spell, or one U+FFFD per byte when
// those bytes are not valid UTF-8.
std::vector<std::string> ByteFallback(std::vector<std::string> tokens) {
  std::vector<std::string> out;
  std::string pending;
  int pending_count = 0;
  const auto flush = [&] {
    if (pending_count == 0) return;
    if (!FindInvalidUtf8(pending)) {
      out.push_back(pending);
    } else {
      for (int i = 0; i < pending_count; ++i) out.push_back("\xEF\xBF\xBD");
    }
    pending.clear();
    pending_count = 0;
  };
  for (std::string& token : tokens) {
    const bool is_byte = token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' &&
                         std::isxdigit(static_cast<unsigned char>(token[3])) &&
                         std::isxdigit(static_cast<unsigned char>(token[4]));
    if (is_byte) {
      pending += static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16));
      ++pending_count;
      continue;
    }
    flush();
    out.push_back(std::move(token));
  }
  flush();
  return out;
}

std::vector<std::string> Fuse(std::vector<std::string> tokens) {
  std::string all;
  for (const std::string& token : tokens) all += token;
  return {all};
}

Decoder MakeReplace(const Json& config) {
  const Json& pattern = config.at("pattern");
  if (!pattern.contains("String")) Unsupported("Replace decoder pattern must be a String");
  const std::string from = pattern.at("String").get<std::string>();
  const std::string to = config.at("content").get<std::string>();
  return [from, to](std::vector<std::string> tokens) {
    for (std::string& token : tokens) token = ReplaceAll(token, from, to);
    return tokens;
  };
}

// Removes up to start leading and stop trailing copies of one character from each token.
Decoder MakeStrip(const Json& config) {
  const std::vector<char32_t> content = DecodeUtf8(config.at("content").get<std::string>());
  if (content.size() != 1) Unsupported("Strip decoder content must be one character");
  const size_t start = config.at("start").get<size_t>();
  const size_t stop = config.at("stop").get<size_t>();
  return [c = content[0], start, stop](std::vector<std::string> tokens) {
    for (std::string& token : tokens) {
      const std::vector<char32_t> cps = DecodeUtf8(token);
      size_t begin = 0, end = cps.size();
      while (begin < start && begin < end && cps[begin] == c) ++begin;
      while (cps.size() - end < stop && end > begin && cps[end - 1] == c) --end;
      std::string out;
      for (size_t i = begin; i < end; ++i) AppendUtf8(cps[i], out);
      token = std::move(out);
    }
    return tokens;
  };
}

// The replacement character becomes a space, except in the first token, where it marks the
// space the pre-tokenizer prepended and is dropped (unless prepend_scheme is "never").
Decoder MakeMetaspace(const Json& config) {
  const std::string replacement = StringOr(config, "replacement", "\xE2\x96\x81");
  const std::string scheme = StringOr(
      config, "prepend_scheme", BoolOr(config, "add_prefix_space", true) ? "always" : "never");
  const bool drop_first = scheme != "never";
  return [replacement, drop_first](std::vector<std::string> tokens) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = ReplaceAll(tokens[i], replacement, i == 0 && drop_first ? "" : " ");
    }
    return tokens;
  };
}

}  // namespace

Decoder MakeDecoder(const Json& config) {
  const std::string type = StringOr(config, "type", "");
  if (type == "ByteLevel") return ByteLevel;
  if (type == "ByteFallback") return ByteFallback;
  if (type == "Fuse") return Fuse;
  if (type == "Replace") return MakeReplace(config);
  if (type == "Strip") return MakeStrip(config);
  if (type == "Metaspace") return MakeMetaspace(config);
  if (type == "Sequence") {
    std::vector<Decoder> steps;
    for (const Json& step : config.at("decoders")) steps.push_back(MakeDecoder(step));
    return [steps](std::vector<std::string> tokens) {
      for (const Decoder& step : steps) tokens = step(std::move(tokens));
      return tokens;
    };
  }
  Unsupported("decoder type \"" + type +
              "\" is not supported (ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace "
              "and Sequence are)");
}

}  // namespace ferry::lm::internal
