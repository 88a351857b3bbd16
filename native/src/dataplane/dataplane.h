// The embedded dataplane's control side: owns the FIB, the workers, the ports
// and the pairs, and publishes every change to workers RCU-style. All public
// methods are thread-safe (one control mutex; never taken by workers).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <span>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/kinds.h"
#include "core/rcu.h"
#include "dataplane/carrier.h"
#include "fib/fib.h"
#include "graph/counters.h"
#include "graph/runtime.h"
#include "graph/worker.h"
#include "io/mirror.h"
#include "io/packet_io.h"

namespace lcp {
namespace xdp {
class FastPath;
}

struct DataplaneConfig {
  unsigned workers = 1;
  uint32_t buffers_per_worker = 4096;
  uint32_t rx_ring_frames = 0;  // AF_PACKET RX ring per port, in 2 KiB frames (0: the default, 2048)
  // Its layout (io/af_packet.h AfPacketRxRing): V2 (no timer), V3 (blocks, a
  // timer per ring), Auto: V2 where the XDP fast path takes the port's
  // receive (the ring only sees what it passes up), V3 where the graph forwards.
  RxRing rx_ring = RxRing::Auto;
  std::string owner_tag = "kube-lcp";  // marks mirrors we create (ifalias)
  FastPathMode fast_path = FastPathMode::Auto;  // the XDP fast path (xdp/fast_path.h)
};

// Built by name (Dataplane::view), so a field added here cannot shift the others.
struct PortView {
  uint32_t index = 0;
  std::string name, netns;
  PortDriver driver = PortDriver::AfPacket;
  int ifindex = 0;
  std::array<uint8_t, 6> mac{};
  uint16_t mtu = 0;
  bool p2p = false, admin_up = false;
  uint32_t table = 0;
  unsigned worker = 0;
  bool has_pair = false;
  std::string mirror_name, mirror_netns;
  MirrorKind mirror_kind = MirrorKind::Auto;  // Auto: no mirror
  int mirror_ifindex = 0;
  bool mirror_adopted = false;
  uint32_t parent = kInvalidIndex;  // a sub-port's parent port
  uint16_t vlan = 0, tpid = 0;
  std::string fast_path;  // "active" | "rx-only: <why>" | "inactive: <why>"
  uint64_t rx_ring_bytes = 0;
  RxRing rx_ring = RxRing::Auto;  // V2 | V3 (AF_PACKET); Auto: no ring
};

// Port counters include what the XDP fast path forwarded; fp_* is that part.
struct PortCounterView {
  uint32_t port;
  uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, drops, punts, injects;
  uint64_t fp_rx_packets = 0, fp_tx_packets = 0;
};

struct CounterView {
  std::vector<PortCounterView> ports;
  std::array<uint64_t, size_t(Error::Count)> errors{};
  uint64_t loops = 0, vectors = 0;
  uint64_t poll_set_changes = 0;  // workers' epoll_ctl calls to follow port/pair changes
};

struct FastPathView {
  bool enabled = false;  // fastPath auto for the dataplane
  bool usable = false;   // maps made, program loaded
  std::string reason;    // why not usable
  uint64_t map_updates = 0, map_errors = 0, batches = 0, max_queue = 0, pending = 0;
  uint64_t ip4_groups = 0, ip4_group_limit = 0;  // tbl8 groups of its IPv4 tables
  std::string last_error;
};

struct TraceView {
  unsigned worker;
  uint32_t rx_port;
  std::vector<std::string> nodes;
  std::vector<uint8_t> head;
};

struct PortPatch {
  std::optional<bool> up;
  std::optional<uint16_t> mtu;
  std::optional<std::array<uint8_t, 6>> mac;
  std::optional<uint32_t> table;
};

// A change the netlink mirror (linux_nl/) asks for, already translated from
// kernel ifindexes and table ids to ports and dataplane tables.
struct MirrorOp {
  enum class Kind : uint8_t {
    RouteAdd, RouteDel, AddrAdd, AddrDel, NeighAdd, NeighDel, Link, SubPortAdd, NexthopSet, NexthopDel,
    LocalAdd, LocalDel  // an address on a device that is no mirror (lo, a dummy): route.prefix.addr in `table`
  };
  Kind kind = Kind::RouteAdd;
  uint32_t table = 0;           // routes (created on first use)
  uint32_t port = 0;            // addresses, neighbours, link
  fib::Route route;             // RouteAdd; RouteDel/AddrAdd/AddrDel use route.prefix; NexthopSet its kind, paths
  uint64_t nexthop = 0;         // NexthopSet/NexthopDel: the FIB's nexthop id
  fib::IpAddr ip{};             // neighbours
  std::array<uint8_t, 6> mac{}; // neighbours
  PortPatch link;               // Link: the mirror's state (only differences are applied)
  // SubPortAdd: a VLAN device (ifindex, name) on the mirror of `port`.
  uint16_t vlan = 0, tpid = 0;
  int ifindex = 0;
  std::string name;
};

// A pair whose mirror lives in a given netns, as the mirror needs it.
struct MirrorPort {
  uint32_t port;
  int ifindex;  // of the mirror, in its netns
  std::string name;
  bool p2p;
  bool vlan_dev = false;  // a sub-port paired with a Linux VLAN device
};

struct MirrorApply {
  uint64_t applied = 0, errors = 0, routes = 0;
  std::string last_error;
};

class Dataplane {
 public:
  explicit Dataplane(const DataplaneConfig& cfg);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Ports: take over a kernel netdev (PortDriver::Auto is AF_PACKET).
  // fast_path: Auto (the XDP fast path where the kernel allows) | Off.
  // Opens the netdev without the control mutex (it waits on the kernel), so
  // adds from several threads overlap; the same netdev twice is refused.
  PortView add_port(const std::string& name, const std::string& netns, PortDriver driver,
                    FastPathMode fast_path = FastPathMode::Auto);
  void del_port(uint32_t index);
  // Sub-ports (VLANs): a port with a parent and an outer tag. Receives what
  // the parent receives with that tag, sends through the parent's TX queues
  // with it, and punts to the parent's mirror with the tag intact.
  PortView add_sub_port(uint32_t parent, uint16_t vlan, uint16_t tpid = 0x8100);
  void del_sub_port(uint32_t index);
  void set_port(uint32_t index, const PortPatch& patch);
  std::vector<PortView> ports() const;
  // One port without building them all (a reconcile per pair looks up its
  // own port; with 1,000 ports, ports() costs ~2 ms). find_port: by netdev.
  std::optional<PortView> port(uint32_t index) const;
  std::optional<PortView> find_port(const std::string& name, const std::string& netns) const;

