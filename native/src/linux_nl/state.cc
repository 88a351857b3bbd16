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
  sweep_needed_ = !(routes_.empty() && addrs_.empty() && neighs_.empty() && links_.empty());
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
      if (left.empty()) s.alts.erase(alt);
    } else {
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
    const Alt a{r.priority, epoch_, nh_sets_.intern(r.nhs), r.tos, r.type, r.unsupported_nh};
    if (alt != s.alts.end()) *alt = a;
    else s.alts.push_back(a);
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
    s.alts.remove_if([](const Alt& a) { return a.type == RTN_UNICAST && a.nhs == 0; });
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
  links_[l.ifindex] = LinkRec{l.flags, epoch_};
  if (!mp && opts_.auto_subif && l.is_vlan) {
    // A VLAN on a mirror: the dataplane makes (or finds) the sub-port and
    // pairs it with this device, bumps the pair generation, and the resync
    // that follows maps this ifindex to the sub-port like any mirror.
    const MirrorPort* lower = port_of(l.link);
    if (lower && !lower->p2p && !lower->vlan_dev && l.vlan_id >= 1 && l.vlan_id <= 4094 &&
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
  if (l.mtu >= 68 && l.mtu <= 9000) op.link.mtu = uint16_t(l.mtu);
  if (l.has_mac && !mp->p2p) op.link.mac = l.mac;
  ops_.push_back(std::move(op));
  if (known && was_up && !up) flush_paths(l.ifindex, true);  // as fib_sync_down_dev does
  if (known && !was_up && up) resync_request_ = true;        // fib_sync_up revives next hops silently
}

// --------------------------------------------------------------- addresses

void MirrorState::emit_addr_del(uint32_t port, const fib::Prefix& p) {
  MirrorOp op;
  op.kind = MirrorOp::Kind::AddrDel;
  op.port = port;
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
  const MirrorPort* mp = del ? nullptr : port_of(a.ifindex);
  if (it != addrs_.end() && (!mp || it->second.port != mp->port)) {
    emit_addr_del(it->second.port, it->second.p);
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
    s.alts.remove_if([&](const Alt& a) { return a.epoch != epoch_; });
    if (s.alts.size() != before) evaluate(it->first, s);
    it = s.alts.empty() ? routes_.erase(it) : std::next(it);
  }
  withdraw_addrs_if([&](const NKey&, const AddrRec& a) { return a.epoch != epoch_; });
  withdraw_neighs_if([&](const NKey&, const NeighRec& n) { return n.epoch != epoch_; });
}

void MirrorState::withdraw_all(const std::function<void()>& drain, size_t chunk) {
  for (auto& [k, s] : routes_) {
    if (s.installed) emit_route_del(k);
    s.installed = false;
    if (drain && ops_.size() >= chunk) drain();
  }
  for (auto& [k, a] : addrs_) emit_addr_del(a.port, a.p);
  for (auto& [k, n] : neighs_) emit_neigh_del(n.port, k.ip);
  routes_.clear();
  addrs_.clear();
  neighs_.clear();
  links_.clear();
  routes_installed_ = 0;
}

}  // namespace lcp::linux_nl
