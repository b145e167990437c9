#include "server/upload_cache_disk.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/content_digest.h"
#include "gtest/gtest.h"

namespace ferry::server {
namespace {

class UploadCacheDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(::testing::TempDir()) + "/cache_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  std::unique_ptr<UploadCacheDisk> Open(int64_t capacity = 1 << 20) {
    absl::StatusOr<std::unique_ptr<UploadCacheDisk>> disk = UploadCacheDisk::Open(dir_, capacity);
    EXPECT_TRUE(disk.ok()) << disk.status();
    return disk.ok() ? *std::move(disk) : nullptr;
  }
  static absl::Status Write(UploadCacheDisk& disk, const std::string& key,
                            const std::string& bytes) {
    return disk.Write(key, bytes.size(), [&](uint64_t at, size_t n, char* dst) {
      std::memcpy(dst, bytes.data() + at, n);
      return absl::OkStatus();
    });
  }
  static absl::StatusOr<std::string> Read(UploadCacheDisk& disk, const std::string& key,
                                          const std::string& digest, size_t size) {
    std::string bytes(size, '\0');
    absl::Status read = disk.Read(key, digest, size, [&](uint64_t at, const char* data, size_t n) {
      std::memcpy(bytes.data() + at, data, n);
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return bytes;
  }
  static std::string Digest(const std::string& bytes) {
    return core::ContentDigest(bytes.data(), bytes.size());
  }
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    DIR* listing = opendir(dir_.c_str());
    while (dirent* entry = listing != nullptr ? readdir(listing) : nullptr) {
      if (entry->d_name[0] != '.') names.push_back(entry->d_name);
    }
    if (listing != nullptr) closedir(listing);
    return names;
  }

  std::string dir_;
};

TEST_F(UploadCacheDiskTest, EntriesSurviveAReopen) {
  const std::string bytes(5 << 20, 'w');  // two pieces
  {
    std::unique_ptr<UploadCacheDisk> disk = Open(16 << 20);
    ASSERT_TRUE(Write(*disk, "k", bytes).ok());
    EXPECT_TRUE(disk->Contains("k"));
    EXPECT_EQ(disk->bytes(), static_cast<int64_t>(bytes.size()));
  }
  std::unique_ptr<UploadCacheDisk> again = Open(16 << 20);
  EXPECT_TRUE(again->Contains("k"));
  EXPECT_FALSE(again->Contains("other"));
  EXPECT_EQ(again->entries(), 1);
  absl::StatusOr<std::string> read = Read(*again, "k", Digest(bytes), bytes.size());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);
  EXPECT_TRUE(absl::IsNotFound(Read(*again, "k", Digest(bytes), 17).status()));  // other size
}

TEST_F(UploadCacheDiskTest, ADamagedFileIsRemovedNotServed) {
  std::unique_ptr<UploadCacheDisk> disk = Open();
  const std::string bytes(1000, 'a');
  ASSERT_TRUE(Write(*disk, "k", bytes).ok());
  ASSERT_EQ(Files().size(), 1u);
  {
    std::fstream file(dir_ + "/" + Files()[0], std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(500);
    file.put('b');
  }
  EXPECT_TRUE(absl::IsDataLoss(Read(*disk, "k", Digest(bytes), bytes.size()).status()));
  EXPECT_FALSE(disk->Contains("k"));
  EXPECT_TRUE(Files().empty());
}

TEST_F(UploadCacheDiskTest, TheLeastRecentlyUsedGoPastTheCapacity) {
  std::unique_ptr<UploadCacheDisk> disk = Open(3000);
  const std::string a(1000, 'a'), b(1000, 'b'), c(1000, 'c'), d(1000, 'd');
  ASSERT_TRUE(Write(*disk, "a", a).ok());
  ASSERT_TRUE(Write(*disk, "b", b).ok());
  ASSERT_TRUE(Write(*disk, "c", c).ok());
  ASSERT_TRUE(Read(*disk, "a", Digest(a), a.size()).ok());  // a is now the most recent
  ASSERT_TRUE(Write(*disk, "d", d).ok());
  EXPECT_TRUE(disk->Contains("a"));
  EXPECT_FALSE(disk->Contains("b"));
  EXPECT_TRUE(disk->Contains("c"));
  EXPECT_TRUE(disk->Contains("d"));
  EXPECT_EQ(Files().size(), 3u);
  // Larger than the whole capacity: not written.
  ASSERT_TRUE(Write(*disk, "huge", std::string(4000, 'h')).ok());
  EXPECT_FALSE(disk->Contains("huge"));
}

TEST_F(UploadCacheDiskTest, AWriteThatNeverFinishedIsClearedAtOpen) {
  ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
  std::ofstream(dir_ + "/" + std::string(64, 'a') + ".1.partial") << "half";
  std::ofstream(dir_ + "/notes.txt") << "not ours";
  std::unique_ptr<UploadCacheDisk> disk = Open();
  EXPECT_EQ(disk->entries(), 0);
  EXPECT_EQ(Files(), std::vector<std::string>{"notes.txt"});  // other files are left alone
}

TEST_F(UploadCacheDiskTest, ADirectoryThatCannotBeMadeIsRefusedNamingIt) {
  absl::StatusOr<std::unique_ptr<UploadCacheDisk>> disk =
      UploadCacheDisk::Open("/proc/no/such/dir", 0);
  ASSERT_FALSE(disk.ok());
  EXPECT_EQ(disk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(disk.status().message().find("--upload_cache_dir=/proc/no/such/dir"), std::string::npos)
      << disk.status();
}

}  // namespace
}  // namespace ferry::server
