#ifndef FERRY_CLIENT_LM_JINJA_LEXER_H_
#define FERRY_CLIENT_LM_JINJA_LEXER_H_

// Template source to tokens, as jinja2's lexer with transformers' settings: trim_blocks (the
// newline after a block or comment tag goes), lstrip_blocks (spaces before a block or comment
// tag on its own line go), `-` on a tag strips whitespace on that side, `+` keeps it, and one
// trailing newline of the source is dropped.

#include <string>
#include <vector>

namespace ferry::lm::jinja {

struct Token {
  enum class Kind {
    kText,
    kVariableBegin,
    kVariableEnd,
    kBlockBegin,
    kBlockEnd,
    kName,
    kString,
    kInteger,
    kFloat,
    kOperator,
    kEnd
  };
  Kind kind;
  std::string text;  // a string literal's text is unescaped
  int line;
};

// Throws ferry::Error (INVALID_ARGUMENT) naming the line of an unterminated tag, comment or
// string, or a character that starts no token.
std::vector<Token> Tokenize(const std::string& source);

}  // namespace ferry::lm::jinja

#endif  // FERRY_CLIENT_LM_JINJA_LEXER_H_
