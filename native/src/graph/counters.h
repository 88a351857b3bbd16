// Counters are per worker (single writer, no lock prefix) and summed when
// read by the control thread. Relaxed atomics keep the reads well-defined.
#pragma once

#include <atomic>
#include <cstdint>

namespace lcp {

constexpr uint32_t kMaxPorts = 4096;

// Why a packet was dropped (or, for punt reasons, why it went to Linux).
// Names are exported to JS; keep kErrorNames in sync.
enum class Error : uint16_t {
  None = 0,
  EthTruncated,
  EthNotForUs,
  PortDown,
  NoMirror,
  Ip4Truncated,
  Ip4BadVersion,
  Ip4BadIhl,
  Ip4BadLength,
  Ip4BadChecksum,
  Ip4SrcMulticast,
  Ip6Truncated,
  Ip6BadVersion,
  Ip6BadLength,
  Ip6SrcMulticast,
  P2pBadVersion,
  NoRoute,
  Blackhole,
  TxFull,
  PuntFull,
  NoHeadroom,
  // Not a packet: a port's carrier that could not be read or set on its mirror.
  CarrierSync,
  // Punt reasons (counted, not drops).
  PuntArp,
  PuntOther,
  PuntReceive,
  PuntGlean,
  PuntTtl,
  PuntMulticast,
  PuntOptions,
  PuntMtu,
  PuntUnreachable,
  PuntProhibit,
  Count
};

inline constexpr const char* kErrorNames[] = {
    "none",
    "eth_truncated",
    "eth_not_for_us",
    "port_down",
    "no_mirror",
    "ip4_truncated",
    "ip4_bad_version",
    "ip4_bad_ihl",
    "ip4_bad_length",
    "ip4_bad_checksum",
    "ip4_src_multicast",
    "ip6_truncated",
    "ip6_bad_version",
    "ip6_bad_length",
    "ip6_src_multicast",
    "p2p_bad_version",
    "no_route",
    "blackhole",
    "tx_full",
    "punt_full",
    "no_headroom",
    "carrier_sync_failed",
    "punt_arp",
    "punt_other",
    "punt_receive",
    "punt_glean",
    "punt_ttl",
    "punt_multicast",
    "punt_options",
    "punt_mtu",
    "punt_unreachable",
    "punt_prohibit",
};
static_assert(sizeof(kErrorNames) / sizeof(kErrorNames[0]) == size_t(Error::Count));

struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct alignas(64) PortCounters {
  Counter rx_packets, rx_bytes, tx_packets, tx_bytes, drops, punts, injects;
};

struct WorkerCounters {
  PortCounters ports[kMaxPorts];
  Counter errors[size_t(Error::Count)];
  Counter loops, vectors;  // for the average vector size
  Counter poll_set_changes;  // epoll_ctl calls made to follow plan changes
};

}  // namespace lcp
