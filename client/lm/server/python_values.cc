#include "client/lm/server/python_values.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/utf8.h"

namespace ferry::lm::server {
namespace {

using Json = nlohmann::ordered_json;

bool IsIdentifierStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsIdentifierChar(char c) {
  return IsIdentifierStart(c) || std::isdigit(static_cast<unsigned char>(c));
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A recursive-descent reader of the literals ast.literal_eval takes (and of calls, for the
// pythonic tool format). Every Read* returns false, leaving the value unset, where the text
// is not what it reads.
class Reader {
 public:
  Reader(std::string_view text, bool json_names) : text_(text), json_names_(json_names) {}

  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }

  // Whitespace, newlines (literals may span lines inside brackets), comments, and
  // backslash-newline continuations.
  void SkipSpace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (c == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') {
        pos_ += 2;
      } else {
        break;
      }
    }
  }

  bool Take(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool ReadIdentifier(std::string& name) {
    SkipSpace();
    if (pos_ >= text_.size() || !IsIdentifierStart(text_[pos_])) return false;
    const size_t begin = pos_;
    while (pos_ < text_.size() && IsIdentifierChar(text_[pos_])) ++pos_;
    name.assign(text_.substr(begin, pos_ - begin));
    return true;
  }

  bool ReadValue(Json& value) {
    SkipSpace();
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c == '[') return ReadSequence(']', value);
    if (c == '(') return ReadParenthesized(value);
    if (c == '{') return ReadDict(value);
    if (c == '-' || c == '+') {  // one sign, on a number (literal_eval's rule)
      ++pos_;
      SkipSpace();
      if (!ReadNumber(value)) return false;
      if (c == '-') Negate(value);
      return true;
    }
    if (IsDigit(c) || (c == '.' && pos_ + 1 < text_.size() && IsDigit(text_[pos_ + 1]))) {
      return ReadNumber(value);
    }
    if (c == '"' || c == '\'' || IsStringPrefix()) return ReadStrings(value);
    std::string name;
    if (!ReadIdentifier(name)) return false;
    if (name == "True" || (json_names_ && name == "true")) {
      value = true;
    } else if (name == "False" || (json_names_ && name == "false")) {
      value = false;
    } else if (name == "None" || (json_names_ && name == "null")) {
      value = nullptr;
    } else {
      return false;  // a name: not a literal
    }
    return true;
  }

  // `name(key=value, ...)` with a dotted name and keyword arguments only.
  bool ReadCall(PythonCall& call) {
    if (!ReadIdentifier(call.name)) return false;
    std::string part;
    while (Take('.')) {
      if (!ReadIdentifier(part)) return false;
      call.name += "." + part;
    }
    if (!Take('(')) return false;
    while (!Take(')')) {
      std::string key;
      if (!ReadIdentifier(key) || !Take('=') || Peek('=')) return false;
      Json value;
      if (!ReadValue(value)) return false;
      call.arguments[key] = std::move(value);
      if (!Take(',') && !Peek(')')) return false;
    }
    return true;
  }

  bool Peek(char c) {
    SkipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }

 private:
  static void Negate(Json& value) {
    if (value.is_number_float()) {
      value = -value.get<double>();
    } else if (value.is_number_unsigned()) {
      const uint64_t u = value.get<uint64_t>();
      if (u <= uint64_t{1} << 63) {
        value =
            u == uint64_t{1} << 63 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(u);
      } else {
        value = -static_cast<double>(u);
      }
    } else {
      value = -value.get<int64_t>();
    }
  }

  bool ReadSequence(char close, Json& value) {
    ++pos_;  // the opening bracket
    value = Json::array();
    while (!Take(close)) {
      Json item;
      if (!ReadValue(item)) return false;
      value.push_back(std::move(item));
      if (!Take(',') && !Peek(close)) return false;
    }
    return true;
  }

  // A tuple (a list in JSON, as json.dumps writes one) or a parenthesized value.
  bool ReadParenthesized(Json& value) {
    ++pos_;
    if (Take(')')) {
      value = Json::array();
      return true;
    }
    Json first;
    if (!ReadValue(first)) return false;
    if (Take(')')) {
      value = std::move(first);
      return true;
    }
    if (!Take(',')) return false;
    value = Json::array({std::move(first)});
    while (!Take(')')) {
      Json item;
      if (!ReadValue(item)) return false;
      value.push_back(std::move(item));
      if (!Take(',') && !Peek(')')) return false;
    }
    return true;
  }

  // A dict; keys are strings or integers (json.dumps writes an integer key as a string). A
  // set is refused: json.dumps cannot write one.
  bool ReadDict(Json& value) {
    ++pos_;
    value = Json::object();
    while (!Take('}')) {
      Json key, item;
      if (!ReadValue(key) || !Take(':') || !ReadValue(item)) return false;
      if (key.is_string()) {
        value[key.get<std::string>()] = std::move(item);
      } else if (key.is_number_integer()) {
        value[key.dump()] = std::move(item);
      } else {
        return false;
      }
      if (!Take(',') && !Peek('}')) return false;
    }
    return true;
  }

