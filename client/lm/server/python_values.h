#ifndef FERRY_CLIENT_LM_SERVER_PYTHON_VALUES_H_
#define FERRY_CLIENT_LM_SERVER_PYTHON_VALUES_H_

// Values as Python spells them, for tool calls as mlx-lm reads and writes them: its parsers
// read argument values with ast.literal_eval and float(), and its server writes a call's
// arguments with json.dumps. Matching those spellings keeps ferry's replies byte for byte
// what mlx_lm.server sends.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace ferry::lm::server {

// The value of a Python literal, as ast.literal_eval gives it, as JSON: strings (quotes ' or
// ", triple quotes, escapes, r/u prefixes, adjacent strings joined), integers and floats
// (signed, with underscores, 0x/0o/0b), True/False/None, lists, tuples (as lists) and dicts
// with string keys. With json_names, true/false/null also read as JSON's (mlx-lm's pythonic
// parser does that). nullopt for anything else: a name, a call, a set, invalid syntax.
std::optional<nlohmann::ordered_json> ParsePythonLiteral(std::string_view text,
                                                         bool json_names = false);

// Python's float(text): surrounding whitespace, "inf"/"nan", underscores between digits;
// nullopt where float() raises ValueError.
std::optional<double> ParsePythonFloat(std::string_view text);

// json.dumps(value, ensure_ascii=False): ", " and ": " between items, strings in UTF-8
// with only quotes, backslashes and control characters escaped.
std::string PythonJsonDumps(const nlohmann::ordered_json& value);

// A call `name(key=value, ...)` of the pythonic tool format: its dotted name and keyword
// arguments, each a literal (ParsePythonLiteral with json_names).
struct PythonCall {
  std::string name;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
};

// text as a Python list of such calls, `[f(a=1), g.h(b="x")]`; nullopt where it is not
// one (invalid syntax, not a list, an element that is not a call or has a positional
// argument or a value that is not a literal), as mlx-lm's pythonic parser decides.
std::optional<std::vector<PythonCall>> ParsePythonCallList(std::string_view text);

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_PYTHON_VALUES_H_
