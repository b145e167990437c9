#ifndef FERRY_CLIENT_LM_LAYER_MASKS_H_
#define FERRY_CLIENT_LM_LAYER_MASKS_H_

// The position and the masks a model's layers share (the caches advance together): one
// mask when every layer attends over every earlier position, two when some attend over a
// sliding window of them (Gemma 3, gpt-oss).

#include <cstdint>
#include <optional>
#include <vector>

#include "client/array.h"
#include "client/lm/kv_cache.h"

namespace ferry::lm {

struct LayerMasks {
  std::optional<Array> position;  // the cache's offset_array(), none without a cache
  // With a cache, make_mask without the window from a plain cache and with it from a
  // rotating one (from the first cache where none is of that kind). Without one, no global
  // mask (fast::scaled_dot_product_attention's "causal"), and no sliding one either while
  // the window covers the whole sequence (as mlx-lm's create_attention_mask).
  std::optional<Array> global, sliding;
  // chunked_masks' for the layers within chunks (Llama 4's local layers).
  std::optional<Array> chunked;
  // hybrid_masks' for the layers keeping arrays caches: KVCache::arrays_mask.
  std::optional<Array> arrays;
};

// For `length` tokens on `device` continuing `cache` (or a whole sequence without one).
LayerMasks layer_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                       int64_t window);
// Every layer over every earlier position: `global` only. With `as_array`, a whole sequence
// gets the causal mask as an array too (mlx-lm's return_array: attention composed of ops,
// as Gemma 2's soft cap and DeepSeek's latent scores, takes no "causal").
LayerMasks causal_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                        bool as_array = false);
// Some layers over every earlier position (`global`, from a cache that is not chunked), the
// others (`chunked`) over the earlier positions of the query's own chunk of `chunk_size`
// (mlx-lm's llama4 chunk_mask): from a chunked cache where there is one, else over a plain
// cache's positions; without a cache, none while one chunk covers the whole sequence.
LayerMasks chunked_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                         int64_t chunk_size);
// A hybrid's (Qwen3-Next, LFM2, Granite 4.0, Nemotron-H, Kimi Linear): its attention layers'
// position and `global` mask from the first cache that is not an arrays cache (the position
// from the first cache where none is), and its recurrent layers' mask (`arrays`, a batch's
// padding) from the first arrays cache. Without a cache, causal_masks' with `as_array`.
LayerMasks hybrid_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                        bool as_array = false);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LAYER_MASKS_H_
