// The FIB: tables (VRFs) of IPv4/IPv6 prefixes -> load-balance objects ->
// adjacencies. Control (writer) calls are serialised by the caller (one
// control mutex in the dataplane); reader calls are wait-free and safe from
// any worker thread while writers run (updates are published RCU-style: word-
// sized atomic stores into the LPM arrays, pointer swaps for load-balances and
// adjacencies, frees deferred through Rcu::retire()).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/rcu.h"

namespace lcp::fib {

constexpr uint32_t kMaxTables = 256;        // table slots (ids are mapped)
constexpr uint32_t kMaxAdjacencies = 1u << 20;
constexpr uint32_t kMaxLoadBalances = 1u << 22;
constexpr uint32_t kMaxPaths = 64;          // ECMP width
constexpr uint32_t kMaxBuckets = 256;       // weighted buckets per load-balance

enum class Family : uint8_t { Ip4 = 4, Ip6 = 6 };

// What a lookup result tells the graph to do with a packet.
enum class AdjKind : uint8_t {
  Drop = 0,       // no route (the default in every table)
  Receive,        // a local address: punt to the rx port's mirror
  Glean,          // connected subnet, neighbour unknown: punt so Linux resolves
  Rewrite,        // resolved neighbour: rewrite L2 and send out `port`
  Blackhole,      // route type blackhole: drop silently
  Unreachable,    // route type unreachable: drop (counted apart)
  Prohibit,       // route type prohibit: drop (counted apart)
};

struct Ip6 {
  std::array<uint8_t, 16> b{};
  bool operator==(const Ip6& o) const { return b == o.b; }
};

// An IP address of either family, network byte order in bytes.
struct IpAddr {
  Family family = Family::Ip4;
  std::array<uint8_t, 16> b{};  // ip4 uses b[0..3]
  uint32_t v4() const {          // host order
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  }
  bool operator==(const IpAddr& o) const { return family == o.family && b == o.b; }
};

struct Prefix {
  IpAddr addr;  // host bits beyond len must be zero (validated by parse)
  uint8_t len = 0;
};

// Parse "10.0.0.0/8", "2001:db8::/32", or a bare address (full length).
// Throws std::invalid_argument with a clear message (host bits set, bad len).
Prefix parse_prefix(const std::string& s);
IpAddr parse_addr(const std::string& s);
// An interface address, "10.0.0.1/24": keeps its host bits; the length says the subnet.
Prefix parse_interface_address(const std::string& s);
std::string format_prefix(const Prefix& p);
std::string format_addr(const IpAddr& a);

// Immutable once published; replaced wholesale by the writer.
struct Adjacency {
  AdjKind kind = AdjKind::Drop;
  uint32_t port = 0xffffffffu;  // output port for Rewrite/Glean
  uint16_t mtu = 1500;          // L3 MTU of `port` (0 = unknown/no check)
  uint8_t rewrite_len = 0;      // bytes of L2 header to write (14 or 0 for p2p)
  uint8_t rewrite[22] = {};     // dst mac, src mac, [outer tag,] ethertype
  IpAddr next_hop{};            // for dumps
};

// ECMP: a power-of-two bucket array of adjacency indexes, weighted by
// repetition. Immutable once published. Shared between routes with the same
// path set (interned, refcounted on the control side).
struct LoadBalance {
  uint16_t n_buckets = 1;  // power of two
  uint16_t n_paths = 1;
  uint32_t buckets[kMaxBuckets] = {};
};

// A path as the control API describes it.
struct Path {
  uint32_t port = 0xffffffffu;  // required for forwarding paths
  IpAddr via{};                 // next hop; unset (has_via=false) = attached/onlink
  bool has_via = false;
  uint16_t weight = 1;
};

enum class RouteKind : uint8_t { Forward, Blackhole, Unreachable, Prohibit };

struct Route {
  Prefix prefix;
  RouteKind kind = RouteKind::Forward;
  std::vector<Path> paths;  // for Forward
  // Non-zero: the route forwards as the nexthop object with this id says
  // (nexthop_set); kind and paths are then not used.
  uint64_t nexthop = 0;
};

// Source of a FIB entry, for dumps and precedence: a Receive/connected entry
// made from an address, or an API/mirror route.
enum class EntrySource : uint8_t { Route, Interface };

struct FibEntryDump {
  Prefix prefix;
  EntrySource source;
  RouteKind kind;
  AdjKind adj_kind;  // for interface entries: Receive or Glean
  std::vector<Path> paths;
  uint64_t nexthop = 0;  // the nexthop object the route uses (0: its own paths)
};

struct AdjacencyDump {
  uint32_t index;
  Adjacency adj;
  uint32_t refcount;
};

// A neighbour known to the FIB: (port, ip) -> mac (what neighbor_add set).
struct NeighborDump {
  uint32_t port;
  IpAddr ip;
  std::array<uint8_t, 6> mac;
};

struct PortL2 {
  bool valid = false;
  bool p2p = false;             // point-to-point: no L2 rewrite
  std::array<uint8_t, 6> mac{}; // source MAC for rewrites
  uint16_t mtu = 1500;
  uint16_t vlan = 0;            // a sub-port's outer VLAN id (0: untagged)
  uint16_t tpid = 0x8100;       // its tag protocol: 0x8100 dot1q, 0x88a8 dot1ad
};

// Told, in order and by the writer (under the caller's control mutex), about
// every change of what readers see: a prefix's installed load-balance, a
// load-balance published or freed, an adjacency published or freed. The XDP
// fast path (xdp/fast_path.h) mirrors the FIB into BPF maps with it.
class FibObserver {
 public:
  virtual ~FibObserver() = default;
  // fresh: the prefix was not installed before (else its load-balance changes).
  virtual void prefix_set(uint32_t slot, const Prefix& p, uint32_t lb, bool fresh) = 0;
  // cover_*: what the prefix's addresses fall back to (the longest shorter
  // installed prefix; 0 / the drop LB when none), as the LPM was told.
  virtual void prefix_unset(uint32_t slot, const Prefix& p, uint8_t cover_len, uint32_t cover_lb) = 0;
  virtual void lb_set(uint32_t index, const LoadBalance& lb) = 0;
  virtual void lb_unset(uint32_t index) = 0;
  virtual void adj_set(uint32_t index, const Adjacency& a) = 0;
  virtual void adj_unset(uint32_t index) = 0;
};

class Fib {
 public:
  explicit Fib(Rcu& rcu);
  ~Fib();
  Fib(const Fib&) = delete;
  Fib& operator=(const Fib&) = delete;

