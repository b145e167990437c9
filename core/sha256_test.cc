#include "core/sha256.h"

#include <string>

#include "core/fingerprint.h"
#include "gtest/gtest.h"

namespace ferry::core {
namespace {

std::string HexDigest(std::string_view data) { return FingerprintToHex(Sha256Digest(data)); }

// Every test runs twice: with the CPU's SHA instructions where it has them, and in
// portable code.
class Sha256Test : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    Sha256::UsePortableForTesting(GetParam());
    if (!GetParam() && !Sha256::Accelerated()) {
      GTEST_SKIP() << "this CPU has no SHA instructions: the portable run covers it";
    }
  }
  void TearDown() override { Sha256::UsePortableForTesting(false); }
};

INSTANTIATE_TEST_SUITE_P(Paths, Sha256Test, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Portable" : "Native"; });

// The FIPS 180-2 / NIST example vectors.
TEST_P(Sha256Test, StandardVectors) {
  EXPECT_EQ(HexDigest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexDigest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexDigest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(HexDigest(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_P(Sha256Test, PaddingBoundaries) {
  // 55 bytes fit the length in one block; 56 and 64 need a second.
  EXPECT_EQ(HexDigest(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(HexDigest(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(HexDigest(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_P(Sha256Test, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7));
  for (size_t chunk : {1, 3, 63, 64, 65, 999}) {
    Sha256 sha;
    for (size_t at = 0; at < data.size(); at += chunk) {
      sha.Update(std::string_view(data).substr(at, chunk));
    }
    const std::array<uint8_t, 32> digest = sha.Finish();
    EXPECT_EQ(std::string(digest.begin(), digest.end()), Sha256Digest(data)) << chunk;
  }
}

// Both paths give the same digest for every length around the block boundaries and for
// pseudo-random contents.
TEST(Sha256PathsTest, NativeEqualsPortable) {
  if (!Sha256::Accelerated()) GTEST_SKIP() << "this CPU has no SHA instructions";
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  std::string data;
  for (size_t size = 0; size < 700; ++size) {
    data.clear();
    for (size_t i = 0; i < size; ++i) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      data.push_back(static_cast<char>(seed >> 56));
    }
    const std::string native = Sha256Digest(data);
    Sha256::UsePortableForTesting(true);
    const std::string portable = Sha256Digest(data);
    Sha256::UsePortableForTesting(false);
    ASSERT_EQ(FingerprintToHex(native), FingerprintToHex(portable)) << size << " bytes";
  }
}

}  // namespace
}  // namespace ferry::core
