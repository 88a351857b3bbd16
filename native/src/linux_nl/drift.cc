#include "linux_nl/drift.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

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

struct Key {
  uint32_t table;
  fib::Prefix p;
};
std::string key_str(uint32_t table, const fib::Prefix& p) {
  return std::to_string(table) + ":" + fib::format_prefix(p);
}

}  // namespace

DriftReport check_drift(Dataplane& dp, const std::string& netns, const MirrorOptions& opts, size_t max_samples) {
  MirrorState st(opts);
  const std::vector<MirrorPort> ports = dp.mirror_ports(netns);
  st.set_ports(ports);
  st.begin_resync();
  {
    io::NetnsGuard ns(netns);
    RtSocket sock(0, 32u << 20, io::netns_label(netns));
    NlMsg msg;
    for (uint16_t type : {RTM_GETLINK, RTM_GETROUTE, RTM_GETNEIGH}) {
      for (int attempt = 0; attempt < 8; ++attempt) {
        bool intr = false;
        const int err = sock.dump(type, AF_UNSPEC, [&](const nlmsghdr* m) {
          if (parse_message(m, msg)) st.handle(msg);
        }, intr);
        if (err) throw io::make_error("drift: dump", io::netns_label(netns), err);
        if (!intr) break;
      }
    }
  }
  // What the kernel says the dataplane should hold, by "table:prefix".
  std::unordered_map<std::string, uint64_t> want_routes;
  std::unordered_map<std::string, std::array<uint8_t, 6>> want_neigh;
  std::set<uint32_t> tables{0};
  for (auto [k, d] : opts.table_map) tables.insert(d);
  for (const MirrorOp& op : st.ops()) {
    switch (op.kind) {
      case MirrorOp::Kind::RouteAdd:
        want_routes[key_str(op.table, op.route.prefix)] = route_signature(op.route);
        tables.insert(op.table);
        break;
      case MirrorOp::Kind::RouteDel: want_routes.erase(key_str(op.table, op.route.prefix)); break;
      case MirrorOp::Kind::NeighAdd: want_neigh[std::to_string(op.port) + "/" + fib::format_addr(op.ip)] = op.mac; break;
      case MirrorOp::Kind::NeighDel: want_neigh.erase(std::to_string(op.port) + "/" + fib::format_addr(op.ip)); break;
      default: break;
    }
  }
  std::unordered_set<uint32_t> our_ports;
  for (const MirrorPort& p : ports) our_ports.insert(p.port);

  DriftReport r;
  auto sample = [&](const std::string& s) {
    if (r.samples.size() < max_samples) r.samples.push_back(s);
  };
  r.routes.kernel = want_routes.size();
  const std::vector<uint32_t> existing = dp.tables();
  std::unordered_set<std::string> seen;
  for (uint32_t t : tables) {
    if (std::find(existing.begin(), existing.end(), t) == existing.end()) continue;
    for (fib::Family f : {fib::Family::Ip4, fib::Family::Ip6}) {
      for (const fib::FibEntryDump& e : dp.fib_dump(t, f)) {
        if (e.source != fib::EntrySource::Route) continue;
        if (e.kind == fib::RouteKind::Forward) {
          bool ours = !e.paths.empty();
          for (const fib::Path& p : e.paths) ours = ours && our_ports.count(p.port);
          if (!ours) continue;
        }
        ++r.routes.dataplane;
        const std::string k = key_str(t, e.prefix);
        auto it = want_routes.find(k);
        if (it == want_routes.end()) {
          ++r.routes.extra;
          sample("extra route " + k);
          continue;
        }
        seen.insert(k);
        fib::Route got{e.prefix, e.kind, e.paths};
        if (route_signature(got) != it->second) {
          ++r.routes.different;
          sample("different route " + k);
        }
      }
    }
  }
  for (const auto& [k, sig] : want_routes)
    if (!seen.count(k)) {
      ++r.routes.missing;
      sample("missing route " + k);
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
