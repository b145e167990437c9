#ifndef FERRY_CLIENT_LM_KV_CACHE_H_
#define FERRY_CLIENT_LM_KV_CACHE_H_

// A decoder layer's keys and values, as mlx-lm's KVCache, made for graphs that travel: the
// buffers grow 256 positions at a time and are written at a position given as an array
// (bound to the step, not part of its graph), so every step between two growths is the same
// graph, sent once and then named by its fingerprint.
//
// Rotating (KVCache::rotating, mlx-lm's RotatingKVCache): a mode of the same class, since
// every model takes a std::vector<KVCache>* and asks its caches for the position and the
// masks (layer_masks.h: each kind of layer's from a cache of its kind); so the models run
// either kind unchanged, layer by layer. The buffers hold at
// most max_size positions: the first `keep` and the latest max_size - keep, position p in
// slot p < keep ? p : keep + (p - keep) % (max_size - keep). A one-token step (a decode)
// writes its slot, computed on the device from the position array, and the mask shows the
// slots written (and, for a window under max_size, those within it): one graph step after
// step once the buffers reach max_size. A chunk of several tokens (a prefill) attends as
// mlx-lm's _update_concat lets it: over the max_size - 1 latest positions kept (with the
// first `keep`) followed by the chunk, under a window of max_size counted in that
// sequence, whose keys update_and_fetch returns; the ring keeps what it can hold of them.
// trim() after the ring wrapped cannot bring back the slots it overwrote: it hides them
// until they are written again (mlx-lm refuses to trim then).
//
// Chunked (KVCache::chunked, mlx-lm's ChunkedKVCache, kv_cache_chunked.cc): a rotating cache
// of one chunk whose masks show each query the earlier positions of its own chunk only (Llama
// 4's local layers); it takes no batch moves, as mlx-lm's has no merge.
//
// Quantized (to_quantized, mlx-lm's QuantizedKVCache, from KVCache.to_quantized): a third
// mode, as a plain cache once generation's quantized_kv_start positions are in it
// (maybe_quantize_kv_cache). The buffers hold quantize()'s words, scales and biases (affine,
// groups of group_size along the head's features) in the plain cache's steps of kStep
// positions, and a step quantizes its keys and values and writes them at the position
// array, as the plain cache does: one graph between growths, in bits / 16 of a 16-bit
// cache's memory (plus a scale and a bias per group). lm::attention (attention.h) reads
// them through quantized_matmul, so update_and_fetch_quantized stands for update_and_fetch.
//
// Continuous batching (extend, filter, extract, set_left_padding) moves rows of plain,
// rotating and arrays caches (mlx-lm's BatchKVCache, BatchRotatingKVCache, ArraysCache;
// kv_cache_batch.cc, kv_cache_batch_rotating.cc, kv_cache_arrays.cc), and of every part of a
// list of them (mlx-lm's CacheList, kv_cache_list.cc); a quantized cache, or a
// rotating one keeping first positions or hiding trimmed ones, refuses them (INVALID_ARGUMENT). A
// batch's rows are right-aligned in columns every layer shares (the position array), so a rotating
// batch's ring is shared: column c in slot c % max_size, each row hiding the columns before its own
// (its padding). BatchGenerator and batch_generate take make_prompt_cache()'s caches (the sliding
// layers' rotating: memory bounded by the window), and the server's PromptCache keeps what the
// batch hands back; speculative decoding keeps plain ones.

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "client/array.h"

namespace ferry::lm {

class Model;

class KVCache {
 public:
  static constexpr int64_t kStep = 256;

  // A plain cache, keeping every position.
  KVCache() = default;
  // mlx-lm's RotatingKVCache(max_size, keep): at most max_size positions, the first `keep`
  // always among them. Throws INVALID_ARGUMENT unless 0 <= keep < max_size.
  static KVCache rotating(int64_t max_size, int64_t keep = 0);
  // mlx-lm's ChunkedKVCache(chunk_size) (Llama 4's local layers, kv_cache_chunked.cc): a
  // rotating cache of chunk_size positions whose queries see only the earlier positions of
  // their own chunk (p / chunk_size alike), whatever window make_mask is given. The ring is
  // the chunk, so a decode step is one graph, as a rotating one's. Not batchable: mlx-lm's
  // has no merge. Throws INVALID_ARGUMENT unless chunk_size is positive.
  static KVCache chunked(int64_t chunk_size);
  // The chunked cache's chunk (none for any other; max_size() is the same).
  std::optional<int64_t> chunk_size() const { return chunk_size_; }
  // The rotating cache's bound (none for a plain cache).
  std::optional<int64_t> max_size() const { return max_size_; }
  int64_t keep() const { return keep_; }
  // Whether continuous batching can move its rows (set_left_padding, extend, filter,
  // extract): plain and arrays caches, and rotating ones keeping no first positions and
  // hiding no trimmed ones (mlx-lm's caches that have merge); never a chunked one.
  bool batchable() const;

