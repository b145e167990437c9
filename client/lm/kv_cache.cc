#include "client/lm/kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/model.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {
namespace {

// Whole steps: the graphs change once per kStep positions, not per token.
int64_t RoundUp(int64_t n) { return (n + KVCache::kStep - 1) / KVCache::kStep * KVCache::kStep; }

// `buffer` with `added` positions of zeros after its own, shaped like `like`.
Array Extended(const std::optional<Array>& buffer, const Array& like, int64_t added) {
  Shape shape = like.shape();
  shape[2] = added;
  Array more = zeros(shape, like.dtype(), like.device());
  return buffer ? concatenate({*buffer, more}, 2) : more;
}

KVCache::Quantized Quantize(const Array& x, int group_size, int bits) {
  if (x.shape(-1) % group_size != 0) {
    detail::ThrowOpError(
        "KVCache", absl::StrCat("a quantized cache groups a head's ", x.shape(-1), " features by ",
                                group_size, ", which does not divide them."));
  }
  auto [words, scales, biases] = quantize(x, group_size, bits);
  return {words, scales, biases};
}

}  // namespace

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

int64_t KVCache::capacity_for(int64_t length) const {
  if (!max_size_) return std::max(capacity(), RoundUp(offset_ + length));
  if (length > 1) return static_cast<int64_t>(Kept().size()) + length;
  return std::min(*max_size_, std::max(capacity(), RoundUp(offset_ + 1)));
}

