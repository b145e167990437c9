#ifndef FERRY_CLIENT_LM_SERVER_REPLY_SPLITTER_H_
#define FERRY_CLIENT_LM_SERVER_REPLY_SPLITTER_H_

#include <string>
#include <vector>

#include "client/lm/server/reply_format.h"

namespace ferry::lm::server {

enum class ReplyState { kNormal, kReasoning, kTool };

// A piece of a reply's text and the part it belongs to.
struct ReplySegment {
  ReplyState state;
  std::string text;
};

// A chat reply's text as it streams, split into its normal text, its reasoning and its tool
// calls' text, with the markers between them taken out: mlx-lm's TextStateMachine.
// Normal text moves to reasoning at the thinking start, and to a tool call at the parser's
// call start; reasoning moves back at the thinking end, or to a tool call; a tool call moves
// back to normal at the call end (without one it runs to the end of the reply). A marker may
// arrive split across several Adds: an end of the text that may begin one is held back.
class ReplySplitter {
 public:
  ReplySplitter(const ReplyFormat& format, ReplyState initial);

  // Appends text (whole UTF-8 characters). Returns one segment per state the text passed
  // through, in order, the last for the state now (each may be empty).
  std::vector<ReplySegment> Add(const std::string& text);
  // What was held back, in the state now, once the reply has ended.
  ReplySegment Flush();
  ReplyState state() const { return state_; }

 private:
  struct Transition {
    std::string marker;
    ReplyState to;
  };
  const std::vector<Transition>& From(ReplyState state) const;

  std::vector<Transition> normal_, reasoning_, tool_;
  ReplyState state_;
  std::string pending_;
};

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_REPLY_SPLITTER_H_
