#ifndef FERRY_CLIENT_TESTING_H_
#define FERRY_CLIENT_TESTING_H_

// For the client tests: what building an op throws.

#include <string>

#include "client/error.h"
#include "gtest/gtest.h"

namespace ferry::testing {

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

}  // namespace ferry::testing

#endif  // FERRY_CLIENT_TESTING_H_
