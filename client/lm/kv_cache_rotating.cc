// KVCache's rotating mode (mlx-lm's RotatingKVCache): a ring of max_size positions, the
// slot of each computed on the device; and make_prompt_cache, which hands them out.

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"
#include "client/lm/model.h"
#include "client/ops.h"

namespace ferry::lm {

KVCache KVCache::rotating(int64_t max_size, int64_t keep) {
  if (keep < 0 || keep >= max_size) {
    detail::ThrowOpError("KVCache", absl::StrCat("a rotating cache keeps 0 to max_size - 1 "
                                                 "first positions, got max_size ",
                                                 max_size, " and keep ", keep, "."));
  }
  KVCache cache;
  cache.max_size_ = max_size;
  cache.keep_ = keep;
  return cache;
}

int64_t KVCache::Slot(int64_t p) const {
  return p < keep_ ? p : keep_ + (p - keep_) % (*max_size_ - keep_);
}

Array KVCache::SlotArray(const Array& position) const {
  const int64_t ring = *max_size_ - keep_;
  if (keep_ == 0) return remainder(position, ring);
  return where(position < keep_, position, remainder(position - keep_, ring) + keep_);
}

std::vector<int64_t> KVCache::Kept() const {
  // mlx-lm's _update_concat: the first keep_ and the latest max_size - 1 - keep_ positions.
  std::vector<int64_t> kept;
  for (int64_t p = 0; p < std::min(keep_, offset_); ++p) kept.push_back(p);
  for (int64_t p = std::max({keep_, offset_ - (*max_size_ - 1 - keep_), held_from_}); p < offset_;
       ++p) {
    kept.push_back(p);
  }
  return kept;
}

std::pair<Array, Array> KVCache::UpdateRotating(const Array& keys, const Array& values,
                                                const Array& position) {
  const int64_t length = keys.shape(2), ring = *max_size_ - keep_;
  std::pair<Array, Array> out = {keys, values};
  if (length == 1) {
    // In place, at the slot the position names: the same graph every step.
    Grow(capacity_for(1), keys, values);
    const Array slot = SlotArray(position);
    keys_ = slice_update(*keys_, keys, slot, {2});
    values_ = slice_update(*values_, values, slot, {2});
    out = {*keys_, *values_};
    ++offset_;
  } else {
    // A chunk attends over the kept positions and itself; the ring then takes, slot by
    // slot, the latest position it holds from them (a host-built gather: a chunk's graph
    // is its own anyway).
    const std::vector<int64_t> kept = Kept();
    if (!kept.empty()) {
      std::vector<int32_t> slots;
      for (int64_t p : kept) slots.push_back(static_cast<int32_t>(Slot(p)));
      const Array index = from_host(slots, {static_cast<int64_t>(slots.size())}, keys.device());
      out = {concatenate({take(*keys_, index, 2), keys}, 2),
             concatenate({take(*values_, index, 2), values}, 2)};
    }
    const int64_t start = offset_;
    offset_ += length;
    const int64_t capacity = std::min(*max_size_, std::max(this->capacity(), RoundUp(offset_)));
    const int64_t last = offset_ - 1;
    std::vector<int32_t> from(static_cast<size_t>(capacity), 0);  // unheld slots: masked
    for (int64_t j = 0; j < capacity; ++j) {
      const int64_t p =
          j < keep_ ? j : last - (Slot(last) - j + ring) % ring;  // last >= keep_ here
      if (p > last || (j >= keep_ && (last < keep_ || p < keep_))) continue;
      if (p >= start) {
        from[j] = static_cast<int32_t>(kept.size() + (p - start));
      } else {
        auto it = std::lower_bound(kept.begin(), kept.end(), p);
        if (it != kept.end() && *it == p) from[j] = static_cast<int32_t>(it - kept.begin());
      }
    }
    const Array index = from_host(from, {capacity}, keys.device());
    keys_ = take(out.first, index, 2);
    values_ = take(out.second, index, 2);
  }
  if (held_from_ <= offset_ - ring) held_from_ = 0;  // every trimmed slot written again
  return out;
}

Array KVCache::RotatingMask(int64_t length, const Array& position,
                            std::optional<int64_t> window) const {
  const Device device = position.device();
  const int64_t max_size = *max_size_;
  if (length > 1) {
    // mlx-lm's create_causal_mask(length, kept, window or max_size), over the kept
    // positions followed by the chunk, as update_and_fetch returns them.
    const int64_t kept = static_cast<int64_t>(Kept().size());
    const Array keys = expand_dims(arange(0, static_cast<double>(kept + length), int32, device), 0);
    const Array queries = expand_dims(
        arange(static_cast<double>(kept), static_cast<double>(kept + length), int32, device), 1);
    const Array mask = logical_and(keys <= queries, queries < keys + window.value_or(max_size));
    if (!padding_array_) return mask;
    // A batch's: each row hides the columns before its own (a padding query sees itself).
    // Kept() is the latest columns then, so key k is column offset_ - kept + k.
    const Array padding = reshape(*padding_array_, {rows(), 1, 1, 1});
    return logical_and(mask, logical_or(keys + (offset_ - kept) >= padding, keys == queries));
  }
  // One query: slot j is written once j <= position (the ring fills in order, then every
  // slot is). mlx-lm masks no further unless the window is under max_size.
  const Array keys = expand_dims(arange(0, static_cast<double>(capacity_for(1)), int32, device), 0);
  const Array query = expand_dims(position, 1);
  Array mask = keys <= query;
  const bool windowed = window && *window < max_size;
  if (!windowed && held_from_ == 0 && !padding_array_) return mask;
  // How far behind the query the position in each written slot is.
  const Array slot = expand_dims(SlotArray(position), 1);
  const Array behind = where(keys < keep_, query - keys,
                             where(slot >= keys, slot - keys, slot - keys + (max_size - keep_)));
  if (windowed) mask = logical_and(mask, behind < *window);
  if (held_from_ > 0) {  // a trimmed position's slot, not yet written again
    mask = logical_and(mask, logical_or(keys < keep_, query - behind >= held_from_));
  }
  if (padding_array_) {  // a batch's: each row sees the columns from its own first on
    mask = logical_and(mask, query - behind >= reshape(*padding_array_, {rows(), 1, 1, 1}));
  }
  return mask;
}

std::vector<KVCache> make_prompt_cache(const Model& model, std::optional<int> max_kv_size) {
  if (max_kv_size && *max_kv_size <= 4) {
    detail::ThrowOpError("make_prompt_cache",
                         absl::StrCat("max_kv_size must exceed the 4 first positions a rotating "
                                      "cache keeps, got ",
                                      *max_kv_size, "."));
  }
  // A model keeping arrays in some layers (Qwen3-Next's) has its own, max_kv_size unused: as
  // mlx-lm's make_prompt_cache gives a model's make_cache.
  std::vector<KVCache> own = model.make_cache();
  const int layers = model.args().num_hidden_layers;
  // So does one with fewer caches than layers (Gemma 4's KV-shared layers keep none).
  if (static_cast<int>(own.size()) != layers ||
      std::any_of(own.begin(), own.end(),
                  [](const KVCache& c) { return c.is_arrays() || c.is_list(); })) {
    return own;
  }
  bool sliding = false;  // or chunked: mlx-lm's make_cache then, max_kv_size unused
  for (int i = 0; i < layers; ++i) {
    sliding |= model.sliding_window(i).has_value() || model.attention_chunk(i).has_value();
  }
  if (!sliding && !max_kv_size) return model.make_cache();
  std::vector<KVCache> cache;
  for (int i = 0; i < layers; ++i) {
    if (!sliding) {
      cache.push_back(KVCache::rotating(*max_kv_size, 4));
    } else if (const std::optional<int64_t> window = model.sliding_window(i)) {
      cache.push_back(KVCache::rotating(*window));
    } else if (const std::optional<int64_t> chunk = model.attention_chunk(i)) {
      cache.push_back(KVCache::chunked(*chunk));
    } else {
      cache.emplace_back();
    }
  }
  return cache;
}

void maybe_quantize_kv_cache(std::vector<KVCache>& cache, int quantized_kv_start, int group_size,
                             std::optional<int> bits) {
  if (!bits) return;
  for (KVCache& c : cache) {
    // A chunked cache stays (mlx-lm's ChunkedKVCache has no to_quantized).
    if (!c.bits() && !c.is_arrays() && !c.is_list() && !c.chunk_size() &&
        c.offset() >= quantized_kv_start) {
      c = c.to_quantized(group_size, *bits);
    }
  }
}

}  // namespace ferry::lm
