#include "client/lm/layer_masks.h"

#include "client/ops.h"

namespace ferry::lm {

LayerMasks layer_masks(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                       int64_t window) {
  LayerMasks masks;
  if (cache) {
    const KVCache& first = cache->front();
    masks.position = first.offset_array(device);
    masks.global = first.make_mask(length, *masks.position);
    masks.sliding = first.make_mask(length, *masks.position, window);
  } else if (length > window) {
    const Array keys = arange(0, static_cast<double>(length), int32, device);
    const Array queries = expand_dims(keys, 1);
    masks.sliding = logical_and(expand_dims(keys, 0) <= queries, queries < keys + window);
  }
  return masks;
}

}  // namespace ferry::lm
