// Text <-> address conversions for the control API (inet_pton/inet_ntop).
#include <arpa/inet.h>

#include <stdexcept>
#include <string>

#include "fib/fib.h"

namespace lcp::fib {

namespace {

bool parse_bare(const std::string& s, IpAddr& out) {
  out = IpAddr{};
  if (s.find(':') != std::string::npos) {
    out.family = Family::Ip6;
    return inet_pton(AF_INET6, s.c_str(), out.b.data()) == 1;
  }
  out.family = Family::Ip4;
  return inet_pton(AF_INET, s.c_str(), out.b.data()) == 1;
}

unsigned max_len(Family f) { return f == Family::Ip4 ? 32 : 128; }

}  // namespace

IpAddr parse_addr(const std::string& s) {
  IpAddr a;
  if (s.empty() || !parse_bare(s, a)) throw std::invalid_argument("invalid IP address '" + s + "'");
  return a;
}

Prefix parse_prefix(const std::string& s) {
  const size_t slash = s.find('/');
  Prefix p;
  const std::string addr = s.substr(0, slash);
  if (addr.empty() || !parse_bare(addr, p.addr))
    throw std::invalid_argument("invalid prefix '" + s + "': bad address");
  const unsigned max = max_len(p.addr.family);
  if (slash == std::string::npos) {
    p.len = uint8_t(max);
    return p;
  }
  const std::string len = s.substr(slash + 1);
  if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("invalid prefix '" + s + "': bad length");
  const unsigned l = unsigned(std::stoul(len));
  if (l > max)
    throw std::invalid_argument("invalid prefix '" + s + "': length " + len + " exceeds " +
                                std::to_string(max));
  p.len = uint8_t(l);
  const unsigned bytes = max / 8;
  for (unsigned bit = l; bit < bytes * 8; ++bit)
    if (p.addr.b[bit / 8] & (0x80 >> (bit % 8)))
      throw std::invalid_argument("invalid prefix '" + s + "': host bits set beyond /" + len);
  return p;
}

std::string format_addr(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN];
  const int af = a.family == Family::Ip4 ? AF_INET : AF_INET6;
  if (!inet_ntop(af, a.b.data(), buf, sizeof buf)) return "?";
  return buf;
}

std::string format_prefix(const Prefix& p) { return format_addr(p.addr) + "/" + std::to_string(p.len); }

// "10.0.0.1/24": the address keeps its host bits; the length says the subnet.
Prefix parse_interface_address(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) throw std::invalid_argument("address '" + s + "' needs a prefix length (a.b.c.d/len)");
  Prefix p;
  p.addr = parse_addr(s.substr(0, slash));
  const std::string len = s.substr(slash + 1);
  const unsigned max = p.addr.family == Family::Ip4 ? 32 : 128;
  if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos || std::stoul(len) > max)
    throw std::invalid_argument("address '" + s + "': prefix length must be 0.." + std::to_string(max));
  p.len = uint8_t(std::stoul(len));
  return p;
}

}  // namespace lcp::fib
