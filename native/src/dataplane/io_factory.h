// The seam between the dataplane's control side and the host I/O classes:
// opening ports by driver, creating/adopting mirrors, netdev settings.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/kinds.h"
#include "graph/runtime.h"
#include "io/mirror.h"
#include "io/packet_io.h"

namespace lcp {

// driver Auto = AF_PACKET (measured fastest on veth); rx_ring V2 or V3 (AF_PACKET).
std::unique_ptr<io::PortIo> open_port_io(const std::string& name, const std::string& netns, uint32_t rx_ring_frames,
                                         RxRing rx_ring, PortDriver driver);

class PairMirror : public MirrorIo {
 public:
  virtual int ifindex() const = 0;
  virtual bool adopted() const = 0;
  // Clear persistence so the device disappears when closed.
  virtual void destroy() = 0;
  virtual void set_carrier(bool on) = 0;
};

std::unique_ptr<PairMirror> open_mirror(const io::MirrorSpec& spec);

// Apply an MTU to a port's kernel netdev (so it can carry what we send).
void set_netdev_mtu(const std::string& name, const std::string& netns, uint16_t mtu);

}  // namespace lcp
