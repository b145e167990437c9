#ifndef FERRY_CLIENT_LM_SERVER_TOOL_PARSERS_H_
#define FERRY_CLIENT_LM_SERVER_TOOL_PARSERS_H_

// The tool-call formats models write, read as mlx-lm's tool_parsers read them. A model
// marks each call (Qwen's "<tool_call>...</tool_call>", Mistral's "[TOOL_CALLS]..."); the
// text between the markers goes to the format's parser, which gives the calls.

#include <optional>
#include <string>
#include <vector>

#include "client/lm/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::server {

struct ToolParser {
  // mlx-lm's module name, as tokenizer_config.json's "tool_parser_type" names it:
  //   json_tools:  <tool_call>{"name": ..., "arguments": {...}}</tool_call> (Hermes, Qwen2.5,
  //                Qwen3), a JSON object or a list of them.
  //   qwen3_coder: <tool_call><function=NAME><parameter=KEY>VALUE</parameter>...</function>
  //                </tool_call>, values typed by the tool's JSON schema.
  //   mistral:     [TOOL_CALLS] then [{"name", "arguments"}, ...] or NAME[ARGS]{...} (repeated),
  //                to the end of the reply.
  //   pythonic:    <|tool_call_start|>[name(key=value, ...), ...]<|tool_call_end|> (LFM2).
  std::string name;
  std::string call_start;
  std::string call_end;  // empty: a call runs to the end of the reply
};

// The parser of that name; nullopt for one of mlx-lm's that ferry does not read (gemma4,
// glm47, kimi_k2, minimax_m2, ...) or an unknown name.
std::optional<ToolParser> FindToolParser(const std::string& name);

// mlx-lm's _infer_tool_parser: the parser a model's chat template implies (by the markers it
// writes, checked in mlx-lm's order), else its vocabulary; "" where neither implies one.
// Names of parsers FindToolParser lacks are returned too.
std::string InferToolParserName(const std::string& chat_template, const Tokenizer& tokenizer);

// The calls in the text between a call's markers: objects {"name", "arguments": {...}} (and
// "id", or whatever else the model wrote beside them in the JSON formats). `tools` (the
// request's, or null) types qwen3_coder's values. Throws std::invalid_argument where
// mlx-lm's parser raises (malformed or truncated text), or where mlx_lm.server would fail
// on what the parser gives (a call that is not an object with "arguments").
std::vector<nlohmann::ordered_json> ParseToolCall(const ToolParser& parser, const std::string& text,
                                                  const nlohmann::ordered_json& tools);

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_TOOL_PARSERS_H_
