// Host packet I/O: what the graph's input and output nodes talk to.
// One RxQueue is polled by exactly one worker. Each worker opens its own
// TxQueue per port, so transmit needs no lock shared between workers.
// Errors at setup throw lcp::io::IoError (errno + object named); per-packet
// failures are counted, never thrown.
#pragma once

#include <array>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/buffer.h"
#include "core/instance_id.h"
#include "core/kinds.h"

namespace lcp::io {

class IoError : public std::runtime_error {
 public:
  IoError(const std::string& what, int err) : std::runtime_error(what), err_(err) {}
  int err() const { return err_; }

 private:
  int err_;
};

// Build "what: object: strerror(errno)".
IoError make_error(const std::string& what, const std::string& object, int err);

struct LinkInfo {
  int ifindex = 0;
  std::array<uint8_t, 6> mac{};
  uint16_t mtu = 1500;
  bool p2p = false;  // no L2 header (ARPHRD_NONE, tun, ipip, wireguard...)
  bool up = false;
};

class TxQueue {
 public:
  virtual ~TxQueue() = default;
  // Copy out up to n packets; returns how many were accepted. Does not free.
  virtual uint32_t tx_burst(Buffer* const* bufs, uint32_t n) = 0;
  // Kick anything queued (one syscall per burst at most).
  virtual void flush() = 0;
};

class RxQueue : public InstanceId {
 public:
  virtual ~RxQueue() = default;
  virtual int fd() const = 0;  // for poll(POLLIN)
  // Fill up to max buffers from `pool`; data() at packet start, length set.
  virtual uint32_t rx_burst(BufferPool& pool, Buffer** out, uint32_t max) = 0;
};

// What an XDP fast path needs to share the netdev with a port that runs its
// own XDP program (AF_XDP): the socket map and that program, with its mode.
struct XdpShare {
  int xsk_map_fd = -1;
  int prog_fd = -1;
  uint32_t attach_flags = 0;
};

// A port: a kernel netdev taken over by the dataplane.
class PortIo {
 public:
  virtual ~PortIo() = default;
  virtual const LinkInfo& link() const = 0;
  virtual RxQueue& rx() = 0;
  virtual std::unique_ptr<TxQueue> open_tx() = 0;
  virtual PortDriver driver() const = 0;  // AfPacket | AfXdp
  virtual uint64_t rx_ring_bytes() const { return 0; }  // memory of the RX ring (AF_PACKET)
  virtual RxRing rx_ring() const { return RxRing::Auto; }  // its layout: V2 | V3 (AF_PACKET); Auto: none
  // The netdev's MTU grew to `mtu`: if the RX queue cannot take such frames,
  // a new one replaces it (not yet receiving) and the old one is returned, to
  // be freed once no worker polls it; then start_rx() lets the new one
  // receive. So no frame is read twice. Null: the current queue fits.
  virtual std::unique_ptr<RxQueue> fit_rx(uint16_t mtu) { return nullptr; }
  virtual void start_rx() {}
  virtual XdpShare xdp_share() const { return {}; }
};

}  // namespace lcp::io
