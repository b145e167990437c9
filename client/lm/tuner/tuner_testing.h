#ifndef FERRY_CLIENT_LM_TUNER_TUNER_TESTING_H_
#define FERRY_CLIENT_LM_TUNER_TUNER_TESTING_H_

// What the tuner's tests share: the examples of a fixture's batch, how far apart two arrays
// are, and a short fine-tuning run with its peak memory.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/tuner/fine_tune.h"
#include "client/lm/tuner/trainer.h"
#include "client/testing.h"

namespace ferry::lm::tuner::testing {

// The examples of a batch mlx-lm's iterate_batches made: tokens (B, T) and lengths (B, 2)
// of [offset, length], each row cut at its length.
inline std::vector<Example> ExamplesOf(Array tokens, Array lengths) {
  const std::vector<int32_t> ids = tokens.to_vector<int32_t>();
  const std::vector<int32_t> rows = lengths.to_vector<int32_t>();
  const int64_t width = tokens.shape(1);
  std::vector<Example> examples;
  for (int64_t r = 0; r < tokens.shape(0); ++r) {
    const auto row = ids.begin() + r * width;
    examples.push_back({std::vector<int32_t>(row, row + rows[2 * r + 1]), rows[2 * r]});
  }
  return examples;
}

// The largest |got - want| / (|want| + 1e-3) and |got - want| over the elements.
inline std::pair<double, double> Difference(Array got, Array want) {
  const std::vector<double> g = astype(got, float64).to_vector<double>();
  const std::vector<double> w = astype(want, float64).to_vector<double>();
  double relative = 0, absolute = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    absolute = std::max(absolute, std::abs(g[i] - w[i]));
    relative = std::max(relative, std::abs(g[i] - w[i]) / (std::abs(w[i]) + 1e-3));
  }
  return {relative, absolute};
}

// A training run's losses (one a step), the device's peak memory over it and, when kept, the
// trained weights.
struct TrainingRun {
  std::vector<double> losses;
  int64_t peak_bytes = 0;
  nn::Parameters weights;
};

// 3 steps of full fine-tuning of testdata/llama on `device` (the client's or a ferryd's) over
// one batch of 8 random examples of 256 tokens (the same every call), with or without
// grad_checkpoint, the device's peak reset just before. The weights are kept only when asked
// for: held on the device, they count in a later run's peak.
inline TrainingRun TrainTinyLlama(const Device& device, bool grad_checkpoint,
                                  bool keep_weights = false) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> token(1, 95);
  std::vector<Example> examples(8);
  for (Example& example : examples) {
    for (int i = 0; i < 256; ++i) example.tokens.push_back(token(rng));
  }
  std::unique_ptr<Model> model =
      load_model(::ferry::testing::Runfile("client/lm/testdata/llama"), device);
  setup_fine_tuning(*model, "full", -1, {});
  TrainingConfig config;
  config.learning_rate = 1e-3;
  std::unique_ptr<optimizers::Optimizer> optimizer = build_optimizer(config);
  TrainingArgs args;
  args.batch_size = 8;
  args.iters = 3;
  args.steps_per_report = 1;
  args.grad_checkpoint = grad_checkpoint;
  TrainingRun run;
  synchronize(device);
  reset_peak_memory(device);
  train(*model, *optimizer, examples, {}, args,
        [&](const Report& r) { run.losses.push_back(r.loss); });
  run.peak_bytes = memory_info(device).peak_bytes;
  if (keep_weights) run.weights = model->trainable_parameters();
  return run;
}

}  // namespace ferry::lm::tuner::testing

#endif  // FERRY_CLIENT_LM_TUNER_TUNER_TESTING_H_
