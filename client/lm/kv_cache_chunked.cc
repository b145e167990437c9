// KVCache's chunked mode (mlx-lm's ChunkedKVCache, Llama 4's local layers): a query sees
// only the earlier positions of its own chunk of chunk_size. mlx-lm keeps the latest
// chunk_size positions (maybe_trim_front) and masks the rest of them; here a rotating ring of
// chunk_size holds them, position p in slot p % chunk_size, so the slots of a decode's chunk
// are those up to its own, and the masks hide the same keys mlx-lm's chunk mask does.

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"
#include "client/ops.h"

namespace ferry::lm {

KVCache KVCache::chunked(int64_t chunk_size) {
  if (chunk_size <= 0) {
    detail::ThrowOpError(
        "KVCache",
        absl::StrCat("a chunked cache's chunk_size must be positive, got ", chunk_size, "."));
  }
  KVCache cache = rotating(chunk_size);
  cache.chunk_size_ = chunk_size;
  return cache;
}

Array KVCache::ChunkedMask(int64_t length, const Array& position) const {
  const Device device = position.device();
  const int64_t chunk = *chunk_size_;
  if (length > 1) {
    // Over the kept positions followed by the chunk, as update_and_fetch returns them: key k
    // is position - kept + k. From the position array, so chunks of one length at any
    // offset past the first chunk are one graph.
    const int64_t kept = static_cast<int64_t>(Kept().size());
    const Array keys =
        expand_dims(arange(0, static_cast<double>(kept + length), int32, device), 0) +
        (position - kept);
    const Array queries =
        expand_dims(arange(0, static_cast<double>(length), int32, device), 1) + position;
    return logical_and(keys <= queries, keys >= queries - remainder(queries, chunk));
  }
  // One query at p: slot j holds its chunk's j-th position for j <= p % chunk (written since
  // the chunk began); the later slots hold the chunk before's.
  const Array keys = expand_dims(arange(0, static_cast<double>(capacity_for(1)), int32, device), 0);
  const Array query = expand_dims(position, 1);
  const Array within = remainder(query, chunk);
  Array mask = keys <= within;
  if (held_from_ > 0) {  // a trimmed position's slot, not yet written again
    mask = logical_and(mask, keys + (query - within) >= held_from_);
  }
  return mask;
}

}  // namespace ferry::lm
