#ifndef FERRY_TESTS_NN_CLASSIFIER_H_
#define FERRY_TESTS_NN_CLASSIFIER_H_

// A small transformer classifier of ferry::nn layers (an embedding, encoder blocks with
// dropout, a head) and its training with AdamW on a cosine schedule: what the remote nn
// tests run on a daemon and on the local device, expecting the same numbers.

#include <cstdint>
#include <vector>

#include "client/ferry.h"

namespace ferry::testing {

struct NnClassifier : nn::Module {
  NnClassifier(int64_t dims, int layers);
  Array operator()(const Array& tokens);

  nn::Embedding* embedding;
  nn::TransformerEncoder* encoder;
  nn::Linear* head;
};

struct NnTrainingRun {
  std::vector<float> losses;            // of each step
  nn::Parameters weights;               // after the last step
  DeviceStats last_step;                // executes, graphs_sent and uploads of the last step
  std::vector<float> quantized_logits;  // with quantize: of the trained model, quantized
};

// Draws a classifier (12 tokens, 3 classes, `dims` wide, `layers` blocks of 4 heads) on
// `device` from a fixed seed and trains it `steps` steps on 8 sequences of 6 tokens made
// there; with `quantize`, then quantizes it (groups of 32, 4 bits) and reads its logits.
NnTrainingRun TrainNnClassifier(const Device& device, int64_t dims, int layers, int steps,
                                bool quantize = false);

}  // namespace ferry::testing

#endif  // FERRY_TESTS_NN_CLASSIFIER_H_
