// IP address blocks (CIDRs), IPv4 and IPv6: parsed strictly, as NetworkPolicy's ipBlock takes them.
#ifndef BOTSEC_CORE_CIDR_H_
#define BOTSEC_CORE_CIDR_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "botsec/core/result.h"

namespace botsec::core {

class Cidr {
 public:
  // "10.0.0.0/8", "2001:db8::/32". Fails (kInvalidArgument, the message a reason fit to follow
  // "Invalid value: ...:") on anything else, host bits set included ("10.0.0.1/8").
  static Result<Cidr> Parse(std::string_view text);

  [[nodiscard]] bool is_ipv6() const { return ipv6_; }
  [[nodiscard]] int prefix() const { return prefix_; }
  // Whether every address of `other` is in this block (a block contains itself). A block never
  // contains one of the other family.
  [[nodiscard]] bool Contains(const Cidr& other) const;
  // The canonical text ("2001:db8::/32").
  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  Cidr() = default;

  std::array<std::uint8_t, 16> address_{};
  int prefix_ = 0;
  bool ipv6_ = false;
};

}  // namespace botsec::core

#endif  // BOTSEC_CORE_CIDR_H_