  // mlx-lm's KVCache.to_quantized: this plain cache's positions quantized (affine, `bits` 1
  // to 6 or 8, groups of group_size 32, 64 or 128 along the head's features) into a
  // quantized cache; this one is left as it was. Throws INVALID_ARGUMENT for a rotating cache
  // (mlx-lm's RotatingKVCache.to_quantized: "NYI"), a batch's (left padding: mlx-lm's
  // BatchKVCache has none), a quantized one, other bits or group sizes, and head dimensions
  // that are not a multiple of group_size.
  KVCache to_quantized(int group_size = 64, int bits = 4) const;
  // The quantized cache's bits (none for a plain or rotating cache) and group size.
  std::optional<int> bits() const { return bits_; }
  int group_size() const { return group_size_; }
  // A quantized cache's keys or values: quantize()'s words (B, Hkv, capacity, D * bits / 32),
  // scales and biases (B, Hkv, capacity, D / group_size).
  struct Quantized {
    Array words, scales, biases;
  };
  // update_and_fetch of a quantized cache: keys and values quantized, written at the next L
  // positions, and the whole buffers returned (positions from offset() on masked, as in
  // the plain cache). Throws INVALID_ARGUMENT for a cache that is not quantized.
  std::pair<Quantized, Quantized> update_and_fetch_quantized(const Array& keys, const Array& values,
                                                             const Array& position);

  // Writes keys (B, Hkv, L, D) and values (B, Hkv, L, Dv) at the next L positions and
  // returns the whole buffers, (B, Hkv, capacity, D): positions from offset() on hold
  // zeros, which the mask hides. `position` is offset_array()'s array. Rotating, it returns
  // capacity_for(L) keys: the ring for one token, the kept positions and the chunk for more.
  // A quantized cache refuses it (INVALID_ARGUMENT): its keys are read by lm::attention.
  std::pair<Array, Array> update_and_fetch(const Array& keys, const Array& values,
                                           const Array& position);

  // Tokens written so far (known here, without reading the device).
  int64_t offset() const { return list_.empty() ? offset_ : ListOffset(); }
  // The same as an int32 array of one element on `device`, bound to the step that reads it.
  Array offset_array(const Device& device) const;
  // Positions the buffers hold, and will hold once `length` more are written (rotating: the
  // keys update_and_fetch will return for them).
  int64_t capacity() const { return keys_ ? keys_->shape(2) : 0; }
  int64_t capacity_for(int64_t length) const;
  bool empty() const {
    return !list_.empty() ? list_.front().empty()
           : arrays_      ? !arrays_->front().has_value()
                          : !keys_.has_value();
  }

  // Which keys each of the next `length` queries sees, for a cache about to hold them:
  // bool (length, capacity_for(length)), key j visible to query i when j <= position + i.
  // With left padding, (B, 1, length, capacity): row b's first padding[b] keys are hidden
  // from every query but their own (a padding query then sees itself, never nothing).
  // With a `window` (a sliding-window layer's, mlx-lm's window_size), key j is also hidden
  // from query i once it is `window` or more behind it (j <= position + i - window).
  // Rotating, over capacity_for(length) keys: (1, ring) for one token, the slots written
  // (within the window when it is under max_size); (length, kept + length) for a chunk,
  // mlx-lm's create_causal_mask over them with window (max_size when unset).
  Array make_mask(int64_t length, const Array& position,
                  std::optional<int64_t> window = std::nullopt) const;

  // A batch of sequences of different lengths, right-aligned: how many positions of each
  // row are padding (batch_generate's left-padded prompts). Set on an empty cache.
  void set_left_padding(std::vector<int32_t> padding, const Device& device);
  const std::vector<int32_t>& left_padding() const {
    return list_.empty() ? padding_ : list_.front().left_padding();
  }
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
  // sequence leaves for a prompt cache. An arrays cache's state holds every token its row
  // saw: it takes only that length (INVALID_ARGUMENT otherwise), and the row's kept states
  // (keep_steps) go with it.
  KVCache extract(int64_t row, int64_t length) const;

  // The arrays to evaluate with a step so that the next step reads them, not their graph.
  std::vector<Array> state() const;
  // The buffers' bytes, as mlx-lm's nbytes (the whole capacity, written or not), with an
  // arrays cache's states kept for steps in flight (keep_steps), which mlx-lm has not.
  int64_t nbytes() const;

