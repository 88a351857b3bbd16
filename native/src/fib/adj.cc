#include "fib/adj.h"

#include <cstring>
#include <stdexcept>

namespace lcp::fib {

size_t AdjKeyHash::operator()(const AdjKey& k) const {
  uint64_t a, b;
  std::memcpy(&a, k.nh.b.data(), 8);
  std::memcpy(&b, k.nh.b.data() + 8, 8);
  uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full) ^
               ((uint64_t(k.port) << 17 | uint64_t(k.link) << 9 | uint64_t(k.nh.family) << 1 | k.has_nh) *
                0x165667B19E3779F9ull);
  return size_t(h ^ (h >> 29));
}

AdjDb::AdjDb(Rcu& rcu)
    : rcu_(rcu), slots_(kMaxAdjacencies, false),
      pool_(std::make_shared<IndexPool>(kFirstDynamic, kMaxAdjacencies)) {
  const AdjKind fixed[kFirstDynamic] = {AdjKind::Drop, AdjKind::Blackhole, AdjKind::Unreachable,
                                        AdjKind::Prohibit, AdjKind::Receive};
  recs_.resize(kFirstDynamic);
  for (uint32_t i = 0; i < kFirstDynamic; ++i) {
    Adjacency a;
    a.kind = fixed[i];
    a.mtu = 0;
    slots_[i].store(new Adjacency(a), std::memory_order_release);
    recs_[i].refs = 1;  // pinned
    recs_[i].live = true;
  }
}

AdjDb::~AdjDb() {
  for (uint32_t i = 0; i < recs_.size(); ++i)
    if (recs_[i].live) delete slots_[i].load();
}

Adjacency AdjDb::build(const AdjKey& k) const {
  Adjacency a;
  a.port = k.port;
  a.next_hop = k.nh;
  auto p = ports_.find(k.port);
  if (p == ports_.end()) {  // port gone: nothing may leave through it
    a.kind = AdjKind::Drop;
    return a;
  }
  const PortL2& l2 = p->second;
  a.mtu = l2.mtu;
  if (l2.p2p) {  // no L2 header, no neighbour discovery
    a.kind = AdjKind::Rewrite;
    a.rewrite_len = 0;
    return a;
  }
  auto n = k.has_nh ? neighbors_.find(AdjKey{k.port, k.nh, true, k.nh.family}) : neighbors_.end();
  if (n == neighbors_.end()) {
    a.kind = AdjKind::Glean;  // graph punts so Linux resolves
    return a;
  }
  a.kind = AdjKind::Rewrite;
  std::memcpy(a.rewrite, n->second.data(), 6);
  std::memcpy(a.rewrite + 6, l2.mac.data(), 6);
  uint8_t* et = a.rewrite + 12;
  if (l2.vlan) {  // a sub-port: its outer tag (dot1q or dot1ad), then the ethertype
    et[0] = uint8_t(l2.tpid >> 8), et[1] = uint8_t(l2.tpid);
    et[2] = uint8_t(l2.vlan >> 8), et[3] = uint8_t(l2.vlan);
    et += 4;
  }
  const uint16_t ethertype = k.link == Family::Ip4 ? 0x0800 : 0x86dd;
  et[0] = uint8_t(ethertype >> 8);
  et[1] = uint8_t(ethertype);
  a.rewrite_len = uint8_t(et + 2 - a.rewrite);
  return a;
}

void AdjDb::publish(uint32_t i, const Adjacency& a) {
  Adjacency* old = slots_[i].load(std::memory_order_relaxed);
  slots_[i].store(new Adjacency(a), std::memory_order_release);
  rcu_.retire_delete(old);
  if (obs_) obs_->adj_set(i, a);
}

void AdjDb::set_observer(FibObserver* obs) {
  obs_ = obs;
  if (obs_)
    for (uint32_t i = 0; i < recs_.size(); ++i)
      if (recs_[i].live) obs_->adj_set(i, get(i));
}

uint32_t AdjDb::acquire(const AdjKey& k) {
  auto it = by_key_.find(k);
  if (it != by_key_.end()) {
    ++recs_[it->second].refs;
    return it->second;
  }
  const uint32_t i = pool_->alloc();
  if (i == pool_->limit()) throw std::runtime_error("fib: out of adjacencies");
  if (i >= recs_.size()) recs_.resize(i + 1);
  recs_[i] = Rec{k, 1, true};
  by_key_.emplace(k, i);
  // A freed index keeps its stale pointer until here; readers cannot reach
  // it (no load-balance refers to it any more), so a plain swap is enough.
  slots_[i].store(new Adjacency(build(k)), std::memory_order_release);
  if (obs_) obs_->adj_set(i, get(i));
  return i;
}

void AdjDb::release(uint32_t i) {
  Rec& r = recs_[i];
  if (--r.refs > 0 || i < kFirstDynamic) {
    if (r.refs == 0) r.refs = 1;  // the fixed ones stay pinned
    return;
  }
  by_key_.erase(r.key);
  r.live = false;
  if (obs_) obs_->adj_unset(i);
  Adjacency* a = slots_[i].load(std::memory_order_relaxed);
  rcu_.retire([a, i, pool = pool_] {
    delete a;
    pool->release(i);
  });
}

void AdjDb::port_set(uint32_t port, const PortL2& l2) {
  ports_[port] = l2;
  for (const auto& [k, i] : by_key_)
    if (k.port == port) publish(i, build(k));
}

void AdjDb::port_erase(uint32_t port) {
  ports_.erase(port);
  for (auto it = neighbors_.begin(); it != neighbors_.end();)
    it = it->first.port == port ? neighbors_.erase(it) : std::next(it);
  for (const auto& [k, i] : by_key_)
    if (k.port == port) publish(i, build(k));
}

void AdjDb::republish_neighbor(uint32_t port, const IpAddr& ip) {
  for (Family link : {Family::Ip4, Family::Ip6}) {
    const AdjKey k{port, ip, true, link};
    if (auto it = by_key_.find(k); it != by_key_.end()) publish(it->second, build(k));
  }
}

void AdjDb::neighbor_set(uint32_t port, const IpAddr& ip, const Mac& mac) {
  neighbors_[AdjKey{port, ip, true, ip.family}] = mac;
  republish_neighbor(port, ip);
}

bool AdjDb::neighbor_erase(uint32_t port, const IpAddr& ip) {
  if (!neighbors_.erase(AdjKey{port, ip, true, ip.family})) return false;
  republish_neighbor(port, ip);
  return true;
}

bool AdjDb::neighbor_known(uint32_t port, const IpAddr& ip) const {
  return neighbors_.count(AdjKey{port, ip, true, ip.family}) != 0;
}

std::vector<IpAddr> AdjDb::neighbors_of(uint32_t port) const {
  std::vector<IpAddr> out;
  for (const auto& [k, mac] : neighbors_)
    if (k.port == port) out.push_back(k.nh);
  return out;
}

std::vector<NeighborDump> AdjDb::neighbors() const {
  std::vector<NeighborDump> out;
  out.reserve(neighbors_.size());
  for (const auto& [k, mac] : neighbors_) out.push_back({k.port, k.nh, mac});
  return out;
}

std::vector<AdjacencyDump> AdjDb::dump() const {
  std::vector<AdjacencyDump> out;
  for (uint32_t i = 0; i < recs_.size(); ++i)
    if (recs_[i].live) out.push_back({i, get(i), recs_[i].refs});
  return out;
}

}  // namespace lcp::fib
