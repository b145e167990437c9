#include "client/lm/prompt_cache_file.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/error.h"
#include "client/io.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

[[noreturn]] void Fail(ErrorCode code, const std::string& message) {
  throw Error(code, absl::StrCat("[prompt_cache] ", message));
}

}  // namespace

// One leaf of a cache's state, as save_prompt_cache flattens it: an array, an int (saved as
// a 0-d int32 array, named a "scalar"), None (an empty array, named "none"), or a string (a
// CacheList's part's class, saved as its characters' codes, named a "string").
struct StateLeaf {
  std::optional<Array> array;
  int64_t scalar = 0;
  enum Kind { kArray, kScalar, kNone, kMissing, kString } kind = kNone;
  std::string text;
};
using State = std::vector<std::pair<std::string, StateLeaf>>;  // path within the layer

StateLeaf Leaf(const std::optional<Array>& a) {
  return a ? StateLeaf{a, 0, StateLeaf::kArray} : StateLeaf{};
}
StateLeaf Scalar(int64_t v) { return StateLeaf{std::nullopt, v, StateLeaf::kScalar}; }

// KVCache's state as mlx-lm's cache classes hold it, and a KVCache from theirs.
class MlxCacheState {
 public:
  static std::pair<std::string, State> Of(const KVCache& c) {
    if (c.is_list()) {
      // mlx-lm's CacheList.state: each part's (state, class name).
      State state;
      for (size_t j = 0; j < c.list_.size(); ++j) {
        const auto [type, part] = Of(c.list_[j]);
        for (const auto& [path, leaf] : part)
          state.emplace_back(absl::StrCat(j, ".0.", path), leaf);
        state.emplace_back(absl::StrCat(j, ".1"),
                           StateLeaf{std::nullopt, 0, StateLeaf::kString, type});
      }
      return {"CacheList", state};
    }
    if (!c.padding_.empty() || c.rows() > 1) {
      Fail(ErrorCode::kInvalidArgument,
           "a batch's cache (its rows, their padding) is not a prompt cache; save one "
           "sequence's");
    }
    if (c.arrays_) {
      State state;
      for (size_t i = 0; i < c.arrays_->size(); ++i) {
        state.emplace_back(absl::StrCat("0.", i), Leaf((*c.arrays_)[i]));
      }
      state.emplace_back("1", StateLeaf{});  // left_padding
      state.emplace_back("2", StateLeaf{});  // lengths
      return {"ArraysCache", state};
    }
    if (c.bits_) {
      State state = {
          {"0.0", Leaf(c.keys_)},   {"0.1", Leaf(c.key_scales_)},   {"0.2", Leaf(c.key_biases_)},
          {"1.0", Leaf(c.values_)}, {"1.1", Leaf(c.value_scales_)}, {"1.2", Leaf(c.value_biases_)},
          {"2", Scalar(c.offset_)}, {"3", Scalar(c.group_size_)},   {"4", Scalar(*c.bits_)}};
      return {"QuantizedKVCache", state};
    }
    if (!c.max_size_) {
      return {"KVCache", {{"0", Leaf(c.keys_)}, {"1", Leaf(c.values_)}, {"2", Scalar(c.offset_)}}};
    }
    if (c.held_from_ != 0) {
      Fail(ErrorCode::kUnimplemented,
           "a rotating cache trimmed after it wrapped hides positions mlx-lm's cannot");
    }
    // The positions the ring holds, in time order (mlx-lm's _temporal_order): a rotating
    // cache's _idx after them, a chunked one's start_position at the first.
    std::optional<Array> keys, values;
    int64_t held = 0;
    if (c.keys_) {
      std::vector<int32_t> slots;
      const int64_t ring = *c.max_size_ - c.keep_;
      for (int64_t p = 0; p < std::min(c.keep_, c.offset_); ++p) {
        slots.push_back(static_cast<int32_t>(c.Slot(p)));
      }
      for (int64_t p = std::max(c.keep_, c.offset_ - ring); p < c.offset_; ++p) {
        slots.push_back(static_cast<int32_t>(c.Slot(p)));
      }
      held = static_cast<int64_t>(slots.size());
      const Array index = from_host(slots, {held}, c.keys_->device());
      keys = take(*c.keys_, index, 2);
      values = take(*c.values_, index, 2);
    }
    if (c.chunk_size_) {
      return {"ChunkedKVCache",
              {{"0", Leaf(keys)},
               {"1", Leaf(values)},
               {"2", Scalar(c.offset_)},
               {"3", Scalar(*c.chunk_size_)},
               {"4", Scalar(c.offset_ - held)}}};
    }
    return {"RotatingKVCache",
            {{"0", Leaf(keys)},
             {"1", Leaf(values)},
             {"2", Scalar(c.offset_)},
             {"3", Scalar(c.keep_)},
             {"4", Scalar(*c.max_size_)},
             {"5", Scalar(held)}}};
  }

