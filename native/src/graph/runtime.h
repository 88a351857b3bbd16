// What workers read about ports and mirrors. A PortRuntime is immutable once
// published; the control thread replaces it (pointer swap) and retires the old
// one through Rcu, so workers never lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "core/buffer.h"
#include "core/instance_id.h"
#include "core/rcu.h"
#include "graph/counters.h"
#include "io/packet_io.h"

namespace lcp {

// The kernel side of a pair as the graph uses it (punt = tx, inject = rx).
class MirrorIo : public InstanceId {
 public:
  virtual ~MirrorIo() = default;
  virtual int fd() const = 0;
  virtual uint32_t rx_burst(BufferPool& pool, Buffer** out, uint32_t max) = 0;
  virtual uint32_t tx_burst(Buffer* const* bufs, uint32_t n) = 0;
};

struct PortRuntime {
  uint32_t index = kInvalidIndex;
  uint32_t worker = 0;        // the worker that polls this port and its mirror
  bool admin_up = false;
  bool p2p = false;
  std::array<uint8_t, 6> mac{};
  uint16_t mtu = 1500;
  uint32_t table_slot = 0;    // FIB table used for lookups of packets it receives
  io::PortIo* io = nullptr;
  io::TxQueue* tx[kMaxWorkers] = {};
  MirrorIo* mirror = nullptr; // null: no pair (host-bound packets are dropped)
  // A sub-port (VLAN) has a parent; it shares the parent's io, TX queues and
  // mirror (punts keep the tag: Linux's VLAN device on the TAP demuxes it).
  uint32_t parent = kInvalidIndex;
  uint16_t vlan = 0, tpid = 0;
  // A parent's sub-ports by outer tag, immutable like the rest (a change
  // publishes a new PortRuntime): a few, searched linearly.
  static constexpr uint32_t kMaxSubPorts = 64;
  uint32_t n_subs = 0;
  struct Sub { uint16_t tpid, vlan; uint32_t port; };
  Sub subs[kMaxSubPorts] = {};
  uint32_t sub_of(uint16_t tpid, uint16_t vlan) const {
    for (uint32_t i = 0; i < n_subs; ++i)
      if (subs[i].vlan == vlan && subs[i].tpid == tpid) return subs[i].port;
    return kInvalidIndex;
  }
};

struct PortTable {
  std::atomic<PortRuntime*> slot[kMaxPorts] = {};
  const PortRuntime* get(uint32_t i) const {
    return i < kMaxPorts ? slot[i].load(std::memory_order_acquire) : nullptr;
  }
};

// Packet tracer: the control thread arms N traces; workers tag the next N
// received packets and each node they cross appends its id.
constexpr uint32_t kMaxTrace = 1024;
constexpr uint32_t kTraceNodes = 24;
constexpr uint32_t kTraceHead = 64;

struct TraceRecord {
  std::atomic<uint8_t> n_nodes{0};  // release-stored after each append
  uint8_t nodes[kTraceNodes] = {};
  uint8_t head_len = 0;
  uint8_t head[kTraceHead] = {};
  uint32_t rx_port = 0;
};

struct TraceBuffer {
  std::atomic<int32_t> remaining{0};
  std::atomic<uint32_t> used{0};
  TraceRecord rec[kMaxTrace];
};

}  // namespace lcp
