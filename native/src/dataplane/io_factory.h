// The seam between the dataplane's control side and the host I/O classes:
// opening ports by driver, creating/adopting mirrors, netdev settings.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "graph/runtime.h"
#include "io/packet_io.h"

namespace lcp {

// driver: "af_packet" | "af_xdp" | "auto" (auto = af_packet: measured fastest on veth).
std::unique_ptr<io::PortIo> open_port_io(const std::string& name, const std::string& netns, uint32_t rx_ring_frames,
                                         const std::string& rx_ring, const std::string& driver);

class PairMirror : public MirrorIo {
 public:
  virtual int ifindex() const = 0;
  virtual bool adopted() const = 0;
  // Clear persistence so the device disappears when closed.
  virtual void destroy() = 0;
  virtual void set_carrier(bool on) = 0;
};

struct MirrorRequest {
  std::string name, netns;
  bool tun = false;
  std::optional<std::array<uint8_t, 6>> mac;  // tap only
  uint16_t mtu = 1500;
  std::string owner_tag;
};
std::unique_ptr<PairMirror> open_mirror(const MirrorRequest& req);

// Apply an MTU to a port's kernel netdev (so it can carry what we send).
void set_netdev_mtu(const std::string& name, const std::string& netns, uint16_t mtu);

}  // namespace lcp
