#include "client/lm/server/chat_reply.h"

#include <cstdio>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/lm/server/python_values.h"
#include "client/lm/server/tool_parsers.h"

namespace ferry::lm::server {
namespace {

using Json = nlohmann::ordered_json;

// A random UUID (version 4) as Python's str(uuid.uuid4()): a call's id where the model
// gave none.
std::string Uuid4() {
  static thread_local std::mt19937_64 bits{std::random_device{}()};
  const uint64_t high = (bits() & ~uint64_t{0xF000}) | 0x4000;
  const uint64_t low = (bits() & ~(uint64_t{3} << 62)) | (uint64_t{2} << 62);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xFFFF,
                         high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFFull);
}

// Python's truthiness of a JSON value.
bool Truthy(const Json& value) {
  if (value.is_null()) return false;
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number()) return value.get<double>() != 0;
  return !value.empty();  // a string, list or dict
}

}  // namespace

ChatReply::ChatReply(const ReplyFormat& format, ReplyState initial, Json tools, bool streaming)
    : format_(format),
      tools_(std::move(tools)),
      streaming_(streaming),
      splitter_(format, initial),
      state_(initial) {}

void ChatReply::Add(const std::string& text) {
  for (const ReplySegment& segment : splitter_.Add(text)) Append(segment);
}

void ChatReply::Finish() {
  Append(splitter_.Flush());
  if (state_ == ReplyState::kTool && !call_text_.empty()) CloseCall();
}

void ChatReply::Append(const ReplySegment& segment) {
  switch (segment.state) {
    case ReplyState::kReasoning:
      part_.reasoning += segment.text;
      break;
    case ReplyState::kTool:
      call_text_ += segment.text;
      break;
    case ReplyState::kNormal:
      if (state_ == ReplyState::kTool) CloseCall();
      part_.content += segment.text;
      break;
  }
  state_ = segment.state;
}

// mlx_lm.server's ToolCallFormatter on one call's text.
void ChatReply::CloseCall() {
  made_tool_call_ = true;
  std::string text;
  text.swap(call_text_);
  std::vector<Json> calls;
  try {
    calls = ParseToolCall(*format_.tool_parser, text, tools_);
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr,
                 "ferry_lm_server: failed to parse tool call (%s) - tool text was likely "
                 "truncated mid-generation.\n",
                 error.what());
    return;
  }
  for (Json& function : calls) {
    Json id = function.contains("id") ? function["id"] : Json();
    function.erase("id");
    function["arguments"] = PythonJsonDumps(function["arguments"]);
    Json call = {{"function", std::move(function)},
                 {"type", "function"},
                 {"id", Truthy(id) ? id : Json(Uuid4())}};
    if (streaming_) call["index"] = next_index_++;
    part_.tool_calls.push_back(std::move(call));
  }
}

ChatReply::Part ChatReply::Take() {
  Part taken = std::move(part_);
  part_ = Part();
  return taken;
}

}  // namespace ferry::lm::server
