// MirrorState, the netlink sync's state machine (state.h says what it keeps).
// Over 600 lines on purpose: routes, nexthop objects, addresses, neighbours and
// links resolve against each other (a route over a nexthop over a link that
// went down), and reading them apart would hide those joins; each part is a
// section below, in the order of state.h.
#include "linux_nl/state.h"

#include <linux/if.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cstring>

#include "core/limits.h"

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

bool is_loopback(const fib::IpAddr& a) {  // 127/8, ::1: never reached from a port
  static constexpr std::array<uint8_t, 16> kOne{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a.family == fib::Family::Ip4 ? a.b[0] == 127 : a.b == kOne;
}

bool is_link_local6(const fib::IpAddr& a) {
  return a.family == fib::Family::Ip6 && a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80;
}

constexpr uint16_t kValidNud = NUD_REACHABLE | NUD_STALE | NUD_PERMANENT | NUD_NOARP | NUD_DELAY | NUD_PROBE;

}  // namespace

uint64_t route_signature(const fib::Route& r) {
  if (r.nexthop) return mix(mix(0x6e68, r.nexthop), 1);  // what the object holds is its own concern
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

// ------------------------------------------------------- next-hop sets

namespace {
bool same_nhs(const std::vector<NlNextHop>& a, const std::vector<NlNextHop>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i]) || a[i].weight != b[i].weight || a[i].flags != b[i].flags) return false;
  return true;
}
uint64_t nhs_hash(const std::vector<NlNextHop>& v) {
  uint64_t h = v.size();
  for (const NlNextHop& n : v)
    h = mix(mix(mix(h, uint64_t(uint32_t(n.ifindex)) << 24 | uint64_t(n.weight) << 8 | n.flags),
                n.has_gw ? addr_hash(n.gw) : 0), 0);
  return h;
}
}  // namespace

MirrorState::NhSets::NhSets() { sets_.emplace_back(); }  // id 0: the empty set, always there

uint32_t MirrorState::NhSets::intern(const std::vector<NlNextHop>& nhs) {
  if (nhs.empty()) return 0;
  const uint64_t h = nhs_hash(nhs);
  auto [lo, hi] = by_hash_.equal_range(h);
  for (auto it = lo; it != hi; ++it)
    if (same_nhs(sets_[it->second].nhs, nhs)) return it->second;
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = uint32_t(sets_.size());
    sets_.emplace_back();
  }
  sets_[id].nhs = nhs;
  sets_[id].hash = h;
  by_hash_.emplace(h, id);
  return id;
}

void MirrorState::NhSets::collect(const std::vector<bool>& used) {
  for (uint32_t id = 1; id < sets_.size(); ++id) {
    Set& s = sets_[id];
    if (used[id] || s.nhs.empty()) continue;
    auto [lo, hi] = by_hash_.equal_range(s.hash);
    for (auto it = lo; it != hi; ++it)
      if (it->second == id) {
        by_hash_.erase(it);
        break;
      }
    s.nhs = {};
    free_.push_back(id);
  }
}

