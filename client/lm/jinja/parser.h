#ifndef FERRY_CLIENT_LM_JINJA_PARSER_H_
#define FERRY_CLIENT_LM_JINJA_PARSER_H_

#include <vector>

#include "client/lm/jinja/ast.h"
#include "client/lm/jinja/lexer.h"

namespace ferry::lm::jinja {

// Tokens to statements, with jinja2's grammar and operator precedence. Throws ferry::Error
// (INVALID_ARGUMENT) naming the line: an unknown tag, a tag left open, an expression nested
// deeper than 256 levels. An unknown filter or test fails where it runs, as in jinja2's
// conditional branches.
Body Parse(const std::vector<Token>& tokens);

}  // namespace ferry::lm::jinja

#endif  // FERRY_CLIENT_LM_JINJA_PARSER_H_
