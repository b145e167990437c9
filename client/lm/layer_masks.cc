#include "client/lm/layer_masks.h"

#include <algorithm>

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

LayerMasks chunked_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                         int64_t chunk_size) {
  LayerMasks masks;
  // Key k visible to query q when k <= q in q's chunk, over absolute positions.
  auto within_chunks = [&](const Array& keys, const Array& queries) {
    const Array q = expand_dims(queries, 1), k = expand_dims(keys, 0);
    return logical_and(k <= q, k >= q - remainder(q, chunk_size));
  };
  if (!cache) {
    if (length > chunk_size) {
      const Array positions = arange(0, static_cast<double>(length), int32, device);
      masks.chunked = within_chunks(positions, positions);
    }
    return masks;
  }
  masks.position = cache->front().offset_array(device);
  const KVCache* plain = nullptr;
  for (const KVCache& c : *cache) {
    if (c.chunk_size()) {
      if (!masks.chunked) masks.chunked = c.make_mask(length, *masks.position);
    } else if (!plain) {
      plain = &c;
    }
  }
  if (plain) masks.global = plain->make_mask(length, *masks.position);
  if (!masks.chunked && plain) {
    const Array queries = arange(0, static_cast<double>(length), int32, device) + *masks.position;
    const Array keys = arange(0, static_cast<double>(plain->capacity_for(length)), int32, device);
    masks.chunked = logical_and(*masks.global, within_chunks(keys, queries));
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

LayerMasks hybrid_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                        bool as_array) {
  if (!cache || cache->empty()) return causal_masks(length, device, nullptr, as_array);
  LayerMasks masks;
  auto full =
      std::find_if(cache->begin(), cache->end(), [](const KVCache& c) { return !c.is_arrays(); });
  masks.position = (full != cache->end() ? *full : cache->front()).offset_array(device);
  if (full != cache->end()) masks.global = full->make_mask(length, *masks.position);
  auto arrays =
      std::find_if(cache->begin(), cache->end(), [](const KVCache& c) { return c.is_arrays(); });
  if (arrays != cache->end()) masks.arrays = arrays->arrays_mask(length);
  return masks;
}

}  // namespace ferry::lm
