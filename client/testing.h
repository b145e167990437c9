#ifndef FERRY_CLIENT_TESTING_H_
#define FERRY_CLIENT_TESTING_H_

// For the client's tests: the message of the ferry::Error a call throws.

#include <functional>
#include <string>

#include "client/error.h"
#include "gtest/gtest.h"

namespace ferry::testing {

// The message of the ferry::Error that `build` throws, after expecting its code to be
// INVALID_ARGUMENT; a test failure and "" when nothing is thrown.
inline std::string ErrorOf(const std::function<void()>& build) {
  try {
    build();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace ferry::testing

#endif  // FERRY_CLIENT_TESTING_H_
