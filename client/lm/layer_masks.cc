#include "client/lm/layer_masks.h"

#include "client/ops.h"

namespace ferry::lm {

LayerMasks layer_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                       int64_t window) {
  LayerMasks masks;
  if (cache) {
    // Each kind's mask from a cache of its kind: make_prompt_cache gives the sliding layers
    // rotating caches (their masks cover the ring) and the others plain ones.
    const KVCache& first = cache->front();
    auto of_kind = [&](bool rotating) -> const KVCache& {
      for (const KVCache& c : *cache) {
        if (c.max_size().has_value() == rotating) return c;
      }
      return first;
    };
    masks.position = first.offset_array(device);
    masks.global = of_kind(false).make_mask(length, *masks.position);
    masks.sliding = of_kind(true).make_mask(length, *masks.position, window);
  } else if (length > window) {
    const Array keys = arange(0, static_cast<double>(length), int32, device);
    const Array queries = expand_dims(keys, 1);
    masks.sliding = logical_and(expand_dims(keys, 0) <= queries, queries < keys + window);
  }
  return masks;
}

LayerMasks causal_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                        bool as_array) {
  LayerMasks masks;
  if (cache) {
    masks.position = cache->front().offset_array(device);
    masks.global = cache->front().make_mask(length, *masks.position);
  } else if (as_array && length > 1) {
    const Array keys = arange(0, static_cast<double>(length), int32, device);
    masks.global = expand_dims(keys, 0) <= expand_dims(keys, 1);
  }
  return masks;
}

}  // namespace ferry::lm
