// KVCache's quantized mode (mlx-lm's QuantizedKVCache): keys and values stored as affine
// codes with their scales and biases, written a step at a time like a plain cache's.

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/kv_cache.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

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

KVCache KVCache::to_quantized(int group_size, int bits) const {
  RefuseArrays("to_quantized");
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

}  // namespace ferry::lm
