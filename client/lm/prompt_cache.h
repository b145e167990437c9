#ifndef FERRY_CLIENT_LM_PROMPT_CACHE_H_
#define FERRY_CLIENT_LM_PROMPT_CACHE_H_

// KV caches kept from one generation to the next, with the tokens they hold: a prompt that
// begins with one's tokens (a conversation's next turn, sent whole again) prefills only what
// follows. What mlx_lm.chat's prompt_cache (one conversation) and mlx_lm.server's
// LRUPromptCache (many, the least recently used forgotten first) do.

#include <cstdint>
#include <limits>
#include <list>
#include <utility>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/model.h"

namespace ferry::lm {

class PromptCache {
 public:
  // Keeps at most `capacity` caches (at least 1), and at most `max_bytes` of them in all
  // (KVCache::nbytes; mlx_lm.server's --prompt-cache-bytes): the least recently used go
  // first, and a cache larger than that alone is not kept.
  explicit PromptCache(const Model& model, int capacity = 1,
                       int64_t max_bytes = std::numeric_limits<int64_t>::max());

  // Many conversations (a server's requests, generated in one batch):
  // The kept cache sharing the longest run of prompt's first tokens (all but the prompt's
  // last at most: it makes the first step), and the run's length: taken out when the
  // prompt continues all it holds (a conversation's next turn), else a copy of the run (a
  // shared system prompt: the original stays for its own conversation). A fresh cache and
  // 0 when none shares a token, or when the run would be cut from one whose layers cannot
  // be (arrays caches: Qwen3-Next's linear layers).
  std::pair<std::vector<KVCache>, int64_t> Take(const std::vector<int32_t>& prompt);
  // Keeps `layers`, holding `tokens`, as the most recently used.
  void Put(std::vector<int32_t> tokens, std::vector<KVCache> layers);

  // One conversation (mlx_lm.chat): Take for `prompt` into layers(), returning the tokens
  // still to feed. Point GenerateOptions::prompt_cache at layers().
  std::vector<int32_t> Prepare(const std::vector<int32_t>& prompt);
  // After that generation: `given` the tokens it gave (the cache holds the prompt and all
  // but the last); Puts it back. A failed generation calls Reset instead.
  void Finish(const std::vector<int32_t>& given);
  // Forgets every cache.
  void Reset();

  std::vector<KVCache>* layers() { return &layers_; }
  // The tokens of the last Prepare's prompt the cache already held.
  int64_t reused() const { return reused_; }
  // Caches kept, and their bytes.
  int64_t size() const { return static_cast<int64_t>(kept_.size()); }
  int64_t nbytes() const { return bytes_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    std::vector<KVCache> layers;
    int64_t nbytes;
  };

  const Model& model_;
  const size_t capacity_;
  const int64_t max_bytes_;
  int64_t bytes_ = 0;            // kept_'s
  std::list<Entry> kept_;        // most recently used first
  std::vector<KVCache> layers_;  // Prepare's, until Finish
  std::vector<int32_t> tokens_;  // what layers_ holds (or will, once Finish is called)
  int64_t reused_ = 0;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PROMPT_CACHE_H_
