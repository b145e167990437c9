// KVCache's arrays mode (mlx-lm's ArraysCache): a linear-attention layer's own arrays, and
// their rows moved by continuous batching. The padding counts columns as the other modes'
// does (kv_cache_batch.cc), so the layers of one model move together; a row's state is its
// own whatever its column, so its rows move as they are. The states kept for steps in
// flight (keep_steps) move with them.

#include <algorithm>
#include <cstddef>
#include <string>
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
  if (keep_steps_ == 0) return;
  kept_.push_back(StepState{offset_, *arrays_});
  if (kept_.size() > static_cast<size_t>(keep_steps_) + 1) kept_.pop_front();
}

void KVCache::keep_steps(int steps) {
  for (KVCache& part : list_) part.keep_steps(steps);
  if (!arrays_) return;
  keep_steps_ = std::max(steps, 0);
  kept_.clear();
  if (keep_steps_ > 0) kept_.push_back(StepState{offset_, *arrays_});
}

int64_t KVCache::TrimArrays(int64_t n) {
  if (n <= 0) return 0;
  for (size_t i = kept_.size(); i-- > 0;) {
    if (kept_[i].offset != offset_ - n) continue;
    kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(i) + 1, kept_.end());
    offset_ = kept_.back().offset;
    *arrays_ = kept_.back().arrays;
    return n;
  }
  detail::ThrowOpError(
      "KVCache",
      keep_steps_ == 0
          ? std::string("an arrays cache (a linear-attention layer's state, mlx-lm's "
                        "ArraysCache) cannot be trimmed: its state holds every token seen.")
          : absl::StrCat("an arrays cache keeps the states of its last ", keep_steps_,
                         " steps (keep_steps), none after ", offset_ - n, " of its ", offset_,
                         " tokens: it cannot forget ", n, "."));
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
  auto filter = [&](Slots& slots) {
    for (std::optional<Array>& a : slots) {
      if (a) a = take(*a, rows, 0);
    }
  };
  filter(*arrays_);
  for (size_t i = 0; i + 1 < kept_.size(); ++i) filter(kept_[i].arrays);
  if (!kept_.empty()) kept_.back().arrays = *arrays_;  // the newest: the current state
}

void KVCache::ExtendArrays(const KVCache& other) {
  auto extend = [&](Slots& slots) {
    for (size_t i = 0; i < slots.size(); ++i) {
      std::optional<Array>& mine = slots[i];
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
  };
  extend(*arrays_);
  // In the states kept before, the joining rows are as they join: no step of theirs is
  // taken back past it (their first is after it).
  const int64_t shift = std::max(offset_, other.offset_) - offset_;
  for (size_t i = 0; i + 1 < kept_.size(); ++i) {
    extend(kept_[i].arrays);
    kept_[i].offset += shift;
  }
  if (!kept_.empty()) kept_.back() = StepState{offset_ + shift, *arrays_};
}

KVCache KVCache::ExtractArrays(int64_t row, int64_t start, int64_t length) const {
  if (length != offset_ - start) {
    detail::ThrowOpError("KVCache",
                         absl::StrCat("row ", row, " of an arrays cache holds the state after its ",
                                      offset_ - start, " tokens; it cannot give that of ", length,
                                      " (a linear-attention layer's state cannot be taken back)."));
  }
  auto row_of = [&](const Slots& slots) {
    Slots out(slots.size());
    for (size_t i = 0; i < slots.size(); ++i) {
      const std::optional<Array>& a = slots[i];
      if (!a) continue;
      Shape start_at(a->shape().size(), 0), stop = a->shape();
      start_at[0] = row;
      stop[0] = row + 1;
      out[i] = slice(*a, start_at, stop);
    }
    return out;
  };
  KVCache out = arrays(static_cast<int>(arrays_->size()));
  out.offset_ = length;
  *out.arrays_ = row_of(*arrays_);
  // The row's kept states, lazy slices (only one trimmed back to is computed). Those from
  // before it joined the batch hold its state as it joined: never gone back to, its first
  // step being after it.
  out.keep_steps_ = keep_steps_;
  for (size_t i = 0; i + 1 < kept_.size(); ++i) {
    if (kept_[i].offset >= start) {
      out.kept_.push_back(StepState{kept_[i].offset - start, row_of(kept_[i].arrays)});
    }
  }
  if (!kept_.empty()) out.kept_.push_back(StepState{length, *out.arrays_});
  return out;
}

void KVCache::RefuseArrays(const char* what) const {
  if (is_list()) {
    detail::ThrowOpError("KVCache", absl::StrCat(what,
                                                 " takes a cache of keys and values, not a cache "
                                                 "list (mlx-lm's CacheList): its parts take it."));
  }
  if (!arrays_) return;
  detail::ThrowOpError("KVCache",
                       absl::StrCat(what,
                                    " takes a cache of keys and values, not an arrays cache (a "
                                    "linear-attention layer's state, mlx-lm's ArraysCache)."));
}

}  // namespace ferry::lm
