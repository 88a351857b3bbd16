// Keeps the kernel stack out of a port's traffic while the dataplane owns it:
//  - a clsact qdisc + cls_bpf direct-action ingress program that drops
//    everything, so the kernel neither answers (ARP, ping) nor routes what the
//    port receives. Packet sockets bound with ETH_P_ALL are served before tc
//    ingress, so AF_PACKET still sees every frame (AF_XDP sees them earlier).
//  - the same program on egress, so nothing the kernel itself sends (IPv6
//    DAD/RS/MLD, ARP, anything routed out of the netdev) leaves by the port.
//    The dataplane's own frames skip tc egress: AF_PACKET TX sockets use
//    PACKET_QDISC_BYPASS (dev_direct_xmit), AF_XDP and XDP_TX/REDIRECT never
//    enter the qdisc layer.
//  - IPv6 address generation off (IFLA_INET6_ADDR_GEN_MODE = none, over
//    rtnetlink: needs CAP_NET_ADMIN only, works with /proc/sys read-only as
//    in an unprivileged container), so no new link-local appears, e.g. after
//    a link flap.
//  - best effort, when /proc/sys is writable: IPv6 disabled on the netdev,
//    which also removes the addresses it already had.
// Everything is undone on destruction, and only what we changed: a clsact
// qdisc that already existed stays, disable_ipv6 and addr_gen_mode get their
// old values back.
#pragma once

#include <optional>
#include <string>

#include "io/netlink.h"

namespace lcp::io {

// A netdev as the agent reads it before taking it over (what the guard will
// change) and when it checks a mirror: its link, IPv6 address generation mode
// (-1: no IPv6) and disable_ipv6 (-1: no IPv6 or unreadable). One netlink
// round trip and one procfs read in the netns, instead of an `ip` and an
// `ip netns exec sysctl` process each. nullopt: no device of that name.
struct LinkState {
  LinkDetails link;
  int addr_gen_mode = -1;
  int disable_ipv6 = -1;
};
std::optional<LinkState> link_state(const std::string& netns, const std::string& ifname);

// What a guard left behind when its dataplane died holding the port (the
// next agent gives the netdev back with these). remove_stale_guard detaches
// only our filters (handle, priority and program name), in both directions,
// and says whether there were any.
bool remove_stale_guard(const std::string& netns, const std::string& ifname);
void set_addr_gen_mode(const std::string& netns, const std::string& ifname, uint8_t mode);
void set_ipv6_disabled(const std::string& netns, const std::string& ifname, bool disabled);

class KernelGuard {
 public:
  // Enters `netns` itself (also in the destructor, which may run elsewhere).
  KernelGuard(const std::string& netns, const std::string& ifname);
  ~KernelGuard();
  KernelGuard(const KernelGuard&) = delete;
  KernelGuard& operator=(const KernelGuard&) = delete;

 private:
  void release() noexcept;

  std::string netns_, ifname_;
  int ifindex_ = 0;
  int prog_fd_ = -1;
  bool created_hook_ = false;
  bool attached_ingress_ = false;
  bool attached_egress_ = false;
  int old_addr_gen_mode_ = -1;  // -1: not touched (no IPv6 on this netdev)
  int old_disable_ipv6_ = -1;   // -1: not touched (no IPv6, or /proc/sys read-only)
};

}  // namespace lcp::io
