// PortIo over AF_PACKET: the fastest user-space path on veth.
// RX: one mmap ring per port, TPACKET_V2 (a slot per frame) or TPACKET_V3
// (frames packed in blocks; see AfPacketRxRing). TX: one socket per open_tx(), bypassing the qdisc, so
// workers never share a transmit socket; either a TPACKET_V2 TX ring or one
// sendmmsg() per burst (see AfPacketTxMode).
#pragma once

#include <memory>
#include <string>

#include "io/fd.h"
#include "io/kernel_guard.h"
#include "io/packet_io.h"

namespace lcp::io {

// How a TX queue hands frames to the kernel.
//  Ring: TPACKET_V2 TX ring. The kernel attaches the ring's pages to the skb
//        as "zero-copy" frags, which pays off on a NIC (DMA straight from the
//        ring) but not on veth: veth must orphan them (skb_copy_ubufs: a page
//        allocation and a copy per packet), and an XDP program on the peer
//        then copies the nonlinear skb once more (skb_pp_cow_data).
//  Copy: sendmmsg() of the burst: one linear skb per frame (one small copy),
//        which the peer takes as is. Measured on veth, 64 B: about +15%
//        forwarding throughput against Ring (test/bench, README).
//  Auto: Copy on veth (and on point-to-point ports, which need a per-packet
//        protocol), Ring elsewhere.
enum class AfPacketTxMode : uint8_t { Auto, Ring, Copy };

// The RX ring's layout.
//  V2: one fixed slot per frame, handed to user space as soon as it is
//      written: no timer, so an idle port costs nothing. But the kernel wakes
//      the reader per frame: with the worker on the core of the port's NAPI,
//      the graph forwarded about half as many 64 B packets as over V3
//      (test/bench, 195k vs 400k pps). Slots are sized for the MTU (fit_rx()
//      reopens the ring when it grows past them).
//  V3: frames packed into 128 KiB blocks, handed over when a block is full or
//      its retire timer (rx_retire_ms) expires: large batches. The kernel runs
//      that timer per ring forever, traffic or not: 200 idle ports kept a
//      2-vCPU machine ~60% busy in softirq at 1 ms. Packs small frames densely
//      and takes jumbo frames at any MTU.
enum class AfPacketRxRing : uint8_t { V2, V3 };

struct AfPacketOptions {
  AfPacketRxRing rx_ring = AfPacketRxRing::V3;
  uint32_t rx_block_size = 128 * 1024;  // holds ~60 full-size frames, a jumbo fits
  uint32_t rx_block_count = 32;         // 4 MiB ring per port (V2: the same memory in slots)
  uint32_t rx_retire_ms = 1;            // V3 only
  uint32_t tx_frame_count = 512;        // slots per TX ring
  AfPacketTxMode tx_mode = AfPacketTxMode::Auto;
  bool guard_kernel = true;             // attach a KernelGuard (tests may skip)
};

struct AfPacketRxStats {
  uint64_t packets = 0, bytes = 0;
  uint64_t oversize = 0;      // larger than kMaxFrame or truncated: skipped
  uint64_t csum_fixed = 0;    // CHECKSUM_PARTIAL finished in software
  uint64_t kernel_drops = 0;  // ring was full (PACKET_STATISTICS)
};

struct AfPacketTxStats {
  uint64_t packets = 0, bytes = 0;
  uint64_t ring_full = 0;     // offered but no free slot: not accepted
  uint64_t oversize = 0;      // larger than a slot (or the MTU + L2): dropped
  uint64_t errors = 0;        // kernel refused a frame or the kick failed
};

class AfPacketRx final : public RxQueue {
 public:
  // `mtu` sizes V2 slots. Unless `start` is false, bound (receiving) at once;
  // otherwise nothing arrives until start().
  AfPacketRx(const std::string& object, int ifindex, bool p2p, uint16_t mtu, const AfPacketOptions& o,
             bool start = true);
  int fd() const override { return fd_.get(); }
  uint32_t rx_burst(BufferPool& pool, Buffer** out, uint32_t max) override;
  void start();
  AfPacketRxStats stats();  // kernel_drops: reads (and accumulates) socket stats
  uint64_t ring_bytes() const { return ring_.size(); }
  uint32_t max_frame() const { return max_frame_; }  // largest frame a slot holds (V3: kMaxFrame)
  // Largest L2 frame a port of this MTU receives: header and two VLAN tags.
  static uint32_t frame_for_mtu(uint16_t mtu, bool p2p) { return mtu + (p2p ? 0u : 22u); }