  // Forgets the last n positions (at most offset()); returns how many it forgot. An arrays
  // cache goes back only to a state it kept (keep_steps): it refuses any other n > 0
  // (INVALID_ARGUMENT), its state holding every token seen.
  int64_t trim(int64_t n);

  // Arrays (KVCache::arrays, mlx-lm's ArraysCache(size)): a fourth mode, for the layers that
  // keep no keys but arrays of their own, read and replaced each step (Qwen3-Next's and
  // Qwen3.5's gated delta nets: slot 0 the convolution's last kernel - 1 inputs, slot 1 the
  // recurrent state). offset() counts the tokens they have seen (advance). It holds no keys,
  // so update_and_fetch, make_mask and to_quantized refuse it (maybe_quantize_kv_cache leaves
  // it, as mlx-lm's), trim too but for the steps it keeps (keep_steps; mlx-lm's is_trimmable
  // is false). Continuous batching moves its slots' rows (mlx-lm's ArraysCache.filter,
  // extend, extract), its padding counted in columns as the other modes count it: a layer
  // masks a row's steps before its padding ends (arrays_mask). Every refusal is
  // INVALID_ARGUMENT naming the arrays cache.
  static KVCache arrays(int size);
  bool is_arrays() const { return arrays_.has_value(); }
  // Slot i's array, none until the layer sets it. Throws INVALID_ARGUMENT for a cache that is
  // not an arrays cache or a slot out of range.
  const std::optional<Array>& array(int i) const;
  void set_array(int i, Array value);
  // The layer saw n more tokens.
  void advance(int64_t n);
  // mlx-lm's ArraysCache.make_mask: for the next `length` columns, (B, length) bool, true
  // where row b's padding has ended (its steps that may enter the state). None when no row
  // pads any of them, as for every decode step once the batch's prompts are in: its graph
  // stays the same from step to step.
  std::optional<Array> arrays_mask(int64_t length) const;
  // mlx-lm's is_trimmable: every cache but an arrays cache.
  bool is_trimmable() const;
  // For generation with steps in flight (TokenGenerator, BatchGenerator): an arrays cache keeps
  // its states after each of its last `steps` advances (their arrays' handles, no copies), so
  // that trim() takes back up to that many steps sent past a reply's end, as a KV cache forgets
  // positions. 0, the default (mlx-lm's ArraysCache), keeps none. The batch moves move them
  // with the rows, and extract carries them. Other caches ignore it.
  void keep_steps(int steps);

  // A list (KVCache::list, mlx-lm's CacheList, kv_cache_list.cc): a fifth mode, for a layer
  // keeping caches of several kinds (Falcon-H1's: its mixer's arrays cache and its
  // attention's plain one), the layer using each through part(i). offset() is the largest of
  // theirs and empty() the first's; trim (each in turn, returning the last's count),
  // keep_steps and the batch moves (set_left_padding, filter, extend, extract) go to every
  // part, and batchable() and is_trimmable() hold when they hold for every part; state() and
  // nbytes() are the parts'. What reads keys or arrays (update_and_fetch, make_mask,
  // to_quantized, arrays_mask, array, advance) refuses it, and maybe_quantize_kv_cache leaves
  // it (mlx-lm's CacheList has no to_quantized). Throws INVALID_ARGUMENT for no parts or a
  // part that is a list.
  static KVCache list(std::vector<KVCache> parts);
  bool is_list() const { return !list_.empty(); }
  int parts() const { return static_cast<int>(list_.size()); }
  // Part i. Throws INVALID_ARGUMENT for a cache that is not a list or i out of range.
  KVCache& part(int i);
  const KVCache& part(int i) const;

