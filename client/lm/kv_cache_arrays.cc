// KVCache's arrays mode (mlx-lm's ArraysCache): a linear-attention layer's own arrays.

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"

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

void KVCache::RefuseArrays(const char* what) const {
  if (!arrays_) return;
  detail::ThrowOpError("KVCache",
                       absl::StrCat(what,
                                    " takes a cache of keys and values, not an arrays cache (a "
                                    "linear-attention layer's state, mlx-lm's ArraysCache)."));
}

}  // namespace ferry::lm