  // `leaf(path)` gives the layer's leaf at a path of its state.
  static KVCache From(const std::string& type, int layer,
                      const std::function<StateLeaf(const std::string&)>& leaf) {
    auto array = [&](const std::string& path) -> std::optional<Array> {
      StateLeaf l = leaf(path);
      if (l.kind == StateLeaf::kScalar || l.kind == StateLeaf::kMissing) {
        Malformed(layer, path, "an array");
      }
      return l.array;
    };
    auto scalar = [&](const std::string& path) {
      StateLeaf l = leaf(path);
      if (l.kind != StateLeaf::kScalar) Malformed(layer, path, "a number");
      return l.scalar;
    };
    KVCache c;
    if (type == "CacheList") {
      std::vector<KVCache> parts;
      for (int j = 0;; ++j) {
        const StateLeaf part_type = leaf(absl::StrCat(j, ".1"));
        if (part_type.kind == StateLeaf::kMissing) break;  // past the list
        if (part_type.kind != StateLeaf::kString)
          Malformed(layer, absl::StrCat(j, ".1"), "a class");
        const std::string prefix = absl::StrCat(j, ".0.");
        parts.push_back(From(part_type.text, layer,
                             [&](const std::string& path) { return leaf(prefix + path); }));
      }
      if (parts.empty()) Malformed(layer, "0.1", "a class");
      return KVCache::list(std::move(parts));
    }
    if (type == "KVCache") {
      c.keys_ = array("0");
      c.values_ = array("1");
      c.offset_ = scalar("2");
    } else if (type == "QuantizedKVCache") {
      c.keys_ = array("0.0");
      c.key_scales_ = array("0.1");
      c.key_biases_ = array("0.2");
      c.values_ = array("1.0");
      c.value_scales_ = array("1.1");
      c.value_biases_ = array("1.2");
      c.offset_ = scalar("2");
      c.group_size_ = static_cast<int>(scalar("3"));
      c.bits_ = static_cast<int>(scalar("4"));
    } else if (type == "RotatingKVCache") {
      c = KVCache::rotating(scalar("4"), scalar("3"));
      c.offset_ = scalar("2");
      const std::optional<Array> keys = array("0"), values = array("1");
      if (keys && values)
        Ring(c, Temporal(*keys, c, scalar("5")), Temporal(*values, c, scalar("5")));
    } else if (type == "ChunkedKVCache") {
      // Position start_position + i at index i, up to offset.
      c = KVCache::chunked(scalar("3"));
      c.offset_ = scalar("2");
      const std::optional<Array> keys = array("0"), values = array("1");
      const int64_t held = c.offset_ - scalar("4");
      if (keys && values && held > 0) {
        Shape stop = keys->shape();
        stop[2] = held;
        Shape vstop = values->shape();
        vstop[2] = held;
        Ring(c, slice(*keys, Shape(4, 0), stop), slice(*values, Shape(4, 0), vstop));
      }
    } else if (type == "ArraysCache") {
      if (leaf("1").kind != StateLeaf::kNone || leaf("2").kind != StateLeaf::kNone) {
        Fail(
            ErrorCode::kInvalidArgument,
            absl::StrCat("layer ", layer, "'s ArraysCache is a batch's (left_padding or lengths)"));
      }
      KVCache::Slots slots;
      for (int i = 0;; ++i) {
        StateLeaf l = leaf(absl::StrCat("0.", i));
        if (l.kind == StateLeaf::kMissing) break;  // past the list
        slots.push_back(l.array);
      }
      c = KVCache::arrays(static_cast<int>(slots.size()));
      *c.arrays_ = slots;
    } else {
      Fail(ErrorCode::kUnimplemented,
           absl::StrCat("layer ", layer, "'s cache is a ", type,
                        ", which ferry does not read (KVCache, QuantizedKVCache, "
                        "RotatingKVCache, ChunkedKVCache, ArraysCache and CacheList)"));
    }
    return c;
  }

