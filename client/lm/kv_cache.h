#ifndef FERRY_CLIENT_LM_KV_CACHE_H_
#define FERRY_CLIENT_LM_KV_CACHE_H_

// A decoder layer's keys and values, as mlx-lm's KVCache, made for graphs that travel: the
// buffers grow 256 positions at a time and are written at a position given as an array
// (bound to the step, not part of its graph), so every step between two growths is the same
// graph, sent once and then named by its fingerprint.

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "client/array.h"

namespace ferry::lm {

class KVCache {
 public:
  static constexpr int64_t kStep = 256;

  // Writes keys (B, Hkv, L, D) and values (B, Hkv, L, Dv) at the next L positions and
  // returns the whole buffers, (B, Hkv, capacity, D): positions from offset() on hold
  // zeros, which the mask hides. `position` is offset_array()'s array.
  std::pair<Array, Array> update_and_fetch(const Array& keys, const Array& values,
                                           const Array& position);

  // Tokens written so far (known here, without reading the device).
  int64_t offset() const { return offset_; }
  // The same as an int32 array of one element on `device`, bound to the step that reads it.
  Array offset_array(const Device& device) const;
  // Positions the buffers hold, and will hold once `length` more are written.
  int64_t capacity() const { return keys_ ? keys_->shape(2) : 0; }
  int64_t capacity_for(int64_t length) const;
  bool empty() const { return !keys_.has_value(); }

  // Which keys each of the next `length` queries sees, for a cache about to hold them:
  // bool (length, capacity_for(length)), key j visible to query i when j <= position + i.
  // With left padding, (B, 1, length, capacity): row b's first padding[b] keys are hidden
  // from every query but their own (a padding query then sees itself, never nothing).
  // With a `window` (a sliding-window layer's, mlx-lm's window_size), key j is also hidden
  // from query i once it is `window` or more behind it (j <= position + i - window). The
  // buffers still keep every position: a rotating buffer bounding memory is to come.
  Array make_mask(int64_t length, const Array& position,
                  std::optional<int64_t> window = std::nullopt) const;

  // A batch of sequences of different lengths, right-aligned: how many positions of each
  // row are padding (batch_generate's left-padded prompts). Set on an empty cache.
  void set_left_padding(std::vector<int32_t> padding, const Device& device);
  const std::vector<int32_t>& left_padding() const { return padding_; }
  // Rows of the batch (1 for a cache that was never padded).
  int64_t rows() const;

  // Where RoPE puts the next keys: `position` (offset_array()'s) alone, or per row its own
  // count of tokens, (B,), once padded: each row's keys are rotated as they would be alone,
  // so rows that joined the batch at different points (extend) attend as they would alone.
  Array rope_offset(const Array& position) const;

  // Continuous batching (mlx-lm's BatchKVCache.filter / extend / extract):
  // Keeps only these rows (ascending). Padding every row shares is dropped in whole steps,
  // so a batch that shrinks does not carry a departed long prompt's positions.
  void filter(const std::vector<int64_t>& keep);
  // Appends other's rows, both right-aligned to the longer (the shorter gains left padding).
  void extend(const KVCache& other);
  // Row `row`'s first `length` tokens as a cache of its own (no padding): what a finished
  // sequence leaves for a prompt cache.
  KVCache extract(int64_t row, int64_t length) const;

  // The arrays to evaluate with a step so that the next step reads them, not their graph.
  std::vector<Array> state() const;

  // Forgets the last n positions (at most offset()); returns how many it forgot.
  int64_t trim(int64_t n);

 private:
  // Replaces the padding, and its array on `device`.
  void SetPadding(std::vector<int32_t> padding, const Device& device);

  std::optional<Array> keys_, values_;
  std::vector<int32_t> padding_;  // per row; empty when never padded
  std::optional<Array> padding_array_;
  int64_t offset_ = 0;
};

// Every layer's keys and values: evaluated with a step, so the next reads them as they are.
std::vector<Array> CacheState(const std::vector<KVCache>& cache);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_KV_CACHE_H_
