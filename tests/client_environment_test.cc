// The default device from the environment: FERRY_DEVICE points an unchanged program at a
// ferryd (with FERRY_TOKEN's token; FERRY_TLS_* in client_tls_auth_test), or leaves it local;
// each failure names the variable behind it.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The error `make` throws: its code and message ("no error" if none).
template <typename F>
std::string Failure(F&& make) {
  try {
    make();
  } catch (const Error& error) {
    return absl::StrCat(static_cast<int>(error.code()), " ", error.what());
  }
  return "no error";
}

std::string Code(ErrorCode code) { return absl::StrCat(static_cast<int>(code), " "); }

// First: the process's default device is made at its first use.
TEST(EnvironmentDevice, TheDefaultDeviceIsTheDaemonFerryDeviceNames) {
  auto daemon = testing::StartFerryd();
  ASSERT_NE(daemon, nullptr);
  setenv("FERRY_DEVICE", daemon->address().c_str(), 1);
  ASSERT_THAT(default_device().description(), StartsWith("remote " + daemon->address()));
  // Ops given no device run there.
  Array y = arange(0.0, 4.0, 1.0, float32) * 2.0f;
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 2, 4, 6}));
  EXPECT_GE(default_device().stats().executes, 1);
  set_default_device(local());
  unsetenv("FERRY_DEVICE");
}

TEST(EnvironmentDevice, UnsetEmptyOrLocalIsThisProcess) {
  unsetenv("FERRY_DEVICE");
  EXPECT_EQ(device_from_environment(), local());
  for (const char* value : {"", "local", " local "}) {
    setenv("FERRY_DEVICE", value, 1);
    EXPECT_EQ(device_from_environment(), local()) << "\"" << value << "\"";
  }
  unsetenv("FERRY_DEVICE");
}

TEST(EnvironmentDevice, FerryTokenIsSentAndAWrongOneNamesTheVariable) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string tokens = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/environment_tokens");
  std::ofstream(tokens) << "env-token\n";
  auto daemon = testing::StartFerryd({"--auth_tokens_file=" + tokens});
  ASSERT_NE(daemon, nullptr);
  setenv("FERRY_DEVICE", daemon->address().c_str(), 1);
  setenv("FERRY_TOKEN", "env-token", 1);
  Device remote = device_from_environment();
  EXPECT_EQ((from_host(std::vector<float>{1, 2}, {2}, remote) + 1.0f).to_vector<float>(),
            (std::vector<float>{2, 3}));
  setenv("FERRY_TOKEN", "not-the-token", 1);
  const std::string refused = Failure([] { device_from_environment(); });
  EXPECT_THAT(refused, StartsWith(Code(ErrorCode::kUnauthenticated)));
  EXPECT_THAT(refused, HasSubstr("FERRY_DEVICE=" + daemon->address()));
  unsetenv("FERRY_TOKEN");
  unsetenv("FERRY_DEVICE");
}

TEST(EnvironmentDevice, ADaemonNobodyRunsIsUnavailableNamingTheVariable) {
  const std::string address = absl::StrCat("127.0.0.1:", server::FreeLoopbackPort());
  setenv("FERRY_DEVICE", address.c_str(), 1);
  const std::string failure = Failure([] { device_from_environment(); });
  EXPECT_THAT(failure, StartsWith(Code(ErrorCode::kUnavailable)));
  EXPECT_THAT(failure, HasSubstr("FERRY_DEVICE=" + address + ": cannot reach ferryd"));
  unsetenv("FERRY_DEVICE");
}

TEST(EnvironmentDevice, ACertificateFileThatCannotBeReadIsNotFoundNamingTheVariable) {
  setenv("FERRY_DEVICE", "127.0.0.1:1", 1);
  setenv("FERRY_TLS_CA", "/nonexistent/ca.pem", 1);
  EXPECT_EQ(Failure([] { device_from_environment(); }),
            Code(ErrorCode::kNotFound) +
                "FERRY_TLS_CA: cannot read /nonexistent/ca.pem: No such file or directory");
  unsetenv("FERRY_TLS_CA");
  unsetenv("FERRY_DEVICE");
}

}  // namespace
}  // namespace ferry
