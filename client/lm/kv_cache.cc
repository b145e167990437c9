#include "client/lm/kv_cache.h"

#include <algorithm>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {

int64_t KVCache::RoundUp(int64_t n) { return (n + kStep - 1) / kStep * kStep; }

Array KVCache::Extended(const std::optional<Array>& buffer, const Array& like, int64_t added) {
  Shape shape = like.shape();
  shape[2] = added;
  Array more = zeros(shape, like.dtype(), like.device());
  return buffer ? concatenate({*buffer, more}, 2) : more;
}

int64_t KVCache::capacity_for(int64_t length) const {
  if (!max_size_) return std::max(capacity(), RoundUp(offset_ + length));
  if (length > 1) return static_cast<int64_t>(Kept().size()) + length;
  return std::min(*max_size_, std::max(capacity(), RoundUp(offset_ + 1)));
}

Array KVCache::offset_array(const Device& device) const {
  return from_host(std::vector<int32_t>{static_cast<int32_t>(offset())}, {1}, device);
}

void KVCache::CheckKeysValues(const Array& keys, const Array& values) {
  if (keys.ndim() != 4 || values.ndim() != 4 || keys.shape(2) != values.shape(2)) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat("keys and values must be (B, heads, L, D) of one L, got ",
                                      core::ShapeToString(keys.shape()), " and ",
                                      core::ShapeToString(values.shape()), "."));
  }
}

std::pair<Array, Array> KVCache::update_and_fetch(const Array& keys, const Array& values,
                                                  const Array& position) {
  RefuseArrays("update_and_fetch");
  CheckKeysValues(keys, values);
  if (bits_) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat("a quantized cache (", *bits_,
                                      " bits) gives its keys and values quantized, to "
                                      "lm::attention (update_and_fetch_quantized), not whole."));
  }
  if (max_size_) return UpdateRotating(keys, values, position);
  const int64_t length = keys.shape(2);
  Grow(capacity_for(length), keys, values);
  keys_ = slice_update(*keys_, keys, position, {2});
  values_ = slice_update(*values_, values, position, {2});
  offset_ += length;
  return {*keys_, *values_};
}

void KVCache::Grow(int64_t capacity, const Array& keys, const Array& values) {
  if (capacity <= this->capacity()) return;
  const int64_t added = capacity - this->capacity();
  keys_ = Extended(keys_, keys, added);
  values_ = Extended(values_, values, added);
}

Array KVCache::make_mask(int64_t length, const Array& position,
                         std::optional<int64_t> window) const {
  RefuseArrays("make_mask");
  if (chunk_size_) return ChunkedMask(length, position);
  if (max_size_) return RotatingMask(length, position, window);
  const Device device = position.device();
  const Array keys = arange(0, static_cast<double>(capacity_for(length)), int32, device);
  const Array queries = arange(0, static_cast<double>(length), int32, device) + position;
  Array causal = expand_dims(keys, 0) <= expand_dims(queries, 1);
  // mlx-lm's create_causal_mask: query i sees key j when i < j + window. The window is a
  // constant, so every decode step is still one graph.
  if (window) {
    causal = logical_and(causal, expand_dims(queries, 1) < expand_dims(keys, 0) + *window);
  }
  if (!padding_array_) return causal;
  const Array padding = reshape(*padding_array_, {rows(), 1, 1, 1});
  return logical_and(causal,
                     logical_or(keys >= padding, expand_dims(keys, 0) == expand_dims(queries, 1)));
}

bool KVCache::batchable() const {
  if (is_list()) {
    return std::all_of(list_.begin(), list_.end(), [](const KVCache& c) { return c.batchable(); });
  }
  return !bits_ && !chunk_size_ && !(max_size_ && (keep_ > 0 || held_from_ > 0));
}

void KVCache::RefuseUnlessBatchable(const char* what) const {
  if (bits_) {
    detail::ThrowOpError("KVCache", absl::StrCat(what,
                                                 " takes plain or rotating caches, not a "
                                                 "quantized one (",
                                                 *bits_, " bits)."));
  }
  if (chunk_size_) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat(what,
                                      " takes plain or rotating caches, not a chunked "
                                      "one (chunk_size ",
                                      *chunk_size_, "): mlx-lm's ChunkedKVCache has no merge."));
  }
  if (max_size_ && (keep_ > 0 || held_from_ > 0)) {
    // Rows share the ring's slots: a row's own first positions, or slots hidden since a
    // trim, would need slots of their own.
    detail::ThrowOpError("KVCache",
                         absl::StrCat(what,
                                      " takes rotating caches keeping no first positions and "
                                      "hiding no trimmed ones, not one (max_size ",
                                      *max_size_, ") ",
                                      keep_ > 0 ? absl::StrCat("keeping ", keep_)
                                                : std::string("trimmed after it wrapped"),
                                      " (as mlx-lm's BatchRotatingKVCache)."));
  }
}

std::vector<Array> KVCache::state() const {
  if (is_list()) {
    std::vector<Array> set;
    for (const KVCache& part : list_) {
      for (const Array& a : part.state()) set.push_back(a);
    }
    return set;
  }
  if (arrays_) {
    std::vector<Array> set;
    for (const std::optional<Array>& a : *arrays_) {
      if (a) set.push_back(*a);
    }
    return set;
  }
  if (!keys_) return {};
  if (bits_) {
    return {*keys_, *key_scales_, *key_biases_, *values_, *value_scales_, *value_biases_};
  }
  return {*keys_, *values_};
}

int64_t KVCache::nbytes() const {
  int64_t bytes = 0;
  if (is_list()) {
    for (const KVCache& part : list_) bytes += part.nbytes();
    return bytes;
  }
  absl::flat_hash_set<const void*> counted;
  auto count = [&](const Array& a) {
    if (counted.insert(a.node().get()).second) bytes += a.nbytes();
  };
  for (const Array& a : state()) count(a);
  // An arrays cache's states kept for steps in flight hold memory too (a slot a step left
  // alone is one array, counted once).
  for (const StepState& kept : kept_) {
    for (const std::optional<Array>& a : kept.arrays) {
      if (a) count(*a);
    }
  }
  return bytes;
}

std::vector<Array> CacheState(const std::vector<KVCache>& cache) {
  std::vector<Array> state;
  for (const KVCache& c : cache) {
    for (const Array& a : c.state()) state.push_back(a);
  }
  return state;
}

int64_t KVCache::trim(int64_t n) {
  if (is_list()) {
    int64_t trimmed = 0;
    for (KVCache& part : list_) trimmed = part.trim(n);
    return trimmed;
  }
  if (arrays_) return TrimArrays(n);
  n = std::min(offset_, std::max<int64_t>(n, 0));
  if (max_size_ && n > 0) {
    // Once the ring wrapped, the trimmed positions overwrote the slots of those from here.
    const int64_t overwritten = offset_ - (*max_size_ - keep_);
    if (overwritten > keep_) held_from_ = std::max(held_from_, overwritten);
  }
  offset_ -= n;
  return n;
}

}  // namespace ferry::lm
