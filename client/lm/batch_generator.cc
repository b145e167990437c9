#include "client/lm/batch_generator.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

constexpr char kOp[] = "BatchGenerator";

Array Row(const Array& a, int64_t b) {
  Shape start(a.shape().size(), 0), stop = a.shape();
  start[0] = b;
  stop[0] = b + 1;
  return slice(a, start, stop);
}

Array Rows(const std::vector<int64_t>& rows, const Device& device) {
  return from_host(std::vector<int32_t>(rows.begin(), rows.end()),
                   {static_cast<int64_t>(rows.size())}, device);
}

}  // namespace

bool batchable(const Model& model) {
  const std::vector<KVCache> cache = make_prompt_cache(model);
  return std::all_of(cache.begin(), cache.end(),
                     [](const KVCache& layer) { return layer.batchable(); });
}

BatchGenerator::BatchGenerator(Model& model, BatchGeneratorOptions options)
    : model_(model), options_(options), device_(model.device()) {
  if (options_.completion_batch_size <= 0 || options_.prefill_step_size <= 0 ||
      options_.steps_in_flight <= 0 || options_.processor_history <= 0) {
    detail::ThrowOpError(kOp,
                         "completion_batch_size, prefill_step_size, steps_in_flight and "
                         "processor_history must be positive.");
  }
}

uint64_t BatchGenerator::insert(BatchSequence sequence) {
  if (sequence.prompt.empty()) detail::ThrowOpError(kOp, "the prompt holds no tokens.");
  if (sequence.max_tokens <= 0) {
    detail::ThrowOpError(kOp,
                         absl::StrCat("max_tokens must be positive, got ", sequence.max_tokens));
  }
  if (!sequence.cache.empty()) {
    // Rows move between caches of one kind: the layer's in make_prompt_cache.
    const std::vector<KVCache> kinds = FreshCache();
    const size_t layers = kinds.size();  // fewer than the model's with KV-shared layers
    if (sequence.cache.size() != layers) {
      detail::ThrowOpError(kOp, absl::StrCat("the cache holds ", sequence.cache.size(),
                                             " layers, the model ", layers, "."));
    }
    auto kind = [](const KVCache& c) {
      return c.is_arrays()  ? std::string("an arrays cache")
             : c.is_list()  ? absl::StrCat("a list of ", c.parts(), " caches")
             : c.max_size() ? absl::StrCat("rotating (max_size ", *c.max_size(), ")")
                            : std::string("plain");
    };
    for (size_t i = 0; i < layers; ++i) {
      const KVCache& layer = sequence.cache[i];
      if (layer.max_size() != kinds[i].max_size() || layer.keep() != kinds[i].keep() ||
          layer.is_arrays() != kinds[i].is_arrays() || layer.parts() != kinds[i].parts()) {
        detail::ThrowOpError(kOp, absl::StrCat("the cache's layer ", i, " is ", kind(layer),
                                               "; a batch takes make_prompt_cache()'s, ",
                                               kind(kinds[i]), " there."));
      }
    }
    // As mlx_lm.server, which batches no request once kv_bits is set.
    if (std::any_of(sequence.cache.begin(), sequence.cache.end(),
                    [](const KVCache& layer) { return layer.bits().has_value(); })) {
      detail::ThrowOpError(kOp,
                           "the cache is quantized (kv_bits); a batch takes make_prompt_cache()'s "
                           "caches.");
    }
    if (sequence.cache.front().rows() != 1) {
      detail::ThrowOpError(kOp, absl::StrCat("the cache holds ", sequence.cache.front().rows(),
                                             " sequences; give one sequence's."));
    }
  }
  const uint64_t uid = next_uid_++;
  waiting_.emplace_back(uid, std::move(sequence));
  return uid;
}

