#include "examples/ranks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "absl/strings/str_split.h"
#include "examples/local_ferryd.h"

namespace ferry::examples {

std::vector<std::string> RankAddresses(
    const char* argv0, const std::string& program, const std::string& remotes, int ranks,
    std::vector<std::unique_ptr<server::FerrydProcess>>* daemons) {
  std::vector<std::string> addresses = absl::StrSplit(remotes, ',', absl::SkipEmpty());
  if (!addresses.empty()) return addresses;
  for (int r = 0; r < ranks; ++r) {
    std::string log_path;
    const std::string name = program + "-rank" + std::to_string(r);
    daemons->push_back(StartLocalFerryd(argv0, name.c_str(), &log_path));
    if (daemons->back() == nullptr) return {};
    addresses.push_back(daemons->back()->address());
    std::printf("rank %d   ferryd on %s (log: %s)\n", r, addresses.back().c_str(),
                log_path.c_str());
  }
  return addresses;
}

std::vector<float> NormalFloats(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

MlpProblem MakeMlpProblem(int layers, int batch, int features, int hidden) {
  MlpProblem problem;
  problem.width.assign(layers + 1, hidden);
  problem.width[0] = features;
  problem.width[layers] = 1;
  problem.xs = NormalFloats(static_cast<size_t>(batch) * features, 1, 1.0f);
  const std::vector<float> teacher = NormalFloats(features, 2, 1.0f);
  problem.ys.assign(batch, 0.0f);
  for (int i = 0; i < batch; ++i) {
    for (int j = 0; j < features; ++j) problem.ys[i] += problem.xs[i * features + j] * teacher[j];
    problem.ys[i] = std::sin(problem.ys[i]);
  }
  for (int r = 0; r < layers; ++r) {
    const std::vector<int>& width = problem.width;
    problem.weights.push_back(NormalFloats(static_cast<size_t>(width[r]) * width[r + 1], 10 + r,
                                           1.0f / std::sqrt(static_cast<float>(width[r]))));
  }
  return problem;
}

float MaxDifference(const std::vector<Array>& a, const std::vector<Array>& b) {
  float most = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<float> x = Array(a[i]).to_vector<float>();
    const std::vector<float> y = Array(b[i]).to_vector<float>();
    for (size_t j = 0; j < x.size(); ++j) most = std::max(most, std::abs(x[j] - y[j]));
  }
  return most;
}

}  // namespace ferry::examples
