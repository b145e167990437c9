#ifndef FERRY_CLIENT_TESTING_H_
#define FERRY_CLIENT_TESTING_H_

// For the client tests: what building an op throws, and arrays compared within a tolerance.

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/error.h"
#include "client/ops.h"
#include "gtest/gtest.h"

namespace ferry::testing {

// A data dependency's path among a test's runfiles, as Bazel lays them out
// ($TEST_SRCDIR/ferry/PATH), or PATH itself run from the source tree.
inline std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) + path;
}

// The message of the ferry::Error that `build` throws (which must be INVALID_ARGUMENT, as
// for every bad op), or "no error".
template <typename F>
std::string BuildError(F&& build) {
  try {
    build();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

// The code and message of the ferry::Error that `f` throws, or kOk and "no error".
template <typename F>
std::pair<ErrorCode, std::string> Failure(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {ErrorCode::kOk, "no error"};
}

// Expects `got` to have `want`'s shape and every element within atol + rtol * |want| of
// want's (compared in float64; NaN only where want has NaN, infinities equal), naming the
// first that is not.
inline void ExpectAllClose(Array got, Array want, double rtol, double atol,
                           const std::string& what = "") {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> g = astype(got, float64).to_vector<double>();
  const std::vector<double> w = astype(want, float64).to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    const bool close = std::isnan(w[i])   ? std::isnan(g[i])
                       : std::isinf(w[i]) ? g[i] == w[i]
                                          : std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]);
    ASSERT_TRUE(close) << what << ": element " << i << " is " << g[i] << ", expected " << w[i];
  }
}

}  // namespace ferry::testing

#endif  // FERRY_CLIENT_TESTING_H_