std::vector<KVCache> BatchGenerator::remove(uint64_t uid, bool return_cache) {
  auto waiting = std::find_if(waiting_.begin(), waiting_.end(),
                              [&](const auto& entry) { return entry.first == uid; });
  if (waiting != waiting_.end()) {
    waiting_.erase(waiting);
    return {};
  }
  if (prefill_) {
    for (const auto& entry : prefill_->sequences) {
      if (entry.first == uid) prefill_->removed.insert(uid);
    }
  }
  auto it = live_.find(uid);
  if (it == live_.end()) return {};
  Live& live = it->second;
  std::vector<KVCache> cache;
  if (return_cache && !live.done) {
    if (live.in_batch) {
      const size_t b = std::find(rows_.begin(), rows_.end(), uid) - rows_.begin();
      ExtractRow(b, live);
    }
    // Out of the batch already (max_tokens sent), its cache was taken when it left.
    cache = GivenCache(live);
  }
  if (!live.in_batch) {
    live_.erase(it);  // its steps in flight are skipped when read
  } else {
    live.done = live.removed = true;  // leaves the batch at the next Drop
  }
  return cache;
}

std::vector<KVCache> BatchGenerator::FreshCache() const {
  std::vector<KVCache> cache = make_prompt_cache(model_, options_.max_kv_size);
  for (KVCache& layer : cache) {
    if (layer.max_size() && layer.keep() > 0) layer = KVCache::rotating(*layer.max_size());
  }
  return cache;
}

void BatchGenerator::Admit() {
  while (prefill_ || StartPrefill()) {
    PrefillChunk();
    if (prefill_->done == prefill_->length) {
      Join();
      prefill_.reset();
    }
    // One chunk per step while others decode: a long prompt does not stall them.
    if (!rows_.empty()) return;
  }
}

bool BatchGenerator::StartPrefill() {
  Prefill group;
  const int64_t free = options_.completion_batch_size - static_cast<int64_t>(rows_.size());
  // Prompts without a cache are prefilled together; one continuing a cache, alone.
  while (!waiting_.empty() && static_cast<int64_t>(group.sequences.size()) < free) {
    const bool cached = !waiting_.front().second.cache.empty();
    if (cached && !group.sequences.empty()) break;
    group.sequences.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    if (cached) break;
  }
  if (group.sequences.empty()) return false;
  const int64_t count = static_cast<int64_t>(group.sequences.size());
  BatchSequence& first = group.sequences.front().second;
  group.cache = first.cache.empty() ? FreshCache() : std::move(first.cache);
  first.cache.clear();
  // A row's arrays caches go back to the step it ended at, the steps sent past it undone.
  for (KVCache& layer : group.cache) layer.keep_steps(options_.steps_in_flight);
  group.before = group.cache.front().offset();
  // All but each prompt's last token fill the cache, right-aligned; the last tokens are the
  // rows' first inputs.
  for (const auto& [uid, sequence] : group.sequences) {
    group.length =
        std::max<int64_t>(group.length, static_cast<int64_t>(sequence.prompt.size()) - 1);
  }
  std::vector<int32_t> padded(static_cast<size_t>(count * group.length));
  group.padding.resize(count);
  for (int64_t b = 0; b < count; ++b) {
    const std::vector<int32_t>& prompt = group.sequences[b].second.prompt;
    group.padding[b] = static_cast<int32_t>(group.length - static_cast<int64_t>(prompt.size() - 1));
    for (int64_t t = 0; t < group.length; ++t) {  // padding repeats the first token: hidden
      padded[b * group.length + t] = prompt[std::max<int64_t>(t - group.padding[b], 0)];
    }
  }
  if (count > 1) {
    for (KVCache& layer : group.cache) layer.set_left_padding(group.padding, device_);
  }
  group.tokens = from_host(padded, {count, group.length}, device_);
  prefill_ = std::move(group);
  return true;
}

void BatchGenerator::PrefillChunk() {
  Prefill& group = *prefill_;
  const int64_t count = static_cast<int64_t>(group.sequences.size());
  const int64_t n = std::min<int64_t>(options_.prefill_step_size, group.length - group.done);
  if (n == 0) return;
  model_(slice(*group.tokens, {0, group.done}, {count, group.done + n}), &group.cache);
  eval(CacheState(group.cache));
  group.done += n;
}

