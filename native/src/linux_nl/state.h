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
#include <functional>
#include <memory>
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
  // Auto sub-interfaces: a VLAN device on a mirror becomes a sub-port of the
  // mirror's port, paired with that device. Not exposed yet: the test kernel
  // has no 8021q (CONFIG_VLAN_8021Q unset), so it cannot be tested end to end.
  bool auto_subif = false;
  // Kernel nexthop ids are per netns: the FIB's id of kernel nexthop N is
  // (nexthop_space << 32) | N, one space per watched netns.
  uint32_t nexthop_space = 0;
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
  // Apply deferred work: routes over objects deleted since the last call go
  // (one pass over the shadow for a whole batch of deletions, e.g. `ip
  // nexthop flush`), then the objects. The watcher calls it before applying
  // each batch; sweep() and withdraw_all() call it too.
  void settle();
  // Emit deletes for everything installed and forget it. `drain`, if given,
  // is called whenever `chunk` ops are pending (a full table would otherwise
  // be a million MirrorOps at once).
  void withdraw_all(const std::function<void()>& drain = nullptr, size_t chunk = 8192);

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
  uint64_t nexthops() const { return nhobjs_.size(); }
  uint64_t nexthops_installed() const { return nexthops_installed_; }
  // Kernel routes whose best entry the dataplane cannot forward as Linux
  // would (an encap, an MPLS via, an unsupported nexthop object): counted, not
  // silently dropped.
  uint64_t routes_unsupported() const { return routes_unsupported_; }
  uint32_t dp_table(uint32_t kernel_table) const;

 private:
  struct RKey {
    uint32_t table;
    uint8_t family, len;
    std::array<uint8_t, 16> a;
    bool operator==(const RKey&) const = default;
  };
  struct RKeyHash { size_t operator()(const RKey& k) const; };
  // One kernel route of a prefix (16 bytes): its next hops are an interned
  // set, so a million routes via one gateway share one vector.
  struct Alt {
    uint32_t priority;
    uint32_t epoch;
    uint32_t nhs;    // NhSets id
    uint32_t nh_id;  // kernel nexthop object (RTA_NH_ID), 0: its own next hops
    uint8_t tos, type;
    bool unsupported;
  };
  // Interned next-hop sets. Ids are not refcounted (routes are copied,
  // erased and swept in many places); unused sets are collected by a mark
  // pass over the shadow when they outnumber the live ones (gc_nhs()).
  class NhSets {
   public:
    NhSets();
    uint32_t intern(const std::vector<NlNextHop>& nhs);
    const std::vector<NlNextHop>& get(uint32_t id) const { return sets_[id].nhs; }
    size_t size() const { return sets_.size() - free_.size(); }
    size_t capacity() const { return sets_.size(); }
    void collect(const std::vector<bool>& used);  // frees every id not marked
   private:
    struct Set { std::vector<NlNextHop> nhs; uint64_t hash = 0; };
    std::vector<Set> sets_;
    std::vector<uint32_t> free_;
    std::unordered_multimap<uint64_t, uint32_t> by_hash_;
  };
  // The kernel routes of one prefix. Almost always one: kept inline (no heap
  // allocation per route); a second one moves them all out of line.
  class Alts {
   public:
    Alt* begin() { return n_ > 1 ? more_->data() : &one_; }
    Alt* end() { return begin() + n_; }
    const Alt* begin() const { return n_ > 1 ? more_->data() : &one_; }
    const Alt* end() const { return begin() + n_; }
    size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    void push_back(const Alt& a) {
      if (n_ == 0) {
        one_ = a;
      } else {
        if (n_ == 1) more_ = std::make_unique<std::vector<Alt>>(1, one_);
        more_->push_back(a);
      }
      ++n_;
    }
    void erase(Alt* it) {
      if (n_ <= 1) {
        n_ = 0;
        return;
      }
      more_->erase(more_->begin() + (it - more_->data()));
      shrink();
    }
    template <class Pred>
    void remove_if(Pred pred) {
      if (n_ <= 1) {
        if (n_ == 1 && pred(one_)) n_ = 0;
        return;
      }
      std::erase_if(*more_, pred);
      shrink();
    }

   private:
    void shrink() {
      n_ = uint32_t(more_->size());
      if (n_ > 1) return;
      if (n_ == 1) one_ = (*more_)[0];
      more_.reset();
    }
    uint32_t n_ = 0;
    Alt one_{};
    std::unique_ptr<std::vector<Alt>> more_;
  };
  struct Slot {
    Alts alts;
    uint64_t sig = 0;
    bool installed = false;
    bool unsupported = false;  // counted in routes_unsupported_
  };
  // A kernel nexthop object; installed: in the FIB (every path on a mirror).
  struct NhObj {
    NlNexthop nh;
    uint32_t epoch = 0;
    bool installed = false;
    uint64_t sig = 0;
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
  struct LinkRec { uint32_t flags; uint32_t epoch; int master = 0; };

  bool accept(const NlRoute& r) const;
  const MirrorPort* port_of(int ifindex) const;
  static RKey key_of(const NlRoute& r);
  static fib::Prefix prefix_of(const RKey& k);
  void evaluate(const RKey& k, Slot& s);
  void on_route(const NlRoute& r, bool del, uint16_t nl_flags);
  void on_link(const NlLink& l, bool del);
  void on_addr(const NlAddr& a, bool del);
  void on_neigh(const NlNeigh& n, bool del);
  void on_nexthop(const NlNexthop& n, bool del);
  uint64_t fib_nh_id(uint32_t id) const { return uint64_t(opts_.nexthop_space) << 32 | id; }
  // What a nexthop object forwards to on our ports; false when it is not ours
  // (a path off the mirrors, an unknown member, nothing left alive).
  bool resolve_nexthop(const NlNexthop& n, fib::Route& out) const;
  // Re-derive one object: a changed path set is one NexthopSet (every route
  // over it follows in the FIB); becoming usable or not re-evaluates the
  // routes and groups over it.
  void evaluate_nexthop(uint32_t id);
  void evaluate_routes_over(const std::vector<uint32_t>& ids);
  // Forget an object as the kernel does: routes over it go (silently, in the
  // kernel), groups lose it as a member, and a group left empty goes too.
  void remove_nexthops(std::vector<uint32_t> ids);
  void emit_nexthop_del(uint32_t id);
  // A device went down or lost carrier: the kernel deletes its nexthops
  // without a message (nexthop_flush_dev).
  void flush_nexthops(int ifindex);
  // Drop next hops through `ifindex` (IPv4 only, or every family when the
  // device is gone); routes left without next hops go.
  void flush_paths(int ifindex, bool ip4_only);
  void emit_route_del(const RKey& k);
  // kLocal: an address on a device that is no mirror (a Receive entry only).
  static constexpr uint32_t kLocal = 0xffffffffu;
  void emit_addr(bool add, uint32_t port, const fib::Prefix& p);
  void emit_addr_del(uint32_t port, const fib::Prefix& p) { emit_addr(false, port, p); }
  void emit_neigh_del(uint32_t port, const fib::IpAddr& ip);
  // Withdraw and forget every address / neighbour whose record matches.
  template <typename Pred> void withdraw_addrs_if(Pred pred);
  template <typename Pred> void withdraw_neighs_if(Pred pred);
  void gc_nhs();  // safe point: every live id is in routes_

  MirrorOptions opts_;
  std::unordered_map<uint32_t, uint32_t> table_map_;
  std::unordered_map<int, MirrorPort> ports_;
  std::unordered_map<RKey, Slot, RKeyHash> routes_;
  std::unordered_map<NKey, AddrRec, NKeyHash> addrs_;
  std::unordered_map<NKey, NeighRec, NKeyHash> neighs_;
  std::unordered_map<int, LinkRec> links_;
  // VRF devices of the netns: ifindex -> kernel table. A mirror enslaved to
  // one puts its port in that table's dataplane table.
  std::unordered_map<int, uint32_t> vrfs_;
  uint32_t table_of_master(int master) const;
  NhSets nh_sets_;
  std::unordered_map<uint32_t, NhObj> nhobjs_;
  // Kernel object id -> routes (alts) naming it: a change to an object no
  // route names directly (a group's member) never walks the shadow.
  std::unordered_map<uint32_t, uint32_t> nh_users_;
  void use(const Alt& a) { if (a.nh_id) ++nh_users_[a.nh_id]; }
  void unuse(const Alt& a);
  bool has_users(const std::vector<uint32_t>& ids) const;
  struct Dying { uint32_t id; bool installed; };
  std::vector<Dying> dying_;  // deleted objects whose routes settle() removes
  uint64_t nexthops_installed_ = 0;
  uint64_t routes_unsupported_ = 0;
  size_t nh_live_after_gc_ = 0;
  std::vector<MirrorOp> ops_;
  std::vector<std::pair<uint32_t, int>> gone_;
  uint32_t epoch_ = 0;
  bool sweep_needed_ = true;  // false when the resync started from nothing
  uint64_t routes_installed_ = 0;
  bool resync_request_ = false;
};

}  // namespace lcp::linux_nl
