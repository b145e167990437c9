// UTF-8, GPT-2's byte-level alphabet, NFC and PCRE2 regular expressions for the tokenizer.

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "client/error.h"
#include "client/lm/tokenizer_internal.h"

namespace ferry::lm::internal {

extern const char kCanonicalDecompositions[];  // nfc_data.cc
extern const char kCombiningClasses[];

namespace {

// The length of the well-formed UTF-8 sequence at bytes[i], or 0 with *bad set to the length
// of its maximal invalid prefix (Unicode's "maximal subpart", which one U+FFFD replaces).
size_t WellFormedLength(std::string_view bytes, size_t i, size_t* bad) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    if (c == 0xE0) low = 0xA0;
    if (c == 0xED) high = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    const bool in_range = i + k < bytes.size() && byte(i + k) >= (k == 1 ? low : 0x80) &&
                          byte(i + k) <= (k == 1 ? high : 0xBF);
    if (!in_range) {
      *bad = k;
      return 0;
    }
  }
  return length;
}

constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";

}  // namespace

std::optional<size_t> FindInvalidUtf8(std::string_view text) {
  size_t bad = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t length = WellFormedLength(text, i, &bad);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t bad = 0;
  for (size_t i = 0; i < bytes.size();) {
    const size_t length = WellFormedLength(bytes, i, &bad);
    if (length == 0) {
      out += kReplacementCharacter;
      i += bad;
    } else {
      out.append(bytes.substr(i, length));
      i += length;
    }
  }
  return out;
}

bool IsWhitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// ---- GPT-2's byte-level alphabet ----

namespace {

// The code point standing for each byte: printable Latin-1 stands for itself, the other bytes
// take 256, 257, ... in order (GPT-2's bytes_to_unicode).
std::array<char32_t, 256> ByteLevelCodePoints() {
  std::array<char32_t, 256> cps{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cps[b] = printable ? b : next++;
  }
  return cps;
}

}  // namespace

const std::array<std::string, 256>& ByteLevelChars() {
  static const std::array<std::string, 256> chars = [] {
    std::array<std::string, 256> out;
    const std::array<char32_t, 256> cps = ByteLevelCodePoints();
    for (int b = 0; b < 256; ++b) AppendUtf8(cps[b], out[b]);
    return out;
  }();
  return chars;
}

std::optional<uint8_t> ByteLevelByte(char32_t cp) {
  static const std::vector<int> bytes = [] {
    std::vector<int> out(512, -1);
    const std::array<char32_t, 256> cps = ByteLevelCodePoints();
    for (int b = 0; b < 256; ++b) out[cps[b]] = b;
    return out;
  }();
  if (cp >= bytes.size() || bytes[cp] < 0) return std::nullopt;
  return static_cast<uint8_t>(bytes[cp]);
}

// ---- NFC ----

namespace {

struct NfcTables {
  std::unordered_map<char32_t, std::pair<char32_t, char32_t>> decompositions;  // second 0: one
  std::unordered_map<uint64_t, char32_t> compositions;  // first << 32 | second
  std::unordered_map<char32_t, uint8_t> combining_classes;
};

// Parses nfc_data.cc's strings (their format is described there).
const NfcTables& Tables() {
  static const NfcTables tables = [] {
    NfcTables t;
    char32_t cp = 0;
    for (const char* p = kCanonicalDecompositions; *p;) {
      char* end = nullptr;
      cp += std::strtoul(p, &end, 16);
      const bool excluded = *end == '!';
      const char32_t first = std::strtoul(end + 1, &end, 16);
      char32_t second = 0;
      if (*end == '.') second = std::strtoul(end + 1, &end, 16);
      t.decompositions[cp] = {first, second};
      if (second != 0 && !excluded) t.compositions[uint64_t{first} << 32 | second] = cp;
      p = end + (*end == ' ');
    }
    for (const char* p = kCombiningClasses; *p;) {
      char* end = nullptr;
      const char32_t first = std::strtoul(p, &end, 16);
      char32_t last = first;
      if (*end == '-') last = std::strtoul(end + 1, &end, 16);
      const auto ccc = static_cast<uint8_t>(std::strtoul(end + 1, &end, 10));
      for (char32_t c = first; c <= last; ++c) t.combining_classes[c] = ccc;
      p = end + (*end == ' ');
    }
    return t;
  }();
  return tables;
}

// Hangul syllables decompose and compose by arithmetic (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

uint8_t CombiningClass(char32_t cp) {
  const auto& classes = Tables().combining_classes;
  const auto it = classes.find(cp);
  return it == classes.end() ? 0 : it->second;
}

void Decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto& decompositions = Tables().decompositions;
  const auto it = decompositions.find(cp);
  if (it == decompositions.end()) {
    out.push_back(cp);
    return;
  }
  Decompose(it->second.first, out);
  if (it->second.second != 0) Decompose(it->second.second, out);
}