void BatchGenerator::Join() {
  Prefill& group = *prefill_;
  // Sequences removed while their prompt was prefilled do not join.
  std::vector<int64_t> keep;
  for (size_t b = 0; b < group.sequences.size(); ++b) {
    if (!group.removed.count(group.sequences[b].first)) keep.push_back(static_cast<int64_t>(b));
  }
  if (keep.empty()) return;
  if (keep.size() < group.sequences.size()) {
    for (KVCache& layer : group.cache) layer.filter(keep);
  }
  std::vector<int32_t> last;
  for (int64_t b : keep) last.push_back(group.sequences[b].second.prompt.back());
  const Array inputs = from_host(last, {static_cast<int64_t>(last.size())}, device_);
  if (rows_.empty()) {
    cache_ = std::move(group.cache);
    inputs_ = inputs;
  } else {
    for (size_t layer = 0; layer < cache_.size(); ++layer) {
      cache_[layer].extend(group.cache[layer]);
    }
    inputs_ = concatenate({*inputs_, inputs});
  }
  for (int64_t b : keep) {
    auto& [uid, sequence] = group.sequences[b];
    Live live;
    live.prefilled = live.fed = group.before + group.length - group.padding[b];
    if (!sequence.logits_processors.empty() && sequence.prompt.size() > 1) {
      // What TokenGenerator's processors see: the prompt so far, its newest tokens.
      const int64_t fed = static_cast<int64_t>(sequence.prompt.size()) - 1;
      const int64_t from = std::max<int64_t>(fed - options_.processor_history, 0);
      live.history = from_host(
          std::vector<int32_t>(sequence.prompt.begin() + from, sequence.prompt.begin() + fed),
          {fed - from}, device_);
    }
    live.sequence = std::move(sequence);
    live_.emplace(uid, std::move(live));
    rows_.push_back(uid);
  }
}

void BatchGenerator::Drop() {
  std::vector<int64_t> keep;
  for (size_t b = 0; b < rows_.size(); ++b) {
    Live& live = live_.at(rows_[b]);
    if (!live.done && live.sent < live.sequence.max_tokens) {
      keep.push_back(static_cast<int64_t>(b));
      continue;
    }
    live.in_batch = false;
    if (live.sequence.return_cache && !live.removed) ExtractRow(b, live);
  }
  if (keep.size() == rows_.size()) return;
  std::vector<uint64_t> rows;
  for (int64_t b : keep) rows.push_back(rows_[b]);
  for (uint64_t uid : rows_) {
    auto it = live_.find(uid);
    if (it->second.removed) live_.erase(it);
  }
  rows_ = std::move(rows);
  if (rows_.empty()) {
    cache_.clear();
    inputs_.reset();
    return;
  }
  for (KVCache& layer : cache_) layer.filter(keep);
  inputs_ = take(*inputs_, Rows(keep, device_), 0);
}

void BatchGenerator::ExtractRow(size_t b, Live& live) {
  std::vector<Array> state;
  live.cache.clear();
  for (const KVCache& layer : cache_) {
    live.cache.push_back(layer.extract(static_cast<int64_t>(b), live.fed));
    for (const Array& a : live.cache.back().state()) state.push_back(a);
  }
  eval(state);  // its own buffers: the batch's can go once it moves on
}

std::vector<KVCache> BatchGenerator::GivenCache(Live& live) const {
  // The cache was taken when the row left the batch, maybe with steps past its end: undone,
  // an arrays cache going back to the state it kept for that step.
  const int64_t past = live.fed - (live.prefilled + live.given);
  // A ring that wrapped lost its oldest positions to those steps. One step past, the cache
  // holds every token given, the last too (mlx-lm's convention, whose generator runs one
  // step ahead); more, none.
  const bool wrapped =
      past > 0 && std::any_of(live.cache.begin(), live.cache.end(), [](const KVCache& layer) {
        return layer.max_size() && layer.offset() > *layer.max_size();
      });
  if (wrapped && past > 1) live.cache.clear();
  for (KVCache& layer : live.cache) {
    if (!wrapped) layer.trim(past);
    layer.keep_steps(0);  // the batch's steps are no more its
  }
  if (past > 0) eval(CacheState(live.cache));  // a kept state: its own buffers
  return std::move(live.cache);
}

