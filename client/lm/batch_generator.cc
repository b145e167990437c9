#include "client/lm/batch_generator.h"

#include <algorithm>
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
  const size_t layers = static_cast<size_t>(model_.args().num_hidden_layers);
  if (!sequence.cache.empty()) {
    if (sequence.cache.size() != layers) {
      detail::ThrowOpError(kOp, absl::StrCat("the cache holds ", sequence.cache.size(),
                                             " layers, the model ", layers, "."));
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

void BatchGenerator::remove(uint64_t uid) {
  auto waiting = std::find_if(waiting_.begin(), waiting_.end(),
                              [&](const auto& entry) { return entry.first == uid; });
  if (waiting != waiting_.end()) {
    waiting_.erase(waiting);
    return;
  }
  auto it = live_.find(uid);
  if (it == live_.end()) return;
  if (!it->second.in_batch) {
    live_.erase(it);  // its steps in flight are skipped when read
  } else {
    it->second.done = it->second.removed = true;  // leaves the batch at the next Drop
  }
}

void BatchGenerator::Admit() {
  std::vector<std::pair<uint64_t, BatchSequence>> fresh;
  while (!waiting_.empty() &&
         static_cast<int64_t>(rows_.size() + fresh.size()) < options_.completion_batch_size) {
    auto entry = std::move(waiting_.front());
    waiting_.pop_front();
    if (entry.second.cache.empty()) {
      fresh.push_back(std::move(entry));
    } else {  // continues a cache of its own: prefilled alone
      std::vector<std::pair<uint64_t, BatchSequence>> alone;
      alone.push_back(std::move(entry));
      Join(std::move(alone));
    }
  }
  if (!fresh.empty()) Join(std::move(fresh));  // prefilled together, left-padded
}

void BatchGenerator::Join(std::vector<std::pair<uint64_t, BatchSequence>> sequences) {
  const int64_t count = static_cast<int64_t>(sequences.size());
  std::vector<KVCache> cache = count == 1 && !sequences[0].second.cache.empty()
                                   ? std::move(sequences[0].second.cache)
                                   : model_.make_cache();
  // All but each prompt's last token fill the cache, right-aligned; the last tokens are
  // the rows' first inputs.
  int64_t length = 0;
  for (const auto& [uid, sequence] : sequences) {
    length = std::max<int64_t>(length, static_cast<int64_t>(sequence.prompt.size()) - 1);
  }
  std::vector<int32_t> padded(static_cast<size_t>(count * length)), padding(count), last(count);
  for (int64_t b = 0; b < count; ++b) {
    const std::vector<int32_t>& prompt = sequences[b].second.prompt;
    padding[b] = static_cast<int32_t>(length - static_cast<int64_t>(prompt.size() - 1));
    for (int64_t t = 0; t < length; ++t) {  // padding repeats the first token: it is hidden
      padded[b * length + t] = prompt[std::max<int64_t>(t - padding[b], 0)];
    }
    last[b] = prompt.back();
  }
  if (count > 1) {
    for (KVCache& layer : cache) layer.set_left_padding(padding, device_);
  }
  const int64_t before = cache.front().offset();
  const Array tokens = from_host(padded, {count, length}, device_);
  for (int64_t done = 0; done < length;) {
    const int64_t n = std::min<int64_t>(options_.prefill_step_size, length - done);
    model_(slice(tokens, {0, done}, {count, done + n}), &cache);
    eval(CacheState(cache));
    done += n;
  }
  const Array inputs = from_host(last, {count}, device_);
  if (rows_.empty()) {
    cache_ = std::move(cache);
    inputs_ = inputs;
  } else {
    for (size_t layer = 0; layer < cache_.size(); ++layer) cache_[layer].extend(cache[layer]);
    inputs_ = concatenate({*inputs_, inputs});
  }
  for (int64_t b = 0; b < count; ++b) {
    auto& [uid, sequence] = sequences[b];
    Live live;
    live.prefilled = live.fed = before + length - padding[b];
    if (!sequence.logits_processors.empty() && sequence.prompt.size() > 1) {
      // What TokenGenerator's processors see: the prompt so far, its newest tokens.
      const int64_t fed = static_cast<int64_t>(sequence.prompt.size()) - 1;
      const int64_t from = std::max<int64_t>(fed - options_.processor_history, 0);
      live.history = from_host(
          std::vector<int32_t>(sequence.prompt.begin() + from, sequence.prompt.begin() + fed),
          {fed - from}, device_);
    }
    sequence.cache.clear();
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
    if (live.sequence.return_cache && !live.removed) {
      std::vector<Array> state;
      for (const KVCache& layer : cache_) {
        live.cache.push_back(layer.extract(static_cast<int64_t>(b), live.fed));
        for (const Array& a : live.cache.back().state()) state.push_back(a);
      }
      eval(state);  // its own buffers: the batch's can go once it moves on
    }
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
    Live& live = it->second;
    // The cache was taken when the row left the batch, maybe with steps past its end.
    const int64_t past = live.fed - (live.prefilled + live.given);
    for (KVCache& layer : live.cache) layer.trim(past);
    generation.cache = std::move(live.cache);
    live_.erase(it);
  }
  return generations;
}

}  // namespace ferry::lm
