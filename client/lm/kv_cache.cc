#include "client/lm/kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {

int64_t KVCache::capacity_for(int64_t length) const {
  const int64_t needed = offset_ + length;
  return std::max(capacity(), (needed + kStep - 1) / kStep * kStep);
}

Array KVCache::offset_array(const Device& device) const {
  return from_host(std::vector<int32_t>{static_cast<int32_t>(offset_)}, {1}, device);
}

std::pair<Array, Array> KVCache::update_and_fetch(const Array& keys, const Array& values,
                                                  const Array& position) {
  if (keys.ndim() != 4 || values.ndim() != 4 || keys.shape(2) != values.shape(2)) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat("keys and values must be (B, heads, L, D) of one L, got ",
                                      core::ShapeToString(keys.shape()), " and ",
                                      core::ShapeToString(values.shape()), "."));
  }
  const int64_t length = keys.shape(2), grown = capacity_for(length);
  if (grown > capacity()) {
    // Grows by whole steps: the step's graph changes once per kStep tokens, not per token.
    const int64_t added = grown - capacity();
    auto extend = [&](const std::optional<Array>& buffer, const Array& like) {
      Shape shape = like.shape();
      shape[2] = added;
      Array more = zeros(shape, like.dtype(), like.device());
      return buffer ? concatenate({*buffer, more}, 2) : more;
    };
    keys_ = extend(keys_, keys);
    values_ = extend(values_, values);
  }
  keys_ = slice_update(*keys_, keys, position, {2});
  values_ = slice_update(*values_, values, position, {2});
  offset_ += length;
  return {*keys_, *values_};
}

Array KVCache::make_mask(int64_t length, const Array& position,
                         std::optional<int64_t> window) const {
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

void KVCache::SetPadding(std::vector<int32_t> padding, const Device& device) {
  padding_ = std::move(padding);
  const int64_t rows = static_cast<int64_t>(padding_.size());
  padding_array_ = from_host(padding_, {rows}, device);
}

void KVCache::set_left_padding(std::vector<int32_t> padding, const Device& device) {
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
  return {*keys_, *values_};
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
  offset_ -= n;
  return n;
}

}  // namespace ferry::lm
