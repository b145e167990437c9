// Continuous batching over a rotating cache (mlx-lm's BatchRotatingKVCache): the batch's
// rows share one ring, column c (the position array's count) in slot c % max_size, each row
// right-aligned and hiding the columns before its own (its left padding, in the mask). Rows
// that move to other columns (filter's dropped padding, extend's alignment, extract's own
// start) move to those columns' slots: a gather built on the host, each move a graph of its
// own as the plain cache's are, so the decode steps between moves stay one graph.

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"
#include "client/ops.h"

namespace ferry::lm {

std::vector<int32_t> KVCache::RingSlots(int64_t shift, int64_t end, int64_t capacity) const {
  const int64_t max_size = *max_size_;
  // The columns this ring still holds (keep_ and held_from_ are 0 in a batch).
  const int64_t first = std::max<int64_t>(offset_ - max_size, 0);
  std::vector<int32_t> slots(static_cast<size_t>(capacity), 0);
  for (int64_t j = 0; j < std::min(capacity, end); ++j) {
    const int64_t latest = j + (end - 1 - j) / max_size * max_size;  // slot j's, once moved
    const int64_t column = latest - shift;
    if (column >= first && column < offset_) slots[j] = static_cast<int32_t>(column % max_size);
  }
  return slots;
}

std::pair<Array, Array> KVCache::RingMoved(const std::optional<Array>& rows, int64_t shift,
                                           int64_t end, int64_t capacity) const {
  const std::vector<int32_t> slots = RingSlots(shift, end, capacity);
  const Array index = from_host(slots, {capacity}, keys_->device());
  auto move = [&](const Array& buffer) {
    return take(rows ? take(buffer, *rows, 0) : buffer, index, 2);
  };
  return {move(*keys_), move(*values_)};
}

void KVCache::ExtendRotating(const KVCache& other, int64_t end) {
  const Array& like_keys = keys_ ? *keys_ : *other.keys_;
  const Array& like_values = keys_ ? *values_ : *other.values_;
  const int64_t capacity = std::min(*max_size_, std::max(RoundUp(end), kStep));
  // Each cache's columns moved right to end at `end`; one never written holds zeros, its
  // rows' padding hiding them all.
  auto aligned = [&](const KVCache& c) -> std::pair<Array, Array> {
    if (c.keys_) return c.RingMoved(std::nullopt, end - c.offset_, end, capacity);
    auto none = [&](const Array& like) {
      Shape shape = like.shape();
      shape[0] = c.rows();
      shape[2] = capacity;
      return zeros(shape, like.dtype(), like.device());
    };
    return {none(like_keys), none(like_values)};
  };
  const auto [keys, values] = aligned(*this);
  const auto [other_keys, other_values] = aligned(other);
  keys_ = concatenate({keys, other_keys}, 0);
  values_ = concatenate({values, other_values}, 0);
}

KVCache KVCache::ExtractRotating(int64_t row, int64_t start, int64_t length) const {
  const int64_t max_size = *max_size_;
  // The latest max_size of the row's first `length` tokens must still be in the ring.
  const int64_t needed = start + std::max<int64_t>(length - max_size, 0);
  if (length > 0 && needed < offset_ - max_size) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat("row ", row, "'s first ", length,
                                      " positions are no longer in the rotating cache (max_size ",
                                      max_size, ", ", offset_ - start, " positions written)."));
  }
  KVCache out = rotating(max_size);
  out.chunk_size_ = chunk_size_;
  out.offset_ = length;
  if (keys_ && length > 0) {
    const Array index =
        from_host(std::vector<int32_t>{static_cast<int32_t>(row)}, {1}, keys_->device());
    std::tie(out.keys_, out.values_) =
        RingMoved(index, -start, length, std::min(max_size, RoundUp(length)));
  }
  return out;
}

}  // namespace ferry::lm