  // Pairs: the port's mirror in Linux (created, or re-adopted if ours).
  // kind Auto: tun for a point-to-point port, tap otherwise; owner_tag is ours.
  PortView create_pair(uint32_t port, io::MirrorSpec spec);
  void remove_pair(uint32_t port, bool destroy_device);

  // Forwarding state (see fib::Fib for semantics).
  void table_add(uint32_t id);
  void table_del(uint32_t id);
  std::vector<uint32_t> tables() const;
  void routes_add(uint32_t table, const std::vector<fib::Route>& routes);
  bool route_del(uint32_t table, const fib::Prefix& p);
  void address_add(uint32_t port, const fib::Prefix& addr);
  bool address_del(uint32_t port, const fib::Prefix& addr);
  void neighbor_add(uint32_t port, const fib::IpAddr& ip, const std::array<uint8_t, 6>& mac);
  bool neighbor_del(uint32_t port, const fib::IpAddr& ip);
  std::vector<fib::FibEntryDump> fib_dump(uint32_t table, fib::Family f) const;
  // Walks a table's routes under the control mutex without building a dump
  // (the drift check at full-table scale); `fn` gets the FIB to read paths.
  using RouteWalker = std::function<void(const fib::Prefix&, fib::RouteKind, uint32_t lb, const fib::Fib&)>;
  void visit_routes(uint32_t table, fib::Family f, const RouteWalker& fn) const;
  std::vector<fib::AdjacencyDump> adjacencies() const;

  // ---- the netlink mirror (linux_nl/) ----
  std::vector<MirrorPort> mirror_ports(const std::string& netns) const;
  // Bumped whenever a pair appears, goes, or a port changes table: the
  // mirror's ifindex -> port map is stale and it resyncs.
  uint64_t pair_generation() const { return pair_gen_.load(std::memory_order_acquire); }
  // Applies ops in order. Holds the control mutex for at most `budget` at a
  // time (then publishes, lets other callers in, and goes on). A failing op
  // is counted and skipped.
  void apply_mirror_ops(std::span<const MirrorOp> ops, std::chrono::microseconds budget, MirrorApply& out);
  // The mirror device `ifindex` of `port` was deleted under us: unpair (the
  // workers stop polling a dead fd) and take the port down.
  void mirror_gone(uint32_t port, int ifindex);
  size_t route_count(uint32_t table, fib::Family f) const;
  std::vector<fib::NeighborDump> neighbors() const;

  CounterView counters() const;
  FastPathView fast_path() const;
  void trace_arm(uint32_t n);
  std::vector<TraceView> trace_read() const;

  unsigned worker_count() const { return unsigned(workers_.size()); }

 private:
  struct Port;
  Port& port_ref(uint32_t index);
  const Port& port_ref(uint32_t index) const;
  void publish_port(Port& p);  // rebuild PortRuntime + owner's plan (+ a parent's sub-ports)
  const Port& root_of(const Port& p) const;  // a sub-port's parent, else itself
  // Detaches the port from everything; the caller closes what it returns (null for a sub-port).
  std::unique_ptr<Port> del_port_locked(uint32_t index);
  void release_busy(const std::string& name, const std::string& netns);  // takes mu_
  Port& add_sub_port_locked(uint32_t parent, uint16_t vlan, uint16_t tpid);
  void publish_plan(unsigned worker);
  PortView view(const Port& p) const;
  fib::PortL2 l2_of(const Port& p) const;
  uint32_t table_slot(uint32_t id) const;
  uint32_t free_index() const;  // lowest unused port index
  PortCounterView sum_port(uint32_t index) const;  // raw, summed over workers
  void set_port_locked(Port& p, const PortPatch& patch);
  void apply_one(const MirrorOp& op, MirrorApply& out);
  void port_carrier(const std::string& netns, int ifindex, bool up);  // CarrierWatch's thread

  DataplaneConfig cfg_;
  mutable std::mutex mu_;
  Rcu rcu_;
  std::unique_ptr<fib::Fib> fib_;
  std::unique_ptr<PortTable> table_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Port>> ports_;  // by index; null = free
  // (name, netns) of netdevs being opened or closed outside mu_: refused to add_port meanwhile.
  std::vector<std::pair<std::string, std::string>> busy_;
  std::vector<PortCounterView> counter_base_;  // counters at (re)use of an index
  std::atomic<uint64_t> pair_gen_{0};
  std::unique_ptr<xdp::FastPath> fast_;  // null: fastPath off for the dataplane
  std::unique_ptr<CarrierWatch> carrier_;
  std::atomic<uint64_t> carrier_errors_{0};  // TUNSETCARRIER refused
};

}  // namespace lcp