  // ---- control (writer) side; caller holds the control mutex ----
  // Attach (replaying the current state to it) or detach (nullptr) the observer.
  void set_observer(FibObserver* obs);

  // Tables: id 0 always exists. Returns the slot used by readers.
  uint32_t table_add(uint32_t id);            // idempotent
  void table_del(uint32_t id);                // throws if id 0 or in use by a port
  bool table_slot(uint32_t id, uint32_t& slot) const;
  std::vector<uint32_t> table_ids() const;

  // A port's L2 identity, used to build rewrites. Changing it rebuilds the
  // port's adjacencies. port_del withdraws everything that uses the port.
  void port_set(uint32_t port, const PortL2& l2);
  void port_del(uint32_t port);

  // Routes: add is add-or-replace (never duplicates). Throws
  // std::invalid_argument on a bad route (no paths, unknown port, too many
  // paths, family mismatch, unknown table).
  void route_add(uint32_t table_id, const Route& r);
  bool route_del(uint32_t table_id, const Prefix& p);

  // Nexthop objects: a path set (or a blackhole/unreachable/prohibit) shared
  // by reference, as the kernel's nexthop objects and VPP's path-lists. Each
  // holds one load-balance per payload family, republished in place when the
  // object changes: one call moves every route that names it, whatever their
  // number (prefix-independent convergence). set is add-or-replace; paths
  // are validated as route_add's (an IPv6 next hop may carry IPv4, RFC 8950).
  // del while routes still name it: they drop until replaced or deleted.
  void nexthop_set(uint64_t id, RouteKind kind, const std::vector<Path>& paths);
  bool nexthop_del(uint64_t id);
  size_t nexthop_count() const;

  // Interface addresses: a Receive entry for the address itself (and, for
  // IPv4, the subnet broadcast), plus a connected Glean prefix on the port.
  void address_add(uint32_t table_id, uint32_t port, const Prefix& addr_with_len);
  bool address_del(uint32_t table_id, uint32_t port, const Prefix& addr_with_len);
  // A port's addresses (receive, connected, broadcast entries) move to table
  // `to`, as the kernel moves them when a device joins or leaves a VRF.
  void port_move_addresses(uint32_t port, uint32_t to);

  // Local addresses held by no port (Linux's lo, a dummy): a Receive entry
  // for the host address alone, so packets for it are punted through their
  // rx port's mirror. Refcounted: the same address on two devices is one entry.
  void local_add(uint32_t table_id, const IpAddr& a);
  bool local_del(uint32_t table_id, const IpAddr& a);

  // Neighbours: (port, ip) -> mac. A known neighbour turns the Glean for
  // that host into a Rewrite adjacency, and every route via it forwards.
  void neighbor_add(uint32_t port, const IpAddr& ip, const std::array<uint8_t, 6>& mac);
  bool neighbor_del(uint32_t port, const IpAddr& ip);

  // Dumps (control side).
  std::vector<FibEntryDump> dump(uint32_t table_id, Family f) const;
  std::vector<AdjacencyDump> dump_adjacencies() const;
  size_t route_count(uint32_t table_id, Family f) const;
  // Every Route-source entry of a table without building dumps: the prefix,
  // its kind and its load-balance index (shared by routes with the same path
  // set, so a caller can cache per index what it derives from lb_paths()).
  using RouteVisitor = std::function<void(const Prefix&, RouteKind, uint32_t lb)>;
  void visit_routes(uint32_t table_id, Family f, const RouteVisitor& fn) const;
  std::vector<Path> lb_paths(uint32_t lb) const;
  std::vector<NeighborDump> neighbors() const;

  // ---- reader side; wait-free, any worker thread ----
  // Index of the adjacency a packet to `dst` should use, given its flow
  // hash (ECMP bucket choice). Always returns a valid index (Drop at worst).
  uint32_t lookup4(uint32_t slot, uint32_t dst_host_order, uint32_t flow_hash) const;
  uint32_t lookup6(uint32_t slot, const uint8_t dst[16], uint32_t flow_hash) const;
  // Batched IPv4 (prefetching) for the graph node and the benchmark.
  void lookup4_batch(uint32_t slot, const uint32_t* dst_host_order,
                     const uint32_t* flow_hash, uint32_t* adj_out, uint32_t n) const;
  const Adjacency& adjacency(uint32_t index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lcp::fib
