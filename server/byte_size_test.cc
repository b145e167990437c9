#include "server/byte_size.h"

#include "gtest/gtest.h"

namespace ferry::server {
namespace {

TEST(ByteSize, PlainNumbersAndBinarySuffixes) {
  EXPECT_EQ(*ParseByteSize("0"), 0);
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576);
  EXPECT_EQ(*ParseByteSize("512K"), 512 << 10);
  EXPECT_EQ(*ParseByteSize("64M"), 64 << 20);
  EXPECT_EQ(*ParseByteSize("64m"), 64 << 20);
  EXPECT_EQ(*ParseByteSize("64MiB"), 64 << 20);
  EXPECT_EQ(*ParseByteSize("64MB"), 64 << 20);
  EXPECT_EQ(*ParseByteSize("8G"), int64_t{8} << 30);
  EXPECT_EQ(*ParseByteSize("2T"), int64_t{2} << 40);
  EXPECT_EQ(*ParseByteSize(" 3K "), 3072);
}

TEST(ByteSize, RefusesWhatIsNotAByteCount) {
  for (const char* text : {"", "M", "-1", "1.5G", "12Q", "8 G", "8Gx", "0x10"}) {
    EXPECT_FALSE(ParseByteSize(text).ok()) << text;
  }
  EXPECT_FALSE(ParseByteSize("9223372036854775808").ok());
  EXPECT_FALSE(ParseByteSize("8388608T").ok());  // 2^63 bytes
  EXPECT_EQ(*ParseByteSize("8388607T"), int64_t{8388607} << 40);
}

TEST(ByteSize, FormatsWholeMultiplesWithTheirSuffix) {
  EXPECT_EQ(FormatByteSize(0), "0");
  EXPECT_EQ(FormatByteSize(1000), "1000");
  EXPECT_EQ(FormatByteSize(1024), "1K");
  EXPECT_EQ(FormatByteSize(64 << 20), "64M");
  EXPECT_EQ(FormatByteSize(int64_t{3} << 30), "3G");
  EXPECT_EQ(FormatByteSize((int64_t{1} << 30) + 1024), "1048577K");
}

TEST(ByteSize, FlagRoundTrip) {
  ByteSize size;
  std::string error;
  EXPECT_TRUE(AbslParseFlag("256M", &size, &error));
  EXPECT_EQ(size.bytes, 256 << 20);
  EXPECT_EQ(AbslUnparseFlag(size), "256M");
  EXPECT_FALSE(AbslParseFlag("lots", &size, &error));
  EXPECT_NE(error.find("\"lots\" is not a byte count"), std::string::npos) << error;
}

}  // namespace
}  // namespace ferry::server
