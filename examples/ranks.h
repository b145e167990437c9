#ifndef FERRY_EXAMPLES_RANKS_H_
#define FERRY_EXAMPLES_RANKS_H_

// What the examples that train over several daemons share: their ranks' daemons, and
// seeded random data.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

}  // namespace ferry::examples

#endif  // FERRY_EXAMPLES_RANKS_H_
