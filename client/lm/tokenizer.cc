// Loading a tokenizer.json, and the pipeline of Hugging Face's `tokenizers` around the
// components (tokenizer_internal.h): added tokens are cut out of the raw text first, each
// remaining run is normalized, pre-tokenized into pieces and tokenized by the BPE model, and
// the post-processor's template adds its special tokens. Decoding maps ids to tokens and runs
// the decoder chain.

#include "client/lm/tokenizer.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "absl/status/statusor.h"
#include "client/error.h"
#include "client/lm/tokenizer_internal.h"
#include "core/read_file.h"

namespace ferry::lm {
namespace internal {

void Unsupported(const std::string& message) { throw std::invalid_argument(message); }

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t previous = 0;
  for (size_t at = text.find(from); !from.empty() && at != std::string_view::npos;
       at = text.find(from, previous)) {
    out.append(text.substr(previous, at - previous));
    out.append(to);
    previous = at + from.size();
  }
  out.append(text.substr(previous));
  return out;
}

std::string StringOr(const Json& component, const char* key, const std::string& fallback) {
  if (!component.is_object() || !component.contains(key) || component.at(key).is_null()) {
    return fallback;
  }
  return component.at(key).get<std::string>();
}

bool BoolOr(const Json& component, const char* key, bool fallback) {
  if (!component.is_object() || !component.contains(key) || component.at(key).is_null()) {
    return fallback;
  }
  return component.at(key).get<bool>();
}

}  // namespace internal

namespace {

using internal::Json;

[[noreturn]] void Fail(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, "[Tokenizer] " + message);
}

struct AddedToken {
  int32_t id;
  std::string content;
  bool special, single_word, lstrip, rstrip, normalized;
};

// A run of text, or an added token found in it.
struct Segment {
  std::string text;
  std::optional<int32_t> id;
  size_t offset;  // in the string that was split
};

// Rust regex's \w, which single_word tokens test their neighbours with (wider than PCRE2's).
bool IsWordCharacter(std::string_view character) {
  static const internal::Regex word(R"(\A[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]\z)");
  return !word.FindAll(character).empty();
}

