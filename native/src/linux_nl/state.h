// What one watched netns has told the dataplane, and the rules that turn
// kernel state into dataplane state. Pure logic, no I/O and no thread: the
// watcher feeds it events and dump messages and applies the ops it emits;
// the drift check feeds a fresh one a dump and compares its ops with the FIB.
//
// The shadow is kept per (kernel table, prefix) with every kernel route of
// that prefix (one per metric/tos: the kernel keeps them all and uses the
// lowest metric), so that a delete of the best one falls back to the next,
// a link going down can drop paths as the kernel does (it sends no IPv4
// deletions then), and a resync can mark-and-sweep exactly what we installed.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dataplane/dataplane.h"
#include "linux_nl/messages.h"

namespace lcp::linux_nl {

struct MirrorOptions {
  // kernel table id -> dataplane table id, on top of main/default -> 0.
  std::vector<std::pair<uint32_t, uint32_t>> table_map;
  // Kernel table ids to mirror; empty = every table except local.
  std::vector<uint32_t> tables;
  // Route protocols (RTPROT_*) ignored. Default: kernel (connected routes
  // come from addresses instead).
  std::vector<uint8_t> ignore_protocols{2};
};

// A stable, order-insensitive signature of a translated route (kind, paths).
uint64_t route_signature(const fib::Route& r);

class MirrorState {
 public:
  explicit MirrorState(MirrorOptions opts);

  void set_ports(const std::vector<MirrorPort>& ports);  // ifindex -> port
  void begin_resync();  // new epoch: what the next dump does not show goes at sweep()
  void handle(const NlMsg& m);
  void sweep();
  void withdraw_all();  // emit deletes for everything installed and forget it

  std::vector<MirrorOp>& ops() { return ops_; }
  // A mirror came back up: the kernel revived multipath next hops without
  // telling anyone, so the routes need a dump.
  bool take_resync_request() { return std::exchange(resync_request_, false); }
  // (port, ifindex) of mirrors deleted in Linux since the last call.
  std::vector<std::pair<uint32_t, int>> take_gone() { return std::exchange(gone_, {}); }

  uint64_t routes_installed() const { return routes_installed_; }
  uint64_t routes_known() const { return routes_.size(); }
  uint64_t neighbors() const { return neighs_.size(); }
  uint64_t addresses() const { return addrs_.size(); }
  uint32_t dp_table(uint32_t kernel_table) const;

 private:
  struct RKey {
    uint32_t table;
    uint8_t family, len;
    std::array<uint8_t, 16> a;
    bool operator==(const RKey&) const = default;
  };
  struct RKeyHash { size_t operator()(const RKey& k) const; };
  struct Alt {
    uint32_t priority;
    uint32_t epoch;
    uint8_t tos, type;
    bool unsupported;
    std::vector<NlNextHop> nhs;
  };
  struct Slot {
    std::vector<Alt> alts;
    uint64_t sig = 0;
    bool installed = false;
  };
  struct NKey {  // address or neighbour on an ifindex
    int ifindex;
    uint8_t len;
    fib::IpAddr ip;
    bool operator==(const NKey&) const = default;
  };
  struct NKeyHash { size_t operator()(const NKey& k) const; };
  struct AddrRec { uint32_t port; uint32_t epoch; fib::Prefix p; };
  struct NeighRec { uint32_t port; uint32_t epoch; Mac mac; };
  struct LinkRec { uint32_t flags; uint32_t epoch; };

  bool accept(const NlRoute& r) const;
  const MirrorPort* port_of(int ifindex) const;
  static RKey key_of(const NlRoute& r);
  static fib::Prefix prefix_of(const RKey& k);
  void evaluate(const RKey& k, Slot& s);
  void on_route(const NlRoute& r, bool del, uint16_t nl_flags);
  void on_link(const NlLink& l, bool del);
  void on_addr(const NlAddr& a, bool del);
  void on_neigh(const NlNeigh& n, bool del);
  // Drop next hops through `ifindex` (IPv4 only, or every family when the
  // device is gone); routes left without next hops go.
  void flush_paths(int ifindex, bool ip4_only);
  void emit_route_del(const RKey& k);

  MirrorOptions opts_;
  std::unordered_map<uint32_t, uint32_t> table_map_;
  std::unordered_map<int, MirrorPort> ports_;
  std::unordered_map<RKey, Slot, RKeyHash> routes_;
  std::unordered_map<NKey, AddrRec, NKeyHash> addrs_;
  std::unordered_map<NKey, NeighRec, NKeyHash> neighs_;
  std::unordered_map<int, LinkRec> links_;
  std::vector<MirrorOp> ops_;
  std::vector<std::pair<uint32_t, int>> gone_;
  uint32_t epoch_ = 0;
  uint64_t routes_installed_ = 0;
  bool resync_request_ = false;
};

}  // namespace lcp::linux_nl
