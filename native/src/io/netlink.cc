#include "io/netlink.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace lcp::io {

namespace {

int parse_link(const nlmsghdr* nlh, LinkDetails& out) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  out = LinkDetails{};
  out.info.ifindex = ifi->ifi_index;
  out.type = ifi->ifi_type;
  out.flags = ifi->ifi_flags;
  out.info.up = (ifi->ifi_flags & IFF_UP) != 0;
  // Anything that is not Ethernet-framed gets no L2 header from AF_PACKET.
  out.info.p2p = ifi->ifi_type != ARPHRD_ETHER;
  // (libmnl's iteration macros do not compile as C++: void* conversions.)
  auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifi)));
       mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)));
       attr = mnl_attr_next(attr)) {
    switch (mnl_attr_get_type(attr)) {
      case IFLA_IFNAME: out.name = mnl_attr_get_str(attr); break;
      case IFLA_IFALIAS: out.alias = mnl_attr_get_str(attr); break;
      case IFLA_MTU: out.info.mtu = static_cast<uint16_t>(mnl_attr_get_u32(attr)); break;
      case IFLA_ADDRESS:
        if (mnl_attr_get_payload_len(attr) == 6)
          std::memcpy(out.info.mac.data(), mnl_attr_get_payload(attr), 6);
        break;
      case IFLA_LINKINFO: {
        auto* end = static_cast<const char*>(mnl_attr_get_payload(attr)) + mnl_attr_get_payload_len(attr);
        for (auto* nested = static_cast<const nlattr*>(mnl_attr_get_payload(attr));
             mnl_attr_ok(nested, static_cast<int>(end - reinterpret_cast<const char*>(nested)));
             nested = mnl_attr_next(nested)) {
          if (mnl_attr_get_type(nested) == IFLA_INFO_KIND) out.kind = mnl_attr_get_str(nested);
        }
        break;
      }
      default: break;
    }
  }
  return MNL_CB_OK;
}

nlmsghdr* link_msg(char* buf, uint16_t type, uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  return nlh;
}

}  // namespace

Netlink::Netlink(std::string where) : where_(std::move(where)), buf_(MNL_SOCKET_BUFFER_SIZE * 4) {
  nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!nl_) throw make_error("open rtnetlink", where_, errno);
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(nl_);
    throw make_error("bind rtnetlink", where_, e);
  }
  // Ask for the failing attribute in error messages; harmless if unsupported.
  int one = 1;
  mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &one, sizeof(one));
  portid_ = mnl_socket_get_portid(nl_);
}

Netlink::~Netlink() {
  if (nl_) mnl_socket_close(nl_);
}

std::string Netlink::object(const std::string& link) const {
  return "link '" + link + "' in " + where_;
}

int Netlink::request(nlmsghdr* nlh, Callback on_msg, void* ctx) {
  nlh->nlmsg_seq = ++seq_;
  nlh->nlmsg_flags |= NLM_F_ACK;
  interrupted_ = false;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errno;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    // NLM_F_DUMP_INTR: the table changed during this dump, so it may be
    // inconsistent. libmnl would stop at it (EINTR) and leave the rest
    // queued; the flag is noted and cleared instead, and dump() asks again.
    int left = int(n);
    for (auto* m = reinterpret_cast<nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left))
      if (m->nlmsg_flags & NLM_F_DUMP_INTR) {
        m->nlmsg_flags &= ~NLM_F_DUMP_INTR;
        interrupted_ = true;
      }
    // mnl_cb_run decodes NLMSG_ERROR into errno and stops at NLMSG_DONE/ack.
    int rc = mnl_cb_run(buf_.data(), n, seq_, portid_, on_msg, ctx);
    if (rc == MNL_CB_ERROR) return errno ? errno : EIO;
    if (rc == MNL_CB_STOP) return 0;
  }
}

int Netlink::dump(nlmsghdr* nlh, Callback on_msg, void* ctx, void (*reset)(void*)) {
  for (int attempt = 1;; ++attempt) {
    reset(ctx);
    const int err = request(nlh, on_msg, ctx);
    // Under constant change every dump may be interrupted: after a few tries
    // the last one is taken, as `ip` does (it warns and prints what it got).
    if (err || !interrupted_ || attempt == kDumpAttempts) return err;
  }
}

std::optional<LinkDetails> Netlink::find_link(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return std::nullopt;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = link_msg(buf, RTM_GETLINK, 0);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  LinkDetails out;
  int err = request(nlh, [](const nlmsghdr* m, void* c) {
    return parse_link(m, *static_cast<LinkDetails*>(c));
  }, &out);
  if (err == ENODEV) return std::nullopt;
  if (err) throw make_error("get link", object(name), err);
  if (out.info.ifindex == 0) return std::nullopt;
  return out;
}

LinkDetails Netlink::get_link(const std::string& name) {
  auto l = find_link(name);
  if (!l) throw make_error("get link", object(name), ENODEV);
  return *l;
}

std::vector<LinkDetails> Netlink::list_links() {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP);
  std::vector<LinkDetails> out;
  int err = dump(nlh, [](const nlmsghdr* m, void* c) {
    LinkDetails l;
    parse_link(m, l);
    if (l.info.ifindex) static_cast<std::vector<LinkDetails>*>(c)->push_back(std::move(l));
    return MNL_CB_OK;
  }, &out, [](void* c) { static_cast<std::vector<LinkDetails>*>(c)->clear(); });
  if (err) throw make_error("list links", where_, err);
  return out;
}

