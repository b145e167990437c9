#include "client/lm/prompt_cache.h"

#include <algorithm>

#include "client/array_node.h"

namespace ferry::lm {

PromptCache::PromptCache(const Model& model, int capacity, int64_t max_bytes)
    : model_(model), capacity_(static_cast<size_t>(std::max(capacity, 1))), max_bytes_(max_bytes) {}

std::pair<std::vector<KVCache>, int64_t> PromptCache::Take(const std::vector<int32_t>& prompt) {
  if (prompt.empty()) detail::ThrowOpError("PromptCache", "the prompt holds no tokens.");
  auto best = kept_.end();
  size_t best_kept = 0;
  for (auto it = kept_.begin(); it != kept_.end(); ++it) {
    const std::vector<int32_t>& tokens = it->tokens;
    size_t kept = 0;
    while (kept < tokens.size() && kept + 1 < prompt.size() && tokens[kept] == prompt[kept]) {
      ++kept;
    }
    // A cache the prompt continues whole is taken; one it shares a beginning with gives a
    // copy of it where its layers can be cut back: not a rotating layer's ring that wrapped
    // (it no longer holds a shorter beginning's window), nor a linear layer's state (an
    // arrays cache).
    const bool whole = kept == tokens.size();
    if (kept > best_kept &&
        (whole || std::none_of(it->layers.begin(), it->layers.end(), [](const KVCache& layer) {
           return (layer.max_size() && layer.offset() > *layer.max_size()) || !layer.is_trimmable();
         }))) {
      best = it;
      best_kept = kept;
    }
  }
  if (best == kept_.end()) return {model_.make_cache(), 0};
  const int64_t kept = static_cast<int64_t>(best_kept);
  if (best_kept < best->tokens.size()) {
    // Another conversation's, sharing a beginning (a system prompt): a copy of that part,
    // the whole kept for its own next turn.
    std::vector<KVCache> copy;
    for (const KVCache& layer : best->layers) {
      if (!layer.bits()) {
        copy.push_back(layer.extract(0, kept));
        continue;
      }
      // A quantized cache has no batch moves; its buffers are values, so a copy trimmed
      // back writes its own.
      copy.push_back(layer);
      copy.back().trim(layer.offset() - kept);
    }
    return {std::move(copy), kept};
  }
  std::vector<KVCache> layers = std::move(best->layers);
  bytes_ -= best->nbytes;
  kept_.erase(best);
  return {std::move(layers), kept};
}

void PromptCache::Put(std::vector<int32_t> tokens, std::vector<KVCache> layers) {
  // Only a cache holding exactly its tokens is worth keeping.
  if (layers.empty() || layers.front().rows() != 1 ||
      layers.front().offset() != static_cast<int64_t>(tokens.size())) {
    return;
  }
  int64_t nbytes = 0;
  for (const KVCache& layer : layers) nbytes += layer.nbytes();
  kept_.push_front(Entry{std::move(tokens), std::move(layers), nbytes});
  bytes_ += nbytes;
  while (!kept_.empty() && (kept_.size() > capacity_ || bytes_ > max_bytes_)) {
    bytes_ -= kept_.back().nbytes;
    kept_.pop_back();
  }
}

std::vector<int32_t> PromptCache::Prepare(const std::vector<int32_t>& prompt) {
  auto [layers, kept] = Take(prompt);
  layers_ = std::move(layers);
  tokens_ = prompt;
  reused_ = kept;
  return std::vector<int32_t>(prompt.begin() + static_cast<std::ptrdiff_t>(kept), prompt.end());
}

void PromptCache::Finish(const std::vector<int32_t>& given) {
  if (!given.empty()) tokens_.insert(tokens_.end(), given.begin(), given.end() - 1);
  Put(std::move(tokens_), std::move(layers_));
  tokens_.clear();
  layers_.clear();
}

void PromptCache::Reset() {
  kept_.clear();
  bytes_ = 0;
  layers_.clear();
  tokens_.clear();
}

}  // namespace ferry::lm