Array KVCache::offset_array(const Device& device) const {
  return from_host(std::vector<int32_t>{static_cast<int32_t>(offset_)}, {1}, device);
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

KVCache KVCache::to_quantized(int group_size, int bits) const {
  if (max_size_) {
    detail::ThrowOpError("KVCache", absl::StrCat("a rotating cache (max_size ", *max_size_,
                                                 ") is not quantized, as mlx-lm's "
                                                 "RotatingKVCache.to_quantized is not."));
  }
  if (bits_) detail::ThrowOpError("KVCache", "the cache is quantized already.");
  if (!padding_.empty()) {
    detail::ThrowOpError("KVCache",
                         "a batch's cache (left-padded) is not quantized (mlx-lm's BatchKVCache "
                         "has no to_quantized).");
  }
  if ((group_size != 32 && group_size != 64 && group_size != 128) || bits < 1 || bits > 8 ||
      bits == 7) {
    detail::ThrowOpError("KVCache", absl::StrCat("a quantized cache takes group_size 32, 64 or "
                                                 "128 and bits 1 to 6 or 8, got group_size ",
                                                 group_size, " and bits ", bits, "."));
  }
  KVCache out;
  out.offset_ = offset_;
  out.group_size_ = group_size;
  out.bits_ = bits;
  if (keys_) {
    // Every position the buffers hold, written or not (zeros, masked), as mlx-lm quantizes
    // them: the capacity stays a multiple of kStep.
    const Quantized k = Quantize(*keys_, group_size, bits),
                    v = Quantize(*values_, group_size, bits);
    out.keys_ = k.words;
    out.key_scales_ = k.scales;
    out.key_biases_ = k.biases;
    out.values_ = v.words;
    out.value_scales_ = v.scales;
    out.value_biases_ = v.biases;
  }
  return out;
}

void KVCache::GrowQuantized(int64_t capacity, const Quantized& keys, const Quantized& values) {
  if (capacity <= this->capacity()) return;
  const int64_t added = capacity - this->capacity();
  keys_ = Extended(keys_, keys.words, added);
  key_scales_ = Extended(key_scales_, keys.scales, added);
  key_biases_ = Extended(key_biases_, keys.biases, added);
  values_ = Extended(values_, values.words, added);
  value_scales_ = Extended(value_scales_, values.scales, added);
  value_biases_ = Extended(value_biases_, values.biases, added);
}

std::pair<KVCache::Quantized, KVCache::Quantized> KVCache::update_and_fetch_quantized(
    const Array& keys, const Array& values, const Array& position) {
  CheckKeysValues(keys, values);
  if (!bits_) {
    detail::ThrowOpError("KVCache",
                         "update_and_fetch_quantized writes a quantized cache (to_quantized).");
  }
  const Quantized k = Quantize(keys, group_size_, *bits_);
  const Quantized v = Quantize(values, group_size_, *bits_);
  GrowQuantized(capacity_for(keys.shape(2)), k, v);
  // At the position array, as the plain cache: the same graph every step between growths.
  auto write = [&](std::optional<Array>& buffer, const Array& update) {
    buffer = slice_update(*buffer, update, position, {2});
  };
  write(keys_, k.words);
  write(key_scales_, k.scales);
  write(key_biases_, k.biases);
  write(values_, v.words);
  write(value_scales_, v.scales);
  write(value_biases_, v.biases);
  offset_ += keys.shape(2);
  return {Quantized{*keys_, *key_scales_, *key_biases_},
          Quantized{*values_, *value_scales_, *value_biases_}};
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

Array KVCache::make_mask(int64_t length, const Array& position,
                         std::optional<int64_t> window) const {
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
    return logical_and(keys <= queries, queries < keys + window.value_or(max_size));
  }
  // One query: slot j is written once j <= position (the ring fills in order, then every
  // slot is). mlx-lm masks no further unless the window is under max_size.
  const Array keys = expand_dims(arange(0, static_cast<double>(capacity_for(1)), int32, device), 0);
  const Array query = expand_dims(position, 1);
  Array mask = keys <= query;
  const bool windowed = window && *window < max_size;
  if (!windowed && held_from_ == 0) return mask;
  // How far behind the query the position in each written slot is.
  const Array slot = expand_dims(SlotArray(position), 1);
  const Array behind = where(keys < keep_, query - keys,
                             where(slot >= keys, slot - keys, slot - keys + (max_size - keep_)));
  if (windowed) mask = logical_and(mask, behind < *window);
  if (held_from_ > 0) {  // a trimmed position's slot, not yet written again
    mask = logical_and(mask, logical_or(keys < keep_, query - behind >= held_from_));
  }
  return mask;
}

void KVCache::RefuseUnlessPlain(const char* what) const {
  if (!max_size_ && !bits_) return;
  detail::ThrowOpError(
      "KVCache", absl::StrCat(what, " takes plain caches, not a ",
                              max_size_ ? absl::StrCat("rotating one (max_size ", *max_size_, ")")
                                        : absl::StrCat("quantized one (", *bits_, " bits)"),
                              ": continuous batching moves rows of make_cache()'s caches only."));
}

void KVCache::SetPadding(std::vector<int32_t> padding, const Device& device) {
  padding_ = std::move(padding);
  const int64_t rows = static_cast<int64_t>(padding_.size());
  padding_array_ = from_host(padding_, {rows}, device);
}

void KVCache::set_left_padding(std::vector<int32_t> padding, const Device& device) {
  RefuseUnlessPlain("set_left_padding");
  if (keys_) detail::ThrowOpError("KVCache", "left padding is set on an empty cache.");
  SetPadding(std::move(padding), device);
}

int64_t KVCache::rows() const {
  if (!padding_.empty()) return static_cast<int64_t>(padding_.size());
  return keys_ ? keys_->shape(0) : 1;
}

Array KVCache::rope_offset(const Array& position) const {
  return padding_array_ ? position - *padding_array_ : position;
}

void KVCache::filter(const std::vector<int64_t>& keep) {
  RefuseUnlessPlain("filter");
  if (keep.empty()) {
    *this = KVCache();
    return;
  }
  std::vector<int32_t> padding(keep.size(), 0);
  std::vector<int32_t> rows(keep.size());
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i] < 0 || keep[i] >= this->rows()) {
      detail::ThrowOpError(
          "KVCache", absl::StrCat("row ", keep[i], " is not among the ", this->rows(), " rows."));
    }
    rows[i] = static_cast<int32_t>(keep[i]);
    if (!padding_.empty()) padding[i] = padding_[keep[i]];
  }
  // Whole steps only: the capacity stays a multiple of kStep, so the graphs do too.
  const int64_t shift = *std::min_element(padding.begin(), padding.end()) / kStep * kStep;
  for (int32_t& p : padding) p -= static_cast<int32_t>(shift);
  const Device device = padding_array_ ? padding_array_->device()
                        : keys_        ? keys_->device()
                                       : default_device();
  if (keys_) {
    const Array index = from_host(rows, {static_cast<int64_t>(rows.size())}, device);
    auto keep_rows = [&](const Array& buffer) {
      const Array kept = take(buffer, index, 0);
      if (shift == 0) return kept;
      Shape end = kept.shape();
      return slice(kept, {0, 0, shift, 0}, end);
    };
    keys_ = keep_rows(*keys_);
    values_ = keep_rows(*values_);
  }
  offset_ -= shift;
  SetPadding(std::move(padding), device);
}

