#include "linux_nl/messages.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>

namespace lcp::linux_nl {

namespace {

// Attributes of one level, indexed by type; later duplicates win (as in the
// kernel's own parser). Returns false if an attribute header is broken.
template <size_t N>
bool collect(const void* start, size_t len, std::array<const nlattr*, N>& tb) {
  tb.fill(nullptr);
  auto* p = static_cast<const char*>(start);
  auto* attr = reinterpret_cast<const nlattr*>(p);
  size_t left = len;
  while (left >= sizeof(nlattr)) {
    if (attr->nla_len < sizeof(nlattr) || attr->nla_len > left) return false;
    const uint16_t type = mnl_attr_get_type(attr);
    if (type < N) tb[type] = attr;
    const size_t step = MNL_ALIGN(attr->nla_len);
    if (step >= left) break;
    left -= step;
    attr = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(attr) + step);
  }
  return true;
}

size_t plen(const nlattr* a) { return mnl_attr_get_payload_len(a); }

bool get_u32(const nlattr* a, uint32_t& v) {
  if (!a) return true;
  if (plen(a) < 4) return false;
  std::memcpy(&v, mnl_attr_get_payload(a), 4);
  return true;
}

bool get_ip(const nlattr* a, uint8_t family, fib::IpAddr& ip) {
  const size_t want = family == AF_INET ? 4 : 16;
  if (plen(a) != want) return false;
  ip = fib::IpAddr{};
  ip.family = family == AF_INET ? fib::Family::Ip4 : fib::Family::Ip6;
  std::memcpy(ip.b.data(), mnl_attr_get_payload(a), want);
  return true;
}

void mask(fib::Prefix& p) {
  const unsigned bits = p.addr.family == fib::Family::Ip4 ? 32 : 128;
  for (unsigned i = p.len; i < bits; ++i) p.addr.b[i / 8] &= uint8_t(~(0x80u >> (i % 8)));
}

bool parse_link(const nlmsghdr* nlh, NlLink& l) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return false;
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  l = NlLink{};
  l.ifindex = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  std::array<const nlattr*, IFLA_MAX + 1> tb;
  if (!collect(mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifi)),
               nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)), tb))
    return false;
  if (!get_u32(tb[IFLA_MTU], l.mtu)) return false;
  if (tb[IFLA_ADDRESS] && plen(tb[IFLA_ADDRESS]) == 6) {
    l.has_mac = true;
    std::memcpy(l.mac.data(), mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
  }
  if (const nlattr* n = tb[IFLA_IFNAME]) {
    auto* s = static_cast<const char*>(mnl_attr_get_payload(n));
    l.name.assign(s, strnlen(s, plen(n)));
  }
  uint32_t link = 0;
  if (!get_u32(tb[IFLA_LINK], link)) return false;
  l.link = int(link);
  uint32_t master = 0;
  if (!get_u32(tb[IFLA_MASTER], master)) return false;
  l.master = int(master);
  // A VLAN device: IFLA_LINKINFO { IFLA_INFO_KIND "vlan", IFLA_INFO_DATA
  // { IFLA_VLAN_ID, IFLA_VLAN_PROTOCOL } }. IFLA_LINK_NETNSID would put its
  // lower device in another netns: not one of our mirrors then.
  if (const nlattr* li = tb[IFLA_LINKINFO]; li && !tb[IFLA_LINK_NETNSID]) {
    std::array<const nlattr*, IFLA_INFO_MAX + 1> info;
    if (!collect(mnl_attr_get_payload(li), plen(li), info)) return false;
    const nlattr* kind = info[IFLA_INFO_KIND];
    // A VRF: IFLA_INFO_DATA { IFLA_VRF_TABLE }.
    if (kind && plen(kind) >= 3 && std::memcmp(mnl_attr_get_payload(kind), "vrf", 3) == 0 &&
        (plen(kind) == 3 || static_cast<const char*>(mnl_attr_get_payload(kind))[3] == 0) && info[IFLA_INFO_DATA]) {
      std::array<const nlattr*, IFLA_VRF_MAX + 1> vd;
      if (!collect(mnl_attr_get_payload(info[IFLA_INFO_DATA]), plen(info[IFLA_INFO_DATA]), vd)) return false;
      if (vd[IFLA_VRF_TABLE] && get_u32(vd[IFLA_VRF_TABLE], l.vrf_table)) l.is_vrf = true;
    }
    if (kind && plen(kind) >= 4 && std::memcmp(mnl_attr_get_payload(kind), "vlan", 4) == 0 &&
        (plen(kind) == 4 || static_cast<const char*>(mnl_attr_get_payload(kind))[4] == 0) && info[IFLA_INFO_DATA]) {
      std::array<const nlattr*, IFLA_VLAN_MAX + 1> vl;
      if (!collect(mnl_attr_get_payload(info[IFLA_INFO_DATA]), plen(info[IFLA_INFO_DATA]), vl)) return false;
      if (vl[IFLA_VLAN_ID] && plen(vl[IFLA_VLAN_ID]) >= 2) {
        l.is_vlan = true;
        std::memcpy(&l.vlan_id, mnl_attr_get_payload(vl[IFLA_VLAN_ID]), 2);
        if (vl[IFLA_VLAN_PROTOCOL] && plen(vl[IFLA_VLAN_PROTOCOL]) >= 2) {
          uint16_t be;
          std::memcpy(&be, mnl_attr_get_payload(vl[IFLA_VLAN_PROTOCOL]), 2);
          l.vlan_proto = ntohs(be);
        }
      }
    }
  }
  return l.ifindex > 0;
}

