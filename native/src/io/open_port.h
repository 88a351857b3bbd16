// Pick and open a port driver: AF_PACKET, AF_XDP, or Auto.
#pragma once

#include <memory>
#include <string>

#include "core/kinds.h"
#include "io/packet_io.h"

namespace lcp::io {

// Auto is AF_PACKET for now: it was the fastest path on veth, and AF_XDP
// here serves queue 0 only, so on a multi-queue NIC it would drop the other
// queues' traffic. Choose AfXdp explicitly for single-queue or zero-copy
// setups. Throws IoError. `rx_ring_frames` sizes AF_PACKET's RX ring (0: its
// default), `rx_v3` picks its layout (AfPacketRxRing); AF_XDP keeps its own.
std::unique_ptr<PortIo> open_port(const std::string& netns, const std::string& ifname,
                                  PortDriver driver, uint32_t rx_ring_frames = 0, bool rx_v3 = true);

}  // namespace lcp::io