void KVCache::extend(const KVCache& other) {
  RefuseUnlessPlain("extend");
  other.RefuseUnlessPlain("extend");
  const int64_t end = std::max(offset_, other.offset_);
  std::vector<int32_t> padding;
  for (const KVCache* c : {static_cast<const KVCache*>(this), &other}) {
    for (int64_t r = 0; r < c->rows(); ++r) {
      const int32_t own = c->padding_.empty() ? 0 : c->padding_[r];
      padding.push_back(own + static_cast<int32_t>(end - c->offset_));
    }
  }
  const std::optional<Array>& any_keys = keys_ ? keys_ : other.keys_;
  const std::optional<Array>& any_values = keys_ ? values_ : other.values_;
  const Device device = any_keys               ? any_keys->device()
                        : padding_array_       ? padding_array_->device()
                        : other.padding_array_ ? other.padding_array_->device()
                                               : default_device();
  if (any_keys) {
    const int64_t capacity = std::max<int64_t>((end + kStep - 1) / kStep * kStep, kStep);
    // A cache's written positions, moved right to end at `end`, in `capacity` positions.
    auto align = [&](const KVCache& c, const std::optional<Array>& buffer, const Array& like) {
      Shape written = like.shape();
      written[0] = c.rows();
      written[2] = c.offset_;
      const Array kept = buffer ? slice(*buffer, {0, 0, 0, 0}, written)
                                : zeros(written, like.dtype(), like.device());
      return pad(kept, {{0, 0}, {0, 0}, {end - c.offset_, capacity - end}, {0, 0}});
    };
    keys_ = concatenate({align(*this, keys_, *any_keys), align(other, other.keys_, *any_keys)}, 0);
    values_ = concatenate(
        {align(*this, values_, *any_values), align(other, other.values_, *any_values)}, 0);
  }
  offset_ = end;
  SetPadding(std::move(padding), device);
}

KVCache KVCache::extract(int64_t row, int64_t length) const {
  RefuseUnlessPlain("extract");
  const int64_t start = padding_.empty() ? 0 : padding_.at(row);
  if (row < 0 || row >= rows() || length < 0 || start + length > offset_) {
    detail::ThrowOpError(
        "KVCache", absl::StrCat("row ", row, " does not hold ", length, " positions (", rows(),
                                " rows, ", offset_, " positions written)."));
  }
  KVCache out;
  out.offset_ = length;
  if (keys_ && length > 0) {
    auto own = [&](const Array& buffer) {
      return slice(buffer, {row, 0, start, 0},
                   {row + 1, buffer.shape(1), start + length, buffer.shape(3)});
    };
    out.keys_ = own(*keys_);
    out.values_ = own(*values_);
  }
  return out;
}

std::vector<Array> KVCache::state() const {
  if (!keys_) return {};
  if (bits_) {
    return {*keys_, *key_scales_, *key_biases_, *values_, *value_scales_, *value_biases_};
  }
  return {*keys_, *values_};
}

int64_t KVCache::nbytes() const {
  int64_t bytes = 0;
  for (const Array& a : state()) bytes += a.nbytes();
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
  n = std::min(offset_, std::max<int64_t>(n, 0));
  if (max_size_ && n > 0) {
    // Once the ring wrapped, the trimmed positions overwrote the slots of those from here.
    const int64_t overwritten = offset_ - (*max_size_ - keep_);
    if (overwritten > keep_) held_from_ = std::max(held_from_, overwritten);
  }
  offset_ -= n;
  return n;
}

std::vector<KVCache> make_prompt_cache(const Model& model, std::optional<int> max_kv_size) {
  if (max_kv_size && *max_kv_size <= 4) {
    detail::ThrowOpError("make_prompt_cache",
                         absl::StrCat("max_kv_size must exceed the 4 first positions a rotating "
                                      "cache keeps, got ",
                                      *max_kv_size, "."));
  }
  const int layers = model.args().num_hidden_layers;
  bool sliding = false;
  for (int i = 0; i < layers; ++i) sliding |= model.sliding_window(i).has_value();
  if (!sliding && !max_kv_size) return model.make_cache();
  std::vector<KVCache> cache;
  for (int i = 0; i < layers; ++i) {
    if (!sliding) {
      cache.push_back(KVCache::rotating(*max_kv_size, 4));
    } else if (const std::optional<int64_t> window = model.sliding_window(i)) {
      cache.push_back(KVCache::rotating(*window));
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
    if (!c.bits() && c.offset() >= quantized_kv_start) c = c.to_quantized(group_size, *bits);
  }
}

}  // namespace ferry::lm
