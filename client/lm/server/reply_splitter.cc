#include "client/lm/server/reply_splitter.h"

#include <utility>

#include "client/lm/server/stop_strings.h"

namespace ferry::lm::server {

ReplySplitter::ReplySplitter(const ReplyFormat& format, ReplyState initial) : state_(initial) {
  if (format.has_thinking()) {
    normal_.push_back({format.think_start, ReplyState::kReasoning});
    reasoning_.push_back({format.think_end, ReplyState::kNormal});
  }
  if (format.has_tool_calling()) {
    normal_.push_back({format.tool_parser->call_start, ReplyState::kTool});
    if (format.has_thinking())
      reasoning_.push_back({format.tool_parser->call_start, ReplyState::kTool});
    if (!format.tool_parser->call_end.empty()) {
      tool_.push_back({format.tool_parser->call_end, ReplyState::kNormal});
    }
  }
}

const std::vector<ReplySplitter::Transition>& ReplySplitter::From(ReplyState state) const {
  return state == ReplyState::kNormal      ? normal_
         : state == ReplyState::kReasoning ? reasoning_
                                           : tool_;
}

std::vector<ReplySegment> ReplySplitter::Add(const std::string& text) {
  pending_ += text;
  std::vector<ReplySegment> segments;
  for (;;) {
    // The marker that is complete first (the longest where several end at one place), as
    // mlx-lm's automaton finds it.
    const Transition* next = nullptr;
    size_t next_at = std::string::npos, next_end = std::string::npos;
    for (const Transition& t : From(state_)) {
      const size_t at = pending_.find(t.marker);
      if (at == std::string::npos) continue;
      const size_t end = at + t.marker.size();
      if (next == nullptr || end < next_end || (end == next_end && at < next_at)) {
        next = &t;
        next_at = at;
        next_end = end;
      }
    }
    if (next == nullptr) break;
    segments.push_back({state_, pending_.substr(0, next_at)});
    pending_.erase(0, next_end);
    state_ = next->to;
  }
  std::vector<std::string> markers;
  for (const Transition& t : From(state_)) markers.push_back(t.marker);
  const size_t held = HeldBackLength(pending_, markers);
  segments.push_back({state_, pending_.substr(0, pending_.size() - held)});
  pending_.erase(0, pending_.size() - held);
  return segments;
}

ReplySegment ReplySplitter::Flush() {
  ReplySegment rest{state_, std::move(pending_)};
  pending_.clear();
  return rest;
}

}  // namespace ferry::lm::server