  bool ReadNumber(Json& value) {
    const size_t begin = pos_;
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() &&
        std::string_view("xXoObB").find(text_[pos_ + 1]) != std::string_view::npos) {
      const char kind = static_cast<char>(std::tolower(text_[pos_ + 1]));
      const int base = kind == 'x' ? 16 : kind == 'o' ? 8 : 2;
      pos_ += 2;
      std::string digits;
      while (pos_ < text_.size() &&
             (std::isxdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
        if (text_[pos_] != '_') digits += text_[pos_];
        ++pos_;
      }
      if (digits.empty()) return false;
      char* end = nullptr;
      errno = 0;
      const uint64_t u = std::strtoull(digits.c_str(), &end, base);
      if (*end != '\0' || errno == ERANGE) return false;
      value = u;
      return true;
    }
    std::string digits;
    bool is_float = false;
    auto take_digits = [&] {
      while (pos_ < text_.size() && (IsDigit(text_[pos_]) || text_[pos_] == '_')) {
        if (text_[pos_] != '_') digits += text_[pos_];
        ++pos_;
      }
    };
    take_digits();
    if (pos_ < text_.size() && text_[pos_] == '.') {
      is_float = true;
      digits += '.';
      ++pos_;
      take_digits();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      is_float = true;
      digits += 'e';
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        digits += text_[pos_++];
      }
      const size_t before = digits.size();
      take_digits();
      if (digits.size() == before) return false;
    }
    if (pos_ < text_.size() && (IsIdentifierChar(text_[pos_]) || text_[pos_] == '.')) {
      return false;  // 1j, 1.2.3, 12abc
    }
    if (pos_ == begin) return false;
    if (is_float) {
      value = std::strtod(digits.c_str(), nullptr);
      return true;
    }
    errno = 0;
    const unsigned long long u = std::strtoull(digits.c_str(), nullptr, 10);
    if (errno == ERANGE) {
      value = std::strtod(digits.c_str(), nullptr);  // beyond 64 bits: Python's is exact
    } else if (u <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
      value = static_cast<int64_t>(u);
    } else {
      value = static_cast<uint64_t>(u);
    }
    return true;
  }

  // A string prefix that ast accepts for a str (r, u, and their cases); b and f are not
  // literals of JSON.
  bool IsStringPrefix() const {
    size_t p = pos_;
    while (p < text_.size() && std::string_view("rRuU").find(text_[p]) != std::string_view::npos &&
           p - pos_ < 2) {
      ++p;
    }
    return p > pos_ && p < text_.size() && (text_[p] == '"' || text_[p] == '\'');
  }

  // One string literal or several side by side, joined.
  bool ReadStrings(Json& value) {
    std::string joined;
    bool any = false;
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size()) break;
      if (text_[pos_] != '"' && text_[pos_] != '\'' && !IsStringPrefix()) break;
      if (!ReadString(joined)) return false;
      any = true;
    }
    if (!any) return false;
    value = std::move(joined);
    return true;
  }

  bool ReadString(std::string& out) {
    bool raw = false;
    while (text_[pos_] != '"' && text_[pos_] != '\'') {
      raw = raw || text_[pos_] == 'r' || text_[pos_] == 'R';
      ++pos_;
    }
    const char quote = text_[pos_];
    const bool triple = text_.substr(pos_, 3) == std::string(3, quote);
    pos_ += triple ? 3 : 1;
    for (;;) {
      if (pos_ >= text_.size()) return false;
      const char c = text_[pos_];
      if (c == quote && (!triple || text_.substr(pos_, 3) == std::string(3, quote))) {
        pos_ += triple ? 3 : 1;
        return true;
      }
      if (c == '\n' && !triple) return false;
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= text_.size()) return false;
      const char e = text_[pos_ + 1];
      if (raw) {  // the backslash stays, and escapes only the quote from ending the string
        out += c;
        out += e;
        pos_ += 2;
        continue;
      }
      pos_ += 2;
      // \<newline> continues the line; \\ \' \" \a \b \f \n \r \t \v name a character.
      static constexpr std::string_view kNamed = "\\'\"abfnrtv", kMeant = "\\'\"\a\b\f\n\r\t\v";
      if (e == '\n') continue;
      if (const size_t k = kNamed.find(e); k != std::string_view::npos) {
        out += kMeant[k];
      } else if (e == 'x' || e == 'u' || e == 'U') {
        const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (pos_ + n > text_.size()) return false;
        const std::string hex(text_.substr(pos_, n));
        char* end = nullptr;
        const unsigned long cp = std::strtoul(hex.c_str(), &end, 16);
        if (*end != '\0' || hex.find_first_of("+- ") != std::string::npos || cp > 0x10FFFF) {
          return false;
        }
        AppendUtf8(static_cast<char32_t>(cp), out);
        pos_ += n;
      } else if (e >= '0' && e <= '7') {  // up to three octal digits
        unsigned cp = e - '0';
        for (int i = 0; i < 2 && pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '7';
             ++i) {
          cp = cp * 8 + (text_[pos_++] - '0');
        }
        AppendUtf8(static_cast<char32_t>(cp), out);
      } else if (e == 'N') {
        return false;  // \N{name}: Unicode's names are not here
      } else {         // an unknown escape keeps its backslash
        out += '\\';
        out += e;
      }
    }
  }

  std::string_view text_;
  bool json_names_;
  size_t pos_ = 0;
};

