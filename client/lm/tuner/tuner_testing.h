#ifndef FERRY_CLIENT_LM_TUNER_TUNER_TESTING_H_
#define FERRY_CLIENT_LM_TUNER_TUNER_TESTING_H_

// What the tuner's tests share: the examples of a fixture's batch, and how far apart two
// arrays are.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "client/ferry.h"
#include "client/lm/tuner/trainer.h"

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

}  // namespace ferry::lm::tuner::testing

#endif  // FERRY_CLIENT_LM_TUNER_TUNER_TESTING_H_
