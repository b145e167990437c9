#include "client/lm/server/stop_strings.h"

#include <algorithm>
#include <utility>

namespace ferry::lm::server {

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
  // The longest end of the text that begins some stop string stays back. A stop string
  // starts with a whole character, so what is sent ends on one.
  size_t held = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, pending_.size()); n > held; --n) {
      if (pending_.compare(pending_.size() - n, n, stop, 0, n) == 0) {
        held = n;
        break;
      }
    }
  }
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