// The offset of the character that ends at end.
size_t CharacterStart(const std::string& text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

std::string CharacterAt(const std::string& text, size_t start) {
  return text.substr(start, Utf8Length(text[start]));
}

bool IsWhitespaceAt(const std::string& text, size_t start) {
  return internal::IsWhitespace(DecodeUtf8(CharacterAt(text, start))[0]);
}

// The start of the whitespace run that ends at end.
size_t SkipWhitespaceLeft(const std::string& text, size_t end) {
  while (end > 0 && IsWhitespaceAt(text, CharacterStart(text, end))) {
    end = CharacterStart(text, end);
  }
  return end;
}

// The end of the whitespace run that starts at start.
size_t SkipWhitespaceRight(const std::string& text, size_t start) {
  while (start < text.size() && IsWhitespaceAt(text, start)) {
    start += Utf8Length(text[start]);
  }
  return start;
}

// Finds added tokens in text as Hugging Face's Aho-Corasick automaton does (non-overlapping,
// leftmost, longest at a position) and applies their single_word, lstrip and rstrip options.
class AddedTokenMatcher {
 public:
  // content is what is matched: the token's own, or its normalized form for normalized tokens.
  void Add(const AddedToken& token, std::string content) {
    if (content.empty()) return;
    auto& entries = by_first_byte_[static_cast<unsigned char>(content[0])];
    // Longest first; among equal lengths, in the file's order.
    const auto at = std::upper_bound(
        entries.begin(), entries.end(), content.size(),
        [](size_t size, const Entry& entry) { return size > entry.content.size(); });
    entries.insert(at, {std::move(content), &token});
  }

  std::vector<Segment> Split(const std::string& text) const {
    std::vector<Segment> out;
    size_t start_offset = 0;
    for (size_t at = 0; at < text.size();) {
      const Entry* match = LongestAt(text, at);
      if (match == nullptr) {
        ++at;
        continue;
      }
      size_t start = at, stop = at + match->content.size();
      at = stop;  // a rejected match still hides the tokens inside it, as in the automaton
      const AddedToken& token = *match->token;
      if (token.single_word) {
        const bool word_before =
            start > 0 && IsWordCharacter(CharacterAt(text, CharacterStart(text, start)));
        const bool word_after = stop < text.size() && IsWordCharacter(CharacterAt(text, stop));
        if (word_before || word_after) continue;
      }
      if (token.lstrip) start = std::max(SkipWhitespaceLeft(text, start), start_offset);
      if (token.rstrip) stop = SkipWhitespaceRight(text, stop);
      if (start_offset < start) {
        out.push_back(
            {text.substr(start_offset, start - start_offset), std::nullopt, start_offset});
      }
      out.push_back({std::string(), token.id, start});
      start_offset = stop;
      at = std::max(at, stop);
    }
    if (start_offset < text.size()) {
      out.push_back({text.substr(start_offset), std::nullopt, start_offset});
    }
    return out;
  }

 private:
  struct Entry {
    std::string content;
    const AddedToken* token;
  };

  const Entry* LongestAt(const std::string& text, size_t at) const {
    for (const Entry& entry : by_first_byte_[static_cast<unsigned char>(text[at])]) {
      if (text.compare(at, entry.content.size(), entry.content) == 0) return &entry;
    }
    return nullptr;
  }

  std::array<std::vector<Entry>, 256> by_first_byte_;  // longest first
};

using PostProcessor = std::function<std::vector<int32_t>(std::vector<int32_t>)>;

// TemplateProcessing's single-sequence template, e.g. "<s> $A".
PostProcessor MakeTemplate(const Json& config) {
  std::vector<std::optional<std::vector<int32_t>>> parts;  // nullopt: the sequence
  for (const Json& part : config.at("single")) {
    if (part.contains("Sequence")) {
      if (part.at("Sequence").at("id").get<std::string>() != "A") {
        internal::Unsupported("TemplateProcessing single template names a sequence other than A");
      }
      parts.push_back(std::nullopt);
      continue;
    }
    const std::string name = part.at("SpecialToken").at("id").get<std::string>();
    const Json& special = config.at("special_tokens");
    if (!special.contains(name)) {
      internal::Unsupported("TemplateProcessing special token \"" + name +
                            "\" is not in its special_tokens");
    }
    parts.push_back(special.at(name).at("ids").get<std::vector<int32_t>>());
  }
  return [parts](std::vector<int32_t> ids) {
    std::vector<int32_t> out;
    for (const auto& part : parts) {
      const std::vector<int32_t>& add = part ? *part : ids;
      out.insert(out.end(), add.begin(), add.end());
    }
    return out;
  };
}

PostProcessor MakePostProcessor(const Json& config) {
  const std::string type = internal::StringOr(config, "type", "");
  if (type == "TemplateProcessing") return MakeTemplate(config);
  if (type == "ByteLevel") return [](std::vector<int32_t> ids) { return ids; };  // offsets only
  if (type == "Sequence") {
    std::vector<PostProcessor> steps;
    for (const Json& step : config.at("processors")) steps.push_back(MakePostProcessor(step));
    return [steps](std::vector<int32_t> ids) {
      for (const PostProcessor& step : steps) ids = step(std::move(ids));
      return ids;
    };
  }
  internal::Unsupported("post_processor type \"" + type +
                        "\" is not supported (TemplateProcessing, ByteLevel and Sequence are)");
}

// The model's JSON, checked to be BPE (older files may leave out its type).
const Json& BpeModel(const Json& root) {
  const Json& model = root.at("model");
  const std::string type =
      internal::StringOr(model, "type", model.contains("merges") ? "BPE" : "(none)");
  if (type != "BPE") {
    internal::Unsupported("model type \"" + type + "\" is not supported (BPE only)");
  }
  return model;
}

template <typename Step, typename Make>
std::optional<Step> Optional(const Json& root, const char* key, Make make) {
  if (!root.contains(key) || root.at(key).is_null()) return std::nullopt;
  return make(root.at(key));
}

}  // namespace

