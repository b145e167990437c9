#ifndef FERRY_SERVER_PEER_NETWORKS_H_
#define FERRY_SERVER_PEER_NETWORKS_H_

// The networks a daemon's group links may reach (ferryd --peer_networks): JoinGroup names
// the next rank's address, so without a limit any client could have the daemon open a
// connection to any host and port it can reach. Links are checked both ways: the address a
// daemon dials, and the address an arriving link comes from.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::server {

class PeerNetworks {
 public:
  // Every address.
  PeerNetworks() = default;
  // From "10.0.0.0/8,fd00::/8,127.0.0.1" (an address alone is a network of one); empty:
  // every address. INVALID_ARGUMENT naming the entry it cannot read.
  static absl::StatusOr<PeerNetworks> Parse(const std::string& list);

  // Whether `address` (an IPv4 or IPv6 socket address; an IPv4-mapped IPv6 one counts as
  // its IPv4 address) is in one of the networks.
  bool Allows(const sockaddr_storage& address) const;
  bool AllowsAll() const { return networks_.empty(); }
  // The list as given, for messages.
  const std::string& description() const { return description_; }

 private:
  struct Network {
    int family = AF_INET;
    uint8_t bytes[16] = {};
    int prefix = 0;  // bits
  };
  std::vector<Network> networks_;
  std::string description_ = "every address";
};

// The address at the other end of the connected socket `fd`, and it printed as "host:port".
absl::StatusOr<sockaddr_storage> RemoteAddress(int fd);
std::string AddressToString(const sockaddr_storage& address);

}  // namespace ferry::server

#endif  // FERRY_SERVER_PEER_NETWORKS_H_
