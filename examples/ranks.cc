#include "examples/ranks.h"

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

}  // namespace ferry::examples
