// What continuous batching does to a KVCache: rows right-aligned by left padding, RoPE from
// each row's own position, and rows moved between caches (filter, extend, extract); a
// rotating cache's ring moves in kv_cache_batch_rotating.cc.

#include <algorithm>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"
#include "client/ops.h"

namespace ferry::lm {

void KVCache::SetPadding(std::vector<int32_t> padding, const Device& device) {
  padding_ = std::move(padding);
  const int64_t rows = static_cast<int64_t>(padding_.size());
  padding_array_ = from_host(padding_, {rows}, device);
}

void KVCache::set_left_padding(std::vector<int32_t> padding, const Device& device) {
  for (KVCache& part : list_) part.set_left_padding(padding, device);
  if (is_list()) return;
  RefuseUnlessBatchable("set_left_padding");
  if (!empty()) detail::ThrowOpError("KVCache", "left padding is set on an empty cache.");
  SetPadding(std::move(padding), device);
}

int64_t KVCache::rows() const {
  if (is_list()) return list_.front().rows();
  if (!padding_.empty()) return static_cast<int64_t>(padding_.size());
  if (arrays_) {
    const std::optional<Array> any = AnyArray();
    return any ? any->shape(0) : 1;
  }
  return keys_ ? keys_->shape(0) : 1;
}

Array KVCache::rope_offset(const Array& position) const {
  return padding_array_ ? position - *padding_array_ : position;
}

void KVCache::filter(const std::vector<int64_t>& keep) {
  for (KVCache& part : list_) part.filter(keep);
  if (is_list()) return;
  RefuseUnlessBatchable("filter");
  if (keep.empty()) {
    const int steps = keep_steps_;
    *this = arrays_ ? arrays(static_cast<int>(arrays_->size())) : KVCache();
    keep_steps(steps);
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
  const std::optional<Array> any = arrays_ ? AnyArray() : keys_;
  const Device device = padding_array_ ? padding_array_->device()
                        : any          ? any->device()
                                       : default_device();
  if (arrays_) {
    if (any) FilterArrays(from_host(rows, {static_cast<int64_t>(rows.size())}, device));
  } else if (keys_) {
    const Array index = from_host(rows, {static_cast<int64_t>(rows.size())}, device);
    auto keep_rows = [&](const Array& buffer) {
      const Array kept = take(buffer, index, 0);
      if (shift == 0) return kept;
      Shape end = kept.shape();
      return slice(kept, {0, 0, shift, 0}, end);
    };
    if (max_size_ && shift > 0) {
      // The columns move: so do their slots in the ring.
      std::tie(keys_, values_) =
          RingMoved(index, -shift, offset_ - shift, std::min(*max_size_, RoundUp(offset_ - shift)));
    } else {
      keys_ = keep_rows(*keys_);
      values_ = keep_rows(*values_);
    }
  }
  offset_ -= shift;
  for (StepState& kept : kept_) kept.offset -= shift;
  SetPadding(std::move(padding), device);
}

void KVCache::extend(const KVCache& other) {
  if (is_list()) return ExtendList(other);
  RefuseUnlessBatchable("extend");
  other.RefuseUnlessBatchable("extend");
  if (arrays_.has_value() != other.arrays_.has_value() || other.is_list() ||
      (arrays_ && arrays_->size() != other.arrays_->size())) {
    detail::ThrowOpError("KVCache",
                         "extend takes an arrays cache of as many slots, not a cache "
                         "of another kind.");
  }
  if (max_size_ != other.max_size_) {
    detail::ThrowOpError("KVCache", absl::StrCat("extend takes caches of one kind, got max_size ",
                                                 max_size_.value_or(0), " and ",
                                                 other.max_size_.value_or(0), " (0: plain)."));
  }
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
  const std::optional<Array> any_array =
      arrays_ ? (AnyArray() ? AnyArray() : other.AnyArray()) : std::nullopt;
  const Device device = any_keys               ? any_keys->device()
                        : any_array            ? any_array->device()
                        : padding_array_       ? padding_array_->device()
                        : other.padding_array_ ? other.padding_array_->device()
                                               : default_device();
  if (arrays_) {
    ExtendArrays(other);
  } else if (any_keys && max_size_) {
    ExtendRotating(other, end);
  } else if (any_keys) {
    const int64_t capacity = std::max(RoundUp(end), kStep);
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
  // A chunked cache is never a batch's, but PromptCache copies one's first tokens.
  if (is_list()) return ExtractList(row, length);
  if (!chunk_size_) RefuseUnlessBatchable("extract");
  const int64_t start = padding_.empty() ? 0 : padding_.at(row);
  if (row < 0 || row >= rows() || length < 0 || start + length > offset_) {
    detail::ThrowOpError(
        "KVCache", absl::StrCat("row ", row, " does not hold ", length, " positions (", rows(),
                                " rows, ", offset_, " positions written)."));
  }
  if (arrays_) return ExtractArrays(row, start, length);
  if (max_size_) return ExtractRotating(row, start, length);
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

}  // namespace ferry::lm
