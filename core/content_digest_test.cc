#include "core/content_digest.h"

#include <string>
#include <vector>

#include "core/fingerprint.h"
#include "gtest/gtest.h"

namespace ferry::core {
namespace {

std::string Hex(const std::string& digest) { return FingerprintToHex(digest); }

std::string Pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7) & 255);
  return bytes;
}

// Pinned against Python's hashlib (the definition in content_digest.h, written out there):
// a client in another language names the same bytes the same way.
TEST(ContentDigestTest, MatchesTheDefinition) {
  EXPECT_EQ(Hex(ContentDigest("", 0)),
            "cf2aef7289ab072f98e618cd6994bd934cc5c4e85351153b7044e79b48c4ba18");
  EXPECT_EQ(Hex(ContentDigest("ferry", 5)),
            "657190b17f5071261620e5f0583714d8da9e717c2ec8dd813acf40ca0f049108");
  const std::string three_pieces = Pattern(2 * kContentPieceBytes + 3);
  EXPECT_EQ(Hex(ContentDigest(three_pieces.data(), three_pieces.size())),
            "bfc862e4e4c871bea2dd3b03b596140f8dfea682489d6c6d6c3516e07e23db57");
}

TEST(ContentDigestTest, ThreadsDoNotChangeIt) {
  const std::string bytes = Pattern(5 * kContentPieceBytes + 11);
  const std::string one = ContentDigest(bytes.data(), bytes.size(), 1);
  for (int threads : {2, 3, 8, 64}) {
    EXPECT_EQ(ContentDigest(bytes.data(), bytes.size(), threads), one) << threads << " threads";
  }
}

TEST(ContentDigestTest, PiecesCombineToTheWhole) {
  const std::string bytes = Pattern(kContentPieceBytes + 100);
  const std::vector<PieceDigest> pieces = {DigestPiece(bytes.data(), kContentPieceBytes),
                                           DigestPiece(bytes.data() + kContentPieceBytes, 100)};
  EXPECT_EQ(CombinePieceDigests(bytes.size(), pieces), ContentDigest(bytes.data(), bytes.size()));
}

TEST(ContentDigestTest, EveryByteAndTheLengthCount) {
  std::string bytes = Pattern(kContentPieceBytes + 1);
  const std::string digest = ContentDigest(bytes.data(), bytes.size(), 2);
  EXPECT_EQ(digest.size(), kContentDigestBytes);
  bytes.back() ^= 1;
  EXPECT_NE(ContentDigest(bytes.data(), bytes.size(), 2), digest);
  bytes.back() ^= 1;
  EXPECT_NE(ContentDigest(bytes.data(), bytes.size() - 1, 2), digest);
  // Zeros of two lengths differ, though every piece of both is zeros.
  const std::string zeros(64, '\0');
  EXPECT_NE(ContentDigest(zeros.data(), 32), ContentDigest(zeros.data(), 64));
}

}  // namespace
}  // namespace ferry::core
