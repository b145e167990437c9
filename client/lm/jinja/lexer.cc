#include "client/lm/jinja/lexer.h"

#include <cctype>
#include <cstdint>
#include <cstring>

#include "client/error.h"
#include "client/lm/utf8.h"

namespace ferry::lm::jinja {
namespace {

[[noreturn]] void Fail(int line, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument,
              "[jinja] line " + std::to_string(line) + ": " + what + ".");
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A string literal's body as Python reads it (jinja2 unescapes literals as Python does).
std::string Unescape(const std::string& body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char c = body[++i];
    auto hex = [&](size_t digits) {
      uint32_t cp = 0;
      for (size_t k = 1; k <= digits; ++k) {
        const char h = i + k < body.size() ? body[i + k] : 'x';
        if (!std::isxdigit(static_cast<unsigned char>(h)))
          Fail(line, "truncated escape in a string");
        cp = cp * 16 + (IsDigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
      }
      i += digits;
      AppendUtf8(cp, out);
    };
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case 'a':
        out += '\a';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case '\n':
        break;  // a line continuation
      case 'x':
        hex(2);
        break;
      case 'u':
        hex(4);
        break;
      case 'U':
        hex(8);
        break;
      default:
        if (c >= '0' && c <= '7') {
          uint32_t cp = 0;
          size_t k = 0;
          for (; k < 3 && i + k < body.size() && body[i + k] >= '0' && body[i + k] <= '7'; ++k) {
            cp = cp * 8 + (body[i + k] - '0');
          }
          i += k - 1;
          AppendUtf8(cp, out);
        } else {
          out += '\\';  // Python keeps unknown escapes as written
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  std::vector<Token> Run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      const size_t tag = FindTag(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      if (tag == src_.size()) {
        Emit(Token::Kind::kText, text);
        break;
      }
      const char type = src_[tag + 1];  // '{', '%' or '#'
      const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        text.erase(text.find_last_not_of(" \t\n\r\f\v") + 1);
      } else if (type != '{' && sign != '+') {
        // lstrip_blocks: only whitespace between the line's start and a block or comment tag.
        const size_t line_start = text.rfind('\n') + 1;
        if ((line_start > 0 || line_starting) && line_start < text.size() &&
            text.find_first_not_of(" \t\f\v\r", line_start) == std::string::npos) {
          text.erase(line_start);
        }
      }
      Emit(Token::Kind::kText, text);
      pos_ = tag + 2 + ((sign == '-' || (sign == '+' && type != '{')) ? 1 : 0);
      if (type == '#') {
        line_starting = Comment();
      } else {
        line_starting = Tag(type == '{');
      }
    }
    tokens_.push_back({Token::Kind::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t FindTag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    }
    return src_.size();
  }

  void Emit(Token::Kind kind, const std::string& text) {
    if (kind == Token::Kind::kText && text.empty()) return;
    tokens_.push_back({kind, text, line_});
    if (kind == Token::Kind::kText) line_ += CountLines(text);
  }

  static int CountLines(const std::string& text) {
    int n = 0;
    for (char c : text) n += c == '\n';
    return n;
  }

  // After a tag's end: `-` eats all whitespace, trim_blocks one newline (block and comment
  // tags). Returns whether what was consumed ends a line.
  bool AfterTag(char sign, bool trim) {
    const size_t before = pos_;
    if (sign == '-') {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
    } else if (sign != '+' && trim && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    line_ += CountLines(src_.substr(before, pos_ - before));
    return pos_ > before ? src_[pos_ - 1] == '\n' : false;
  }

  bool Comment() {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) Fail(line_, "missing end of comment tag");
    line_ += CountLines(src_.substr(pos_, end - pos_));
    const char sign =
        end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : '\0';
    pos_ = end + 2;
    return AfterTag(sign, true);
  }

  // The tokens of a {{ ... }} or {% ... %} tag, through its end.
  bool Tag(bool variable) {
    const int start_line = line_;
    tokens_.push_back(
        {variable ? Token::Kind::kVariableBegin : Token::Kind::kBlockBegin, "", line_});
    int depth = 0;  // brackets open: a "}}" inside a dict literal does not end the tag
    while (true) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) {
        line_ += src_[pos_] == '\n';
        ++pos_;
      }
      if (pos_ >= src_.size()) {
        Fail(start_line, variable ? "unexpected end of template, expected '}}'"
                                  : "unexpected end of template, expected '%}'");
      }
      if (depth == 0) {
        const char* end = variable ? "}}" : "%}";
        for (char sign : {'-', '+', '\0'}) {
          if (sign == '+' && variable) continue;
          const std::string mark = sign ? std::string(1, sign) + end : std::string(end);
          if (src_.compare(pos_, mark.size(), mark) == 0) {
            tokens_.push_back(
                {variable ? Token::Kind::kVariableEnd : Token::Kind::kBlockEnd, "", line_});
            pos_ += mark.size();
            return AfterTag(sign, !variable);
          }
        }
      }
      const char c = src_[pos_];
      if (IsNameStart(c)) {
        size_t end = pos_;
        while (end < src_.size() && (IsNameStart(src_[end]) || IsDigit(src_[end]))) ++end;
        tokens_.push_back({Token::Kind::kName, src_.substr(pos_, end - pos_), line_});
        pos_ = end;
      } else if (IsDigit(c)) {
        Number();
      } else if (c == '\'' || c == '"') {
        String(c);
      } else {
        static const char* const kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                                 "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                                 "]",  "{",  "}",  ".",  ",",  ":",  "|", ";"};
        bool matched = false;
        for (const char* op : kOperators) {
          const size_t n = std::strlen(op);
          if (src_.compare(pos_, n, op) == 0) {
            if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++depth;
            if ((op[0] == ')' || op[0] == ']' || op[0] == '}') && depth > 0) --depth;
            tokens_.push_back({Token::Kind::kOperator, op, line_});
            pos_ += n;
            matched = true;
            break;
          }
        }
        if (!matched) Fail(line_, std::string("unexpected character '") + c + "'");
      }
    }
  }

