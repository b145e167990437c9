// Hugging Face pre-tokenizers: Split (the regexes of Llama 3 and Qwen2), ByteLevel (GPT-2),
// Metaspace (SentencePiece), Digits, and Sequence of them.

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/tokenizer_internal.h"

namespace ferry::lm::internal {
namespace {

// GPT-2's pattern, which ByteLevel splits with when use_regex is set.
constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior ParseBehavior(const std::string& name) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  Unsupported("Split behavior \"" + name + "\" is not supported");
}

struct Span {
  size_t start, end;
  bool is_match;
};

// The matches and the gaps between them, covering text (Hugging Face's Pattern::find_matches).
using Matcher = std::function<std::vector<std::pair<size_t, size_t>>(std::string_view)>;
std::vector<Span> Spans(std::string_view text, const Matcher& find) {
  std::vector<Span> spans;
  size_t previous = 0;
  for (const auto& [start, end] : find(text)) {
    if (previous != start) spans.push_back({previous, start, false});
    spans.push_back({start, end, true});
    previous = end;
  }
  if (previous != text.size()) spans.push_back({previous, text.size(), false});
  return spans;
}

// Hugging Face's NormalizedString::split: where each match goes under behavior.
std::vector<std::pair<size_t, size_t>> SplitSpans(std::vector<Span> spans, Behavior behavior,
                                                  bool invert) {
  if (invert) {
    for (Span& span : spans) span.is_match = !span.is_match;
  }
  std::vector<Span> out;  // is_match now means "remove"
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kRemoved:
      out = std::move(spans);
      break;
    case Behavior::kIsolated:
      for (const Span& span : spans) out.push_back({span.start, span.end, false});
      break;
    case Behavior::kContiguous:
      for (const Span& span : spans) {
        if (!out.empty() && span.is_match == previous_match) {
          out.back().end = span.end;
        } else {
          out.push_back({span.start, span.end, false});
        }
        previous_match = span.is_match;
      }
      break;
    case Behavior::kMergedWithPrevious:
      for (const Span& span : spans) {
        if (span.is_match && !previous_match && !out.empty()) {
          out.back().end = span.end;
        } else {
          out.push_back({span.start, span.end, false});
        }
        previous_match = span.is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().start = it->start;
        } else {
          out.push_back({it->start, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
  }
  std::vector<std::pair<size_t, size_t>> kept;
  for (const Span& span : out) {
    if (!span.is_match && span.end > span.start) kept.emplace_back(span.start, span.end);
  }
  return kept;
}

// Splits every piece where find matches; a sub-piece is at_start if it starts its piece.
void SplitPieces(std::vector<Piece>& pieces, const Matcher& find, Behavior behavior, bool invert) {
  std::vector<Piece> out;
  for (Piece& piece : pieces) {
    for (const auto& [start, end] : SplitSpans(Spans(piece.text, find), behavior, invert)) {
      out.push_back({piece.text.substr(start, end - start), piece.at_start && start == 0});
    }
  }
  pieces = std::move(out);
}

Matcher RegexMatcher(const std::string& pattern) {
  return [regex = Regex(pattern)](std::string_view text) { return regex.FindAll(text); };
}

Matcher StringMatcher(const std::string& literal) {
  return [literal](std::string_view text) {
    std::vector<std::pair<size_t, size_t>> matches;
    if (literal.empty()) return matches;
    for (size_t at = text.find(literal); at != std::string_view::npos;
         at = text.find(literal, at + literal.size())) {
      matches.emplace_back(at, at + literal.size());
    }
    return matches;
  };
}

PreTokenizer MakeSplit(const Json& config) {
  const Json& pattern = config.at("pattern");
  Matcher find = pattern.contains("Regex") ? RegexMatcher(pattern.at("Regex").get<std::string>())
                 : pattern.contains("String")
                     ? StringMatcher(pattern.at("String").get<std::string>())
                     : (Unsupported("Split pattern must be a String or a Regex"), Matcher());
  const Behavior behavior = ParseBehavior(config.at("behavior").get<std::string>());
  const bool invert = BoolOr(config, "invert", false);
  return [find, behavior, invert](std::vector<Piece>& pieces) {
    SplitPieces(pieces, find, behavior, invert);
  };
}

// Each piece's bytes become the byte-level characters the vocabulary is spelt in.
PreTokenizer MakeByteLevel(const Json& config) {
  const bool add_prefix_space = BoolOr(config, "add_prefix_space", true);
  const bool use_regex = BoolOr(config, "use_regex", true);
  const Matcher gpt2 = RegexMatcher(kGpt2Pattern);
  return [add_prefix_space, use_regex, gpt2](std::vector<Piece>& pieces) {
    if (add_prefix_space) {
      for (Piece& piece : pieces) {
        if (piece.text.rfind(' ', 0) != 0) piece.text.insert(0, " ");
      }
    }
    if (use_regex) SplitPieces(pieces, gpt2, Behavior::kIsolated, false);
    const std::array<std::string, 256>& chars = ByteLevelChars();
    for (Piece& piece : pieces) {
      std::string mapped;
      mapped.reserve(piece.text.size() * 2);
      for (unsigned char c : piece.text) mapped += chars[c];
      piece.text = std::move(mapped);
    }
  };
}

// Spaces become the replacement character (▁), which is also prepended per prepend_scheme.
PreTokenizer MakeMetaspace(const Json& config) {
  const std::string replacement = StringOr(config, "replacement", "\xE2\x96\x81");
  // Files before prepend_scheme carry add_prefix_space instead.
  const std::string scheme = StringOr(
      config, "prepend_scheme", BoolOr(config, "add_prefix_space", true) ? "always" : "never");
  if (scheme != "always" && scheme != "first" && scheme != "never") {
    Unsupported("Metaspace prepend_scheme \"" + scheme + "\" is not supported");
  }
  const bool split = BoolOr(config, "split", true);
  const Matcher find = StringMatcher(replacement);
  return [replacement, scheme, split, find](std::vector<Piece>& pieces) {
    for (Piece& piece : pieces) {
      std::string text;
      for (char c : piece.text) {
        if (c == ' ') {
          text += replacement;
        } else {
          text += c;
        }
      }
      const bool prepend = scheme == "always" || (scheme == "first" && piece.at_start);
      if (prepend && text.rfind(replacement, 0) != 0) text.insert(0, replacement);
      piece.text = std::move(text);
    }
    if (split) SplitPieces(pieces, find, Behavior::kMergedWithNext, false);
  };
}

PreTokenizer MakeDigits(const Json& config) {
  const Behavior behavior =
      BoolOr(config, "individual_digits", false) ? Behavior::kIsolated : Behavior::kContiguous;
  const Matcher find = RegexMatcher(R"(\p{N})");
  return
      [find, behavior](std::vector<Piece>& pieces) { SplitPieces(pieces, find, behavior, false); };
}

}  // namespace

PreTokenizer MakePreTokenizer(const Json& config) {
  const std::string type = StringOr(config, "type", "");
  if (type == "Split") return MakeSplit(config);
  if (type == "ByteLevel") return MakeByteLevel(config);
  if (type == "Metaspace") return MakeMetaspace(config);
  if (type == "Digits") return MakeDigits(config);
  if (type == "Sequence") {
    std::vector<PreTokenizer> steps;
    for (const Json& step : config.at("pretokenizers")) steps.push_back(MakePreTokenizer(step));
    return [steps](std::vector<Piece>& pieces) {
      for (const PreTokenizer& step : steps) step(pieces);
    };
  }
  Unsupported("pre_tokenizer type \"" + type +
              "\" is not supported (Split, ByteLevel, Metaspace, Digits and Sequence are)");
}

}  // namespace ferry::lm::internal
