#include "io/open_port.h"

#include <algorithm>
#include <cerrno>

#include "io/af_packet.h"
#include "io/af_xdp.h"

namespace lcp::io {

std::unique_ptr<PortIo> open_port(const std::string& netns, const std::string& ifname,
                                  PortDriver driver, uint32_t rx_ring_frames, bool rx_v3) {
  if (driver == PortDriver::AfPacket || driver == PortDriver::Auto) {
    AfPacketOptions o;
    o.rx_ring = rx_v3 ? AfPacketRxRing::V3 : AfPacketRxRing::V2;
    // A block holds block_size / 2 KiB full-size frames (more small ones): the
    // ring keeps the block size (a jumbo must fit) and scales the block count.
    if (rx_ring_frames) o.rx_block_count = std::max<uint32_t>(2, rx_ring_frames / (o.rx_block_size / 2048));
    return std::make_unique<AfPacketPort>(netns, ifname, o);
  }
  return std::make_unique<AfXdpPort>(netns, ifname);
}

}  // namespace lcp::io
