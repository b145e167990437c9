#ifndef FERRY_CLIENT_LM_LAYER_MASKS_H_
#define FERRY_CLIENT_LM_LAYER_MASKS_H_

// The position and the two masks of a model whose layers attend either over every earlier
// position or over a sliding window of them (Gemma 3, gpt-oss), each shared by the layers of
// its kind: the caches advance together.

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
};

// For `length` tokens on `device` continuing `cache` (or a whole sequence without one).
LayerMasks layer_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                       int64_t window);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LAYER_MASKS_H_
