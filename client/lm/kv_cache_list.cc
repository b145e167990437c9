// KVCache's list mode (mlx-lm's CacheList): a layer's caches of several kinds, each used by
// the layer through part(i); what is asked of the whole goes to every part.

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"

namespace ferry::lm {

KVCache KVCache::list(std::vector<KVCache> parts) {
  if (parts.empty()) detail::ThrowOpError("KVCache", "a cache list holds 1 or more caches.");
  for (const KVCache& part : parts) {
    if (part.is_list()) detail::ThrowOpError("KVCache", "a cache list's part is not a list.");
  }
  KVCache cache;
  cache.list_ = std::move(parts);
  return cache;
}

const KVCache& KVCache::part(int i) const {
  if (i < 0 || i >= parts()) {
    detail::ThrowOpError("KVCache", is_list() ? absl::StrCat("part ", i,
                                                             " is not among the cache "
                                                             "list's ",
                                                             parts(), ".")
                                              : std::string("the cache is not a list of caches "
                                                            "(KVCache::list, mlx-lm's "
                                                            "CacheList)."));
  }
  return list_[static_cast<size_t>(i)];
}

KVCache& KVCache::part(int i) {
  return const_cast<KVCache&>(static_cast<const KVCache&>(*this).part(i));
}

int64_t KVCache::ListOffset() const {
  int64_t offset = 0;
  for (const KVCache& part : list_) offset = std::max(offset, part.offset());
  return offset;
}

bool KVCache::is_trimmable() const {
  if (is_list()) {
    return std::all_of(list_.begin(), list_.end(),
                       [](const KVCache& part) { return part.is_trimmable(); });
  }
  return !is_arrays();
}

void KVCache::ExtendList(const KVCache& other) {
  if (other.parts() != parts()) {
    detail::ThrowOpError(
        "KVCache",
        absl::StrCat("extend takes a cache list of as many parts (", parts(), "), not ",
                     other.is_list() ? "one of another count" : "a cache of another kind", "."));
  }
  for (size_t i = 0; i < list_.size(); ++i) list_[i].extend(other.list_[i]);
}

KVCache KVCache::ExtractList(int64_t row, int64_t length) const {
  std::vector<KVCache> parts;
  for (const KVCache& part : list_) parts.push_back(part.extract(row, length));
  return list(std::move(parts));
}

}  // namespace ferry::lm
