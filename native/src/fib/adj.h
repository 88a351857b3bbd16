// Adjacencies: what the graph does with a packet once the FIB has chosen.
// One per (port, next hop) neighbour, one "attached" per (port, family) for
// connected/onlink prefixes, plus shared Drop/Blackhole/Unreachable/Prohibit/
// Receive at fixed indexes. Readers get a stable index; the writer republishes
// a new immutable Adjacency at the SAME index when the neighbour resolves or
// goes away (Glean <-> Rewrite) or the port's MAC/MTU changes, so routes via
// it never have to be touched. Old objects and freed indexes go through Rcu.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/rcu.h"
#include "fib/fib.h"
#include "fib/mem.h"

namespace lcp::fib {

using Mac = std::array<uint8_t, 6>;

// (port, next hop, payload family); has_nh=false is the port's attached
// adjacency for nh.family. `link` is what the packets carry, which sets the
// rewrite's ethertype: an IPv4 route via an IPv6 next hop (RFC 8950) has its
// own adjacency, link Ip4, resolved by the IPv6 neighbour.
struct AdjKey {
  uint32_t port = 0;
  IpAddr nh{};
  bool has_nh = false;
  Family link = Family::Ip4;
  bool operator==(const AdjKey& o) const {
    return port == o.port && has_nh == o.has_nh && nh == o.nh && link == o.link;
  }
};
struct AdjKeyHash {
  size_t operator()(const AdjKey& k) const;
};

class AdjDb {
 public:
  static constexpr uint32_t kDrop = 0, kBlackhole = 1, kUnreachable = 2, kProhibit = 3, kReceive = 4;
  static constexpr uint32_t kFirstDynamic = 5;

  explicit AdjDb(Rcu& rcu);
  ~AdjDb();
  AdjDb(const AdjDb&) = delete;
  AdjDb& operator=(const AdjDb&) = delete;

  // ---- reader ----
  const Adjacency& get(uint32_t i) const { return *slots_[i].load(std::memory_order_acquire); }

  // ---- writer ----
  void port_set(uint32_t port, const PortL2& l2);  // rebuilds the port's adjacencies
  void port_erase(uint32_t port);
  bool port_known(uint32_t port) const { return ports_.count(port) != 0; }

  void neighbor_set(uint32_t port, const IpAddr& ip, const Mac& mac);
  bool neighbor_erase(uint32_t port, const IpAddr& ip);
  bool neighbor_known(uint32_t port, const IpAddr& ip) const;
  std::vector<IpAddr> neighbors_of(uint32_t port) const;
  std::vector<NeighborDump> neighbors() const;

  uint32_t acquire(const AdjKey& k);  // find or create; takes a reference
  void ref(uint32_t i) { ++recs_[i].refs; }
  void release(uint32_t i);
  std::vector<AdjacencyDump> dump() const;
  size_t live() const { return by_key_.size(); }
  void set_observer(FibObserver* obs);  // replays every live adjacency

 private:
  struct Rec {
    AdjKey key;
    uint32_t refs = 0;
    bool live = false;
  };
  Adjacency build(const AdjKey& k) const;
  void publish(uint32_t i, const Adjacency& a);
  void republish_neighbor(uint32_t port, const IpAddr& ip);  // every link family over it

  Rcu& rcu_;
  MappedArray<std::atomic<Adjacency*>> slots_;
  std::vector<Rec> recs_;
  std::unordered_map<AdjKey, uint32_t, AdjKeyHash> by_key_;
  std::unordered_map<uint32_t, PortL2> ports_;
  std::unordered_map<AdjKey, Mac, AdjKeyHash> neighbors_;  // has_nh always true, link = nh.family
  std::shared_ptr<IndexPool> pool_;
  FibObserver* obs_ = nullptr;
};

}  // namespace lcp::fib