void MirrorState::gc_nhs() {
  // Amortised: a mark pass only when the sets doubled since the last one.
  if (nh_sets_.size() < 2 * nh_live_after_gc_ + 1024) return;
  std::vector<bool> used(nh_sets_.capacity(), false);
  for (const auto& [k, s] : routes_)
    for (const Alt& a : s.alts) used[a.nhs] = true;
  nh_sets_.collect(used);
  nh_live_after_gc_ = nh_sets_.size();
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

void MirrorState::begin_resync() {
  ++epoch_;
  // Starting from nothing (the first dump, a cold start): whatever the shadow
  // holds at sweep() came in this epoch, so the sweep pass can be skipped.
  sweep_needed_ = !(routes_.empty() && addrs_.empty() && neighs_.empty() && links_.empty() && nhobjs_.empty());
}

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
    case MsgKind::NewNexthop: on_nexthop(m.nexthop, false); break;
    case MsgKind::DelNexthop: on_nexthop(m.nexthop, true); break;
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
  bool unsupported = best != nullptr && best->unsupported;
  const NhObj* nho = nullptr;
  if (best && best->nh_id) {
    auto it = nhobjs_.find(best->nh_id);
    if (it != nhobjs_.end()) nho = &it->second;
    unsupported |= nho && nho->nh.unsupported;
  }
  if (unsupported != s.unsupported) {
    s.unsupported = unsupported;
    unsupported ? ++routes_unsupported_ : --routes_unsupported_;
  }
  bool ok = best != nullptr && !unsupported;
  if (ok && best->nh_id) {
    ok = nho && nho->installed;  // an object off our mirrors: the route is not ours
    r.prefix = prefix_of(k);
    r.nexthop = fib_nh_id(best->nh_id);
  } else if (ok) {
    r.prefix = prefix_of(k);
    switch (best->type) {
      case RTN_BLACKHOLE: r.kind = fib::RouteKind::Blackhole; break;
      case RTN_UNREACHABLE: r.kind = fib::RouteKind::Unreachable; break;
      case RTN_PROHIBIT: r.kind = fib::RouteKind::Prohibit; break;
      default: r.kind = fib::RouteKind::Forward; break;
    }
    if (r.kind == fib::RouteKind::Forward) {
      for (const NlNextHop& nh : nh_sets_.get(best->nhs)) {
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
  if (del) {
    auto it = routes_.find(k);
    if (it == routes_.end()) return;
    Slot& s = it->second;
    auto alt = std::find_if(s.alts.begin(), s.alts.end(),
                            [&](const Alt& a) { return a.priority == r.priority && a.tos == r.tos; });
    if (alt == s.alts.end()) {
      if (s.alts.size() != 1) return;
      alt = s.alts.begin();
    }
    // IPv6 deletes one next hop of a multipath route at a time.
    if (r.prefix.addr.family == fib::Family::Ip6 && !r.nhs.empty() && nh_sets_.get(alt->nhs).size() > r.nhs.size()) {
      std::vector<NlNextHop> left = nh_sets_.get(alt->nhs);
      std::erase_if(left, [&](const NlNextHop& h) {
        return std::find(r.nhs.begin(), r.nhs.end(), h) != r.nhs.end();
      });
      alt->nhs = nh_sets_.intern(left);
      if (left.empty()) {
        unuse(*alt);
        s.alts.erase(alt);
      }
    } else {
      unuse(*alt);
      s.alts.erase(alt);
    }
    evaluate(k, s);
    if (s.alts.empty()) routes_.erase(it);
    return;
  }
  Slot& s = routes_.try_emplace(k).first->second;  // one probe, found or inserted
  auto alt = std::find_if(s.alts.begin(), s.alts.end(),
                          [&](const Alt& a) { return a.priority == r.priority && a.tos == r.tos; });
  if (alt != s.alts.end() && r.prefix.addr.family == fib::Family::Ip6 && (nl_flags & NLM_F_APPEND)) {
    std::vector<NlNextHop> more = nh_sets_.get(alt->nhs);
    for (const NlNextHop& h : r.nhs)  // `ip -6 route append`: one more path
      if (std::find(more.begin(), more.end(), h) == more.end()) more.push_back(h);
    alt->nhs = nh_sets_.intern(more);
    alt->epoch = epoch_;
  } else {
    const Alt a{r.priority, epoch_, nh_sets_.intern(r.nhs), r.nh_id, r.tos, r.type, r.unsupported_nh};
    if (alt != s.alts.end()) {
      unuse(*alt);
      *alt = a;
    } else {
      s.alts.push_back(a);
    }
    use(a);
  }
  evaluate(k, s);
  gc_nhs();
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
      const std::vector<NlNextHop>& cur = nh_sets_.get(a.nhs);
      if (std::none_of(cur.begin(), cur.end(), [&](const NlNextHop& h) { return h.ifindex == ifindex; })) continue;
      std::vector<NlNextHop> left = cur;
      std::erase_if(left, [&](const NlNextHop& h) { return h.ifindex == ifindex; });
      a.nhs = nh_sets_.intern(left);
      changed = true;
    }
    if (!changed) {
      ++it;
      continue;
    }
    s.alts.remove_if([](const Alt& a) { return a.type == RTN_UNICAST && a.nhs == 0 && a.nh_id == 0; });
    evaluate(it->first, s);
    it = s.alts.empty() ? routes_.erase(it) : std::next(it);
  }
}

// ------------------------------------------------------------------- links

uint32_t MirrorState::table_of_master(int master) const {
  auto v = vrfs_.find(master);
  return dp_table(v == vrfs_.end() ? uint32_t(RT_TABLE_MAIN) : v->second);
}

void MirrorState::on_link(const NlLink& l, bool del) {
  const MirrorPort* mp = port_of(l.ifindex);
  auto prev = links_.find(l.ifindex);
  if (l.is_vrf || vrfs_.count(l.ifindex)) {
    // A VRF appearing after its members (a dump goes by ifindex) or changing
    // table: the mirrors enslaved to it move with it.
    if (del || !l.is_vrf) vrfs_.erase(l.ifindex);
    else vrfs_[l.ifindex] = l.vrf_table;
    for (const auto& [ifindex, rec] : links_) {
      const MirrorPort* m = rec.master == l.ifindex ? port_of(ifindex) : nullptr;
      if (!m || m->vlan_dev) continue;
      MirrorOp op;
      op.kind = MirrorOp::Kind::Link;
      op.port = m->port;
      op.link.table = table_of_master(del ? 0 : l.ifindex);
      ops_.push_back(std::move(op));
    }
  }
  if (del) {
    if (prev != links_.end()) links_.erase(prev);
    flush_nexthops(l.ifindex);
    // The device is gone: the kernel dropped its routes (IPv4 silently),
    // addresses and neighbours. So do we, and the pair is broken.
    flush_paths(l.ifindex, false);
    withdraw_addrs_if([&](const NKey& k, const AddrRec&) { return k.ifindex == l.ifindex; });
    withdraw_neighs_if([&](const NKey& k, const NeighRec&) { return k.ifindex == l.ifindex; });
    if (mp) {
      gone_.emplace_back(mp->port, l.ifindex);
      ports_.erase(l.ifindex);
    }
    return;
  }
  const bool up = l.flags & IFF_UP;
  const bool was_up = prev != links_.end() && (prev->second.flags & IFF_UP);
  const bool known = prev != links_.end();
  const int prev_master = known ? prev->second.master : 0;
  links_[l.ifindex] = LinkRec{l.flags, epoch_, l.master};
  if (!(l.flags & IFF_UP) || !(l.flags & IFF_LOWER_UP)) flush_nexthops(l.ifindex);
  if (!mp && opts_.auto_subif && l.is_vlan) {
    // A VLAN on a mirror: the dataplane makes (or finds) the sub-port and
    // pairs it with this device, bumps the pair generation, and the resync
    // that follows maps this ifindex to the sub-port like any mirror.
    const MirrorPort* lower = port_of(l.link);
    if (lower && !lower->p2p && !lower->vlan_dev && l.vlan_id >= limits::kVlanMin && l.vlan_id <= limits::kVlanMax &&
        (l.vlan_proto == 0x8100 || l.vlan_proto == 0x88a8)) {
      MirrorOp op;
      op.kind = MirrorOp::Kind::SubPortAdd;
      op.port = lower->port;
      op.vlan = l.vlan_id;
      op.tpid = l.vlan_proto;
      op.ifindex = l.ifindex;
      op.name = l.name;
      ops_.push_back(std::move(op));
    }
  }
  if (!mp) return;
  MirrorOp op;
  op.kind = MirrorOp::Kind::Link;
  op.port = mp->port;
  op.link.up = up;
  if (l.mtu >= limits::kMtuMin && l.mtu <= limits::kMtuMax) op.link.mtu = uint16_t(l.mtu);
  if (l.has_mac && !mp->p2p) op.link.mac = l.mac;
  // In a VRF, or just out of one: the port's table follows (main's otherwise is
  // left alone, so a table the API gave a port is not undone by every link event).
  if (!mp->vlan_dev && (vrfs_.count(l.master) || vrfs_.count(prev_master)))
    op.link.table = table_of_master(l.master);
  ops_.push_back(std::move(op));
  if (known && was_up && !up) flush_paths(l.ifindex, true);  // as fib_sync_down_dev does
  if (known && !was_up && up) resync_request_ = true;        // fib_sync_up revives next hops silently
}

// --------------------------------------------------------------- addresses

void MirrorState::emit_addr(bool add, uint32_t port, const fib::Prefix& p) {
  MirrorOp op;
  if (port == kLocal) {
    op.kind = add ? MirrorOp::Kind::LocalAdd : MirrorOp::Kind::LocalDel;
    op.table = dp_table(RT_TABLE_MAIN);
  } else {
    op.kind = add ? MirrorOp::Kind::AddrAdd : MirrorOp::Kind::AddrDel;
    op.port = port;
  }
  op.route.prefix = p;
  ops_.push_back(std::move(op));
}

void MirrorState::emit_neigh_del(uint32_t port, const fib::IpAddr& ip) {
  MirrorOp op;
  op.kind = MirrorOp::Kind::NeighDel;
  op.port = port;
  op.ip = ip;
  ops_.push_back(std::move(op));
}

template <typename Pred>
void MirrorState::withdraw_addrs_if(Pred pred) {
  for (auto it = addrs_.begin(); it != addrs_.end();) {
    if (!pred(it->first, it->second)) { ++it; continue; }
    emit_addr_del(it->second.port, it->second.p);
    it = addrs_.erase(it);
  }
}

template <typename Pred>
void MirrorState::withdraw_neighs_if(Pred pred) {
  for (auto it = neighs_.begin(); it != neighs_.end();) {
    if (!pred(it->first, it->second)) { ++it; continue; }
    emit_neigh_del(it->second.port, it->first.ip);
    it = neighs_.erase(it);
  }
}

void MirrorState::on_addr(const NlAddr& a, bool del) {
  if (is_link_local6(a.addr.addr)) return;  // ip6-input punts link-local anyway
  const NKey k{a.ifindex, a.addr.len, a.addr.addr};
  auto it = addrs_.find(k);
  // A mirror's address is its port's (receive, connected); any other device's
  // (lo, a dummy: router-id, loopback and anycast addresses) is still Linux's
  // own, so packets for it are punted: a receive entry alone.
  const MirrorPort* mp = port_of(a.ifindex);
  const bool wanted = !del && (mp || !is_loopback(a.addr.addr));
  const uint32_t want = mp ? mp->port : kLocal;
  if (it != addrs_.end() && (!wanted || it->second.port != want)) {
    emit_addr_del(it->second.port, it->second.p);
    addrs_.erase(it);
    it = addrs_.end();
  }
  if (!wanted) return;
  if (it != addrs_.end()) {
    it->second.epoch = epoch_;
    return;
  }
  fib::Prefix p = a.addr;
  if (want == kLocal) p.len = a.addr.addr.family == fib::Family::Ip4 ? 32 : 128;
  addrs_.emplace(k, AddrRec{want, epoch_, p});
  emit_addr(true, want, p);
}

// -------------------------------------------------------------- neighbours

void MirrorState::on_neigh(const NlNeigh& n, bool del) {
  if (is_multicast(n.dst)) return;
  const NKey k{n.ifindex, 0, n.dst};
  const MirrorPort* mp = port_of(n.ifindex);
  const bool valid = !del && mp && n.has_mac && (n.state & kValidNud) && !(n.flags & NTF_PROXY);
  auto it = neighs_.find(k);
  if (it != neighs_.end() && (!valid || it->second.port != mp->port)) {
    emit_neigh_del(it->second.port, n.dst);
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

// --------------------------------------------------------- nexthop objects

void MirrorState::emit_nexthop_del(uint32_t id) {
  MirrorOp op;
  op.kind = MirrorOp::Kind::NexthopDel;
  op.nexthop = fib_nh_id(id);
  ops_.push_back(std::move(op));
}

bool MirrorState::resolve_nexthop(const NlNexthop& n, fib::Route& out) const {
  out = fib::Route{};
  if (n.unsupported) return false;
  if (n.blackhole) {
    out.kind = fib::RouteKind::Blackhole;
    return true;
  }
  auto add_path = [&](const NlNexthop& one, uint16_t weight) {
    const MirrorPort* mp = port_of(one.ifindex);
    if (!mp) return false;
    fib::Path p;
    p.port = mp->port;
    p.has_via = one.has_gw;
    if (one.has_gw) p.via = one.gw;
    p.weight = weight;
    out.paths.push_back(p);
    return true;
  };
  if (!n.is_group) return !(n.flags & RTNH_F_DEAD) && add_path(n, 1);
  for (const NlNexthop::Member& m : n.group) {
    auto it = nhobjs_.find(m.id);
    if (it == nhobjs_.end()) return false;  // a member not seen yet (a dump in id order)
    const NlNexthop& one = it->second.nh;
    if (one.is_group || one.unsupported) return false;
    if (one.blackhole) {  // the kernel allows it only alone
      if (n.group.size() != 1) return false;
      out.kind = fib::RouteKind::Blackhole;
      return true;
    }
    if (one.flags & RTNH_F_DEAD) continue;
    if (!add_path(one, m.weight)) return false;
  }
  return !out.paths.empty() && out.paths.size() <= fib::kMaxPaths;
}

void MirrorState::unuse(const Alt& a) {
  if (!a.nh_id) return;
  auto it = nh_users_.find(a.nh_id);
  if (it != nh_users_.end() && --it->second == 0) nh_users_.erase(it);
}

bool MirrorState::has_users(const std::vector<uint32_t>& ids) const {
  return std::any_of(ids.begin(), ids.end(), [&](uint32_t id) { return nh_users_.count(id) != 0; });
}

void MirrorState::evaluate_routes_over(const std::vector<uint32_t>& ids) {
  if (!has_users(ids)) return;  // e.g. a group's member: the group is what routes name
  auto named = [&](uint32_t id) { return id && std::find(ids.begin(), ids.end(), id) != ids.end(); };
  for (auto& [k, s] : routes_)
    for (const Alt& a : s.alts)
      if (named(a.nh_id)) {
        evaluate(k, s);
        break;
      }
}

void MirrorState::evaluate_nexthop(uint32_t id) {
  auto it = nhobjs_.find(id);
  if (it == nhobjs_.end()) return;
  NhObj& o = it->second;
  fib::Route r;
  const bool ok = resolve_nexthop(o.nh, r);
  if (ok) {
    const uint64_t sig = route_signature(r);
    if (o.installed && o.sig == sig) return;  // the same thing again: nothing moves
    const bool fresh = !o.installed;
    o.installed = true;
    o.sig = sig;
    MirrorOp op;
    op.kind = MirrorOp::Kind::NexthopSet;
    op.nexthop = fib_nh_id(id);
    op.route = std::move(r);
    ops_.push_back(std::move(op));
    if (fresh) {
      ++nexthops_installed_;
      evaluate_routes_over({id});  // after the object exists in the FIB
    }
  } else if (o.installed) {
    o.installed = false;
    --nexthops_installed_;
    evaluate_routes_over({id});  // the routes leave before the object
    emit_nexthop_del(id);
  }
  if (o.nh.is_group) return;
  for (auto& [gid, g] : nhobjs_)  // groups over it (none nest: the kernel refuses)
    if (g.nh.is_group && std::any_of(g.nh.group.begin(), g.nh.group.end(),
                                     [&](const NlNexthop::Member& m) { return m.id == id; }))
      evaluate_nexthop(gid);
}

void MirrorState::remove_nexthops(std::vector<uint32_t> ids) {
  std::vector<uint32_t> shrunk;  // groups that lost members but live on
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!nhobjs_.count(ids[i])) continue;
    for (auto& [gid, g] : nhobjs_) {
      if (!g.nh.is_group) continue;
      const size_t before = g.nh.group.size();
      std::erase_if(g.nh.group, [&](const NlNexthop::Member& m) { return m.id == ids[i]; });
      if (g.nh.group.size() == before) continue;
      if (g.nh.group.empty()) ids.push_back(gid);
      else shrunk.push_back(gid);
    }
  }
  std::erase_if(ids, [&](uint32_t id) { return !nhobjs_.count(id); });
  bool named = false;
  for (uint32_t id : ids) {
    auto it = nhobjs_.find(id);
    if (it == nhobjs_.end()) continue;
    if (it->second.installed) --nexthops_installed_;
    dying_.push_back({id, it->second.installed});
    named |= nh_users_.count(id) != 0;
    nhobjs_.erase(it);  // routes over it are no longer ours (evaluate finds no object)
  }
  for (uint32_t gid : shrunk) evaluate_nexthop(gid);
  if (!named) settle();  // nothing to walk: the objects go now
}

void MirrorState::settle() {
  if (dying_.empty()) return;
  std::vector<uint32_t> ids;
  for (const Dying& d : dying_) ids.push_back(d.id);
  // The kernel deleted the routes over a deleted object (IPv4 silently): one
  // pass for every object deleted in the batch.
  if (has_users(ids)) {
    for (auto it = routes_.begin(); it != routes_.end();) {
      Slot& s = it->second;
      const size_t before = s.alts.size();
      s.alts.remove_if([&](const Alt& a) {
        if (!a.nh_id || std::find(ids.begin(), ids.end(), a.nh_id) == ids.end()) return false;
        unuse(a);
        return true;
      });
      if (s.alts.size() != before) evaluate(it->first, s);
      it = s.alts.empty() ? routes_.erase(it) : std::next(it);
    }
  }
  for (const Dying& d : dying_)
    if (d.installed) emit_nexthop_del(d.id);  // after the routes over it
  dying_.clear();
}

void MirrorState::flush_nexthops(int ifindex) {
  std::vector<uint32_t> ids;
  for (const auto& [id, o] : nhobjs_)
    if (!o.nh.is_group && !o.nh.blackhole && o.nh.ifindex == ifindex) ids.push_back(id);
  remove_nexthops(std::move(ids));
}

void MirrorState::on_nexthop(const NlNexthop& n, bool del) {
  if (del) {
    remove_nexthops({n.id});
    return;
  }
  // The same id made again: the old object's routes go before the new one comes.
  if (std::any_of(dying_.begin(), dying_.end(), [&](const Dying& d) { return d.id == n.id; })) settle();
  NhObj& o = nhobjs_[n.id];
  o.nh = n;
  o.epoch = epoch_;
  evaluate_nexthop(n.id);
}

// ------------------------------------------------------------ resync sweep

void MirrorState::sweep() {
  if (!sweep_needed_) return;
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
    s.alts.remove_if([&](const Alt& a) {
      if (a.epoch == epoch_) return false;
      unuse(a);
      return true;
    });
    if (s.alts.size() != before) evaluate(it->first, s);
    it = s.alts.empty() ? routes_.erase(it) : std::next(it);
  }
  std::vector<uint32_t> stale;
  for (const auto& [id, o] : nhobjs_)
    if (o.epoch != epoch_) stale.push_back(id);
  remove_nexthops(stale);
  settle();
  withdraw_addrs_if([&](const NKey&, const AddrRec& a) { return a.epoch != epoch_; });
  withdraw_neighs_if([&](const NKey&, const NeighRec& n) { return n.epoch != epoch_; });
}

void MirrorState::withdraw_all(const std::function<void()>& drain, size_t chunk) {
  settle();
  for (auto& [k, s] : routes_) {
    if (s.installed) emit_route_del(k);
    s.installed = false;
    if (drain && ops_.size() >= chunk) drain();
  }
  for (auto& [id, o] : nhobjs_)  // after the routes over them
    if (o.installed) emit_nexthop_del(id);
  for (auto& [k, a] : addrs_) emit_addr_del(a.port, a.p);
  for (auto& [k, n] : neighs_) emit_neigh_del(n.port, k.ip);
  nhobjs_.clear();
  nh_users_.clear();
  nexthops_installed_ = 0;
  routes_unsupported_ = 0;
  routes_.clear();
  addrs_.clear();
  neighs_.clear();
  links_.clear();
  vrfs_.clear();
  routes_installed_ = 0;
}

}  // namespace lcp::linux_nl
