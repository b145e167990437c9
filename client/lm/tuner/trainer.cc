#include "client/lm/tuner/trainer.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/io.h"
#include "client/lm/grad_checkpoint.h"
#include "client/nn/losses.h"
#include "client/nn/value_and_grad.h"
#include "client/ops.h"

namespace ferry::lm::tuner {

std::pair<Array, Array> default_loss(Model& model, const Array& tokens, const Array& lengths) {
  const int64_t batch = tokens.shape(0), steps = tokens.shape(1) - 1;
  const Array inputs = slice(tokens, {0, 0}, {batch, steps});
  const Array targets = slice(tokens, {0, 1}, {batch, steps + 1});
  const Array logits = model(inputs);
  const Array step = arange(1, static_cast<double>(steps + 1), int32, tokens.device());
  const Array mask = logical_and(step >= slice(lengths, {0, 0}, {batch, 1}),
                                 step <= slice(lengths, {0, 1}, {batch, 2}));
  const Array ce = nn::losses::cross_entropy(logits, targets) * astype(mask, logits.dtype());
  const Array ntoks = sum(astype(mask, int32));
  return {sum(astype(ce, float32)) / astype(ntoks, float32), ntoks};
}

BatchIterator::BatchIterator(const std::vector<Example>& dataset, int batch_size,
                             int max_seq_length, bool loop, uint64_t seed, Device device)
    : dataset_(dataset),
      batch_size_(batch_size),
      max_seq_length_(max_seq_length),
      loop_(loop),
      seed_(seed),
      device_(std::move(device)) {
  if (batch_size <= 0 || dataset.size() < static_cast<size_t>(batch_size)) {
    detail::ThrowOpError("iterate_batches",
                         absl::StrCat("the dataset must have at least batch_size=", batch_size,
                                      " examples but has ", dataset.size(), "."));
  }
  std::vector<size_t> idx(dataset.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    return dataset[a].tokens.size() < dataset[b].tokens.size();
  });
  for (size_t i = 0; i + static_cast<size_t>(batch_size) <= idx.size(); i += batch_size) {
    batches_.emplace_back(idx.begin() + static_cast<std::ptrdiff_t>(i),
                          idx.begin() + static_cast<std::ptrdiff_t>(i + batch_size));
  }
}

Batch BatchIterator::batch(size_t i) const {
  const std::vector<size_t>& rows = batches_.at(i);
  size_t longest = 0;
  for (size_t row : rows) longest = std::max(longest, dataset_[row].tokens.size());
  constexpr int64_t kPadTo = 32;  // as mlx-lm: fewer distinct shapes, fewer graphs
  const int64_t width = std::min<int64_t>(
      1 + kPadTo * ((static_cast<int64_t>(longest) + kPadTo - 1) / kPadTo), max_seq_length_);
  std::vector<int32_t> tokens(rows.size() * static_cast<size_t>(width), 0);
  std::vector<int32_t> lengths;
  for (size_t r = 0; r < rows.size(); ++r) {
    const Example& example = dataset_[rows[r]];
    const int64_t length = std::min<int64_t>(static_cast<int64_t>(example.tokens.size()), width);
    std::copy_n(example.tokens.begin(), length,
                tokens.begin() + static_cast<std::ptrdiff_t>(r) * width);
    lengths.push_back(static_cast<int32_t>(example.offset));
    lengths.push_back(static_cast<int32_t>(length));
  }
  const int64_t count = static_cast<int64_t>(rows.size());
  return {from_host(tokens, {count, width}, device_), from_host(lengths, {count, 2}, device_)};
}