// Python's repr of a finite double from its shortest digits: fixed notation with ".0" for
// exponents in [-4, 16), else d.ddde+XX.
std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  // nlohmann writes the shortest digits that round-trip, as Python's repr chooses them.
  const std::string shortest = Json(value).dump();
  std::string out = std::signbit(value) ? "-" : "";
  std::string_view s = shortest;
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  const size_t e_at = s.find_first_of("eE");
  int exponent =
      e_at == std::string_view::npos ? 0 : std::atoi(std::string(s.substr(e_at + 1)).c_str());
  std::string_view mantissa = s.substr(0, e_at);
  std::string digits;
  for (size_t i = 0; i < mantissa.size(); ++i) {
    if (mantissa[i] == '.') {
      exponent -= static_cast<int>(mantissa.size() - i - 1);
    } else {
      digits += mantissa[i];
    }
  }
  // value = digits * 10^exponent; drop leading and trailing zeros.
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return out + "0.0";
  digits.erase(0, first);
  while (digits.size() > 1 && digits.back() == '0') {
    digits.pop_back();
    ++exponent;
  }
  const int point = static_cast<int>(digits.size()) - 1 + exponent;  // scientific exponent
  if (point >= -4 && point < 16) {
    if (exponent >= 0) return out + digits + std::string(exponent, '0') + ".0";
    if (point >= 0) return out + digits.substr(0, point + 1) + "." + digits.substr(point + 1);
    return out + "0." + std::string(-point - 1, '0') + digits;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const int magnitude = std::abs(point);
  return out + (point < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + std::to_string(magnitude);
}

void AppendPythonString(const std::string& s, std::string& out) {
  // What json.dumps escapes with ensure_ascii=False: quotes, backslashes, control characters.
  static constexpr std::string_view kShort = "\"\\\n\r\t\b\f", kLetter = "\"\\nrtbf";
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    if (const size_t k = kShort.find(c); k != std::string_view::npos) {
      out += '\\';
      out += kLetter[k];
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u00";
      out += kHex[(c >> 4) & 0xF];
      out += kHex[c & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

void AppendPythonJson(const Json& value, std::string& out) {
  switch (value.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out += ", ";
        first = false;
        AppendPythonString(key, out);
        out += ": ";
        AppendPythonJson(item, out);
      }
      out += '}';
      break;
    }
    case Json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += ", ";
        AppendPythonJson(value[i], out);
      }
      out += ']';
      break;
    }
    case Json::value_t::string:
      AppendPythonString(value.get_ref<const std::string&>(), out);
      break;
    case Json::value_t::number_float:
      out += PythonFloatRepr(value.get<double>());
      break;
    default:  // null, booleans, integers: JSON's spelling is Python's
      out += value.dump();
  }
}

}  // namespace

std::optional<Json> ParsePythonLiteral(std::string_view text, bool json_names) {
  // literal_eval strips leading spaces and tabs; the reader skips them anyway.
  Reader reader(text, json_names);
  Json value;
  if (!reader.ReadValue(value) || !reader.AtEnd()) return std::nullopt;
  return value;
}

std::optional<double> ParsePythonFloat(std::string_view text) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  std::string s;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '_') {  // only between two digits
      if (i == 0 || i + 1 == text.size() || !IsDigit(text[i - 1]) || !IsDigit(text[i + 1])) {
        return std::nullopt;
      }
      continue;
    }
    if (c == 'x' || c == 'X' || c == 'p' || c == 'P') {
      return std::nullopt;  // strtod's hexadecimal floats are not Python's
    }
    s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string_view unsigned_part = s;
  if (unsigned_part[0] == '+' || unsigned_part[0] == '-') unsigned_part.remove_prefix(1);
  if (unsigned_part == "inf" || unsigned_part == "infinity" || unsigned_part == "nan") {
    const double v =
        unsigned_part == "nan" ? std::nan("") : std::numeric_limits<double>::infinity();
    return s[0] == '-' ? -v : v;
  }
  if (unsigned_part.empty() || !(IsDigit(unsigned_part[0]) || unsigned_part[0] == '.')) {
    return std::nullopt;
  }
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return value;
}

std::string PythonJsonDumps(const Json& value) {
  std::string out;
  AppendPythonJson(value, out);
  return out;
}

std::optional<std::vector<PythonCall>> ParsePythonCallList(std::string_view text) {
  Reader reader(text, /*json_names=*/true);
  if (!reader.Take('[')) return std::nullopt;
  std::vector<PythonCall> calls;
  while (!reader.Take(']')) {
    PythonCall call;
    if (!reader.ReadCall(call)) return std::nullopt;
    calls.push_back(std::move(call));
    if (!reader.Take(',') && !reader.Peek(']')) return std::nullopt;
  }
  if (calls.empty() || !reader.AtEnd()) return std::nullopt;
  return calls;
}

}  // namespace ferry::lm::server
