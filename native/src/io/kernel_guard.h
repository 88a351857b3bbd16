// Keeps the kernel stack out of a port's traffic while the dataplane owns it:
//  - a clsact qdisc + cls_bpf direct-action ingress program that drops
//    everything, so the kernel neither answers (ARP, ping) nor routes what the
//    port receives. Packet sockets bound with ETH_P_ALL are served before tc
//    ingress, so AF_PACKET still sees every frame (AF_XDP sees them earlier).
//  - IPv6 disabled on the netdev, so the kernel originates no DAD/RS/MLD.
// Everything is undone on destruction, and only what we changed: a clsact
// qdisc that already existed stays, disable_ipv6 gets its old value back.
#pragma once

#include <string>

namespace lcp::io {

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
  bool attached_ = false;
  int old_disable_ipv6_ = -1;  // -1: not touched (no IPv6 on this box/netdev)
};

}  // namespace lcp::io
