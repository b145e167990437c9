#ifndef FERRY_CLIENT_LM_TUNER_TRAINER_H_
#define FERRY_CLIENT_LM_TUNER_TRAINER_H_

// mlx-lm's tuner/trainer.py: the loss of a language model on the completions of a batch,
// batches of examples sorted by length and padded, and the training loop of mlx_lm.lora
// (evaluation, reports, gradient accumulation, adapters saved). Each step's forward pass,
// backward pass and update are one graph: one Execute on a daemon.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/model.h"
#include "client/optimizers.h"

namespace ferry::lm::tuner {

// A tokenized example, and where its completion starts: the loss counts the tokens
// predicted from position `offset` on (0: all of them; mlx-lm's mask_prompt sets it to the
// prompt's length).
struct Example {
  std::vector<int32_t> tokens;
  int64_t offset = 0;
};

// Token ids (B, T) int32, zero-padded, and (B, 2) int32 rows of [offset, length].
struct Batch {
  Array tokens;
  Array lengths;
};

// mlx-lm's default_loss: the mean cross-entropy of predicting tokens[:, 1:] from
// tokens[:, :-1] over the target steps s (1-based) with offset <= s <= length, and the
// number of those tokens (int32). Padding and prompts count for nothing.
std::pair<Array, Array> default_loss(Model& model, const Array& tokens, const Array& lengths);

// mlx-lm's iterate_batches: examples sorted by length and cut into batches of batch_size
// (the remainder dropped), visited in a shuffled order, each padded to 1 + a multiple of 32
// tokens (at most max_seq_length; longer examples truncated). Throws INVALID_ARGUMENT when
// there are fewer examples than batch_size. The order is drawn from `seed` with the C++
// library's generator, not NumPy's, so it is not mlx-lm's order. `dataset` must outlive
// the iterator.
class BatchIterator {
 public:
  BatchIterator(const std::vector<Example>& dataset, int batch_size, int max_seq_length,
                bool loop = false, uint64_t seed = 0, Device device = default_device());
  // The next batch; none once every batch was given, unless looping.
  std::optional<Batch> next();
  // Batch `i` of the sorted order (what next() visits in a shuffled order).
  Batch batch(size_t i) const;
  size_t size() const { return batches_.size(); }

 private:
  const std::vector<Example>& dataset_;
  int batch_size_, max_seq_length_;
  bool loop_;
  uint64_t seed_;
  Device device_;
  std::vector<std::vector<size_t>> batches_;
  std::vector<size_t> order_;
  size_t position_ = 0;
  int epoch_ = 0;
};

// mlx-lm's TrainingArgs (its defaults).
struct TrainingArgs {
  int batch_size = 4;
  int iters = 100;
  int val_batches = 25;  // -1: the whole validation set
  int steps_per_report = 10;
  int steps_per_eval = 200;
  int steps_per_save = 100;
  int max_seq_length = 2048;
  int grad_accumulation_steps = 1;
  // Each block's intermediates recomputed in the backward pass rather than kept
  // (lm/grad_checkpoint.h): less memory, one more forward pass of the blocks.
  bool grad_checkpoint = false;
  uint64_t seed = 0;
  std::string adapter_file;  // where steps_per_save and the end save; none when empty
};

// mlx-lm's evaluate: the mean loss per token over num_batches batches (-1: all).
double evaluate(Model& model, const std::vector<Example>& dataset, int batch_size, int num_batches,
                int max_seq_length = 2048);

// What train reports, as mlx-lm's TrainingCallback: a training report every
// steps_per_report steps (the mean of their losses) and a validation one at the first step,
// every steps_per_eval and the last.
struct Report {
  int iteration;
  bool validation;
  double loss;
  int64_t tokens;  // trained since the last report
  double seconds;
};

// mlx-lm's train: args.iters steps of the optimizer on model's trainable parameters (the
// adapters, once the model is frozen and adapted), over batches of train_set; validation on
// val_set when it is not empty. The model's trainable parameters are saved to
// args.adapter_file every steps_per_save steps and at the end, when it is set.
std::vector<Report> train(Model& model, optimizers::Optimizer& optimizer,
                          const std::vector<Example>& train_set,
                          const std::vector<Example>& val_set, const TrainingArgs& args,
                          const std::function<void(const Report&)>& on_report = nullptr);

}  // namespace ferry::lm::tuner

#endif  // FERRY_CLIENT_LM_TUNER_TRAINER_H_