  // An arrays cache counts the tokens the other layers hold (mlx-lm's keeps no count).
  static void SetOffset(KVCache& c, int64_t offset) {
    for (KVCache& part : c.list_) SetOffset(part, offset);
    if (c.is_arrays() && !c.empty()) c.offset_ = offset;
  }

 private:
  [[noreturn]] static void Malformed(int layer, const std::string& path, const char* want) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("layer ", layer, "'s state ", path, " is not ", want));
  }

  // mlx-lm's _temporal_order of a RotatingKVCache's buffer, with its _idx.
  static Array Temporal(const Array& v, const KVCache& c, int64_t idx) {
    const int64_t n = v.shape(2);
    auto part = [&](int64_t from, int64_t to) {
      Shape start(4, 0), stop = v.shape();
      start[2] = from;
      stop[2] = to;
      return slice(v, start, stop);
    };
    if (idx == n) return v;
    if (idx < c.offset_)
      return concatenate({part(0, c.keep_), part(idx, n), part(c.keep_, idx)}, 2);
    return part(0, idx);
  }

  // The ring's buffers from positions in time order: the first keep_, then the latest; each
  // slot takes the latest position it holds.
  static void Ring(KVCache& c, const Array& keys, const Array& values) {
    const int64_t n = keys.shape(2), ring = *c.max_size_ - c.keep_, last = c.offset_ - 1;
    const int64_t first_latest = c.offset_ - (n - std::min(c.keep_, n));  // T's entry keep_
    const int64_t capacity = std::min(*c.max_size_, KVCache::RoundUp(c.offset_));
    std::vector<int32_t> from(static_cast<size_t>(capacity), 0);  // unheld slots: masked
    for (int64_t j = 0; j < capacity && last >= 0; ++j) {
      const int64_t p = j < c.keep_ ? j : last - (c.Slot(last) - j + ring) % ring;
      if (p > last || p < 0) continue;
      if (p < c.keep_) {
        if (p < n) from[j] = static_cast<int32_t>(p);
      } else if (p >= first_latest) {
        from[j] = static_cast<int32_t>(std::min(c.keep_, n) + (p - first_latest));
      }
    }
    const Array index = from_host(from, {capacity}, keys.device());
    c.keys_ = take(keys, index, 2);
    c.values_ = take(values, index, 2);
  }
};

