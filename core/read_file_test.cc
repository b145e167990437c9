#include "core/read_file.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(ReadFileTest, ReadsEveryByte) {
  const std::string path = TempPath("bytes");
  const std::string bytes("PEM\0\xff\n", 6);
  std::ofstream(path, std::ios::binary) << bytes;
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);
}

TEST(ReadFileTest, AnEmptyFileIsEmpty) {
  const std::string path = TempPath("empty");
  std::ofstream{path};
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

TEST(ReadFileTest, AMissingFileIsNotFoundNamingIt) {
  absl::StatusOr<std::string> read = ReadFile("/nonexistent/ca.pem");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(read.status().message(), "cannot read /nonexistent/ca.pem: No such file or directory");
}

}  // namespace
}  // namespace ferry::core