void Netlink::change_link(const std::string& what, const std::string& name,
                          uint32_t flags, uint32_t change,
                          void (*put)(nlmsghdr*, const void*), const void* arg) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw make_error(what, object(name), EINVAL);
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = link_msg(buf, RTM_NEWLINK, 0);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  ifi->ifi_flags = flags;
  ifi->ifi_change = change;
  // Addressing by name: the kernel resolves IFLA_IFNAME when ifi_index is 0,
  // and without NLM_F_CREATE this only ever modifies an existing link.
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  if (put) put(nlh, arg);
  int err = request(nlh, nullptr, nullptr);
  if (err) throw make_error(what, object(name), err);
}

void Netlink::set_up(const std::string& name, bool up) {
  change_link(up ? "set link up" : "set link down", name, up ? IFF_UP : 0, IFF_UP, nullptr, nullptr);
}

void Netlink::set_promisc(const std::string& name, bool on) {
  change_link("set promisc", name, on ? IFF_PROMISC : 0, IFF_PROMISC, nullptr, nullptr);
}

void Netlink::set_mtu(const std::string& name, uint32_t mtu) {
  change_link("set mtu", name, 0, 0, [](nlmsghdr* n, const void* a) {
    mnl_attr_put_u32(n, IFLA_MTU, *static_cast<const uint32_t*>(a));
  }, &mtu);
}

void Netlink::set_mac(const std::string& name, const std::array<uint8_t, 6>& mac) {
  change_link("set mac", name, 0, 0, [](nlmsghdr* n, const void* a) {
    mnl_attr_put(n, IFLA_ADDRESS, 6, a);
  }, mac.data());
}

void Netlink::set_alias(const std::string& name, const std::string& alias) {
  if (alias.size() >= IFALIASZ) throw make_error("set ifalias", object(name), ENAMETOOLONG);
  change_link("set ifalias", name, 0, 0, [](nlmsghdr* n, const void* a) {
    // Not NUL-terminated: the kernel stores exactly the payload; empty clears.
    auto* s = static_cast<const std::string*>(a);
    mnl_attr_put(n, IFLA_IFALIAS, s->size(), s->data());
  }, &alias);
}

void Netlink::delete_link(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw make_error("delete link", object(name), EINVAL);
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = link_msg(buf, RTM_DELLINK, 0);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  int err = request(nlh, nullptr, nullptr);
  if (err) throw make_error("delete link", object(name), err);
}

namespace {

nlmsghdr* addr_msg(char* buf, uint16_t type, uint16_t flags, const AddressEntry& a) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = a.family;
  ifa->ifa_prefixlen = a.prefixlen;
  ifa->ifa_index = static_cast<uint32_t>(a.ifindex);
  if (type == RTM_GETADDR) return nlh;
  const size_t len = a.family == AF_INET ? 4 : 16;
  // As `ip addr add A/L dev D` without a peer: IFA_LOCAL and IFA_ADDRESS both A.
  if (a.family == AF_INET) mnl_attr_put(nlh, IFA_LOCAL, len, a.addr.data());
  mnl_attr_put(nlh, IFA_ADDRESS, len, a.addr.data());
  return nlh;
}

struct AddrDump {
  int ifindex;
  std::vector<AddressEntry> out;
};

int parse_addr(const nlmsghdr* nlh, void* ctx) {
  auto* d = static_cast<AddrDump*>(ctx);
  if (nlh->nlmsg_type != RTM_NEWADDR) return MNL_CB_OK;
  auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  if (static_cast<int>(ifa->ifa_index) != d->ifindex) return MNL_CB_OK;
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return MNL_CB_OK;
  AddressEntry e;
  e.ifindex = d->ifindex;
  e.family = ifa->ifa_family;
  e.prefixlen = ifa->ifa_prefixlen;
  e.scope = ifa->ifa_scope;
  const size_t len = ifa->ifa_family == AF_INET ? 4 : 16;
  // The local address is IFA_LOCAL when there is one (IFA_ADDRESS is then
  // the peer of a point-to-point link), else IFA_ADDRESS, as `ip` reads it.
  const void* local = nullptr;
  const void* address = nullptr;
  auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifa)));
       mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)));
       attr = mnl_attr_next(attr)) {
    if (mnl_attr_get_payload_len(attr) != len) continue;
    if (mnl_attr_get_type(attr) == IFA_LOCAL) local = mnl_attr_get_payload(attr);
    if (mnl_attr_get_type(attr) == IFA_ADDRESS) address = mnl_attr_get_payload(attr);
  }
  const void* a = local ? local : address;
  const bool have = a != nullptr;
  if (have) std::memcpy(e.addr.data(), a, len);
  if (have) d->out.push_back(e);
  return MNL_CB_OK;
}

}  // namespace

std::vector<AddressEntry> Netlink::list_addresses(int ifindex) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  AddressEntry any;
  any.family = AF_UNSPEC;
  AddrDump d{ifindex, {}};
  int err = dump(addr_msg(buf, RTM_GETADDR, NLM_F_DUMP, any), parse_addr, &d, [](void* c) { static_cast<AddrDump*>(c)->out.clear(); });
  if (err) throw make_error("list addresses", where_, err);
  return std::move(d.out);
}

void Netlink::add_address(const AddressEntry& a) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  int err = request(addr_msg(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, a), nullptr, nullptr);
  if (err) throw make_error("add address", where_, err);
}

void Netlink::delete_address(const AddressEntry& a) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  int err = request(addr_msg(buf, RTM_DELADDR, 0, a), nullptr, nullptr);
  if (err) throw make_error("delete address", where_, err);
}

}  // namespace lcp::io
