#include "linux_nl/lcp_sync.h"

#include "io/netlink.h"
#include "io/netns.h"

namespace lcp::linux_nl {

void push_to_mirror(const std::string& netns, const std::string& mirror, std::optional<bool> up,
                    std::optional<uint16_t> mtu) {
  if (!up && !mtu) return;
  io::NetnsGuard ns(netns);
  io::Netlink nl(io::netns_label(netns));
  // MTU first: a link that comes up comes up with the right one.
  if (mtu && nl.get_link(mirror).info.mtu != *mtu) nl.set_mtu(mirror, *mtu);
  if (up) nl.set_up(mirror, *up);
}

}  // namespace lcp::linux_nl
