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
  if (!left_padding_) return causal;
  const Array padding = reshape(*left_padding_, {left_padding_->shape(0), 1, 1, 1});
  return logical_and(causal,
                     logical_or(keys >= padding, expand_dims(keys, 0) == expand_dims(queries, 1)));
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