void BatchGenerator::Send() {
  const int64_t batch = static_cast<int64_t>(rows_.size());
  const Array& inputs = *inputs_;
  std::vector<Array> outputs;
  Array logits = [&] {  // the model's output dies before the eval
    const Array all = model_(reshape(inputs, {batch, 1}), &cache_);
    return reshape(all, {batch, all.shape(2)});
  }();
  bool processors = false, samplers = false;
  for (uint64_t uid : rows_) {
    processors |= !live_.at(uid).sequence.logits_processors.empty();
    samplers |= static_cast<bool>(live_.at(uid).sequence.sampler);
  }
  if (processors) {
    std::vector<Array> rows;
    for (int64_t b = 0; b < batch; ++b) {
      Live& live = live_.at(rows_[b]);
      Array row = Row(logits, b);
      if (!live.sequence.logits_processors.empty()) {
        Array history = Row(inputs, b);
        if (live.history) history = concatenate({*live.history, history});
        const int64_t n = history.shape(0), kept = options_.processor_history;
        if (n > kept) history = slice(history, {n - kept}, {n});
        for (const LogitsProcessor& processor : live.sequence.logits_processors) {
          row = processor(history, row);
        }
        live.history = history;
        outputs.push_back(history);
      }
      rows.push_back(row);
    }
    logits = concatenate(rows, 0);
  }
  const Array logprobs = logits - logsumexp(logits, -1, /*keepdims=*/true);
  Array tokens = [&] {
    if (!samplers) return greedy_sampler(logprobs);
    std::vector<Array> rows;
    for (int64_t b = 0; b < batch; ++b) {
      const Sampler& sampler = live_.at(rows_[b]).sequence.sampler;
      rows.push_back(
          astype(sampler ? sampler(Row(logprobs, b)) : greedy_sampler(Row(logprobs, b)), int32));
    }
    return concatenate(rows, 0);
  }();
  tokens = astype(tokens, int32);
  outputs.push_back(tokens);
  outputs.push_back(logprobs);
  for (const Array& a : CacheState(cache_)) outputs.push_back(a);
  eval(outputs);  // sent; the device runs it while the caller reads an earlier step
  pending_.push_back(Step{tokens, logprobs, rows_});
  inputs_ = tokens;
  for (uint64_t uid : rows_) {
    Live& live = live_.at(uid);
    ++live.sent;
    ++live.fed;
  }
  largest_batch_ = std::max(largest_batch_, batch);
  most_in_flight_ = std::max(most_in_flight_, static_cast<int64_t>(pending_.size()));
}

void BatchGenerator::SendAhead() {
  Drop();
  while (static_cast<int>(pending_.size()) < options_.steps_in_flight && !rows_.empty()) {
    Send();
    Drop();
  }
}

std::vector<BatchGeneration> BatchGenerator::next() {
  if (pending_.empty()) {
    Admit();
    SendAhead();
    if (pending_.empty()) return {};
  }
  Step step = std::move(pending_.front());
  pending_.pop_front();
  Admit();
  SendAhead();  // before the read: the device computes while the tokens travel
  const std::vector<int32_t> drawn = step.tokens.to_vector<int32_t>();
  std::vector<BatchGeneration> generations;
  for (size_t b = 0; b < step.uids.size(); ++b) {
    auto it = live_.find(step.uids[b]);
    if (it == live_.end() || it->second.done) continue;  // removed, or past its end
    Live& live = it->second;
    const int32_t token = drawn[b];
    ++live.given;
    const std::vector<int32_t>& stop = live.sequence.stop_tokens;
    std::string finish;
    if (std::find(stop.begin(), stop.end(), token) != stop.end()) {
      finish = "stop";
    } else if (live.given == live.sequence.max_tokens) {
      finish = "length";
    }
    live.done = !finish.empty();
    const Array row = Row(step.logprobs, static_cast<int64_t>(b));
    generations.push_back(
        BatchGeneration{step.uids[b], token, reshape(row, {row.shape(1)}), finish, {}});
  }
  Drop();  // the caches of rows that just finished
  for (BatchGeneration& generation : generations) {
    if (generation.finish_reason.empty()) continue;
    auto it = live_.find(generation.uid);
    generation.cache = GivenCache(it->second);
    live_.erase(it);
  }
  return generations;
}

}  // namespace ferry::lm
