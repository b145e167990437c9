#include "client/lm/server/tool_parsers.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/server/python_values.h"

namespace ferry::lm::server {
namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void Fail(const std::string& message) { throw std::invalid_argument(message); }

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
// regex's \w, with any non-ASCII byte taken as part of a letter.
bool IsWord(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<Json> ParseJson(std::string_view text) {
  Json value = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

// Where the JSON value starting at text[pos] ends (json.JSONDecoder.raw_decode's end):
// brackets balanced outside strings, or the end of a scalar. npos where it never closes.
size_t JsonValueEnd(std::string_view text, size_t pos) {
  if (pos >= text.size()) return std::string_view::npos;
  if (text[pos] == '"' || text[pos] == '{' || text[pos] == '[') {
    int depth = 0;
    bool in_string = false;
    for (size_t i = pos; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
          if (depth == 0) return i + 1;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return std::string_view::npos;
  }
  size_t end = pos;
  while (end < text.size() && !IsSpace(text[end]) &&
         std::string_view(",]}:").find(text[end]) == std::string_view::npos) {
    ++end;
  }
  return end;
}

// ---- json_tools: json.loads(text.strip()) ----

std::vector<Json> ParseJsonTools(const std::string& text) {
  std::optional<Json> value = ParseJson(Strip(text));
  if (!value) Fail(absl::StrCat("tool call is not valid JSON: ", text));
  if (value->is_array()) return std::vector<Json>(value->begin(), value->end());
  return {std::move(*value)};
}

// ---- qwen3_coder ----

// The tool's parameters.properties, for the function called `name`.
Json ArgumentsConfig(const std::string& name, const Json& tools) {
  if (!tools.is_array()) return Json::object();
  for (const Json& tool : tools) {
    if (!tool.is_object()) continue;
    auto function = tool.find("function");
    if (function == tool.end() || !function->is_object()) continue;
    if (function->value("name", Json()) != name) continue;
    auto parameters = function->find("parameters");
    if (parameters == function->end() || !parameters->is_object()) return Json::object();
    auto properties = parameters->find("properties");
    return properties != parameters->end() && properties->is_object() ? *properties
                                                                      : Json::object();
  }
  return Json::object();
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// A number as Python's int() of a whole float gives it; beyond int64 the float stays.
Json WholeNumber(double value) {
  if (std::fabs(value) < 9.2e18) return static_cast<int64_t>(value);
  return value;
}

// _convert_param_value: the value's type from the tool's schema.
Json ConvertParameter(const std::string& value, const std::string& name, const Json& config) {
  std::string lower = value;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "null") return nullptr;
  auto param = config.find(name);
  if (param == config.end() || param->is_null() || (param->is_object() && param->empty()) ||
      (param->is_boolean() && !param->get<bool>())) {
    return value;
  }
  if (!param->is_object() || !param->contains("type")) {
    std::optional<Json> parsed = ParseJson(value);
    return parsed && (parsed->is_object() || parsed->is_array()) ? *parsed : Json(value);
  }
  const Json& type_value = (*param)["type"];
  std::string type = type_value.is_string() ? type_value.get<std::string>() : type_value.dump();
  type = std::string(Strip(type));
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (type == "string" || type == "str" || type == "text" || type == "varchar" || type == "char" ||
      type == "enum") {
    return value;
  }
  if (StartsWith(type, "int") || StartsWith(type, "uint") || StartsWith(type, "long") ||
      StartsWith(type, "short") || StartsWith(type, "unsigned")) {
    const std::optional<double> number = ParsePythonFloat(value);
    if (!number || !std::isfinite(*number) || *number != std::trunc(*number)) {
      Fail(absl::StrCat("Invalid integer literal '", value, "'"));
    }
    return WholeNumber(*number);
  }
  if (StartsWith(type, "num") || StartsWith(type, "float")) {
    const std::optional<double> number = ParsePythonFloat(value);
    if (!number || !std::isfinite(*number)) {
      Fail(absl::StrCat("could not convert string to float: '", value, "'"));
    }
    return *number == std::trunc(*number) ? WholeNumber(*number) : Json(*number);
  }
  if (type == "boolean" || type == "bool" || type == "binary") return lower == "true";
  if (type == "object" || type == "array" || type == "arr" || StartsWith(type, "dict") ||
      StartsWith(type, "list")) {
    if (std::optional<Json> parsed = ParseJson(value)) return *parsed;
  }
  if (std::optional<Json> literal = ParsePythonLiteral(value)) return *literal;
  return value;
}

// _name_regex.match: `\s*([^\s<>]+)>?` at the start of text; the name and where the match
// ends, or nullopt.
std::optional<std::pair<std::string, size_t>> MatchName(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && IsSpace(text[i])) ++i;
  const size_t begin = i;
  while (i < text.size() && !IsSpace(text[i]) && text[i] != '<' && text[i] != '>') ++i;
  if (i == begin) return std::nullopt;
  std::string name(text.substr(begin, i - begin));
  if (i < text.size() && text[i] == '>') ++i;
  return std::make_pair(std::move(name), i);
}

std::vector<Json> ParseQwen3Coder(const std::string& text, const Json& tools) {
  // `<function=(.*?)</function>$`: from the first "<function=" to a "</function>" that ends
  // the text (or is followed by its last newline).
  constexpr std::string_view kOpen = "<function=", kClose = "</function>";
  std::string_view body = text;
  if (!body.empty() && body.back() == '\n' && EndsWith(body.substr(0, body.size() - 1), kClose)) {
    body.remove_suffix(1);
  }
  const size_t open = text.find(kOpen);
  if (open == std::string::npos || !EndsWith(body, kClose) ||
      body.size() - kClose.size() < open + kOpen.size()) {
    Fail("No function provided.");
  }
  const std::string_view call =
      body.substr(open + kOpen.size(), body.size() - kClose.size() - open - kOpen.size());
  auto name = MatchName(call);
  if (!name) Fail("No function provided.");
  const Json config = ArgumentsConfig(name->first, tools);
  const std::string_view parameters = call.substr(name->second);
  Json arguments = Json::object();
  constexpr std::string_view kParamOpen = "<parameter=", kParamClose = "</parameter>";
  for (size_t at = parameters.find(kParamOpen); at != std::string_view::npos;) {
    const size_t begin = at + kParamOpen.size();
    const size_t end = parameters.find(kParamClose, begin);
    if (end == std::string_view::npos) break;
    const std::string_view match = parameters.substr(begin, end - begin);
    at = parameters.find(kParamOpen, end + kParamClose.size());
    auto param = MatchName(match);
    if (!param) continue;
    std::string_view value = match.substr(param->second);
    if (!value.empty() && value.front() == '\n') value.remove_prefix(1);
    if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
    arguments[param->first] = ConvertParameter(std::string(value), param->first, config);
  }
  return {Json{{"name", name->first}, {"arguments", std::move(arguments)}}};
}

// ---- mistral ----

// `[{"name", "arguments"}, ...]`; empty where the text is not a JSON list, and throws where
// it is one but not of tool calls.
std::vector<Json> ParseMistralJson(const std::string& text) {
  std::optional<Json> payload = ParseJson(text);
  if (!payload || !payload->is_array()) return {};
  std::vector<Json> calls;
  for (const Json& call : *payload) {
    Json name, arguments;
    if (call.is_object()) {
      name = call.value("name", Json());
      arguments = call.contains("arguments") ? call["arguments"] : Json::object();
      if (arguments.is_string()) {  // some templates write the arguments as a JSON string
        std::optional<Json> parsed = ParseJson(arguments.get<std::string>());
        arguments = parsed ? *parsed : Json();
      }
    }
    if (!name.is_string() || !arguments.is_object()) {
      Fail(absl::StrCat("Could not parse tool call from: ", text));
    }
    Json parsed = {{"name", name}, {"arguments", arguments}};
    if (call.contains("id") && call["id"].is_string()) parsed["id"] = call["id"];
    calls.push_back(std::move(parsed));
  }
  return calls;
}

// `name[ARGS]{...}`, repeated: `([\w-]+)\s*\[ARGS\]\s*` then one JSON value.
std::vector<Json> ParseMistralHeaders(const std::string& text) {
  auto is_name = [](char c) { return IsWord(c) || c == '-'; };
  std::vector<Json> calls;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!is_name(text[pos])) {
      ++pos;
      continue;
    }
    const size_t begin = pos;
    size_t end = pos;
    while (end < text.size() && is_name(text[end])) ++end;
    size_t at = end;
    while (at < text.size() && IsSpace(text[at])) ++at;
    if (text.compare(at, 6, "[ARGS]") != 0) {
      pos = end;
      continue;
    }
    at += 6;
    while (at < text.size() && IsSpace(text[at])) ++at;
    const size_t value_end = JsonValueEnd(text, at);
    std::optional<Json> arguments;
    if (value_end != std::string::npos) {
      arguments = ParseJson(std::string_view(text).substr(at, value_end - at));
    }
    if (!arguments) Fail(absl::StrCat("Could not parse tool call from: ", text));
    calls.push_back(Json{{"name", text.substr(begin, end - begin)}, {"arguments", *arguments}});
    pos = value_end;
  }
  return calls;
}

std::vector<Json> ParseMistral(const std::string& text) {
  std::vector<Json> calls = ParseMistralJson(text);
  if (calls.empty()) calls = ParseMistralHeaders(text);
  if (calls.empty()) Fail(absl::StrCat("Could not parse tool call from: ", text));
  return calls;
}

// ---- pythonic ----

// The regex fallback for text that is not a list of calls: `\[([\w.]+)\((.*?)\)\]`, its
// arguments read one `key=value` at a time.
std::vector<Json> ParsePythonicByPattern(const std::string& text) {
  for (size_t open = text.find('['); open != std::string::npos; open = text.find('[', open + 1)) {
    size_t i = open + 1;
    while (i < text.size() && (IsWord(text[i]) || text[i] == '.')) ++i;
    if (i == open + 1 || i >= text.size() || text[i] != '(') continue;
    const size_t close = text.find(")]", i + 1);
    if (close == std::string::npos) continue;
    const std::string name = text.substr(open + 1, i - open - 1);
    const std::string args = text.substr(i + 1, close - i - 1);
    Json arguments = Json::object();
    // `(\w+)=(?:"([^"]*)"|'([^']*)'|([^,]+))(?:,\s*|$)`, found left to right.
    size_t p = 0;
    while (p < args.size()) {
      size_t key_end = p;
      while (key_end < args.size() && IsWord(args[key_end])) ++key_end;
      if (key_end == p || key_end >= args.size() || args[key_end] != '=') {
        ++p;
        continue;
      }
      const size_t v = key_end + 1;
      auto separator_end = [&](size_t at) -> size_t {  // `(?:,\s*|$)`; npos: no match
        if (at < args.size() && args[at] == ',') {
          ++at;
          while (at < args.size() && IsSpace(args[at])) ++at;
          return at;
        }
        if (at == args.size() || (at + 1 == args.size() && args[at] == '\n')) return at;
        return std::string::npos;
      };
      std::string value;
      bool bare = false;
      size_t next = std::string::npos;
      for (const char quote : {'"', '\''}) {
        if (v < args.size() && args[v] == quote) {
          const size_t end = args.find(quote, v + 1);
          if (end != std::string::npos && (next = separator_end(end + 1)) != std::string::npos) {
            value = args.substr(v + 1, end - v - 1);
            break;
          }
        }
      }
      if (next == std::string::npos) {
        const size_t comma = std::min(args.find(',', v), args.size());
        if (comma == v) {
          ++p;
          continue;
        }
        value = args.substr(v, comma - v);
        next = separator_end(comma);
        bare = true;
      }
      const std::string key = args.substr(p, key_end - p);
      const std::string_view literal = bare ? Strip(value) : std::string_view(value);
      std::optional<Json> parsed = ParsePythonLiteral(literal);
      arguments[key] = parsed ? *parsed : Json(std::string(literal));
      p = next;
    }
    return {Json{{"name", name}, {"arguments", std::move(arguments)}}};
  }
  Fail("No function provided.");
}

std::vector<Json> ParsePythonic(const std::string& text) {
  const size_t start = text.find('['), end = text.rfind(']');
  if (start != std::string::npos && end != std::string::npos && end > start) {
    if (auto calls = ParsePythonCallList(std::string_view(text).substr(start, end - start + 1))) {
      std::vector<Json> parsed;
      for (PythonCall& call : *calls) {
        parsed.push_back(Json{{"name", call.name}, {"arguments", std::move(call.arguments)}});
      }
      return parsed;
    }
  }
  return ParsePythonicByPattern(text);
}

}  // namespace

