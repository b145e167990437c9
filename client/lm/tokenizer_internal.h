// What tokenizer.cc assembles a Tokenizer from, one file per kind of component as in Hugging
// Face's `tokenizers`: normalizers.cc, pre_tokenizers.cc, bpe.cc (the model), decoders.cc,
// and unicode.cc (UTF-8, the byte-level alphabet, NFC, regular expressions). Builders take
// the component's JSON and throw std::invalid_argument saying what is wrong or unsupported;
// tokenizer.cc turns that into a ferry::Error naming the file.
#ifndef FERRY_CLIENT_LM_TOKENIZER_INTERNAL_H_
#define FERRY_CLIENT_LM_TOKENIZER_INTERNAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "client/lm/utf8.h"
#include "nlohmann/json.hpp"

struct pcre2_real_code_8;

namespace ferry::lm::internal {

using Json = nlohmann::json;

// ---- tokenizer.cc ----

// text with every occurrence of from (not empty) replaced by to.
std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to);
// Throws std::invalid_argument(message).
[[noreturn]] void Unsupported(const std::string& message);
// The string member key of component, or fallback when absent or null.
std::string StringOr(const Json& component, const char* key, const std::string& fallback);
bool BoolOr(const Json& component, const char* key, bool fallback);

// ---- unicode.cc ----

// The byte offset of the first invalid UTF-8 sequence in text, if any.
std::optional<size_t> FindInvalidUtf8(std::string_view text);
// bytes with each invalid sequence replaced by U+FFFD, as Rust's String::from_utf8_lossy.
std::string Utf8Lossy(std::string_view bytes);
// Unicode's White_Space property (Rust's char::is_whitespace).
bool IsWhitespace(char32_t cp);
// text in Normalization Form C.
std::string Nfc(std::string_view text);
// GPT-2's byte-level alphabet: each byte as the printable character standing for it.
const std::array<std::string, 256>& ByteLevelChars();
// The byte the byte-level character cp stands for, if it is one.
std::optional<uint8_t> ByteLevelByte(char32_t cp);

// A PCRE2 regular expression in UTF and Unicode-property mode; Hugging Face's patterns are
// Oniguruma's, but those LLM tokenizers use mean the same in PCRE2.
class Regex {
 public:
  // Throws std::invalid_argument naming pattern when PCRE2 rejects it.
  explicit Regex(const std::string& pattern);
  // The [start, end) byte offsets of the non-overlapping matches in text (valid UTF-8),
  // leftmost first, as Oniguruma's search loop finds them. Throws ferry::Error if PCRE2
  // gives up (its match or heap limit).
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view text) const;

 private:
  std::string pattern_;
  std::shared_ptr<pcre2_real_code_8> code_;
};

// ---- normalizers.cc ----

using Normalizer = std::function<std::string(std::string)>;
// The normalizer of a tokenizer.json "normalizer" (not null).
Normalizer MakeNormalizer(const Json& config);

// ---- pre_tokenizers.cc ----

// A piece of text on its way to the model; at_start says it begins where the text given to
// encode begins (Metaspace's prepend_scheme "first" prepends only there).
struct Piece {
  std::string text;
  bool at_start = false;
};
// Replaces the pieces by their sub-pieces; empty pieces are dropped.
using PreTokenizer = std::function<void(std::vector<Piece>&)>;
PreTokenizer MakePreTokenizer(const Json& config);

// ---- bpe.cc ----

// A BPE model: a vocabulary and merges ranked by their order in the file.
class Bpe {
 public:
  explicit Bpe(const Json& model);
  // Appends the ids of one pre-tokenized piece.
  void Tokenize(const std::string& piece, std::vector<int32_t>& ids) const;
  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;  // of the merged token
  };
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool merged_away = false;
  };
  // The piece's characters as symbols (byte fallback and unk applied).
  std::vector<Symbol> Symbols(const std::string& piece) const;
  std::optional<Merge> FindMerge(int32_t left, int32_t right) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;  // keyed by left id << 32 | right id
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::array<int32_t, 256> byte_ids_;  // "<0xAB>" tokens, -1 where absent
};

// ---- decoders.cc ----

// Hugging Face's decode_chain: tokens in, (fewer, longer) strings out; decode joins them.
using Decoder = std::function<std::vector<std::string>(std::vector<std::string>)>;
Decoder MakeDecoder(const Json& config);

}  // namespace ferry::lm::internal

#endif  // FERRY_CLIENT_LM_TOKENIZER_INTERNAL_H_