bool parse_addr(const nlmsghdr* nlh, NlAddr& a, bool& mirrored) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return false;
  auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  mirrored = ifa->ifa_family == AF_INET || ifa->ifa_family == AF_INET6;
  if (!mirrored) return true;
  a = NlAddr{};
  a.ifindex = int(ifa->ifa_index);
  a.flags = ifa->ifa_flags;
  std::array<const nlattr*, IFA_MAX + 1> tb;
  if (!collect(mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifa)),
               nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa)), tb))
    return false;
  if (!get_u32(tb[IFA_FLAGS], a.flags)) return false;
  // IPv4: IFA_LOCAL is ours (IFA_ADDRESS is the peer on point-to-point).
  const nlattr* at = ifa->ifa_family == AF_INET && tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  if (!at || !get_ip(at, ifa->ifa_family, a.addr.addr)) return false;
  a.addr.len = ifa->ifa_prefixlen;
  if (a.addr.len > (ifa->ifa_family == AF_INET ? 32 : 128)) return false;
  return a.ifindex > 0;
}

// RTA_VIA: a next hop of another family. What the dataplane forwards is an
// IPv6 next hop for an IPv4 route (RFC 8950, BGP unnumbered); anything else
// (IPv4 via for IPv6, MPLS labels) is unsupported, not mistranslated.
bool get_via(const nlattr* a, uint8_t family, NlNextHop& h, bool& unsupported) {
  if (plen(a) < sizeof(rtvia)) return false;
  auto* via = static_cast<const rtvia*>(mnl_attr_get_payload(a));
  if (via->rtvia_family != AF_INET6 || family != AF_INET) {
    unsupported = true;
    return true;
  }
  if (plen(a) != sizeof(rtvia) + 16) return false;
  h.gw = fib::IpAddr{};
  h.gw.family = fib::Family::Ip6;
  std::memcpy(h.gw.b.data(), via->rtvia_addr, 16);
  h.has_gw = true;
  return true;
}

bool parse_nexthops(const nlattr* mp, uint8_t family, NlRoute& r) {
  auto* p = static_cast<const char*>(mnl_attr_get_payload(mp));
  size_t left = plen(mp);
  while (left >= sizeof(rtnexthop)) {
    auto* nh = reinterpret_cast<const rtnexthop*>(p);
    if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > left) return false;
    NlNextHop h;
    h.ifindex = nh->rtnh_ifindex;
    h.weight = uint16_t(nh->rtnh_hops + 1);
    h.flags = nh->rtnh_flags;
    std::array<const nlattr*, RTA_MAX + 1> tb;
    if (!collect(p + RTNH_ALIGN(sizeof(rtnexthop)), nh->rtnh_len - RTNH_ALIGN(sizeof(rtnexthop)), tb)) return false;
    if (tb[RTA_GATEWAY]) {
      if (!get_ip(tb[RTA_GATEWAY], family, h.gw)) return false;
      h.has_gw = true;
    }
    if (tb[RTA_VIA] && !get_via(tb[RTA_VIA], family, h, r.unsupported_nh)) return false;
    if (tb[RTA_ENCAP]) r.unsupported_nh = true;
    r.nhs.push_back(h);
    const size_t step = RTNH_ALIGN(nh->rtnh_len);
    if (step >= left) break;
    left -= step;
    p += step;
  }
  return true;
}