std::optional<char32_t> Compose(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const auto& compositions = Tables().compositions;
  const auto it = compositions.find(uint64_t{first} << 32 | second);
  if (it == compositions.end()) return std::nullopt;
  return it->second;
}

}  // namespace

std::string Nfc(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; })) {
    return std::string(text);
  }
  // Canonical decomposition, then canonical ordering of each run of nonzero classes.
  std::vector<char32_t> cps;
  for (char32_t cp : DecodeUtf8(text)) Decompose(cp, cps);
  for (size_t i = 0; i < cps.size();) {
    size_t end = i;
    while (end < cps.size() && CombiningClass(cps[end]) != 0) ++end;
    std::stable_sort(cps.begin() + i, cps.begin() + end,
                     [](char32_t a, char32_t b) { return CombiningClass(a) < CombiningClass(b); });
    i = end + 1;
  }
  // Canonical composition (Unicode's sample algorithm): each character joins the last starter
  // unless a starter or a character of the same or higher class stands between them.
  if (cps.empty()) return std::string();
  size_t starter = 0, kept = 1;
  // A leading non-starter composes with nothing (no composition starts with one).
  int last_class = CombiningClass(cps[0]) == 0 ? 0 : 256;
  for (size_t i = 1; i < cps.size(); ++i) {
    const int ccc = CombiningClass(cps[i]);
    if (last_class < ccc || last_class == 0) {
      if (std::optional<char32_t> composed = Compose(cps[starter], cps[i])) {
        cps[starter] = *composed;
        continue;
      }
    }
    if (ccc == 0) starter = kept;
    last_class = ccc;
    cps[kept++] = cps[i];
  }
  cps.resize(kept);
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : cps) AppendUtf8(cp, out);
  return out;
}

// ---- Regex ----

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // Oniguruma's Ruby syntax, which Hugging Face compiles with, makes ^ and $ line anchors.
  std::unique_ptr<pcre2_compile_context, void (*)(pcre2_compile_context*)> context(
      pcre2_compile_context_create(nullptr), pcre2_compile_context_free);
  pcre2_set_newline(context.get(), PCRE2_NEWLINE_LF);
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error, &offset, context.get());
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    Unsupported("regex \"" + pattern + "\" does not compile in PCRE2 (" +
                reinterpret_cast<char*>(message) + " at offset " + std::to_string(offset) + ")");
  }
  code_.reset(code, pcre2_code_free);
}

std::vector<std::pair<size_t, size_t>> Regex::FindAll(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> data(
      pcre2_match_data_create_from_pattern(code_.get(), nullptr), pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.empty() ? "" : text.data());
  for (size_t at = 0; at <= text.size();) {
    // The text was checked to be UTF-8 once, in encode.
    const int rc =
        pcre2_match(code_.get(), subject, text.size(), at, PCRE2_NO_UTF_CHECK, data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {  // e.g. PCRE2's match or heap limit, on pathological text
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw Error(ErrorCode::kInvalidArgument, "[Tokenizer] regex \"" + pattern_ +
                                                   "\" failed on the text (" +
                                                   reinterpret_cast<char*>(message) + ")");
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    matches.emplace_back(ovector[0], ovector[1]);
    // After an empty match, search again one character on (as Oniguruma's loop does).
    at = ovector[1] > ovector[0]    ? ovector[1]
         : ovector[1] < text.size() ? ovector[1] + Utf8Length(text[ovector[1]])
                                    : text.size() + 1;
  }
  return matches;
}

}  // namespace ferry::lm::internal
