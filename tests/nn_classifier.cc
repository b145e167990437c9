#include "tests/nn_classifier.h"

namespace ferry::testing {

NnClassifier::NnClassifier(int64_t dims, int layers)
    : embedding(&register_module("embedding", nn::Embedding(12, dims))),
      encoder(&register_module("encoder",
                               nn::TransformerEncoder(layers, dims, 4, 2 * dims, /*dropout=*/0.1))),
      head(&register_module("head", nn::Linear(dims, 3))) {}

Array NnClassifier::operator()(const Array& tokens) {
  const Array mask = nn::MultiHeadAttention::create_additive_causal_mask(tokens.shape(1), float32,
                                                                         tokens.device());
  return (*head)(mean((*encoder)((*embedding)(tokens), mask), 1));
}

NnTrainingRun TrainNnClassifier(const Device& device, int64_t dims, int layers, int steps,
                                bool quantize) {
  const Device previous = default_device();
  set_default_device(device);  // the weights are drawn there
  random::seed(5);
  NnClassifier model(dims, layers);
  set_default_device(previous);
  const Array tokens = random::randint(0, 12, {8, 6}, int32, std::nullopt, device);
  const Array labels = random::randint(0, 3, {8}, int32, std::nullopt, device);
  auto loss_and_grads = nn::value_and_grad(model, [&](const std::vector<Array>&) {
    return nn::losses::cross_entropy(model(tokens), labels, nn::losses::Reduction::kMean);
  });
  optimizers::AdamW adamw(0);
  adamw.set_learning_rate(optimizers::cosine_decay(3e-3, steps));  // a new rate every step
  NnTrainingRun run;
  for (int step = 0; step < steps; ++step) {
    const DeviceStats before = device.stats();
    auto [loss, grads] = loss_and_grads({});
    adamw.update(model, grads);
    std::vector<Array> all = model.arrays();
    for (const Array& s : adamw.state()) all.push_back(s);
    all.push_back(loss);
    eval(all);
    run.losses.push_back(loss.item<float>());
    const DeviceStats after = device.stats();
    run.last_step.executes = after.executes - before.executes;
    run.last_step.uploads = after.uploads - before.uploads;
    run.last_step.graphs_sent = after.graphs_sent - before.graphs_sent;
  }
  run.weights = model.parameters();
  if (quantize) {
    model.eval();
    nn::quantize(model, 32, 4);
    run.quantized_logits = model(tokens).to_vector<float>();
  }
  return run;
}

}  // namespace ferry::testing
