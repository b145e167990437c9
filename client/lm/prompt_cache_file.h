#ifndef FERRY_CLIENT_LM_PROMPT_CACHE_FILE_H_
#define FERRY_CLIENT_LM_PROMPT_CACHE_FILE_H_

// mlx-lm's save_prompt_cache and load_prompt_cache: a model's caches, filled by a prefill
// (a long system prompt, a document), in a .safetensors file that mlx_lm.cache_prompt writes
// and mlx_lm.generate --prompt-cache-file reads, so a prompt is computed once and reused by
// either. The file holds each layer's state as mlx-lm's cache classes hold it (KVCache,
// QuantizedKVCache, RotatingKVCache, ChunkedKVCache, ArraysCache), their class names and the
// metadata.
//
//   std::vector<KVCache> cache = make_prompt_cache(*model);
//   (*model)(prompt_tokens, &cache);
//   save_prompt_cache("system.safetensors", cache, {{"model", model_path}});
//   auto [loaded, metadata] = load_prompt_cache("system.safetensors");

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "client/device.h"
#include "client/lm/kv_cache.h"

namespace ferry::lm {

// Writes the caches (evaluated first) and `metadata`. Throws INVALID_ARGUMENT for a batch's
// caches (write one sequence's).
void save_prompt_cache(const std::string& path, const std::vector<KVCache>& cache,
                       const std::map<std::string, std::string>& metadata = {});

// The caches a file holds, on `device`, and its metadata. Throws NOT_FOUND for a file that
// cannot be read, INVALID_ARGUMENT for one that is not a prompt cache (naming what is
// missing or malformed) and UNIMPLEMENTED for a cache class ferry does not build.
std::pair<std::vector<KVCache>, std::map<std::string, std::string>> load_prompt_cache(
    const std::string& path, const Device& device = default_device());

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PROMPT_CACHE_FILE_H_
