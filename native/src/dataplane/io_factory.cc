#include "dataplane/io_factory.h"

#include <stdexcept>

#include "io/open_port.h"
#include "io/mirror.h"
#include "io/netlink.h"
#include "io/netns.h"

namespace lcp {
namespace {

class PairMirrorImpl final : public PairMirror {
 public:
  explicit PairMirrorImpl(const io::MirrorSpec& spec) : m_(spec) {}
  int fd() const override { return m_.fd(); }
  uint32_t rx_burst(BufferPool& pool, Buffer** out, uint32_t max) override { return m_.rx_burst(pool, out, max); }
  uint32_t tx_burst(Buffer* const* bufs, uint32_t n) override { return m_.tx_burst(bufs, n); }
  int ifindex() const override { return m_.link().ifindex; }
  bool adopted() const override { return m_.adopted(); }
  void destroy() override { m_.destroy(); }
  void set_carrier(bool on) override { m_.set_carrier(on); }

 private:
  io::Mirror m_;
};

}  // namespace

std::unique_ptr<io::PortIo> open_port_io(const std::string& name, const std::string& netns, uint32_t rx_ring_frames,
                                         RxRing rx_ring, PortDriver driver) {
  return io::open_port(netns, name, driver, rx_ring_frames, rx_ring == RxRing::V3);
}

std::unique_ptr<PairMirror> open_mirror(const io::MirrorSpec& spec) {
  io::MirrorSpec s = spec;
  if (s.kind == MirrorKind::Tun) s.mac.reset();  // no L2 address on a TUN
  return std::make_unique<PairMirrorImpl>(s);
}

void set_netdev_mtu(const std::string& name, const std::string& netns, uint16_t mtu) {
  io::NetnsGuard in(netns);
  io::Netlink nl(netns.empty() ? "netns (host)" : "netns '" + netns + "'");
  nl.set_mtu(name, mtu);
}

}  // namespace lcp