struct Tokenizer::Impl {
  Impl(const Impl&) = delete;  // the matchers point into added
  explicit Impl(const Json& root)
      : model(BpeModel(root)),
        normalizer(Optional<internal::Normalizer>(root, "normalizer", internal::MakeNormalizer)),
        pre_tokenizer(
            Optional<internal::PreTokenizer>(root, "pre_tokenizer", internal::MakePreTokenizer)),
        decoder(Optional<internal::Decoder>(root, "decoder", internal::MakeDecoder)),
        post_processor(Optional<PostProcessor>(root, "post_processor", MakePostProcessor)) {
    // "truncation" and "padding" are ignored: transformers turns both off for a plain
    // encode (which is what mlx-lm calls).
    for (const auto& [token, id] : model.vocab()) {
      if (id < 0) internal::Unsupported("vocab id " + std::to_string(id) + " is negative");
      if (static_cast<size_t>(id) >= model_tokens.size()) model_tokens.resize(id + 1);
      model_tokens[id] = token;
    }
    LoadAddedTokens(root.contains("added_tokens") ? root.at("added_tokens") : Json::array());
    vocab_size = static_cast<int64_t>(model.vocab().size());
    for (const auto& [content, id] : added_by_content) vocab_size += !model.vocab().count(content);
  }

  void LoadAddedTokens(const Json& entries) {
    added.reserve(entries.size());  // the matchers point into it
    for (const Json& entry : entries) {
      const bool special = internal::BoolOr(entry, "special", false);
      added.push_back({entry.at("id").get<int32_t>(), entry.at("content").get<std::string>(),
                       special, internal::BoolOr(entry, "single_word", false),
                       internal::BoolOr(entry, "lstrip", false),
                       internal::BoolOr(entry, "rstrip", false),
                       internal::BoolOr(entry, "normalized", !special)});
    }
    for (const AddedToken& token : added) {
      added_by_id[token.id] = &token;
      added_by_content[token.content] = token.id;
      if (!token.normalized) {
        raw_matcher.Add(token, token.content);
      } else {
        normalized_matcher.Add(token, normalizer ? (*normalizer)(token.content) : token.content);
      }
    }
  }

  // The token of id, or nullptr.
  const std::string* Token(int32_t id) const {
    if (const auto it = added_by_id.find(id); it != added_by_id.end()) return &it->second->content;
    if (id >= 0 && static_cast<size_t>(id) < model_tokens.size() && !model_tokens[id].empty()) {
      return &model_tokens[id];
    }
    return nullptr;
  }

  // The ids of one run of text between raw added tokens; at_start: it begins the text.
  void EncodeRun(std::string text, bool at_start, std::vector<int32_t>& ids) const {
    if (normalizer) text = (*normalizer)(std::move(text));
    for (Segment& segment : normalized_matcher.Split(text)) {
      if (segment.id) {
        ids.push_back(*segment.id);
        continue;
      }
      std::vector<internal::Piece> pieces{
          {std::move(segment.text), at_start && segment.offset == 0}};
      if (pre_tokenizer) (*pre_tokenizer)(pieces);
      for (const internal::Piece& piece : pieces) model.Tokenize(piece.text, ids);
    }
  }

  internal::Bpe model;
  std::optional<internal::Normalizer> normalizer;
  std::optional<internal::PreTokenizer> pre_tokenizer;
  std::optional<internal::Decoder> decoder;
  std::optional<PostProcessor> post_processor;
  std::vector<std::string> model_tokens;  // by id; "" where no token has the id
  std::vector<AddedToken> added;
  std::unordered_map<int32_t, const AddedToken*> added_by_id;
  std::unordered_map<std::string, int32_t> added_by_content;
  AddedTokenMatcher raw_matcher;         // added tokens with normalized: false
  AddedTokenMatcher normalized_matcher;  // the others, matched in normalized text
  int64_t vocab_size = 0;
};

namespace {

Json ParseJson(const std::string& json_text, const std::string& source) {
  try {
    return Json::parse(json_text);
  } catch (const Json::exception& e) {
    Fail(source + " is not valid JSON (" + e.what() + ")");
  }
}

// Runs build, turning what the builders throw into a ferry::Error naming source.
template <typename Build>
auto NamingSource(const std::string& source, Build build) {
  try {
    return build();
  } catch (const std::invalid_argument& e) {
    Fail(source + ": " + e.what());
  } catch (const Json::exception& e) {
    Fail(source + " is malformed (" + e.what() + ")");
  }
}

}  // namespace

