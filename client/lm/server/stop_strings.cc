#include "client/lm/server/stop_strings.h"

#include <algorithm>
#include <utility>

namespace ferry::lm::server {

size_t HeldBackLength(std::string_view text, const std::vector<std::string>& strings) {
  size_t held = 0;
  for (const std::string& s : strings) {
    if (s.empty()) continue;
    for (size_t n = std::min(s.size() - 1, text.size()); n > held; --n) {
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        held = n;
        break;
      }
    }
  }
  return held;
}

StopStrings::StopStrings(std::vector<std::string> stops) {
  for (std::string& stop : stops) {
    if (!stop.empty()) stops_.push_back(std::move(stop));
  }
}

std::string StopStrings::Add(const std::string& text) {
  if (stopped_) return "";
  pending_ += text;
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, pending_.find(stop));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string sent = pending_.substr(0, first);
    pending_.clear();
    return sent;
  }
  const size_t held = HeldBackLength(pending_, stops_);
  std::string sent = pending_.substr(0, pending_.size() - held);
  pending_.erase(0, sent.size());
  return sent;
}

std::string StopStrings::Finish() {
  std::string rest;
  rest.swap(pending_);
  return stopped_ ? "" : rest;
}

}  // namespace ferry::lm::server
