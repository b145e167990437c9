// A client's region as the daemon copies it: whole ranges, and a region the client truncates
// while a copy runs (a SIGBUS, which must become a status, not a crash).

#include "server/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ferry::server {
namespace {

constexpr char kNonce[] = "0123456789abcdef";

// A region of `bytes` bytes (byte i = i % 251 after the nonce) that the test owns.
class Region {
 public:
  explicit Region(uint64_t bytes) : name_(absl::StrCat("/ferry-test-", getpid())) {
    fd_ = shm_open(name_.c_str(), O_CREAT | O_RDWR | O_EXCL, 0600);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(bytes)), 0);
    std::vector<char> data(bytes);
    for (uint64_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(i % 251);
    std::copy(kNonce, kNonce + 16, data.begin());
    EXPECT_EQ(pwrite(fd_, data.data(), bytes, 0), static_cast<ssize_t>(bytes));
  }
  ~Region() {
    close(fd_);
    shm_unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }
  void Truncate(uint64_t bytes) { ASSERT_EQ(ftruncate(fd_, static_cast<off_t>(bytes)), 0); }

 private:
  std::string name_;
  int fd_ = -1;
};

TEST(SharedMemoryRegionTest, CopiesOutAndInInChunks) {
  const uint64_t size = (uint64_t{3} << 20) + 100;
  Region owner(size);
  auto region = SharedMemoryRegion::Open(owner.name(), size, std::string(kNonce, 16));
  ASSERT_TRUE(region.ok()) << region.status();
  std::vector<char> out(size - 16);
  ASSERT_TRUE((*region)
                  ->CopyOut(16, out.size(),
                            [&](const char* chunk, uint64_t at, uint64_t bytes) {
                              std::copy(chunk, chunk + bytes, out.begin() + at);
                              return absl::OkStatus();
                            })
                  .ok());
  for (uint64_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<char>((i + 16) % 251));
  ASSERT_TRUE((*region)
                  ->CopyIn(16, out.size(),
                           [&](char* chunk, uint64_t at, uint64_t bytes) {
                             std::fill(chunk, chunk + bytes, static_cast<char>(at >> 20));
                             return absl::OkStatus();
                           })
                  .ok());
  std::vector<char> back(out.size());
  ASSERT_TRUE((*region)
                  ->CopyOut(16, back.size(),
                            [&](const char* chunk, uint64_t at, uint64_t bytes) {
                              std::copy(chunk, chunk + bytes, back.begin() + at);
                              return absl::OkStatus();
                            })
                  .ok());
  EXPECT_EQ(back[0], 0);
  EXPECT_EQ(back[(uint64_t{2} << 20) + 5], 2);
  EXPECT_EQ((*region)->CopyOut(size - 8, 16, nullptr).code(), absl::StatusCode::kOutOfRange);
}

TEST(SharedMemoryRegionTest, ARegionTruncatedDuringACopyIsAStatusNotACrash) {
  const uint64_t size = uint64_t{4} << 20;
  Region owner(size);
  auto region = SharedMemoryRegion::Open(owner.name(), size, std::string(kNonce, 16));
  ASSERT_TRUE(region.ok()) << region.status();
  int chunks = 0;
  absl::Status copied = (*region)->CopyOut(0, size, [&](const char*, uint64_t, uint64_t) {
    if (++chunks == 1) owner.Truncate(4096);  // the rest of the mapping is gone now
    return absl::OkStatus();
  });
  EXPECT_EQ(copied.code(), absl::StatusCode::kOutOfRange) << copied;
  EXPECT_NE(copied.message().find("shrank"), absl::string_view::npos) << copied;
  EXPECT_EQ(chunks, 1);
  absl::Status written =
      (*region)->CopyIn(0, size, [](char*, uint64_t, uint64_t) { return absl::OkStatus(); });
  EXPECT_EQ(written.code(), absl::StatusCode::kOutOfRange) << written;
}

}  // namespace
}  // namespace ferry::server
