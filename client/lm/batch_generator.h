#ifndef FERRY_CLIENT_LM_BATCH_GENERATOR_H_
#define FERRY_CLIENT_LM_BATCH_GENERATOR_H_

// Continuous batching, as mlx-lm's BatchGenerator: sequences join a running batch as soon as
// their prompt is prefilled and leave it when they finish, so a server decodes every request
// in flight with one graph per step rather than one request after another. Each sequence
// gets the tokens it would get alone (its own sampler, processors and cache): rows are
// right-aligned in the batch's cache, each row's keys rotated from its own position
// (KVCache::rope_offset), its padding hidden by the mask. The caches are make_prompt_cache's:
// a model's sliding-window layers (Gemma 3, gpt-oss) keep a ring of the window for the whole
// batch, so their memory stays bounded however long the sequences run; its linear-attention
// layers (Qwen3-Next, Qwen3.5) keep each row's conv and recurrent state, a row's padding
// masked out of both (KVCache::arrays_mask), and the states of the steps in flight, so a row
// that ended before them goes back to its own (KVCache::keep_steps).

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/array.h"
#include "client/lm/kv_cache.h"
#include "client/lm/model.h"
#include "client/lm/sample.h"

namespace ferry::lm {

struct BatchGeneratorOptions {
  // The most sequences decoded together; more wait for a place (mlx-lm's
  // completion_batch_size).
  int completion_batch_size = 32;
  // Prompt tokens per prefill graph.
  int prefill_step_size = 2048;
  // Steps sent ahead of the tokens being read (GenerateOptions::steps_in_flight).
  int steps_in_flight = 4;
  // The most recent tokens a sequence's logits processors see.
  int processor_history = 64;
  // mlx-lm's max_kv_size: a model without sliding-window layers keeps a ring of this many
  // positions on every layer (make_prompt_cache's, keeping no first positions: mlx-lm's
  // BatchRotatingKVCache keeps none), so a batch's memory is bounded. Unset: plain caches.
  std::optional<int> max_kv_size;
};

// One sequence to generate.
struct BatchSequence {
  // The tokens to feed (not empty). With a `cache`, those that follow what it holds.
  std::vector<int32_t> prompt;
  int max_tokens = 256;
  Sampler sampler;  // greedy when unset
  std::vector<LogitsProcessor> logits_processors;
  // Tokens that end the sequence (given as its last token, finish reason "stop").
  std::vector<int32_t> stop_tokens;
  // A cache holding the tokens before `prompt` (a conversation's earlier turns, from
  // make_prompt_cache() or a finished sequence's response); empty for a fresh one.
  std::vector<KVCache> cache;
  // Whether the last response carries the sequence's cache.
  bool return_cache = false;
};

struct BatchGeneration {
  uint64_t uid;  // insert's
  int32_t token;
  Array logprobs;             // (vocab,) on the model's device, read only when wanted
  std::string finish_reason;  // "stop" or "length" on a sequence's last, else empty
  // On the last, with return_cache: the cache holding its tokens but the last (the next
  // turn's first input), as TokenGenerator leaves a prompt cache: the steps sent past it are
  // undone, a linear-attention layer's arrays cache (Qwen3-Next's, Qwen3.5's) going back to
  // the state it kept for that step (KVCache::keep_steps). A rotating layer's ring that
  // wrapped cannot take them back: it holds every token given, the last too, when one step
  // was sent past (mlx-lm's convention: see offset()), and is empty when more were.
  std::vector<KVCache> cache;
};

// Whether the model's caches (make_prompt_cache's) can be batched: mlx_lm.server's
// is_batchable. Linear-attention layers' arrays caches (Qwen3-Next's, Qwen3.5's gated delta
// nets) batch too, their left padding masked (KVCache::arrays_mask).
bool batchable(const Model& model);

class BatchGenerator {
 public:
  // `model` must outlive the generator.
  explicit BatchGenerator(Model& model, BatchGeneratorOptions options = {});
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  // Queues a sequence; it joins the batch at a later next(). Throws INVALID_ARGUMENT for an
  // empty prompt, a non-positive max_tokens, or a cache of the wrong number of layers, of
  // other kinds than make_prompt_cache()'s, or quantized (a batch moves rows between them).
  uint64_t insert(BatchSequence sequence);
  // Forgets a sequence, queued or in the batch: no more of its tokens are given. With
  // return_cache, a sequence that was decoding hands back its cache as its last response
  // would (its prompt and the tokens given but the last; mlx-lm's remove(uids,
  // return_prompt_caches)); empty for one still queued, or whose ring wrapped past them.
  std::vector<KVCache> remove(uint64_t uid, bool return_cache = false);

