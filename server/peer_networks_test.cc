// --peer_networks: which addresses a group's links may reach and come from.
#include "server/peer_networks.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "gtest/gtest.h"

namespace ferry::server {
namespace {

sockaddr_storage Address(const std::string& host) {
  sockaddr_storage address{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(7070);
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr), 1) << host;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(7070);
  }
  return address;
}

TEST(PeerNetworks, EmptyAllowsEveryAddress) {
  absl::StatusOr<PeerNetworks> any = PeerNetworks::Parse("");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_TRUE(any->AllowsAll());
  EXPECT_TRUE(any->Allows(Address("203.0.113.9")));
  EXPECT_TRUE(any->Allows(Address("2001:db8::1")));
}

TEST(PeerNetworks, AllowsOnlyAddressesInsideTheirPrefixes) {
  absl::StatusOr<PeerNetworks> networks =
      PeerNetworks::Parse("10.0.0.0/8, 192.168.4.0/22,127.0.0.1,fd00::/8");
  ASSERT_TRUE(networks.ok()) << networks.status();
  EXPECT_FALSE(networks->AllowsAll());
  for (const char* inside : {"10.1.2.3", "10.255.255.255", "192.168.7.200", "192.168.4.0",
                             "127.0.0.1", "fd12:3456::1", "::ffff:10.9.9.9"}) {
    EXPECT_TRUE(networks->Allows(Address(inside))) << inside;
  }
  for (const char* outside : {"11.0.0.1", "192.168.8.1", "192.168.3.255", "127.0.0.2", "fe80::1",
                              "::1", "::ffff:11.0.0.1"}) {
    EXPECT_FALSE(networks->Allows(Address(outside))) << outside;
  }
  EXPECT_TRUE(PeerNetworks::Parse("0.0.0.0/0")->Allows(Address("8.8.8.8")));
  EXPECT_FALSE(PeerNetworks::Parse("0.0.0.0/0")->Allows(Address("2001:db8::1")));
}

TEST(PeerNetworks, RefusesWhatIsNoNetworkNamingIt) {
  for (const char* bad :
       {"10.0.0.0/33", "fd00::/129", "10.0.0.0/-1", "10.0.0.0/x", "node0", "10.0.0/8"}) {
    absl::StatusOr<PeerNetworks> parsed = PeerNetworks::Parse(std::string("127.0.0.1,") + bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(parsed.status().message().find(bad), std::string::npos) << parsed.status();
  }
}

TEST(PeerNetworks, PrintsAddressesWithTheirPorts) {
  EXPECT_EQ(AddressToString(Address("10.1.2.3")), "10.1.2.3:7070");
  EXPECT_EQ(AddressToString(Address("fd00::1")), "[fd00::1]:7070");
}

}  // namespace
}  // namespace ferry::server
