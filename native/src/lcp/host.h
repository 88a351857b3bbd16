// Host changes the agent makes beside the dataplane, in a named netns, all
// over rtnetlink (and procfs for disable_ipv6) with errno-based errors
// (io::IoError: ENOENT = no such netns, ENODEV = no such device): the mirror's
// addresses, MTU, MAC and admin state, deleting a device it owns, and giving
// back a port whose dataplane died holding it. Names are validated here, so
// nothing from a spec reaches a path unchecked.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/kernel_guard.h"
#include "io/netlink.h"

namespace lcp::host {

// "" is the agent's own netns; anything else a name under /run/netns.
bool netns_exists(const std::string& netns);
std::vector<io::LinkDetails> links(const std::string& netns);
std::optional<io::LinkState> link(const std::string& netns, const std::string& name);

// Addresses as "addr/len", without link-scope ones (those are the kernel's own).
std::vector<std::string> addresses(const std::string& netns, const std::string& name);
// "addr/len"; add replaces an address that is there already (as `ip addr replace`).
void add_address(const std::string& netns, const std::string& name, const std::string& cidr);
void delete_address(const std::string& netns, const std::string& name, const std::string& cidr);

void set_mtu(const std::string& netns, const std::string& name, uint32_t mtu);
void set_mac(const std::string& netns, const std::string& name, const std::array<uint8_t, 6>& mac);
void set_up(const std::string& netns, const std::string& name);
void delete_link(const std::string& netns, const std::string& name);

// "eui64" | "none" | "stable_secret" | "random" (as `ip` names them).
void set_addr_gen_mode(const std::string& netns, const std::string& name, const std::string& mode);
std::string addr_gen_mode_name(int mode);  // "" for -1 (no IPv6)
void set_ipv6_disabled(const std::string& netns, const std::string& name, bool disabled);
bool remove_stale_guard(const std::string& netns, const std::string& name);

}  // namespace lcp::host
