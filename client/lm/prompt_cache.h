#ifndef FERRY_CLIENT_LM_PROMPT_CACHE_H_
#define FERRY_CLIENT_LM_PROMPT_CACHE_H_

// A KV cache kept from one generation to the next, with the tokens it holds: a prompt that
// begins with them (a conversation's next turn, sent whole again) prefills only what
// follows. What mlx_lm.server's prompt cache and mlx_lm.chat's prompt_cache do.

#include <cstdint>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/model.h"

namespace ferry::lm {

class PromptCache {
 public:
  explicit PromptCache(const Model& model) : model_(model) {}

  // For a generation from `prompt`: keeps the cache's longest run of prompt's first tokens
  // (all but the prompt's last token at most: it makes the first step), forgets the rest,
  // and returns the tokens still to feed. Point GenerateOptions::prompt_cache at layers().
  std::vector<int32_t> Prepare(const std::vector<int32_t>& prompt);
  // After that generation: `given` the tokens it gave (the cache holds the prompt and all
  // but the last). A failed generation calls Reset instead.
  void Finish(const std::vector<int32_t>& given);
  void Reset();

  std::vector<KVCache>* layers() { return &layers_; }
  // The tokens of the last Prepare's prompt the cache already held.
  int64_t reused() const { return reused_; }

 private:
  const Model& model_;
  std::vector<KVCache> layers_;
  std::vector<int32_t> tokens_;  // what layers_ holds (or will, once Finish is called)
  int64_t reused_ = 0;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PROMPT_CACHE_H_
