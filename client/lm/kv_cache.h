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

  // A batch of prompts of different lengths, left-padded to one (batch_generate): how many
  // positions of each row (B,) int32 are padding. RoPE's scores depend only on distances,
  // so a row shifted right by its padding attends as it would alone.
  void set_left_padding(Array padding) { left_padding_ = std::move(padding); }

  // The arrays to evaluate with a step so that the next step reads them, not their graph.
  std::vector<Array> state() const;

  // Forgets the last n positions (at most offset()); returns how many it forgot.
  int64_t trim(int64_t n);

 private:
  std::optional<Array> keys_, values_;
  std::optional<Array> left_padding_;
  int64_t offset_ = 0;
};

// Every layer's keys and values: evaluated with a step, so the next reads them as they are.
std::vector<Array> CacheState(const std::vector<KVCache>& cache);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_KV_CACHE_H_
