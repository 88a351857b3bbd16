#include "io/open_port.h"

#include <cerrno>

#include "io/af_packet.h"
#include "io/af_xdp.h"

namespace lcp::io {

std::unique_ptr<PortIo> open_port(const std::string& netns, const std::string& ifname,
                                  const std::string& driver) {
  if (driver == "af_packet" || driver == "auto") return std::make_unique<AfPacketPort>(netns, ifname);
  if (driver == "af_xdp") return std::make_unique<AfXdpPort>(netns, ifname);
  throw make_error("open port: unknown driver '" + driver + "'", "port '" + ifname + "'", EINVAL);
}

}  // namespace lcp::io
