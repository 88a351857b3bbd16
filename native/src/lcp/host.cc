#include "lcp/host.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>

#include "fib/fib.h"
#include "io/netns.h"
#include "io/packet_io.h"

namespace lcp::host {

namespace {

// Each call opens its own rtnetlink socket in the netns: these run rarely
// (per pair reconcile), and a socket per call leaves nothing to invalidate
// when a netns is deleted and made again under the same name.
template <typename Fn>
auto in_netns(const std::string& netns, Fn&& fn) {
  io::NetnsGuard in(netns);
  io::Netlink nl(io::netns_label(netns));
  return fn(nl);
}

io::AddressEntry entry(io::Netlink& nl, const std::string& name, const std::string& cidr) {
  const fib::Prefix p = fib::parse_interface_address(cidr);
  io::AddressEntry a;
  a.ifindex = nl.get_link(name).info.ifindex;
  a.family = p.addr.family == fib::Family::Ip4 ? AF_INET : AF_INET6;
  a.prefixlen = p.len;
  a.addr = p.addr.b;
  return a;
}

constexpr const char* kModes[] = {"eui64", "none", "stable_secret", "random"};

}  // namespace

bool netns_exists(const std::string& netns) {
  if (netns.empty()) return true;
  io::validate_netns_name(netns);
  struct stat st{};
  return ::stat(("/run/netns/" + netns).c_str(), &st) == 0;
}

std::vector<io::LinkDetails> links(const std::string& netns) {
  return in_netns(netns, [](io::Netlink& nl) { return nl.list_links(); });
}

std::optional<io::LinkState> link(const std::string& netns, const std::string& name) {
  return io::link_state(netns, name);
}

std::vector<std::string> addresses(const std::string& netns, const std::string& name) {
  io::validate_ifname(name, "invalid device name");
  return in_netns(netns, [&](io::Netlink& nl) {
    std::vector<std::string> out;
    for (const io::AddressEntry& a : nl.list_addresses(nl.get_link(name).info.ifindex)) {
      if (a.scope == RT_SCOPE_LINK) continue;
      fib::IpAddr ip;
      ip.family = a.family == AF_INET ? fib::Family::Ip4 : fib::Family::Ip6;
      ip.b = a.addr;
      out.push_back(fib::format_addr(ip) + "/" + std::to_string(a.prefixlen));
    }
    return out;
  });
}

void add_address(const std::string& netns, const std::string& name, const std::string& cidr) {
  io::validate_ifname(name, "invalid device name");
  in_netns(netns, [&](io::Netlink& nl) { nl.add_address(entry(nl, name, cidr)); return 0; });
}

void delete_address(const std::string& netns, const std::string& name, const std::string& cidr) {
  io::validate_ifname(name, "invalid device name");
  in_netns(netns, [&](io::Netlink& nl) { nl.delete_address(entry(nl, name, cidr)); return 0; });
}

void set_mtu(const std::string& netns, const std::string& name, uint32_t mtu) {
  io::validate_ifname(name, "invalid device name");
  in_netns(netns, [&](io::Netlink& nl) { nl.set_mtu(name, mtu); return 0; });
}

void set_mac(const std::string& netns, const std::string& name, const std::array<uint8_t, 6>& mac) {
  io::validate_ifname(name, "invalid device name");
  in_netns(netns, [&](io::Netlink& nl) { nl.set_mac(name, mac); return 0; });
}

void set_up(const std::string& netns, const std::string& name) {
  io::validate_ifname(name, "invalid device name");
  in_netns(netns, [&](io::Netlink& nl) { nl.set_up(name, true); return 0; });
}

void delete_link(const std::string& netns, const std::string& name) {
  io::validate_ifname(name, "invalid device name");
  in_netns(netns, [&](io::Netlink& nl) { nl.delete_link(name); return 0; });
}

void set_addr_gen_mode(const std::string& netns, const std::string& name, const std::string& mode) {
  for (uint8_t m = 0; m < std::size(kModes); ++m)
    if (mode == kModes[m]) return io::set_addr_gen_mode(netns, name, m);
  throw io::IoError("addrgenmode '" + mode + "' unknown (eui64, none, stable_secret, random)", EINVAL);
}

std::string addr_gen_mode_name(int mode) {
  return mode >= 0 && mode < int(std::size(kModes)) ? kModes[mode] : "";
}

void set_ipv6_disabled(const std::string& netns, const std::string& name, bool disabled) {
  io::set_ipv6_disabled(netns, name, disabled);
}

bool remove_stale_guard(const std::string& netns, const std::string& name) {
  return io::remove_stale_guard(netns, name);
}

}  // namespace lcp::host
