#include "client/lm/prompt_cache.h"

#include "client/array_node.h"

namespace ferry::lm {

std::vector<int32_t> PromptCache::Prepare(const std::vector<int32_t>& prompt) {
  if (prompt.empty()) detail::ThrowOpError("PromptCache", "the prompt holds no tokens.");
  size_t kept = 0;
  const bool intact =
      !layers_.empty() && layers_.front().offset() == static_cast<int64_t>(tokens_.size());
  if (intact) {
    while (kept < tokens_.size() && kept + 1 < prompt.size() && tokens_[kept] == prompt[kept]) {
      ++kept;
    }
    for (KVCache& layer : layers_) layer.trim(layer.offset() - static_cast<int64_t>(kept));
  } else {
    layers_ = model_.make_cache();
  }
  tokens_ = prompt;
  reused_ = static_cast<int64_t>(kept);
  return std::vector<int32_t>(prompt.begin() + static_cast<std::ptrdiff_t>(kept), prompt.end());
}

void PromptCache::Finish(const std::vector<int32_t>& given) {
  if (!given.empty()) tokens_.insert(tokens_.end(), given.begin(), given.end() - 1);
  if (layers_.empty() || layers_.front().offset() != static_cast<int64_t>(tokens_.size())) {
    Reset();  // not what it should hold: start afresh next time
  }
}

void PromptCache::Reset() {
  layers_.clear();
  tokens_.clear();
}

}  // namespace ferry::lm