 private:
  uint32_t burst_v2(BufferPool& pool, Buffer** out, uint32_t max);
  uint32_t burst_v3(BufferPool& pool, Buffer** out, uint32_t max);
  // Copies one received frame into a buffer (tag reinserted, checksum
  // finished); false: no buffer (retry later). Skips and counts bad frames.
  bool take(BufferPool& pool, const uint8_t* frame, uint32_t snaplen, uint32_t len, uint32_t status,
            uint16_t tci, uint16_t tpid, Buffer** out, uint32_t& got);

  UniqueFd fd_;
  Mapping ring_;
  std::string object_;
  int ifindex_;
  bool v3_;
  bool p2p_;
  uint32_t max_frame_ = kMaxFrame;
  // V3: blocks of packed frames.
  uint32_t block_size_ = 0, block_count_ = 0;
  uint32_t block_ = 0;           // current block
  uint8_t* next_ = nullptr;      // next packet in it, null: block not started
  uint32_t left_ = 0;            // packets left in it
  // V2: slots, frames_per_block_ to a block (a slot never straddles one).
  uint32_t slot_size_ = 0, frames_per_block_ = 0, slot_count_ = 0, slot_ = 0;
  Counter packets_, bytes_, oversize_, csum_fixed_, kernel_drops_;
};

class AfPacketTx final : public TxQueue {
 public:
  AfPacketTx(const std::string& object, const LinkInfo& link, const AfPacketOptions& o);
  uint32_t tx_burst(Buffer* const* bufs, uint32_t n) override;
  void flush() override;
  AfPacketTxStats stats() const;

 private:
  uint32_t tx_copy(Buffer* const* bufs, uint32_t n);

  UniqueFd fd_;
  Mapping ring_;
  LinkInfo link_;
  uint32_t frame_size_ = 0, frame_count_ = 0, cur_ = 0;
  uint32_t max_len_ = 0;
  bool pending_ = false;
  bool copy_ = false;  // sendmmsg per burst instead of the TX ring
  Counter packets_, bytes_, ring_full_, oversize_, errors_;
};

class AfPacketPort final : public PortIo {
 public:
  // Opens `ifname` in `netns` ("" = current): brings it up, guards it from
  // the kernel stack, opens the RX ring. Throws IoError naming the port.
  AfPacketPort(const std::string& netns, const std::string& ifname, AfPacketOptions o = {});
  const LinkInfo& link() const override { return link_; }
  RxQueue& rx() override { return *rx_; }
  AfPacketRx& af_rx() { return *rx_; }
  std::unique_ptr<TxQueue> open_tx() override;  // opens its socket in the port's netns
  PortDriver driver() const override { return PortDriver::AfPacket; }
  uint64_t rx_ring_bytes() const override { return rx_->ring_bytes(); }
  RxRing rx_ring() const override { return opts_.rx_ring == AfPacketRxRing::V3 ? RxRing::V3 : RxRing::V2; }
  std::unique_ptr<RxQueue> fit_rx(uint16_t mtu) override;
  void start_rx() override { rx_->start(); }
  bool tx_copy() const { return opts_.tx_mode == AfPacketTxMode::Copy; }  // resolved (never Auto)

 private:
  std::string netns_, ifname_, object_;
  AfPacketOptions opts_;
  LinkInfo link_;
  std::unique_ptr<KernelGuard> guard_;
  std::unique_ptr<AfPacketRx> rx_;
};

}  // namespace lcp::io