  // One token for each sequence of the batch's oldest step in flight (prefilling the queued
  // ones that fit first); empty when no sequence is left. A sequence's tokens come in order,
  // one per call, the last with its finish reason.
  std::vector<BatchGeneration> next();

  // Sequences queued or in the batch, not finished.
  int64_t size() const {
    return static_cast<int64_t>(
        waiting_.size() + live_.size() +
        (prefill_ ? prefill_->sequences.size() - prefill_->removed.size() : 0));
  }
  // The most rows a step has decoded together so far.
  int64_t largest_batch() const { return largest_batch_; }
  // The most steps sent ahead of the tokens read so far (at most steps_in_flight).
  int64_t most_in_flight() const { return most_in_flight_; }
  // The batch's caches, a KVCache per layer (none while no row decodes): what its memory
  // holds, the sliding layers' bounded by their window.
  const std::vector<KVCache>& cache() const { return cache_; }

 private:
  struct Live {  // a sequence prefilled and not finished
    BatchSequence sequence;
    int64_t prefilled = 0;  // tokens in its cache before its first step
    int64_t fed = 0;        // and once the steps sent for it are done
    int sent = 0;           // steps sent for it
    int given = 0;          // tokens given
    bool in_batch = true;   // false once it needs no more steps
    bool done = false;      // its last token given, or removed
    bool removed = false;
    std::optional<Array> history;  // what its logits processors see
    std::vector<KVCache> cache;    // taken when it left the batch (return_cache)
  };
  struct Step {
    Array tokens;    // (B,) int32
    Array logprobs;  // (B, vocab)
    std::vector<uint64_t> uids;
  };

  // Queued prompts being prefilled together (or one continuing its own cache).
  struct Prefill {
    std::vector<std::pair<uint64_t, BatchSequence>> sequences;
    std::vector<KVCache> cache;
    std::optional<Array> tokens;  // (count, length): the prompts but their last, left-padded
    std::vector<int32_t> padding;
    int64_t before = 0;  // what the cache held first
    int64_t length = 0, done = 0;
    std::set<uint64_t> removed;
  };

  // Prefills queued sequences that fit and adds them to the batch: a chunk
  // (prefill_step_size) per call while the batch decodes, all of it when it is empty.
  void Admit();
  // Takes the next queued sequences into prefill_; false when none waits or fits.
  bool StartPrefill();
  void PrefillChunk();
  // Adds prefill_'s sequences, prefilled, to the batch.
  void Join();
  // Takes the rows that need no more steps out of the batch (their caches extracted first).
  void Drop();
  // Row b's cache as the batch holds it once every step sent is done (evaluated: its own
  // buffers), into live.cache.
  void ExtractRow(size_t b, Live& live);
  // live.cache brought back to the tokens given but the last (steps sent past them undone).
  std::vector<KVCache> GivenCache(Live& live) const;
  void SendAhead();
  void Send();
  // A fresh sequence's caches: make_prompt_cache's with max_kv_size, keeping no first
  // positions.
  std::vector<KVCache> FreshCache() const;

  Model& model_;
  const BatchGeneratorOptions options_;
  const Device device_;
  uint64_t next_uid_ = 0;
  std::deque<std::pair<uint64_t, BatchSequence>> waiting_;
  std::optional<Prefill> prefill_;
  std::map<uint64_t, Live> live_;
  std::vector<uint64_t> rows_;   // the batch: live sequences in its rows' order
  std::vector<KVCache> cache_;   // the batch's, once every step sent is done
  std::optional<Array> inputs_;  // (B,) the next step's tokens
  std::deque<Step> pending_;     // sent, not read, oldest first
  int64_t largest_batch_ = 0;
  int64_t most_in_flight_ = 0;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_BATCH_GENERATOR_H_
