// PortIo over AF_XDP, queue 0, copy mode on veth (zero-copy where a NIC
// offers it is future work). Raw kernel API: one socket, one UMEM of 4 KiB
// frames (half fill/RX, half TX), one XDP program (XSKMAP redirect) per
// netdev, attached native and falling back to SKB mode.
// TxQueues share the one socket: a mutex taken once per burst guards it.
#pragma once

#include <memory>
#include <string>

#include "io/packet_io.h"

namespace lcp::io {

struct AfXdpOptions {
  uint32_t rx_frames = 2048;  // fill ring and RX ring size (power of two)
  uint32_t tx_frames = 1024;  // TX and completion ring size (power of two)
  bool guard_kernel = true;   // disable IPv6 etc. (KernelGuard)
};

struct AfXdpStats {
  uint64_t rx_packets = 0, rx_bytes = 0;
  uint64_t rx_csum_fixed = 0;  // CHECKSUM_PARTIAL (veth) finished in software
  uint64_t tx_packets = 0, tx_bytes = 0;
  uint64_t tx_ring_full = 0;  // offered, not accepted: no free frame/slot
  uint64_t tx_oversize = 0;   // larger than a UMEM frame: dropped
  uint64_t kernel_rx_dropped = 0, kernel_rx_ring_full = 0, kernel_fill_empty = 0;
  bool native_xdp = false, need_wakeup = false;
};

struct XskState;  // socket, UMEM, rings, program: shared with TxQueues

class AfXdpPort final : public PortIo {
 public:
  // Opens `ifname` in `netns` ("" = current); brings it up. Throws IoError
  // naming the port (e.g. EBUSY when another XDP program is attached).
  AfXdpPort(const std::string& netns, const std::string& ifname, AfXdpOptions o = {});
  ~AfXdpPort() override;
  const LinkInfo& link() const override;
  RxQueue& rx() override;
  std::unique_ptr<TxQueue> open_tx() override;  // may outlive nothing: holds the state
  PortDriver driver() const override { return PortDriver::AfXdp; }
  XdpShare xdp_share() const override;
  AfXdpStats stats() const;

 private:
  std::shared_ptr<XskState> st_;
  std::unique_ptr<RxQueue> rx_;
};

}  // namespace lcp::io
