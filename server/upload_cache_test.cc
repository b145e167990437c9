#include "server/upload_cache.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/content_digest.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace ferry::server {
namespace {

class UploadCacheTest : public ::testing::Test {
 protected:
  // A tensor of `floats` float32 values, each `value`.
  kernels::Tensor Filled(int64_t floats, float value) {
    absl::StatusOr<kernels::Tensor> tensor = backend_->Allocate({core::DType::kFloat32, {floats}});
    EXPECT_TRUE(tensor.ok()) << tensor.status();
    for (int64_t i = 0; i < floats; ++i) tensor->data<float>()[i] = value;
    return *tensor;
  }
  static std::string DigestOf(const kernels::Tensor& tensor) {
    return core::ContentDigest(tensor.raw(), tensor.nbytes());
  }
  std::optional<kernels::Tensor> Find(UploadCache& cache, const std::string& scope,
                                      const std::string& digest, int64_t floats) {
    absl::StatusOr<std::optional<kernels::Tensor>> found =
        cache.Find(scope, digest, {core::DType::kFloat32, {floats}});
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() ? *found : std::nullopt;
  }

  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend(1 << 20);
};

TEST_F(UploadCacheTest, AnOfferIsFoundByItsDigestOnceChecked) {
  UploadCache cache(1 << 16, *backend_);
  kernels::Tensor uploaded = Filled(256, 1.5f);
  const std::string digest = DigestOf(uploaded);
  EXPECT_EQ(Find(cache, "", digest, 256), std::nullopt);
  cache.Offer("", digest, uploaded, nullptr);
  cache.WaitForChecks();
  std::optional<kernels::Tensor> found = Find(cache, "", digest, 256);
  ASSERT_TRUE(found.has_value());
  // On the CPU the memory is shared, never copied.
  EXPECT_EQ(found->raw(), uploaded.raw());
  // Another shape of the same bytes is the same bytes.
  std::optional<kernels::Tensor> reshaped =
      *cache.Find("", digest, {core::DType::kFloat32, {16, 16}});
  ASSERT_TRUE(reshaped.has_value());
  EXPECT_EQ(reshaped->shape(), (core::Shape{16, 16}));
  const UploadCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.hits, 2);
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.bytes, 1024);
}

TEST_F(UploadCacheTest, BytesThatDoNotMatchTheirDigestAreNotKept) {
  UploadCache cache(1 << 16, *backend_);
  const std::string claimed = DigestOf(Filled(256, 1.0f));
  cache.Offer("", claimed, Filled(256, 2.0f), nullptr);
  cache.WaitForChecks();
  EXPECT_EQ(Find(cache, "", claimed, 256), std::nullopt);
  EXPECT_EQ(cache.stats().rejected, 1);
  EXPECT_EQ(cache.stats().entries, 0);
}

TEST_F(UploadCacheTest, EntriesAreFoundOnlyFromTheirScopeAndByteCount) {
  UploadCache cache(1 << 16, *backend_);
  kernels::Tensor uploaded = Filled(256, 3.0f);
  const std::string digest = DigestOf(uploaded);
  cache.Offer("token 1", digest, uploaded, nullptr);
  cache.WaitForChecks();
  EXPECT_EQ(Find(cache, "token 2", digest, 256), std::nullopt);
  EXPECT_EQ(Find(cache, "", digest, 256), std::nullopt);
  EXPECT_EQ(Find(cache, "token 1", digest, 128), std::nullopt);
  EXPECT_NE(Find(cache, "token 1", digest, 256), std::nullopt);
}

TEST_F(UploadCacheTest, TheLeastRecentlyUsedGoFirstPastTheCapacity) {
  UploadCache cache(3 * 1024, *backend_);  // three tensors of 1 KiB
  std::string digests[4];
  for (int i = 0; i < 3; ++i) {
    kernels::Tensor tensor = Filled(256, static_cast<float>(i));
    digests[i] = DigestOf(tensor);
    cache.Offer("", digests[i], tensor, nullptr);
  }
  cache.WaitForChecks();
  ASSERT_NE(Find(cache, "", digests[0], 256), std::nullopt);  // 0 is now the most recent
  kernels::Tensor fourth = Filled(256, 3.0f);
  digests[3] = DigestOf(fourth);
  cache.Offer("", digests[3], fourth, nullptr);
  cache.WaitForChecks();
  EXPECT_EQ(Find(cache, "", digests[1], 256), std::nullopt);
  EXPECT_NE(Find(cache, "", digests[0], 256), std::nullopt);
  EXPECT_NE(Find(cache, "", digests[2], 256), std::nullopt);
  EXPECT_NE(Find(cache, "", digests[3], 256), std::nullopt);
  EXPECT_EQ(cache.stats().bytes, 3 * 1024);
  // Larger than the whole cache: never kept.
  kernels::Tensor huge = Filled(1024, 5.0f);
  cache.Offer("", DigestOf(huge), huge, nullptr);
  cache.WaitForChecks();
  EXPECT_EQ(cache.stats().entries, 3);
}

