#include "server/peer_networks.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ferry::server {
namespace {

// The family and bytes of a socket address, IPv4-mapped IPv6 addresses as IPv4.
int AddressBytes(const sockaddr_storage& address, const uint8_t** bytes) {
  if (address.ss_family == AF_INET) {
    *bytes = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr.s_addr);
    return AF_INET;
  }
  if (address.ss_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      *bytes = v6.s6_addr + 12;
      return AF_INET;
    }
    *bytes = v6.s6_addr;
    return AF_INET6;
  }
  return AF_UNSPEC;
}

}  // namespace

absl::StatusOr<PeerNetworks> PeerNetworks::Parse(const std::string& list) {
  PeerNetworks parsed;
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    auto refuse = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("--peer_networks: \"", entry, "\" ", why,
                       " (give networks as 10.0.0.0/8 or fd00::/8, comma-separated)"));
    };
    std::vector<absl::string_view> parts = absl::StrSplit(entry, absl::MaxSplits('/', 1));
    Network network;
    const std::string host(parts[0]);
    if (inet_pton(AF_INET, host.c_str(), network.bytes) == 1) {
      network.family = AF_INET;
    } else if (inet_pton(AF_INET6, host.c_str(), network.bytes) == 1) {
      network.family = AF_INET6;
    } else {
      return refuse("is not an IPv4 or IPv6 address");
    }
    const int bits = network.family == AF_INET ? 32 : 128;
    network.prefix = bits;
    if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &network.prefix) || network.prefix < 0 ||
                              network.prefix > bits)) {
      return refuse(absl::StrCat("has a prefix length that is not 0 to ", bits));
    }
    parsed.networks_.push_back(network);
  }
  if (!parsed.networks_.empty()) parsed.description_ = list;
  return parsed;
}

bool PeerNetworks::Allows(const sockaddr_storage& address) const {
  if (networks_.empty()) return true;
  const uint8_t* bytes = nullptr;
  const int family = AddressBytes(address, &bytes);
  for (const Network& network : networks_) {
    if (network.family != family) continue;
    const int whole = network.prefix / 8, rest = network.prefix % 8;
    if (std::memcmp(network.bytes, bytes, whole) != 0) continue;
    const uint8_t mask = static_cast<uint8_t>(0xff00 >> rest);
    if (rest == 0 || (network.bytes[whole] & mask) == (bytes[whole] & mask)) return true;
  }
  return false;
}

absl::StatusOr<sockaddr_storage> RemoteAddress(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::UnavailableError(absl::StrCat("getpeername: ", std::strerror(errno)));
  }
  return address;
}

std::string AddressToString(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(v4.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(v6.sin6_port));
  }
  return "an address of another family";
}

}  // namespace ferry::server
