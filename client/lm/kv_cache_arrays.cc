// KVCache's arrays mode (mlx-lm's ArraysCache): a linear-attention layer's own arrays, and
// their rows moved by continuous batching. The padding counts columns as the other modes'
// does (kv_cache_batch.cc), so the layers of one model move together; a row's state is its
// own whatever its column, so its rows move as they are.

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"
#include "client/ops.h"

namespace ferry::lm {

KVCache KVCache::arrays(int size) {
  if (size <= 0) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat("an arrays cache holds 1 or more arrays, got ", size, "."));
  }
  KVCache cache;
  cache.arrays_.emplace(static_cast<size_t>(size));
  return cache;
}

const std::optional<Array>& KVCache::array(int i) const {
  if (!arrays_ || i < 0 || i >= static_cast<int>(arrays_->size())) {
    detail::ThrowOpError(
        "KVCache", arrays_ ? absl::StrCat("slot ", i, " is not among the arrays cache's ",
                                          arrays_->size(), ".")
                           : "the cache holds keys and values, not arrays (KVCache::arrays).");
  }
  return (*arrays_)[static_cast<size_t>(i)];
}

void KVCache::set_array(int i, Array value) {
  array(i);  // checks i
  (*arrays_)[static_cast<size_t>(i)] = std::move(value);
}

void KVCache::advance(int64_t n) {
  if (!arrays_) detail::ThrowOpError("KVCache", "advance counts an arrays cache's tokens.");
  offset_ += n;
}

std::optional<Array> KVCache::arrays_mask(int64_t length) const {
  if (!arrays_) detail::ThrowOpError("KVCache", "arrays_mask is an arrays cache's mask.");
  bool padded = false;
  for (int32_t p : padding_) padded |= p > offset_;
  if (!padded) return std::nullopt;
  const int64_t rows = static_cast<int64_t>(padding_.size());
  std::vector<bool> mask(static_cast<size_t>(rows * length));
  for (int64_t b = 0; b < rows; ++b) {
    for (int64_t t = 0; t < length; ++t) mask[b * length + t] = offset_ + t >= padding_[b];
  }
  return from_host(mask, {rows, length}, padding_array_->device());
}

std::optional<Array> KVCache::AnyArray() const {
  for (const std::optional<Array>& a : *arrays_) {
    if (a) return a;
  }
  return std::nullopt;
}

void KVCache::FilterArrays(const Array& rows) {
  for (std::optional<Array>& a : *arrays_) {
    if (a) a = take(*a, rows, 0);
  }
}

void KVCache::ExtendArrays(const KVCache& other) {
  for (size_t i = 0; i < arrays_->size(); ++i) {
    std::optional<Array>& mine = (*arrays_)[i];
    const std::optional<Array>& theirs = (*other.arrays_)[i];
    if (!mine && !theirs) continue;
    // A slot never set holds zeros, as the layer's first step reads it.
    auto rows_of = [](const KVCache& c, const std::optional<Array>& a, const Array& like) {
      if (a) return *a;
      Shape shape = like.shape();
      shape[0] = c.rows();
      return zeros(shape, like.dtype(), like.device());
    };
    const Array& like = mine ? *mine : *theirs;
    mine = concatenate({rows_of(*this, mine, like), rows_of(other, theirs, like)}, 0);
  }
}

KVCache KVCache::ExtractArrays(int64_t row, int64_t start, int64_t length) const {
  if (length != offset_ - start) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat("row ", row, " of an arrays cache holds the state after its ",
                                      offset_ - start, " tokens; it cannot give that of ", length,
                                      " (a linear-attention layer's state cannot be taken back)."));
  }
  KVCache out = arrays(static_cast<int>(arrays_->size()));
  out.offset_ = length;
  for (size_t i = 0; i < arrays_->size(); ++i) {
    const std::optional<Array>& a = (*arrays_)[i];
    if (!a) continue;
    Shape start_at(a->shape().size(), 0), stop = a->shape();
    start_at[0] = row;
    stop[0] = row + 1;
    (*out.arrays_)[i] = slice(*a, start_at, stop);
  }
  return out;
}

void KVCache::RefuseArrays(const char* what) const {
  if (!arrays_) return;
  detail::ThrowOpError("KVCache",
                       absl::StrCat(what,
                                    " takes a cache of keys and values, not an arrays cache (a "
                                    "linear-attention layer's state, mlx-lm's ArraysCache)."));
}

}  // namespace ferry::lm