  void Number() {
    size_t end = pos_;
    auto digits = [&] {
      while (end < src_.size() &&
             (IsDigit(src_[end]) ||
              (src_[end] == '_' && end + 1 < src_.size() && IsDigit(src_[end + 1]))))
        ++end;
    };
    digits();
    bool is_float = false;
    const bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';  // foo.0.1 reads as items
    if (!after_dot && end + 1 < src_.size() && src_[end] == '.' && IsDigit(src_[end + 1])) {
      ++end;
      digits();
      is_float = true;
    }
    if (!after_dot && end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t e = end + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (e < src_.size() && IsDigit(src_[e])) {
        end = e;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = pos_; i < end; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    tokens_.push_back({is_float ? Token::Kind::kFloat : Token::Kind::kInteger, text, line_});
    pos_ = end;
  }

  void String(char quote) {
    const int start_line = line_;
    size_t end = pos_ + 1;
    while (end < src_.size() && src_[end] != quote) {
      if (src_[end] == '\\') ++end;
      ++end;
    }
    if (end >= src_.size()) Fail(start_line, "unterminated string");
    const std::string body = src_.substr(pos_ + 1, end - pos_ - 1);
    tokens_.push_back({Token::Kind::kString, Unescape(body, start_line), start_line});
    line_ += CountLines(body);
    pos_ = end + 1;
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> Tokenize(const std::string& source) {
  // jinja2 reads \r\n and \r as \n, and drops one trailing newline (keep_trailing_newline=False).
  std::string text;
  text.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      text += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      text += source[i];
    }
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return Lexer(std::move(text)).Run();
}

}  // namespace ferry::lm::jinja
