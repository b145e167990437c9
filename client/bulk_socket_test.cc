// Where the bulk channel connects: the host of the gRPC target, whatever its form.

#include "client/bulk_socket.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace ferry::detail {
namespace {

TEST(TargetHost, TakesTheHostOfEveryTcpTargetForm) {
  EXPECT_EQ(TargetHost("gpu-node-0:7070"), "gpu-node-0");
  EXPECT_EQ(TargetHost("127.0.0.1:7070"), "127.0.0.1");
  EXPECT_EQ(TargetHost("[::1]:7070"), "::1");
  EXPECT_EQ(TargetHost("[fe80::1%eth0]:7070"), "fe80::1%eth0");
  EXPECT_EQ(TargetHost("dns:///ferryd.ferry.svc:7070"), "ferryd.ferry.svc");
  EXPECT_EQ(TargetHost("dns:ferryd:7070"), "ferryd");
  EXPECT_EQ(TargetHost("ipv4:10.0.0.7:7070"), "10.0.0.7");
  EXPECT_EQ(TargetHost("ipv6:[2001:db8::7]:7070"), "2001:db8::7");
  EXPECT_EQ(TargetHost("localhost"), "localhost");
}

TEST(TargetHost, NoneForTargetsWithoutATcpHost) {
  EXPECT_EQ(TargetHost("unix:/run/ferryd.sock"), std::nullopt);
  EXPECT_EQ(TargetHost("unix-abstract:ferryd"), std::nullopt);
  EXPECT_EQ(TargetHost(":7070"), std::nullopt);
  EXPECT_EQ(TargetHost("[::1"), std::nullopt);
  EXPECT_EQ(TargetHost("::1"), std::nullopt);  // a bare IPv6 address needs brackets
}

}  // namespace
}  // namespace ferry::detail
