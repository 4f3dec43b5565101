#include "botsec/core/cidr.h"

#include <algorithm>
#include <arpa/inet.h>

namespace botsec::core {
namespace {

// Whether the bits of `address` from `prefix` on are all zero.
bool HostBitsClear(const std::array<std::uint8_t, 16>& address, int prefix, int bits) {
  for (int bit = prefix; bit < bits; ++bit) {
    if ((address[bit / 8] & (0x80U >> (bit % 8))) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<Cidr> Cidr::Parse(std::string_view text) {
  auto invalid = [] {
    return Fail(ErrorCode::kInvalidArgument, "must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32");
  };
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash + 1 == text.size() || text.size() - slash > 4) {
    return invalid();
  }
  std::string_view digits = text.substr(slash + 1);
  if (!std::ranges::all_of(digits, [](char c) { return c >= '0' && c <= '9'; }) ||
      (digits.size() > 1 && digits.front() == '0')) {
    return invalid();
  }
  Cidr cidr;
  std::string address(text.substr(0, slash));
  if (inet_pton(AF_INET, address.c_str(), cidr.address_.data()) == 1) {
    cidr.ipv6_ = false;
  } else if (inet_pton(AF_INET6, address.c_str(), cidr.address_.data()) == 1) {
    cidr.ipv6_ = true;
  } else {
    return invalid();
  }
  int bits = cidr.ipv6_ ? 128 : 32;
  cidr.prefix_ = std::stoi(std::string(digits));
  if (cidr.prefix_ > bits) {
    return invalid();
  }
  if (!HostBitsClear(cidr.address_, cidr.prefix_, bits)) {
    return Fail(ErrorCode::kInvalidArgument,
                "must be a CIDR with no host bits set, such as 10.0.0.0/8 or 2001:db8::/32");
  }
  return cidr;
}

bool Cidr::Contains(const Cidr& other) const {
  if (ipv6_ != other.ipv6_ || other.prefix_ < prefix_) {
    return false;
  }
  for (int bit = 0; bit < prefix_; ++bit) {
    std::uint8_t mask = 0x80U >> (bit % 8);
    if ((address_[bit / 8] & mask) != (other.address_[bit / 8] & mask)) {
      return false;
    }
  }
  return true;
}

std::string Cidr::ToString() const {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  inet_ntop(ipv6_ ? AF_INET6 : AF_INET, address_.data(), buffer.data(), buffer.size());
  return std::string(buffer.data()) + "/" + std::to_string(prefix_);
}

}  // namespace botsec::core