bool parse_route(const nlmsghdr* nlh, NlRoute& r, bool& mirrored) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return false;
  auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  mirrored = rtm->rtm_family == AF_INET || rtm->rtm_family == AF_INET6;
  if (!mirrored) return true;
  r.nhs.clear();
  r.table = rtm->rtm_table;
  r.type = rtm->rtm_type;
  r.protocol = rtm->rtm_protocol;
  r.scope = rtm->rtm_scope;
  r.tos = rtm->rtm_tos;
  r.rtm_flags = rtm->rtm_flags;
  r.priority = 0;
  r.unsupported_nh = false;
  r.nh_id = 0;
  std::array<const nlattr*, RTA_MAX + 1> tb;
  if (!collect(mnl_nlmsg_get_payload_offset(nlh, sizeof(*rtm)),
               nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*rtm)), tb))
    return false;
  if (!get_u32(tb[RTA_TABLE], r.table) || !get_u32(tb[RTA_PRIORITY], r.priority)) return false;
  const unsigned max = rtm->rtm_family == AF_INET ? 32 : 128;
  if (rtm->rtm_dst_len > max) return false;
  r.prefix = fib::Prefix{};
  r.prefix.addr.family = rtm->rtm_family == AF_INET ? fib::Family::Ip4 : fib::Family::Ip6;
  r.prefix.len = rtm->rtm_dst_len;
  if (tb[RTA_DST] && !get_ip(tb[RTA_DST], rtm->rtm_family, r.prefix.addr)) return false;
  mask(r.prefix);
  // A route over a nexthop object: the object says where it goes. With
  // net.ipv4.nexthop_compat_mode=1 the kernel also expands it into
  // RTA_GATEWAY/RTA_MULTIPATH; those are ignored so nothing counts twice.
  if (tb[RTA_NH_ID]) {
    if (!get_u32(tb[RTA_NH_ID], r.nh_id)) return false;
    return r.nh_id != 0;
  }
  if (tb[RTA_ENCAP]) r.unsupported_nh = true;
  if (tb[RTA_MULTIPATH]) return parse_nexthops(tb[RTA_MULTIPATH], rtm->rtm_family, r);
  if (tb[RTA_OIF] || tb[RTA_GATEWAY] || tb[RTA_VIA]) {
    NlNextHop h;
    uint32_t oif = 0;
    if (!get_u32(tb[RTA_OIF], oif)) return false;
    h.ifindex = int(oif);
    h.flags = uint8_t(rtm->rtm_flags & 0xff);  // RTNH_F_DEAD/LINKDOWN are mirrored here for one path
    if (tb[RTA_GATEWAY]) {
      if (!get_ip(tb[RTA_GATEWAY], rtm->rtm_family, h.gw)) return false;
      h.has_gw = true;
    }
    if (tb[RTA_VIA] && !get_via(tb[RTA_VIA], rtm->rtm_family, h, r.unsupported_nh)) return false;
    r.nhs.push_back(h);
  }
  return true;
}