Tokenizer Tokenizer::from_json(const std::string& json_text) {
  const Json root = ParseJson(json_text, "tokenizer.json");
  return Tokenizer(
      NamingSource("tokenizer.json", [&] { return std::make_shared<const Impl>(root); }));
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  const absl::StatusOr<std::string> text = core::ReadFile(path);
  if (!text.ok()) Fail("cannot read " + path);
  const Json root = ParseJson(*text, path);
  return Tokenizer(NamingSource(path, [&] { return std::make_shared<const Impl>(root); }));
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  if (const std::optional<size_t> bad = internal::FindInvalidUtf8(text)) {
    Fail("encode: the text is not valid UTF-8 (at byte " + std::to_string(*bad) + ")");
  }
  std::vector<int32_t> ids;
  for (Segment& segment : impl_->raw_matcher.Split(text)) {
    if (segment.id) {
      ids.push_back(*segment.id);
    } else {
      impl_->EncodeRun(std::move(segment.text), segment.offset == 0, ids);
    }
  }
  if (add_special_tokens && impl_->post_processor) ids = (*impl_->post_processor)(std::move(ids));
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* token = impl_->Token(id);
    if (token == nullptr) {
      Fail("decode: id " + std::to_string(id) + " is not in the vocabulary");
    }
    if (!(skip_special_tokens && is_special(id))) tokens.push_back(*token);
  }
  std::string text;
  if (impl_->decoder) {
    for (const std::string& part : (*impl_->decoder)(std::move(tokens))) text += part;
    return text;
  }
  for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
  return text;
}

std::optional<int32_t> Tokenizer::token_to_id(const std::string& token) const {
  if (const auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end()) {
    return it->second;
  }
  const auto it = impl_->model.vocab().find(token);
  if (it == impl_->model.vocab().end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  const std::string* token = impl_->Token(id);
  if (token == nullptr) Fail("id " + std::to_string(id) + " is not in the vocabulary");
  return *token;
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

bool Tokenizer::is_special(int32_t id) const {
  const auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && it->second->special;
}

void Tokenizer::add_eos_token(int32_t id) {
  id_to_token(id);  // throws outside the vocabulary
  if (std::find(eos_token_ids_.begin(), eos_token_ids_.end(), id) == eos_token_ids_.end()) {
    eos_token_ids_.push_back(id);
  }
}

void Tokenizer::set_chat_template(ChatTemplate chat_template) {
  chat_template_ = std::make_shared<const ChatTemplate>(std::move(chat_template));
}

std::string Tokenizer::apply_chat_template(const nlohmann::ordered_json& messages,
                                           const ChatTemplateOptions& options) const {
  if (!chat_template_) {
    throw Error(ErrorCode::kFailedPrecondition,
                "[apply_chat_template] the tokenizer has no chat template (the model directory's "
                "tokenizer_config.json and chat_template.jinja give none).");
  }
  return chat_template_->apply(messages, options);
}

std::vector<int32_t> Tokenizer::apply_chat_template_ids(const nlohmann::ordered_json& messages,
                                                        const ChatTemplateOptions& options) const {
  return encode(apply_chat_template(messages, options), /*add_special_tokens=*/false);
}

std::string StreamingDetokenizer::Decode(size_t begin, size_t end) const {
  return tokenizer_.decode(std::vector<int32_t>(ids_.begin() + static_cast<ptrdiff_t>(begin),
                                                ids_.begin() + static_cast<ptrdiff_t>(end)));
}

// Each step decodes the window of ids from prefix_ twice, without and with the ids not yet
// final, and emits the difference once it no longer ends in U+FFFD (an incomplete
// character). Decoding both from the same first id keeps decoders that treat the first token
// specially (Strip, Metaspace) consistent, so the pieces add up to decode() of all the ids.
std::string StreamingDetokenizer::add_token(int32_t id) {
  ids_.push_back(id);
  const std::string before = Decode(prefix_, read_);
  const std::string after = Decode(prefix_, ids_.size());
  const bool incomplete =
      after.size() >= 3 && after.compare(after.size() - 3, 3, "\xEF\xBF\xBD") == 0;
  if (after.size() <= before.size() || incomplete || after.compare(0, before.size(), before) != 0) {
    return std::string();
  }
  std::string added = after.substr(before.size());
  prefix_ = read_;
  read_ = ids_.size();
  text_ += added;
  return added;
}

std::string StreamingDetokenizer::finalize() {
  const std::string before = Decode(prefix_, read_);
  const std::string after = Decode(prefix_, ids_.size());
  std::string rest = after.size() > before.size() ? after.substr(before.size()) : std::string();
  prefix_ = read_ = ids_.size();
  text_ += rest;
  return rest;
}

}  // namespace ferry::lm
