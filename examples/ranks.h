#ifndef FERRY_EXAMPLES_RANKS_H_
#define FERRY_EXAMPLES_RANKS_H_

// What the examples that train over several daemons share: their ranks' daemons, and
// seeded random data.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/array.h"
#include "server/ferryd_process.h"

namespace ferry::examples {

// The addresses of a group's ranks: `remotes` (host:port, comma-separated) when not empty,
// else `ranks` daemons started here (kept in `daemons`; rank r logs to
// $TMPDIR/ferry-<program>-rank<r>-ferryd.log), each announced on stdout. Empty when one
// cannot start (why is on stderr).
std::vector<std::string> RankAddresses(
    const char* argv0, const std::string& program, const std::string& remotes, int ranks,
    std::vector<std::unique_ptr<server::FerrydProcess>>* daemons);

// `n` samples of a normal distribution of mean 0 and standard deviation `scale`.
std::vector<float> NormalFloats(size_t n, uint32_t seed, float scale);

// What the layer-per-daemon examples train: an MLP of `layers` layers (the hidden ones
// tanh(h @ w), `hidden` wide; the last linear, to one output) fitting y = sin(x @ teacher)
// for a random teacher, from seeded random weights.
struct MlpProblem {
  std::vector<int> width;                   // layer r maps width[r] to width[r + 1]
  std::vector<float> xs;                    // batch x features
  std::vector<float> ys;                    // batch x 1
  std::vector<std::vector<float>> weights;  // layer r's, width[r] x width[r + 1]
};
MlpProblem MakeMlpProblem(int layers, int batch, int features, int hidden);

// The largest absolute difference between the elements of a[i] and b[i] (float32), over i.
float MaxDifference(const std::vector<Array>& a, const std::vector<Array>& b);

}  // namespace ferry::examples

#endif  // FERRY_EXAMPLES_RANKS_H_