 private:
  // prompt_cache_file.cc: mlx-lm's state of each kind, both ways.
  friend class MlxCacheState;
  // Replaces the padding, and its array on `device`.
  void SetPadding(std::vector<int32_t> padding, const Device& device);
  // Throws INVALID_ARGUMENT, naming `what`, for a quantized cache, or a rotating one keeping
  // first positions or hiding trimmed ones.
  void RefuseUnlessBatchable(const char* what) const;
  // Rotating, for the batch moves: for each of `capacity` slots of a ring holding this one's
  // columns moved by `shift` (none from `end` on), the slot now holding that column (0 when
  // none does: a column its row's padding hides).
  std::vector<int32_t> RingSlots(int64_t shift, int64_t end, int64_t capacity) const;
  // Rotating: these rows' buffers (all when `rows` is unset) through RingSlots.
  std::pair<Array, Array> RingMoved(const std::optional<Array>& rows, int64_t shift, int64_t end,
                                    int64_t capacity) const;
  // Rotating: extend's and extract's buffers (kv_cache_batch_rotating.cc).
  void ExtendRotating(const KVCache& other, int64_t end);
  KVCache ExtractRotating(int64_t row, int64_t start, int64_t length) const;
  // Throws INVALID_ARGUMENT unless keys and values are (B, heads, L, D) of one L.
  static void CheckKeysValues(const Array& keys, const Array& values);
  // Whole steps: the graphs change once per kStep positions, not per token.
  static int64_t RoundUp(int64_t n);
  // `buffer` with `added` positions of zeros after its own, shaped like `like`.
  static Array Extended(const std::optional<Array>& buffer, const Array& like, int64_t added);
  // Adds zeros to the buffers up to `capacity` positions, shaped like keys and values.
  void Grow(int64_t capacity, const Array& keys, const Array& values);
  // The same for the quantized buffers, shaped like quantized keys and values.
  void GrowQuantized(int64_t capacity, const Quantized& keys, const Quantized& values);
  // Rotating: the slot of position p, on the host and (from the position array) the device.
  int64_t Slot(int64_t p) const;
  Array SlotArray(const Array& position) const;
  // Rotating: the positions a chunk attends over before its own, oldest first.
  std::vector<int64_t> Kept() const;
  std::pair<Array, Array> UpdateRotating(const Array& keys, const Array& values,
                                         const Array& position);
  Array RotatingMask(int64_t length, const Array& position, std::optional<int64_t> window) const;
  Array ChunkedMask(int64_t length, const Array& position) const;

  std::optional<Array> keys_, values_;  // quantized: the words
  std::optional<Array> key_scales_, key_biases_, value_scales_, value_biases_;  // quantized
  std::optional<int> bits_;
  int group_size_ = 64;
  std::vector<int32_t> padding_;  // per row; empty when never padded
  std::optional<Array> padding_array_;
  int64_t offset_ = 0;
  std::optional<int64_t> max_size_;    // rotating
  std::optional<int64_t> chunk_size_;  // chunked (a rotating cache of that max_size_)
  int64_t keep_ = 0;
  // Rotating, after a trim of a wrapped ring: slots of positions from keep_ to here hold
  // trimmed ones (0 when none do).
  int64_t held_from_ = 0;
  // Throws INVALID_ARGUMENT, naming `what`, for an arrays cache.
  void RefuseArrays(const char* what) const;
  // An arrays cache's first slot set (none while empty), and its batch moves.
  std::optional<Array> AnyArray() const;
  void FilterArrays(const Array& rows);
  void ExtendArrays(const KVCache& other);
  KVCache ExtractArrays(int64_t row, int64_t start, int64_t length) const;
  int64_t TrimArrays(int64_t n);
  using Slots = std::vector<std::optional<Array>>;
  std::optional<Slots> arrays_;  // an arrays cache's slots
  // keep_steps: the states after the last advances, oldest first, the newest the current
  // one (its arrays and offset), at most keep_steps_ + 1.
  struct StepState {
    int64_t offset;
    Slots arrays;
  };
  int keep_steps_ = 0;
  std::deque<StepState> kept_;
  std::vector<KVCache> list_;  // a list's parts
  int64_t ListOffset() const;
  void ExtendList(const KVCache& other);
  KVCache ExtractList(int64_t row, int64_t length) const;
};

// Every layer's keys and values: evaluated with a step, so the next reads them as they are.
std::vector<Array> CacheState(const std::vector<KVCache>& cache);

// mlx-lm's make_prompt_cache: the caches TokenGenerator fills. A model with sliding-window
// layers (Model::sliding_window: Gemma 3, gpt-oss) or chunked ones (Model::attention_chunk:
// Llama 4) gets mlx-lm's make_cache, a rotating cache of the window or a chunked one of the
// chunk for each of those and a plain one for the others, max_kv_size unused as in mlx-lm;
// any other gets rotating caches of max_kv_size keeping 4 when it is set (mlx-lm 0.32.2 gives
// Llama a make_cache that ignores it; ferry's Llama takes it), plain ones (make_cache()) when
// not. A model whose make_cache() holds arrays caches (Qwen3-Next,
// Qwen3.5), or fewer caches than layers (Gemma 4's KV-shared layers keep none), gets it as it
// is, max_kv_size unused, as mlx-lm gives a model its make_cache.
std::vector<KVCache> make_prompt_cache(const Model& model,
                                       std::optional<int> max_kv_size = std::nullopt);

// mlx-lm's maybe_quantize_kv_cache: with `bits`, each plain cache holding quantized_kv_start
// positions or more becomes to_quantized(group_size, bits) (quantized ones stay; a rotating
// one throws, as mlx-lm's does).
void maybe_quantize_kv_cache(std::vector<KVCache>& cache, int quantized_kv_start, int group_size,
                             std::optional<int> bits);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_KV_CACHE_H_
