// rtnetlink messages as the mirror needs them: links, addresses, routes and
// neighbours parsed out of raw netlink into plain structs. The parser never
// trusts the kernel's bytes: every attribute is length-checked, and a message
// that does not parse is reported (false) so the caller counts and skips it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fib/fib.h"

struct nlmsghdr;

namespace lcp::linux_nl {

using Mac = std::array<uint8_t, 6>;

struct NlLink {
  int ifindex = 0;
  uint32_t flags = 0;  // IFF_*
  uint32_t mtu = 0;
  bool has_mac = false;
  Mac mac{};
  std::string name;
  int link = 0;              // IFLA_LINK: the lower device (VLANs)
  bool is_vlan = false;      // IFLA_INFO_KIND "vlan"
  uint16_t vlan_id = 0;
  uint16_t vlan_proto = 0x8100;  // ETH_P_8021Q or ETH_P_8021AD
  int master = 0;            // IFLA_MASTER: a VRF (or bridge, bond) it is enslaved to
  bool is_vrf = false;       // IFLA_INFO_KIND "vrf"
  uint32_t vrf_table = 0;    // its IFLA_VRF_TABLE
};

struct NlAddr {
  int ifindex = 0;
  fib::Prefix addr;  // the address with its host bits, len = subnet length
  uint32_t flags = 0;
};

struct NlNextHop {
  int ifindex = 0;
  bool has_gw = false;
  fib::IpAddr gw{};
  uint16_t weight = 1;   // rtnh_hops + 1
  uint8_t flags = 0;     // RTNH_F_*
  bool operator==(const NlNextHop& o) const {
    return ifindex == o.ifindex && has_gw == o.has_gw && (!has_gw || gw == o.gw);
  }
};

struct NlRoute {
  uint32_t table = 0;
  uint32_t nh_id = 0;  // RTA_NH_ID: the route uses a nexthop object (its expanded paths are ignored)
  fib::Prefix prefix;
  uint8_t type = 0, protocol = 0, scope = 0, tos = 0;
  uint32_t priority = 0;
  uint32_t rtm_flags = 0;
  // Something the dataplane cannot forward as the kernel would: an encap
  // (MPLS, seg6...), or RTA_VIA other than an IPv6 next hop of an IPv4 route.
  bool unsupported_nh = false;
  std::vector<NlNextHop> nhs;
};

struct NlNeigh {
  int ifindex = 0;
  fib::IpAddr dst{};
  bool has_mac = false;
  Mac mac{};
  uint16_t state = 0;  // NUD_*
  uint8_t flags = 0;   // NTF_*
};

// A kernel nexthop object (RTM_NEWNEXTHOP): one next hop, a blackhole, or a
// group of other nexthop objects (ids with weights). Routes name it by id.
struct NlNexthop {
  uint32_t id = 0;
  uint8_t family = 0;      // AF_INET, AF_INET6, or AF_UNSPEC (groups, blackholes)
  uint32_t flags = 0;      // RTNH_F_* (DEAD, ONLINK...)
  bool blackhole = false;
  bool unsupported = false;  // an encap, or an FDB nexthop (a bridge's, not routing)
  int ifindex = 0;
  bool has_gw = false;
  fib::IpAddr gw{};
  bool is_group = false;
  bool resilient = false;  // NEXTHOP_GRP_TYPE_RES: forwarded as plain ECMP
  struct Member { uint32_t id; uint16_t weight; };
  std::vector<Member> group;
};

enum class MsgKind : uint8_t {
  Other, NewLink, DelLink, NewAddr, DelAddr, NewRoute, DelRoute, NewNeigh, DelNeigh, NewNexthop, DelNexthop
};

struct NlMsg {
  MsgKind kind = MsgKind::Other;
  uint16_t nl_flags = 0;  // NLM_F_* of the message (REPLACE, APPEND...)
  NlLink link;
  NlAddr addr;
  NlRoute route;
  NlNeigh neigh;
  NlNexthop nexthop;
};

// Fills `out` from one message. Returns false when the message is malformed
// (too short, bad attribute length, unknown family for its type). Messages of
// other types or families we do not mirror come back as MsgKind::Other.
bool parse_message(const nlmsghdr* nlh, NlMsg& out);

}  // namespace lcp::linux_nl
