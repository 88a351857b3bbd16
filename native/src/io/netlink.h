// Small synchronous rtnetlink (NETLINK_ROUTE) client for link state, in the
// netns of the calling thread at construction time (open it under a
// NetnsGuard). One request, one ack; NLMSG_ERROR becomes IoError(errno).
// This is for setup paths, not for following events (the mirror does that).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/packet_io.h"

struct mnl_socket;
struct nlmsghdr;

namespace lcp::io {

struct LinkDetails {
  LinkInfo info;
  std::string name;
  std::string alias;    // IFLA_IFALIAS, "" when unset
  std::string kind;     // IFLA_INFO_KIND ("veth", "tun", "dummy"...), "" if none
  uint16_t type = 0;    // ARPHRD_*
  uint32_t flags = 0;   // IFF_*
};

// An interface address as RTM_NEWADDR gives it (AF_INET or AF_INET6).
struct AddressEntry {
  int ifindex = 0;
  uint8_t family = 0;
  uint8_t prefixlen = 0;
  uint8_t scope = 0;  // RT_SCOPE_*
  std::array<uint8_t, 16> addr{};
};

class Netlink {
 public:
  // `where` names the netns in messages (see netns_label()).
  explicit Netlink(std::string where = "netns (host)");
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  std::optional<LinkDetails> find_link(const std::string& name);
  LinkDetails get_link(const std::string& name);  // throws ENODEV
  std::vector<LinkDetails> list_links();

  void set_up(const std::string& name, bool up);
  void set_mtu(const std::string& name, uint32_t mtu);
  void set_mac(const std::string& name, const std::array<uint8_t, 6>& mac);
  void set_alias(const std::string& name, const std::string& alias);
  std::string get_alias(const std::string& name) { return get_link(name).alias; }
  void set_promisc(const std::string& name, bool on);
  void delete_link(const std::string& name);

  // Addresses of one device (a dump, filtered here: not every kernel filters).
  std::vector<AddressEntry> list_addresses(int ifindex);
  // Add (replacing one with the same address) or delete `a` on a.ifindex.
  void add_address(const AddressEntry& a);
  void delete_address(const AddressEntry& a);

 private:
  // Send `nlh` and read until the ack (or error); `on_msg` sees each data
  // message. Returns 0 or a positive errno.
  using Callback = int (*)(const nlmsghdr*, void*);
  int request(nlmsghdr* nlh, Callback on_msg, void* ctx);
  // A dump, asked again (after `reset(ctx)`) while the kernel reports it
  // interrupted by a change (NLM_F_DUMP_INTR), at most kDumpAttempts times.
  int dump(nlmsghdr* nlh, Callback on_msg, void* ctx, void (*reset)(void*));
  static constexpr int kDumpAttempts = 5;
  bool interrupted_ = false;  // the last request's dump was (NLM_F_DUMP_INTR)
  void change_link(const std::string& what, const std::string& name,
                   uint32_t flags, uint32_t change,
                   void (*put)(nlmsghdr*, const void*), const void* arg);
  std::string object(const std::string& link) const;

  mnl_socket* nl_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::string where_;
  std::vector<char> buf_;
};

}  // namespace lcp::io