void save_prompt_cache(const std::string& path, const std::vector<KVCache>& cache,
                       const std::map<std::string, std::string>& metadata) {
  std::unordered_map<std::string, Array> arrays;
  std::unordered_map<std::string, std::string> meta;
  for (const auto& [key, value] : metadata) meta[absl::StrCat("0.", key)] = value;
  meta["2.0"] = "";  // mlx-lm's scalars list starts with a placeholder
  int scalars = 0;
  for (size_t i = 0; i < cache.size(); ++i) {
    const auto [type, state] = MlxCacheState::Of(cache[i]);
    meta[absl::StrCat("1.", i)] = type;
    for (const auto& [leaf_path, leaf] : state) {
      const std::string name = absl::StrCat(i, ".", leaf_path);
      if (leaf.kind == StateLeaf::kArray) {
        arrays.emplace(name, *leaf.array);
        continue;
      }
      ++scalars;
      meta[absl::StrCat("2.", scalars, ".0")] = name;
      meta[absl::StrCat("2.", scalars, ".1")] = leaf.kind == StateLeaf::kScalar   ? "scalar"
                                                : leaf.kind == StateLeaf::kString ? "string"
                                                                                  : "none";
      if (leaf.kind == StateLeaf::kString) {
        const std::vector<int32_t> codes(leaf.text.begin(), leaf.text.end());
        arrays.emplace(name, from_host(codes, {static_cast<int64_t>(codes.size())}));
        continue;
      }
      arrays.emplace(name, leaf.kind == StateLeaf::kScalar
                               ? full({}, static_cast<double>(leaf.scalar), int32)
                               : zeros({0}, float32));
    }
  }
  save_safetensors(path, std::move(arrays), meta);
}

std::pair<std::vector<KVCache>, std::map<std::string, std::string>> load_prompt_cache(
    const std::string& path, const Device& device) {
  SafetensorsLoad loaded = load_safetensors(path, device);  // captured below: no binding
  const auto& arrays = loaded.first;
  const auto& meta = loaded.second;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> classes;
  std::unordered_map<std::string, std::string> kinds;  // a leaf's name to "scalar" or "none"
  std::map<int, std::pair<std::string, std::string>> scalars;
  for (const auto& [key, value] : meta) {
    const std::vector<std::string> parts = absl::StrSplit(key, absl::MaxSplits('.', 1));
    if (parts.size() < 2) continue;
    if (parts[0] == "0") {
      metadata[parts[1]] = value;
    } else if (parts[0] == "1") {
      size_t i = 0;
      if (!absl::SimpleAtoi(parts[1], &i))
        Fail(ErrorCode::kInvalidArgument, "bad class key " + key);
      if (classes.size() <= i) classes.resize(i + 1);
      classes[i] = value;
    } else if (parts[0] == "2") {
      const std::vector<std::string> entry = absl::StrSplit(parts[1], '.');
      int k = 0;
      if (entry.size() == 2 && absl::SimpleAtoi(entry[0], &k)) {
        (entry[1] == "0" ? scalars[k].first : scalars[k].second) = value;
      }
    }
  }
  if (classes.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat(path,
                      " names no cache classes: not a prompt cache mlx-lm's "
                      "save_prompt_cache wrote"));
  }
  for (const auto& [k, entry] : scalars) kinds[entry.first] = entry.second;
  std::vector<KVCache> cache;
  int64_t offset = 0;
  for (size_t i = 0; i < classes.size(); ++i) {
    auto leaf = [&, i](const std::string& leaf_path) {
      const std::string name = absl::StrCat(i, ".", leaf_path);
      auto array = arrays.find(name);
      if (array == arrays.end()) return StateLeaf{std::nullopt, 0, StateLeaf::kMissing};
      auto kind = kinds.find(name);
      if (kind == kinds.end()) return Leaf(array->second);
      if (kind->second == "none") return StateLeaf{};
      if (kind->second == "string") {
        const std::vector<int32_t> codes = astype(array->second, int32).to_vector<int32_t>();
        return StateLeaf{std::nullopt, 0, StateLeaf::kString,
                         std::string(codes.begin(), codes.end())};
      }
      return Scalar(astype(array->second, int64).item<int64_t>());
    };
    cache.push_back(MlxCacheState::From(classes[i], static_cast<int>(i), leaf));
    if (!cache.back().is_arrays()) offset = std::max(offset, cache.back().offset());
  }
  for (KVCache& layer : cache) MlxCacheState::SetOffset(layer, offset);
  return {std::move(cache), std::move(metadata)};
}

}  // namespace ferry::lm