std::optional<ToolParser> FindToolParser(const std::string& name) {
  if (name == "json_tools" || name == "qwen3_coder") {
    return ToolParser{name, "<tool_call>", "</tool_call>"};
  }
  if (name == "mistral") return ToolParser{name, "[TOOL_CALLS]", ""};
  if (name == "pythonic") return ToolParser{name, "<|tool_call_start|>", "<|tool_call_end|>"};
  return std::nullopt;
}

std::string InferToolParserName(const std::string& t, const Tokenizer& tokenizer) {
  auto has = [&](const char* marker) { return t.find(marker) != std::string::npos; };
  if (!t.empty()) {
    if (has("<minimax:tool_call>")) return "minimax_m2";
    if (has("<|tool_call>") && has("<tool_call|>")) return "gemma4";
    if (has("<start_function_call>")) return "function_gemma";
    if (has("<longcat_tool_call>")) return "longcat";
    if (has("<arg_key>")) return "glm47";
    if (has("<|tool_list_start|>") || has("<|tool_call_start|>")) return "pythonic";
    if (has("<tool_call>\\n<function=") || has("<tool_call>\n<function=")) return "qwen3_coder";
    if (has("<|tool_calls_section_begin|>")) return "kimi_k2";
    if (has("<function name=\"") && has("<param name=\"")) return "minicpm5";
    if (has("[TOOL_CALLS]")) return "mistral";
    if (has("<atem:function_calls>")) return "muse_spark";
    if (has("<tool_call>") && has("tool_call.name")) return "json_tools";
  }
  auto in_vocab = [&](const char* token) { return tokenizer.token_to_id(token).has_value(); };
  if (in_vocab("<|open|>") && in_vocab("<|close|>") && in_vocab("<|sep|>") &&
      in_vocab("<|end_of_msg|>")) {
    return "kimi_k3";
  }
  if (in_vocab("<|tool_call_start|>") && in_vocab("<|tool_call_end|>")) return "pythonic";
  return "";
}

std::vector<Json> ParseToolCall(const ToolParser& parser, const std::string& text,
                                const Json& tools) {
  std::vector<Json> calls;
  if (parser.name == "json_tools") {
    calls = ParseJsonTools(text);
  } else if (parser.name == "qwen3_coder") {
    calls = ParseQwen3Coder(text, tools);
  } else if (parser.name == "mistral") {
    calls = ParseMistral(text);
  } else if (parser.name == "pythonic") {
    calls = ParsePythonic(text);
  } else {
    Fail(absl::StrCat("no tool parser ", parser.name));
  }
  for (const Json& call : calls) {
    if (!call.is_object() || !call.contains("arguments")) {
      Fail(absl::StrCat("tool call is not an object with \"arguments\": ", call.dump()));
    }
  }
  return calls;
}

}  // namespace ferry::lm::server