std::optional<Batch> BatchIterator::next() {
  if (position_ == order_.size()) {
    if (epoch_ > 0 && !loop_) return std::nullopt;
    order_.resize(batches_.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::mt19937_64 generator(seed_ + static_cast<uint64_t>(epoch_));
    std::shuffle(order_.begin(), order_.end(), generator);
    position_ = 0;
    ++epoch_;
  }
  return batch(order_[position_++]);
}

double evaluate(Model& model, const std::vector<Example>& dataset, int batch_size, int num_batches,
                int max_seq_length) {
  const bool was_training = model.training();
  model.eval();
  BatchIterator batches(dataset, batch_size, max_seq_length, /*loop=*/false, 0, model.device());
  std::optional<Array> total, tokens;
  for (int i = 0; num_batches == -1 || i < num_batches; ++i) {
    std::optional<Batch> batch = batches.next();
    if (!batch) break;
    auto [loss, ntoks] = default_loss(model, batch->tokens, batch->lengths);
    const Array weighted = loss * astype(ntoks, float32);
    total = total ? *total + weighted : weighted;
    tokens = tokens ? *tokens + ntoks : ntoks;
  }
  model.train(was_training);
  if (!total) return 0.0;
  return static_cast<double>((*total / astype(*tokens, float32)).item<float>());
}

namespace {

void SaveTrainable(const Model& model, const std::string& path) {
  // Its folder made, as mlx_lm.lora makes adapter_path.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::unordered_map<std::string, Array> weights;
  for (const auto& [name, value] : model.trainable_parameters()) weights.emplace(name, value);
  save_safetensors(path, std::move(weights));
}

}  // namespace

std::vector<Report> train(Model& model, optimizers::Optimizer& optimizer,
                          const std::vector<Example>& train_set,
                          const std::vector<Example>& val_set, const TrainingArgs& args,
                          const std::function<void(const Report&)>& on_report) {
  if (args.grad_accumulation_steps < 1) {
    detail::ThrowOpError("train", "grad_accumulation_steps must be at least 1.");
  }
  auto loss_and_grads = nn::value_and_grad(
      model, nn::ModuleLossAndAuxFn([&](const std::vector<Array>& in) -> std::vector<Array> {
        auto [loss, ntoks] = default_loss(model, in[0], in[1]);
        return {loss, ntoks};
      }));
  std::vector<Report> reports;
  auto report = [&](Report r) {
    reports.push_back(r);
    if (on_report) on_report(r);
  };
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  model.train();
  BatchIterator batches(train_set, args.batch_size, args.max_seq_length, /*loop=*/true, args.seed,
                        model.device());
  std::optional<Array> losses, tokens;
  nn::Parameters accumulated;
  int steps = 0;
  double train_time = 0;
  for (int it = 1; it <= args.iters; ++it) {
    if (!val_set.empty() && (it == 1 || it % args.steps_per_eval == 0 || it == args.iters)) {
      const Clock::time_point tic = Clock::now();
      const double val_loss =
          evaluate(model, val_set, args.batch_size, args.val_batches, args.max_seq_length);
      report({it, /*validation=*/true, val_loss, 0, seconds_since(tic)});
    }
    const Clock::time_point tic = Clock::now();
    const Batch batch = *batches.next();
    auto [values, grads] = [&] {
      GradCheckpoint checkpointed(args.grad_checkpoint);
      return loss_and_grads({batch.tokens, batch.lengths});
    }();
    if (!accumulated.empty()) {
      for (size_t i = 0; i < grads.size(); ++i)
        grads[i].second = grads[i].second + accumulated[i].second;
    }
    accumulated.clear();
    if (it % args.grad_accumulation_steps == 0) {
      if (args.grad_accumulation_steps > 1) {
        for (auto& [name, g] : grads) g = g / static_cast<float>(args.grad_accumulation_steps);
      }
      optimizer.update(model, grads);
    } else {
      accumulated = grads;
    }
    losses = losses ? *losses + values[0] : values[0];
    tokens = tokens ? *tokens + values[1] : values[1];
    ++steps;
    // As mx.eval(state, losses, n_tokens, grad_accum): one graph, one Execute.
    std::vector<Array> step = model.arrays();
    for (const Array& s : optimizer.state()) step.push_back(s);
    step.push_back(*losses);
    step.push_back(*tokens);
    for (const auto& [name, g] : accumulated) step.push_back(g);
    eval(step);
    train_time += seconds_since(tic);
    if (it % args.steps_per_report == 0 || it == args.iters) {
      report({it, /*validation=*/false, losses->item<float>() / steps, tokens->item<int32_t>(),
              train_time});
      losses.reset();
      tokens.reset();
      steps = 0;
      train_time = 0;
    }
    if (!args.adapter_file.empty() && it % args.steps_per_save == 0) {
      SaveTrainable(model, args.adapter_file);
    }
  }
  if (!args.adapter_file.empty()) SaveTrainable(model, args.adapter_file);
  return reports;
}

}  // namespace ferry::lm::tuner
