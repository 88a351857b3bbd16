#include "linux_nl/state.h"

#include <linux/if.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cstring>

namespace lcp::linux_nl {

namespace {

constexpr uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

uint64_t addr_hash(const fib::IpAddr& a) {
  uint64_t hi, lo;
  std::memcpy(&hi, a.b.data(), 8);
  std::memcpy(&lo, a.b.data() + 8, 8);
  return mix(mix(uint64_t(a.family), hi), lo);
}

bool is_multicast(const fib::IpAddr& a) {
  return a.family == fib::Family::Ip4 ? (a.b[0] & 0xf0) == 0xe0 : a.b[0] == 0xff;
}

bool is_link_local6(const fib::IpAddr& a) {
  return a.family == fib::Family::Ip6 && a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80;
}

constexpr uint16_t kValidNud = NUD_REACHABLE | NUD_STALE | NUD_PERMANENT | NUD_NOARP | NUD_DELAY | NUD_PROBE;

}  // namespace

uint64_t route_signature(const fib::Route& r) {
  uint64_t h = mix(0, uint64_t(r.kind));
  // Order-insensitive over paths: sum of per-path hashes.
  uint64_t sum = 0;
  for (const fib::Path& p : r.paths)
    sum += mix(mix(mix(uint64_t(p.port), p.has_via ? addr_hash(p.via) : 0), p.weight), 1);
  return mix(h, sum);
}

size_t MirrorState::RKeyHash::operator()(const RKey& k) const {
  uint64_t hi, lo;
  std::memcpy(&hi, k.a.data(), 8);
  std::memcpy(&lo, k.a.data() + 8, 8);
  return size_t(mix(mix(mix(uint64_t(k.table) << 16 | uint64_t(k.family) << 8 | k.len, hi), lo), 0));
}

size_t MirrorState::NKeyHash::operator()(const NKey& k) const {
  return size_t(mix(mix(uint64_t(uint32_t(k.ifindex)) << 8 | k.len, addr_hash(k.ip)), 0));
}

MirrorState::MirrorState(MirrorOptions opts) : opts_(std::move(opts)) {
  table_map_[RT_TABLE_MAIN] = 0;
  table_map_[RT_TABLE_DEFAULT] = 0;
  for (auto [k, d] : opts_.table_map) table_map_[k] = d;
}

uint32_t MirrorState::dp_table(uint32_t kernel_table) const {
  auto it = table_map_.find(kernel_table);
  return it == table_map_.end() ? kernel_table : it->second;
}

void MirrorState::set_ports(const std::vector<MirrorPort>& ports) {
  ports_.clear();
  for (const MirrorPort& p : ports) ports_[p.ifindex] = p;
}

const MirrorPort* MirrorState::port_of(int ifindex) const {
  auto it = ports_.find(ifindex);
  return it == ports_.end() ? nullptr : &it->second;
}

bool MirrorState::accept(const NlRoute& r) const {
  if (r.table == RT_TABLE_LOCAL || (r.rtm_flags & RTM_F_CLONED)) return false;
  if (!opts_.tables.empty() && std::find(opts_.tables.begin(), opts_.tables.end(), r.table) == opts_.tables.end())
    return false;
  if (std::find(opts_.ignore_protocols.begin(), opts_.ignore_protocols.end(), r.protocol) != opts_.ignore_protocols.end())
    return false;
  return r.type == RTN_UNICAST || r.type == RTN_BLACKHOLE || r.type == RTN_UNREACHABLE || r.type == RTN_PROHIBIT;
}

MirrorState::RKey MirrorState::key_of(const NlRoute& r) {
  return RKey{r.table, uint8_t(r.prefix.addr.family), r.prefix.len, r.prefix.addr.b};
}

fib::Prefix MirrorState::prefix_of(const RKey& k) {
  fib::Prefix p;
  p.addr.family = fib::Family(k.family);
  p.addr.b = k.a;
  p.len = k.len;
  return p;
}

void MirrorState::begin_resync() { ++epoch_; }

void MirrorState::handle(const NlMsg& m) {
  switch (m.kind) {
    case MsgKind::NewLink: on_link(m.link, false); break;
    case MsgKind::DelLink: on_link(m.link, true); break;
    case MsgKind::NewAddr: on_addr(m.addr, false); break;
    case MsgKind::DelAddr: on_addr(m.addr, true); break;
    case MsgKind::NewRoute: on_route(m.route, false, m.nl_flags); break;
    case MsgKind::DelRoute: on_route(m.route, true, m.nl_flags); break;
    case MsgKind::NewNeigh: on_neigh(m.neigh, false); break;
    case MsgKind::DelNeigh: on_neigh(m.neigh, true); break;
    case MsgKind::Other: break;
  }
}

// ------------------------------------------------------------------ routes

void MirrorState::emit_route_del(const RKey& k) {
  MirrorOp op;
  op.kind = MirrorOp::Kind::RouteDel;
  op.table = dp_table(k.table);
  op.route.prefix = prefix_of(k);
  ops_.push_back(std::move(op));
}

void MirrorState::evaluate(const RKey& k, Slot& s) {
  const Alt* best = nullptr;
  for (const Alt& a : s.alts)
    if (!best || a.priority < best->priority) best = &a;
  fib::Route r;
  bool ok = best != nullptr && !best->unsupported;
  if (ok) {
    r.prefix = prefix_of(k);
    switch (best->type) {
      case RTN_BLACKHOLE: r.kind = fib::RouteKind::Blackhole; break;
      case RTN_UNREACHABLE: r.kind = fib::RouteKind::Unreachable; break;
      case RTN_PROHIBIT: r.kind = fib::RouteKind::Prohibit; break;
      default: r.kind = fib::RouteKind::Forward; break;
    }
    if (r.kind == fib::RouteKind::Forward) {
      for (const NlNextHop& nh : best->nhs) {
        if (nh.flags & RTNH_F_DEAD) continue;  // the kernel does not use it either
        const MirrorPort* mp = port_of(nh.ifindex);
        if (!mp) {  // a next hop that is not a mirror: the route is not ours
          ok = false;
          break;
        }
        fib::Path p;
        p.port = mp->port;
        p.has_via = nh.has_gw;
        if (nh.has_gw) p.via = nh.gw;
        p.weight = nh.weight;
        r.paths.push_back(p);
      }
      if (r.paths.empty()) ok = false;
    }
  }
  if (ok) {
    const uint64_t sig = route_signature(r);
    if (s.installed && s.sig == sig) return;  // replace with the same thing
    if (!s.installed) ++routes_installed_;
    s.installed = true;
    s.sig = sig;
    MirrorOp op;
    op.kind = MirrorOp::Kind::RouteAdd;
    op.table = dp_table(k.table);
    op.route = std::move(r);
    ops_.push_back(std::move(op));
  } else if (s.installed) {
    s.installed = false;
    --routes_installed_;
    emit_route_del(k);
  }
}

void MirrorState::on_route(const NlRoute& r, bool del, uint16_t nl_flags) {
  if (!accept(r)) return;
  const RKey k = key_of(r);
  auto it = routes_.find(k);
  if (del) {
    if (it == routes_.end()) return;
    Slot& s = it->second;
    auto alt = std::find_if(s.alts.begin(), s.alts.end(),
                            [&](const Alt& a) { return a.priority == r.priority && a.tos == r.tos; });
    if (alt == s.alts.end()) {
      if (s.alts.size() != 1) return;
      alt = s.alts.begin();
    }
    // IPv6 deletes one next hop of a multipath route at a time.
    if (r.prefix.addr.family == fib::Family::Ip6 && !r.nhs.empty() && alt->nhs.size() > r.nhs.size()) {
      std::erase_if(alt->nhs, [&](const NlNextHop& h) {
        return std::find(r.nhs.begin(), r.nhs.end(), h) != r.nhs.end();
      });
      if (alt->nhs.empty()) s.alts.erase(alt);
    } else {
      s.alts.erase(alt);
    }
    evaluate(k, s);
    if (s.alts.empty()) routes_.erase(it);
    return;
  }
  if (it == routes_.end()) it = routes_.try_emplace(k).first;
  Slot& s = it->second;
  auto alt = std::find_if(s.alts.begin(), s.alts.end(),
                          [&](const Alt& a) { return a.priority == r.priority && a.tos == r.tos; });
  if (alt != s.alts.end() && r.prefix.addr.family == fib::Family::Ip6 && (nl_flags & NLM_F_APPEND)) {
    for (const NlNextHop& h : r.nhs)  // `ip -6 route append`: one more path
      if (std::find(alt->nhs.begin(), alt->nhs.end(), h) == alt->nhs.end()) alt->nhs.push_back(h);
    alt->epoch = epoch_;
  } else {
    Alt a{r.priority, epoch_, r.tos, r.type, r.unsupported_nh, r.nhs};
    if (alt != s.alts.end()) *alt = std::move(a);
    else s.alts.push_back(std::move(a));
  }
  evaluate(k, s);
}

void MirrorState::flush_paths(int ifindex, bool ip4_only) {
  for (auto it = routes_.begin(); it != routes_.end();) {
    Slot& s = it->second;
    if (ip4_only && it->first.family != uint8_t(fib::Family::Ip4)) {
      ++it;
      continue;
    }
    bool changed = false;
    for (Alt& a : s.alts) {
      const size_t before = a.nhs.size();
      std::erase_if(a.nhs, [&](const NlNextHop& h) { return h.ifindex == ifindex; });
      if (a.nhs.size() != before) changed = true;
    }
    if (!changed) {
      ++it;
      continue;
    }
    std::erase_if(s.alts, [](const Alt& a) { return a.type == RTN_UNICAST && a.nhs.empty(); });
    evaluate(it->first, s);
    it = s.alts.empty() ? routes_.erase(it) : std::next(it);
  }
}

// ------------------------------------------------------------------- links

void MirrorState::on_link(const NlLink& l, bool del) {
  const MirrorPort* mp = port_of(l.ifindex);
  auto prev = links_.find(l.ifindex);
  if (del) {
    if (prev != links_.end()) links_.erase(prev);
    // The device is gone: the kernel dropped its routes (IPv4 silently),
    // addresses and neighbours. So do we, and the pair is broken.
    flush_paths(l.ifindex, false);
    for (auto it = addrs_.begin(); it != addrs_.end();) {
      if (it->first.ifindex != l.ifindex) { ++it; continue; }
      MirrorOp op;
      op.kind = MirrorOp::Kind::AddrDel;
      op.port = it->second.port;
      op.route.prefix = it->second.p;
      ops_.push_back(std::move(op));
      it = addrs_.erase(it);
    }
    for (auto it = neighs_.begin(); it != neighs_.end();) {
      if (it->first.ifindex != l.ifindex) { ++it; continue; }
      MirrorOp op;
      op.kind = MirrorOp::Kind::NeighDel;
      op.port = it->second.port;
      op.ip = it->first.ip;
      ops_.push_back(std::move(op));
      it = neighs_.erase(it);
    }
    if (mp) {
      gone_.emplace_back(mp->port, l.ifindex);
      ports_.erase(l.ifindex);
    }
    return;
  }
  const bool up = l.flags & IFF_UP;
  const bool was_up = prev != links_.end() && (prev->second.flags & IFF_UP);
  const bool known = prev != links_.end();
  links_[l.ifindex] = LinkRec{l.flags, epoch_};
  if (!mp) return;
  MirrorOp op;
  op.kind = MirrorOp::Kind::Link;
  op.port = mp->port;
  op.link.up = up;
  if (l.mtu >= 68 && l.mtu <= 9000) op.link.mtu = uint16_t(l.mtu);
  if (l.has_mac && !mp->p2p) op.link.mac = l.mac;
  ops_.push_back(std::move(op));
  if (known && was_up && !up) flush_paths(l.ifindex, true);  // as fib_sync_down_dev does
  if (known && !was_up && up) resync_request_ = true;        // fib_sync_up revives next hops silently
}

// --------------------------------------------------------------- addresses

void MirrorState::on_addr(const NlAddr& a, bool del) {
  if (is_link_local6(a.addr.addr)) return;  // ip6-input punts link-local anyway
  const NKey k{a.ifindex, a.addr.len, a.addr.addr};
  auto it = addrs_.find(k);
  const MirrorPort* mp = del ? nullptr : port_of(a.ifindex);
  if (it != addrs_.end() && (!mp || it->second.port != mp->port)) {
    MirrorOp op;
    op.kind = MirrorOp::Kind::AddrDel;
    op.port = it->second.port;
    op.route.prefix = it->second.p;
    ops_.push_back(std::move(op));
    addrs_.erase(it);
    it = addrs_.end();
  }
  if (!mp) return;
  if (it != addrs_.end()) {
    it->second.epoch = epoch_;
    return;
  }
  addrs_.emplace(k, AddrRec{mp->port, epoch_, a.addr});
  MirrorOp op;
  op.kind = MirrorOp::Kind::AddrAdd;
  op.port = mp->port;
  op.route.prefix = a.addr;
  ops_.push_back(std::move(op));
}

// -------------------------------------------------------------- neighbours

void MirrorState::on_neigh(const NlNeigh& n, bool del) {
  if (is_multicast(n.dst)) return;
  const NKey k{n.ifindex, 0, n.dst};
  const MirrorPort* mp = port_of(n.ifindex);
  const bool valid = !del && mp && n.has_mac && (n.state & kValidNud) && !(n.flags & NTF_PROXY);
  auto it = neighs_.find(k);
  if (it != neighs_.end() && (!valid || it->second.port != mp->port)) {
    MirrorOp op;
    op.kind = MirrorOp::Kind::NeighDel;
    op.port = it->second.port;
    op.ip = n.dst;
    ops_.push_back(std::move(op));
    neighs_.erase(it);
    it = neighs_.end();
  }
  if (!valid) return;
  if (it != neighs_.end()) {
    it->second.epoch = epoch_;
    if (it->second.mac == n.mac) return;  // REACHABLE <-> STALE: nothing to do
    it->second.mac = n.mac;
  } else {
    neighs_.emplace(k, NeighRec{mp->port, epoch_, n.mac});
  }
  MirrorOp op;
  op.kind = MirrorOp::Kind::NeighAdd;
  op.port = mp->port;
  op.ip = n.dst;
  op.mac = n.mac;
  ops_.push_back(std::move(op));
}

// ------------------------------------------------------------ resync sweep

void MirrorState::sweep() {
  for (auto it = links_.begin(); it != links_.end();) {
    if (it->second.epoch == epoch_) { ++it; continue; }
    NlLink gone;
    gone.ifindex = it->first;
    ++it;
    on_link(gone, true);  // erases the entry (iterator already moved on)
  }
  for (auto it = routes_.begin(); it != routes_.end();) {
    Slot& s = it->second;
    const size_t before = s.alts.size();
    std::erase_if(s.alts, [&](const Alt& a) { return a.epoch != epoch_; });
    if (s.alts.size() != before) evaluate(it->first, s);
    it = s.alts.empty() ? routes_.erase(it) : std::next(it);
  }
  for (auto it = addrs_.begin(); it != addrs_.end();) {
    if (it->second.epoch == epoch_) { ++it; continue; }
    MirrorOp op;
    op.kind = MirrorOp::Kind::AddrDel;
    op.port = it->second.port;
    op.route.prefix = it->second.p;
    ops_.push_back(std::move(op));
    it = addrs_.erase(it);
  }
  for (auto it = neighs_.begin(); it != neighs_.end();) {
    if (it->second.epoch == epoch_) { ++it; continue; }
    MirrorOp op;
    op.kind = MirrorOp::Kind::NeighDel;
    op.port = it->second.port;
    op.ip = it->first.ip;
    ops_.push_back(std::move(op));
    it = neighs_.erase(it);
  }
}

void MirrorState::withdraw_all() {
  for (auto& [k, s] : routes_)
    if (s.installed) emit_route_del(k);
  for (auto& [k, a] : addrs_) {
    MirrorOp op;
    op.kind = MirrorOp::Kind::AddrDel;
    op.port = a.port;
    op.route.prefix = a.p;
    ops_.push_back(std::move(op));
  }
  for (auto& [k, n] : neighs_) {
    MirrorOp op;
    op.kind = MirrorOp::Kind::NeighDel;
    op.port = n.port;
    op.ip = k.ip;
    ops_.push_back(std::move(op));
  }
  routes_.clear();
  addrs_.clear();
  neighs_.clear();
  links_.clear();
  routes_installed_ = 0;
}

}  // namespace lcp::linux_nl
