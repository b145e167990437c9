#ifndef FERRY_CLIENT_LM_SERVER_CHAT_REPLY_H_
#define FERRY_CLIENT_LM_SERVER_CHAT_REPLY_H_

// A chat reply's OpenAI fields from the text a model generates, as mlx_lm.server assembles
// them: `content`, `reasoning`, and `tool_calls` ({"id", "type": "function", "function":
// {"name", "arguments": a JSON string}}, with "index" when streamed).

#include <string>

#include "client/lm/server/reply_format.h"
#include "client/lm/server/reply_splitter.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::server {

class ChatReply {
 public:
  // `tools` is the request's (or null); `streaming` numbers the calls with "index".
  ChatReply(const ReplyFormat& format, ReplyState initial, nlohmann::ordered_json tools,
            bool streaming);

  // Appends generated text (whole UTF-8 characters). A tool call's text is parsed once its
  // end marker has arrived.
  void Add(const std::string& text);
  // The reply has ended: the held-back text is added, and a call still open (a format
  // without an end marker, or a reply cut short) is parsed.
  void Finish();

  // What was added since the last Take. A call that does not parse (invalid or truncated
  // text) is logged to stderr and left out, as mlx_lm.server does: its text is in no field.
  struct Part {
    std::string content;
    std::string reasoning;
    nlohmann::ordered_json tool_calls = nlohmann::ordered_json::array();
    bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
  };
  Part Take();

  // Whether the text is inside a tool call now (a stream sends nothing until it ends).
  bool in_tool_call() const { return state_ == ReplyState::kTool; }
  // Whether any call's text was seen, parsed or not: mlx_lm.server then ends the reply
  // with finish_reason "tool_calls" instead of "stop".
  bool made_tool_call() const { return made_tool_call_; }

 private:
  void Append(const ReplySegment& segment);
  void CloseCall();

  const ReplyFormat& format_;
  const nlohmann::ordered_json tools_;
  const bool streaming_;
  ReplySplitter splitter_;
  ReplyState state_;
  std::string call_text_;
  bool made_tool_call_ = false;
  int next_index_ = 0;
  Part part_;
};

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_CHAT_REPLY_H_
