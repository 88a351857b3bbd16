#include "linux_nl/drift.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <memory>
#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "io/netns.h"
#include "io/packet_io.h"
#include "linux_nl/socket.h"

namespace lcp::linux_nl {

namespace {

// A route's place, packed (no strings): dataplane table, family, length, address.
struct RouteKey {
  uint32_t table;
  uint8_t family, len;
  std::array<uint8_t, 16> a;
  bool operator==(const RouteKey&) const = default;
};
struct RouteKeyHash {
  size_t operator()(const RouteKey& k) const {
    uint64_t hi, lo;
    std::memcpy(&hi, k.a.data(), 8);
    std::memcpy(&lo, k.a.data() + 8, 8);
    uint64_t h = (uint64_t(k.table) << 16 | uint64_t(k.family) << 8 | k.len) * 0x9E3779B97F4A7C15ull;
    h = (h ^ hi) * 0xff51afd7ed558ccdull;
    h = (h ^ lo) * 0xc4ceb9fe1a85ec53ull;
    return size_t(h ^ (h >> 29));
  }
};
struct Want {
  uint64_t sig;
  bool seen;
  uint64_t nexthop;  // over a nexthop object: sig is derived from it after the dump
};

RouteKey key_of(uint32_t table, const fib::Prefix& p) {
  return RouteKey{table, uint8_t(p.addr.family), p.len, p.addr.b};
}
std::string key_str(uint32_t table, const fib::Prefix& p) {
  return std::to_string(table) + ":" + fib::format_prefix(p);
}

}  // namespace

DriftReport check_drift(Dataplane& dp, const std::string& netns, const MirrorOptions& opts, size_t max_samples) {
  MirrorState st(opts);
  const std::vector<MirrorPort> ports = dp.mirror_ports(netns);
  st.set_ports(ports);
  st.begin_resync();
  // What the kernel says the dataplane should hold. The translated ops are
  // folded in after every message, so they never pile up (a full table would
  // be a million MirrorOps), and routes are keyed by packed prefixes.
  std::unordered_map<RouteKey, Want, RouteKeyHash> want_routes;
  std::unordered_map<std::string, std::array<uint8_t, 6>> want_neigh;
  std::unordered_map<uint64_t, fib::Route> want_nh;
  std::set<uint32_t> tables{0};
  for (auto [k, d] : opts.table_map) tables.insert(d);
  auto fold = [&] {
    for (const MirrorOp& op : st.ops()) {
      switch (op.kind) {
        case MirrorOp::Kind::RouteAdd:
          want_routes[key_of(op.table, op.route.prefix)] = Want{route_signature(op.route), false, op.route.nexthop};
          tables.insert(op.table);
          break;
        case MirrorOp::Kind::RouteDel: want_routes.erase(key_of(op.table, op.route.prefix)); break;
        case MirrorOp::Kind::NexthopSet: want_nh[op.nexthop] = op.route; break;
        case MirrorOp::Kind::NexthopDel: want_nh.erase(op.nexthop); break;
        case MirrorOp::Kind::NeighAdd: want_neigh[std::to_string(op.port) + "/" + fib::format_addr(op.ip)] = op.mac; break;
        case MirrorOp::Kind::NeighDel: want_neigh.erase(std::to_string(op.port) + "/" + fib::format_addr(op.ip)); break;
        default: break;
      }
    }
    st.ops().clear();
  };
  {
    io::NetnsGuard ns(netns);
    RtSocket sock(0, 32u << 20, io::netns_label(netns));
    NlMsg msg;
    for (uint16_t type : {RTM_GETLINK, RTM_GETNEXTHOP, RTM_GETROUTE, RTM_GETNEIGH}) {
      for (int attempt = 0; attempt < 8; ++attempt) {
        bool intr = false;
        const int err = sock.dump(type, AF_UNSPEC, [&](const nlmsghdr* m) {
          if (parse_message(m, msg)) st.handle(msg);
          if (st.ops().size() >= 1024) fold();
        }, intr);
        if (err) throw io::make_error("drift: dump", io::netns_label(netns), err);
        if (!intr) break;
      }
    }
  }
  fold();
  // A route over a nexthop object should forward as the object does: the FIB
  // walk below sees the object's paths, so compare with those.
  for (auto& [k, w] : want_routes) {
    if (!w.nexthop) continue;
    auto nh = want_nh.find(w.nexthop);
    if (nh != want_nh.end()) w.sig = route_signature(fib::Route{fib::Prefix{}, nh->second.kind, nh->second.paths});
  }
  std::unordered_set<uint32_t> our_ports;
  for (const MirrorPort& p : ports) our_ports.insert(p.port);

  DriftReport r;
  auto sample = [&](const std::string& s) {
    if (r.samples.size() < max_samples) r.samples.push_back(s);
  };
  r.unsupported = st.routes_unsupported();
  if (r.unsupported) sample(std::to_string(r.unsupported) + " unsupported routes (encap or via the dataplane cannot forward)");
  r.routes.kernel = want_routes.size();
  const std::vector<uint32_t> existing = dp.tables();
  // Per load-balance index: is it ours (every path on our ports), and its
  // signature. A million routes over a few next hops read a few path sets.
  struct LbInfo { bool ours; uint64_t sig; };
  std::unordered_map<uint32_t, LbInfo> lb_cache;
  for (uint32_t t : tables) {
    if (std::find(existing.begin(), existing.end(), t) == existing.end()) continue;
    for (fib::Family f : {fib::Family::Ip4, fib::Family::Ip6}) {
      lb_cache.clear();  // indexes are only stable while the walk holds the lock
      dp.visit_routes(t, f, [&](const fib::Prefix& p, fib::RouteKind kind, uint32_t lb, const fib::Fib& fib) {
        auto c = lb_cache.find(lb);
        if (c == lb_cache.end()) {
          fib::Route got{fib::Prefix{}, kind, {}};
          bool ours = true;
          if (kind == fib::RouteKind::Forward) {
            got.paths = fib.lb_paths(lb);
            ours = !got.paths.empty();
            for (const fib::Path& path : got.paths) ours = ours && our_ports.count(path.port);
          }
          c = lb_cache.emplace(lb, LbInfo{ours, route_signature(got)}).first;
        }
        if (!c->second.ours) return;
        ++r.routes.dataplane;
        auto it = want_routes.find(key_of(t, p));
        if (it == want_routes.end()) {
          ++r.routes.extra;
          if (r.samples.size() < max_samples) sample("extra route " + key_str(t, p));
          return;
        }
        it->second.seen = true;
        if (c->second.sig != it->second.sig) {
          ++r.routes.different;
          if (r.samples.size() < max_samples) sample("different route " + key_str(t, p));
        }
      });
    }
  }
  for (const auto& [k, w] : want_routes)
    if (!w.seen) {
      ++r.routes.missing;
      if (r.samples.size() < max_samples) {
        fib::Prefix p;
        p.addr.family = fib::Family(k.family);
        p.addr.b = k.a;
        p.len = k.len;
        sample("missing route " + key_str(k.table, p));
      }
    }

  r.neighbors.kernel = want_neigh.size();
  std::unordered_set<std::string> nseen;
  for (const fib::NeighborDump& n : dp.neighbors()) {
    if (!our_ports.count(n.port)) continue;
    ++r.neighbors.dataplane;
    const std::string k = std::to_string(n.port) + "/" + fib::format_addr(n.ip);
    auto it = want_neigh.find(k);
    if (it == want_neigh.end()) {
      ++r.neighbors.extra;
      sample("extra neighbor " + k);
      continue;
    }
    nseen.insert(k);
    if (it->second != n.mac) {
      ++r.neighbors.different;
      sample("different neighbor " + k);
    }
  }
  for (const auto& [k, mac] : want_neigh)
    if (!nseen.count(k)) {
      ++r.neighbors.missing;
      sample("missing neighbor " + k);
    }
  return r;
}

}  // namespace lcp::linux_nl