bool parse_nexthop(const nlmsghdr* nlh, NlNexthop& n) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nhmsg))) return false;
  auto* nhm = static_cast<const nhmsg*>(mnl_nlmsg_get_payload(nlh));
  n = NlNexthop{};
  n.family = nhm->nh_family;
  n.flags = nhm->nh_flags;
  std::array<const nlattr*, NHA_MAX + 1> tb;
  if (!collect(mnl_nlmsg_get_payload_offset(nlh, sizeof(*nhm)),
               nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*nhm)), tb))
    return false;
  if (!tb[NHA_ID] || !get_u32(tb[NHA_ID], n.id) || n.id == 0) return false;
  if (tb[NHA_FDB] || tb[NHA_ENCAP] || tb[NHA_ENCAP_TYPE]) n.unsupported = true;
  if (const nlattr* g = tb[NHA_GROUP]) {
    // struct nexthop_grp: id, weight - 1 (low byte), high byte of it (6.12+), pad.
    if (plen(g) == 0 || plen(g) % sizeof(nexthop_grp) != 0) return false;
    n.is_group = true;
    auto* raw = static_cast<const uint8_t*>(mnl_attr_get_payload(g));
    for (size_t off = 0; off < plen(g); off += sizeof(nexthop_grp)) {
      uint32_t id;
      std::memcpy(&id, raw + off, 4);
      const uint16_t w = uint16_t((uint16_t(raw[off + 5]) << 8 | raw[off + 4]) + 1);
      if (id == 0) return false;
      n.group.push_back({id, w});
    }
    if (tb[NHA_GROUP_TYPE]) {
      if (plen(tb[NHA_GROUP_TYPE]) < 2) return false;
      uint16_t type;
      std::memcpy(&type, mnl_attr_get_payload(tb[NHA_GROUP_TYPE]), 2);
      if (type == NEXTHOP_GRP_TYPE_RES) n.resilient = true;
      else if (type != NEXTHOP_GRP_TYPE_MPATH) n.unsupported = true;
    }
    return true;
  }
  if (tb[NHA_BLACKHOLE]) {
    n.blackhole = true;
    return true;
  }
  uint32_t oif = 0;
  if (!get_u32(tb[NHA_OIF], oif)) return false;
  n.ifindex = int(oif);
  if (tb[NHA_GATEWAY]) {
    if (n.family != AF_INET && n.family != AF_INET6) return false;
    if (!get_ip(tb[NHA_GATEWAY], n.family, n.gw)) return false;
    n.has_gw = true;
  }
  return n.ifindex > 0 || n.unsupported || nlh->nlmsg_type == RTM_DELNEXTHOP;
}

bool parse_neigh(const nlmsghdr* nlh, NlNeigh& n, bool& mirrored) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return false;
  auto* nd = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  mirrored = nd->ndm_family == AF_INET || nd->ndm_family == AF_INET6;
  if (!mirrored) return true;
  n = NlNeigh{};
  n.ifindex = nd->ndm_ifindex;
  n.state = nd->ndm_state;
  n.flags = nd->ndm_flags;
  std::array<const nlattr*, NDA_MAX + 1> tb;
  if (!collect(mnl_nlmsg_get_payload_offset(nlh, sizeof(*nd)),
               nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)), tb))
    return false;
  if (!tb[NDA_DST] || !get_ip(tb[NDA_DST], nd->ndm_family, n.dst)) return false;
  if (tb[NDA_LLADDR] && plen(tb[NDA_LLADDR]) == 6) {
    n.has_mac = true;
    std::memcpy(n.mac.data(), mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
  }
  return n.ifindex > 0;
}

}  // namespace

bool parse_message(const nlmsghdr* nlh, NlMsg& out) {
  out.kind = MsgKind::Other;
  out.nl_flags = nlh->nlmsg_flags;
  bool mirrored = true;
  bool ok = true;
  switch (nlh->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      ok = parse_link(nlh, out.link);
      if (ok) out.kind = nlh->nlmsg_type == RTM_NEWLINK ? MsgKind::NewLink : MsgKind::DelLink;
      return ok;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      ok = parse_addr(nlh, out.addr, mirrored);
      if (ok && mirrored) out.kind = nlh->nlmsg_type == RTM_NEWADDR ? MsgKind::NewAddr : MsgKind::DelAddr;
      return ok;
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      ok = parse_route(nlh, out.route, mirrored);
      if (ok && mirrored) out.kind = nlh->nlmsg_type == RTM_NEWROUTE ? MsgKind::NewRoute : MsgKind::DelRoute;
      return ok;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
      ok = parse_neigh(nlh, out.neigh, mirrored);
      if (ok && mirrored) out.kind = nlh->nlmsg_type == RTM_NEWNEIGH ? MsgKind::NewNeigh : MsgKind::DelNeigh;
      return ok;
    case RTM_NEWNEXTHOP:
    case RTM_DELNEXTHOP:
      ok = parse_nexthop(nlh, out.nexthop);
      if (ok) out.kind = nlh->nlmsg_type == RTM_NEWNEXTHOP ? MsgKind::NewNexthop : MsgKind::DelNexthop;
      return ok;
    default:
      return true;
  }
}

}  // namespace lcp::linux_nl