// A checkpoint of many tensors offers them all at once, faster than they are hashed: each
// waits its turn (they fit the capacity together), none is dropped.
TEST_F(UploadCacheTest, ManyOffersMadeAtOnceAreAllKept) {
  UploadCache cache(1 << 16, *backend_);
  std::vector<std::string> digests;
  for (int i = 0; i < 48; ++i) {
    kernels::Tensor tensor = Filled(256, static_cast<float>(i));
    digests.push_back(DigestOf(tensor));
    cache.Offer("", digests.back(), tensor, nullptr);
  }
  cache.WaitForChecks();
  EXPECT_EQ(cache.stats().entries, 48);
  for (const std::string& digest : digests) EXPECT_NE(Find(cache, "", digest, 256), std::nullopt);
}

TEST_F(UploadCacheTest, ReclaimFreesOnlyWhatNoSessionHolds) {
  UploadCache cache(1 << 16, *backend_);
  kernels::Tensor held = Filled(256, 1.0f);
  const std::string held_digest = DigestOf(held);
  cache.Offer("", held_digest, held, nullptr);
  std::string free_digest;
  {
    kernels::Tensor released = Filled(256, 2.0f);
    free_digest = DigestOf(released);
    cache.Offer("", free_digest, released, nullptr);
    cache.WaitForChecks();
  }
  const int64_t in_use = backend_->budget().in_use();
  EXPECT_EQ(cache.Reclaim(1 << 20), 1024);  // only the released one's bytes
  EXPECT_EQ(backend_->budget().in_use(), in_use - 1024);
  EXPECT_EQ(Find(cache, "", free_digest, 256), std::nullopt);
  EXPECT_NE(Find(cache, "", held_digest, 256), std::nullopt);
}

// A full budget asks its reclaimer, as ferryd's does: kept bytes give way to new work.
TEST_F(UploadCacheTest, AFullBudgetTakesTheMemoryBack) {
  UploadCache cache(1 << 20, *backend_);
  backend_->budget().set_reclaimer([&cache](int64_t needed) { return cache.Reclaim(needed); });
  {
    kernels::Tensor big = Filled(200 * 1024, 1.0f);  // 800 KiB of the 1 MiB budget
    cache.Offer("", DigestOf(big), big, nullptr);
    cache.WaitForChecks();
  }
  EXPECT_EQ(cache.stats().entries, 1);
  absl::StatusOr<kernels::Tensor> next = backend_->Allocate({core::DType::kFloat32, {128 * 1024}});
  EXPECT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(cache.stats().entries, 0);
  backend_->budget().set_reclaimer(nullptr);
}

// With a directory, checked entries are also on disk: a cache started again over it (ferryd
// restarted) finds them there, checks them again and keeps them in memory.
TEST_F(UploadCacheTest, EntriesOnDiskSurviveARestart) {
  const std::string dir = std::string(::testing::TempDir()) + "/upload_cache_restart";
  kernels::Tensor uploaded = Filled(256, 4.0f);
  const std::string digest = DigestOf(uploaded);
  {
    UploadCache cache(1 << 16, *backend_, *UploadCacheDisk::Open(dir, 1 << 20));
    cache.Offer("", digest, uploaded, nullptr);
    cache.WaitForChecks();
    EXPECT_EQ(cache.stats().disk_entries, 1);
    EXPECT_EQ(cache.stats().disk_bytes, 1024);
  }
  UploadCache restarted(1 << 16, *backend_, *UploadCacheDisk::Open(dir, 1 << 20));
  EXPECT_EQ(restarted.stats().entries, 0);
  std::optional<kernels::Tensor> found = Find(restarted, "", digest, 256);
  ASSERT_TRUE(found.has_value());
  EXPECT_NE(found->raw(), uploaded.raw());  // read from disk
  EXPECT_EQ(found->data<float>()[255], 4.0f);
  EXPECT_EQ(restarted.stats().entries, 1);  // and now in memory
  EXPECT_EQ(restarted.stats().hits, 1);
  EXPECT_EQ(Find(restarted, "other scope", digest, 256), std::nullopt);
}

}  // namespace
}  // namespace ferry::server
