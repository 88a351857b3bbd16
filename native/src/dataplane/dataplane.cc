// The Dataplane's control side (dataplane.h). Over 600 lines on purpose: each
// public method takes the one control mutex and changes ports, pairs, the FIB
// and the workers' published tables together; split across files, the
// invariants they keep between them (a port's index in all four) would be too.
#include "dataplane/dataplane.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "core/limits.h"
#include "dataplane/io_factory.h"
#include "graph/graph.h"
#include "xdp/fast_path.h"

namespace lcp {

struct Dataplane::Port {
  uint32_t index = 0;
  std::string name, netns;
  std::unique_ptr<io::PortIo> io;
  std::vector<std::unique_ptr<io::TxQueue>> tx;  // one per worker
  std::unique_ptr<PairMirror> mirror;
  std::string mirror_name, mirror_netns;
  MirrorKind mirror_kind = MirrorKind::Auto;
  unsigned worker = 0;
  bool admin_up = false;
  uint16_t mtu = 1500;
  std::array<uint8_t, 6> mac{};
  uint32_t table = 0;
  // A sub-port (VLAN) has a parent and no io, TX queues or mirror of its
  // own; a parent lists its sub-ports.
  uint32_t parent = kInvalidIndex;
  uint16_t vlan = 0, tpid = 0;
  std::vector<uint32_t> subs;
  // The Linux VLAN device on the parent's mirror that this sub-port is paired
  // with (the netlink mirror's auto sub-interfaces); 0: none.
  int vlan_dev_ifindex = 0;
  std::string vlan_dev_name;
  bool carrier = true;  // the netdev's IFF_UP && IFF_LOWER_UP, as CarrierWatch last said
  bool is_sub() const { return parent != kInvalidIndex; }
};

namespace {

// Declared before the control lock in API calls that change forwarding
// state: once the lock is released, waits until the XDP fast path's maps
// have the change, so a caller sees it forwarded when the call returns.
struct SettleFastPath {
  xdp::FastPath* fp;
  ~SettleFastPath() {
    if (fp) fp->flush();
  }
};

std::runtime_error not_found(uint32_t index) {
  return std::runtime_error("port " + std::to_string(index) + ": no such port");
}

}  // namespace

Dataplane::Dataplane(const DataplaneConfig& cfg)
    : cfg_(cfg), fib_(std::make_unique<fib::Fib>(rcu_)), table_(std::make_unique<PortTable>()) {
  if (cfg_.workers < 1 || cfg_.workers > kMaxWorkers)
    throw std::invalid_argument("workers must be 1.." + std::to_string(kMaxWorkers));
  if (cfg_.buffers_per_worker < 512 || cfg_.buffers_per_worker > (1u << 20))
    throw std::invalid_argument("buffersPerWorker must be 512..1048576");
  if (const uint32_t f = cfg_.rx_ring_frames; f && (f < 256 || f > 16384 || (f & (f - 1))))
    throw std::invalid_argument("rxRingSize must be a power of two in 256..16384");
  for (unsigned w = 0; w < cfg_.workers; ++w)
    workers_.push_back(std::make_unique<Worker>(w, rcu_, *fib_, *table_, cfg_.buffers_per_worker));
  carrier_ = std::make_unique<CarrierWatch>(
      [this](const std::string& netns, int ifindex, bool up) { port_carrier(netns, ifindex, up); });
  if (cfg_.fast_path == FastPathMode::Auto) {
    fast_ = std::make_unique<xdp::FastPath>();
    if (fast_->usable()) {
      fib_->set_observer(fast_.get());
      // The monitor lifts the trace bypass once no worker still waits for packets.
      fast_->set_trace_probe([this] {
        for (auto& w : workers_)
          if (w->trace().remaining.load(std::memory_order_relaxed) > 0) return true;
        return false;
      });
    }
  }
  for (auto& w : workers_) w->start();
}

Dataplane::~Dataplane() {
  carrier_.reset();  // its thread calls into the ports
  if (fast_) {
    fib_->set_observer(nullptr);
    fast_.reset();  // programs detached while the ports are still open
  }
  for (auto& w : workers_) w->stop();
  // Workers are gone: everything can be freed without grace periods.
  for (uint32_t i = 0; i < kMaxPorts; ++i) delete table_->slot[i].exchange(nullptr);
  ports_.clear();  // closes sockets (ports go back to the kernel), mirrors persist
  rcu_.reclaim();
}

Dataplane::Port& Dataplane::port_ref(uint32_t index) {
  if (index >= ports_.size() || !ports_[index]) throw not_found(index);
  return *ports_[index];
}
const Dataplane::Port& Dataplane::port_ref(uint32_t index) const {
  if (index >= ports_.size() || !ports_[index]) throw not_found(index);
  return *ports_[index];
}

uint32_t Dataplane::free_index() const {
  uint32_t index = 0;
  while (index < ports_.size() && ports_[index]) ++index;
  if (index >= kMaxPorts) throw std::runtime_error("too many ports");
  return index;
}

uint32_t Dataplane::table_slot(uint32_t id) const {
  uint32_t slot = 0;
  if (!fib_->table_slot(id, slot)) throw std::invalid_argument("table " + std::to_string(id) + " does not exist");
  return slot;
}

const Dataplane::Port& Dataplane::root_of(const Port& p) const { return p.is_sub() ? *ports_[p.parent] : p; }

fib::PortL2 Dataplane::l2_of(const Port& p) const {
  const Port& root = root_of(p);
  fib::PortL2 l2;
  l2.valid = true;
  l2.p2p = root.io->link().p2p;
  l2.mac = root.mac;
  l2.mtu = p.mtu;
  l2.vlan = p.vlan;
  l2.tpid = p.tpid;
  return l2;
}

void Dataplane::publish_port(Port& p) {
  const Port& root = root_of(p);
  auto* rt = new PortRuntime{};
  rt->index = p.index;
  rt->worker = root.worker;
  rt->admin_up = p.admin_up && root.admin_up;
  rt->p2p = root.io->link().p2p;
  rt->mac = root.mac;
  rt->mtu = p.mtu;
  rt->table_slot = table_slot(p.table);
  rt->io = root.io.get();
  for (size_t w = 0; w < root.tx.size(); ++w) rt->tx[w] = root.tx[w].get();
  rt->mirror = root.mirror.get();
  rt->parent = p.parent;
  rt->vlan = p.vlan;
  rt->tpid = p.tpid;
  for (uint32_t s : p.subs) {
    const Port& sp = *ports_[s];
    rt->subs[rt->n_subs++] = PortRuntime::Sub{sp.tpid, sp.vlan, sp.index};
  }
  rcu_.retire_delete(table_->slot[p.index].exchange(rt, std::memory_order_acq_rel));
  if (p.is_sub()) return;
  if (fast_) fast_->update(p.index, rt->table_slot, rt->mac, rt->admin_up);
  publish_plan(p.worker);
  // Sub-ports copy the parent's io, mirror, MAC and admin state.
  for (uint32_t s : p.subs) publish_port(*ports_[s]);
}

void Dataplane::publish_plan(unsigned worker) {
  std::vector<RxSource> sources;
  for (const auto& p : ports_) {
    if (!p || p->is_sub() || p->worker != worker) continue;
    sources.push_back({RxSource::Kind::Port, p->index, &p->io->rx(), nullptr, p->io->rx().fd()});
    if (p->mirror)
      sources.push_back({RxSource::Kind::Mirror, p->index, nullptr, p->mirror.get(), p->mirror->fd()});
  }
  workers_[worker]->publish(std::move(sources));
}

PortView Dataplane::add_port(const std::string& name, const std::string& netns,
                             PortDriver driver, FastPathMode fast_path) {
  RxRing ring = RxRing::Auto;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& p : ports_)
      if (p && p->name == name && p->netns == netns)
        throw std::invalid_argument("port '" + name + "' is already a port (index " +
                                    std::to_string(p->index) + ")");
    for (const auto& [n, ns] : busy_)
      if (n == name && ns == netns) throw std::invalid_argument("port '" + name + "' is being added or removed");
    // A V3 ring batches well (the graph forwarding at full rate wants it) but
    // runs a kernel timer per ring forever; where the XDP fast path forwards,
    // the ring carries only exceptions (punts, glean, ...): V2, no timer.
    const bool xdp_rx = fast_ && fast_->usable() && fast_path == FastPathMode::Auto;
    ring = cfg_.rx_ring != RxRing::Auto ? cfg_.rx_ring : xdp_rx ? RxRing::V2 : RxRing::V3;
    busy_.emplace_back(name, netns);
  }
  // Until registered (or failed), the netdev is busy: no second add opens it too.
  struct Opening {
    Dataplane& dp;
    const std::string& name;
    const std::string& netns;
    ~Opening() { dp.release_busy(name, netns); }
  } opening{*this, name, netns};

  // Outside the control mutex: making a packet ring waits for a kernel RCU
  // grace period (packet_set_ring calls synchronize_net), ~10 ms. Adds called
  // from several threads overlap those waits, and nothing else waits on them.
  auto p = std::make_unique<Port>();
  p->name = name;
  p->netns = netns;
  p->io = open_port_io(name, netns, cfg_.rx_ring_frames, ring, driver);
  for (size_t w = 0; w < workers_.size(); ++w) p->tx.push_back(p->io->open_tx());
  p->mac = p->io->link().mac;
  p->mtu = p->io->link().mtu;

  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  const uint32_t index = free_index();
  p->index = index;
  // The least loaded worker owns the new port and its mirror.
  std::vector<unsigned> load(workers_.size(), 0);
  for (const auto& q : ports_)
    if (q && !q->is_sub()) ++load[q->worker];
  p->worker = unsigned(std::min_element(load.begin(), load.end()) - load.begin());

  if (index >= ports_.size()) ports_.resize(index + 1);
  if (index >= counter_base_.size()) counter_base_.resize(index + 1);
  Port& ref = *p;
  ports_[index] = std::move(p);
  fib_->port_set(index, l2_of(ref));
  if (fast_) {
    const io::XdpShare share = ref.io->xdp_share();
    fast_->attach({index, name, netns, ref.io->link().ifindex, ref.io->link().p2p, share.xsk_map_fd,
                   share.prog_fd, share.attach_flags},
                  fast_path == FastPathMode::Auto);
  }
  // Counters of a reused index start from zero for the new port.
  counter_base_[index] = sum_port(index);
  publish_port(ref);
  rcu_.reclaim();
  carrier_->watch(netns);
  return view(ref);
}

void Dataplane::port_carrier(const std::string& netns, int ifindex, bool up) {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& p : ports_) {
    if (!p || p->is_sub() || p->netns != netns || p->io->link().ifindex != ifindex) continue;
    if (p->carrier == up) return;
    p->carrier = up;
    try {
      if (p->mirror) p->mirror->set_carrier(up);
    } catch (const std::exception&) {
      carrier_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
}

void Dataplane::del_port(uint32_t index) {
  std::unique_ptr<Port> closing;
  {
    SettleFastPath settle{fast_.get()};
    std::lock_guard<std::mutex> g(mu_);
    closing = del_port_locked(index);
    // Until closed, the netdev is busy: a new add must not guard it while the old guard comes off.
    if (closing) busy_.emplace_back(closing->name, closing->netns);
  }
  // Closing a packet socket waits for kernel grace periods (packet_release
  // calls synchronize_net; a ring's teardown another), ~50 ms a port here:
  // outside the control mutex, so removals from several threads overlap.
  if (!closing) return;
  const std::string name = closing->name, netns = closing->netns;
  closing.reset();
  release_busy(name, netns);
}

void Dataplane::release_busy(const std::string& name, const std::string& netns) {
  std::lock_guard<std::mutex> g(mu_);
  std::erase_if(busy_, [&](const auto& o) { return o.first == name && o.second == netns; });
}

std::unique_ptr<Dataplane::Port> Dataplane::del_port_locked(uint32_t index) {
  Port& p = port_ref(index);
  while (!p.subs.empty()) del_port_locked(p.subs.back());  // sub-ports go with their parent
  if (p.is_sub()) {
    fib_->port_del(index);
    rcu_.retire_delete(table_->slot[index].exchange(nullptr, std::memory_order_acq_rel));
    Port& parent = *ports_[p.parent];
    std::erase(parent.subs, index);
    if (p.vlan_dev_ifindex) pair_gen_.fetch_add(1, std::memory_order_acq_rel);
    ports_[index].reset();
    publish_port(parent);
    rcu_.reclaim();
    return nullptr;
  }
  const unsigned worker = p.worker;
  fib_->port_del(index);
  if (fast_) fast_->detach(index);  // while the port (and an AF_XDP port's own program) is open
  rcu_.retire_delete(table_->slot[index].exchange(nullptr, std::memory_order_acq_rel));
  std::unique_ptr<Port> owned = std::move(ports_[index]);
  if (owned->mirror) pair_gen_.fetch_add(1, std::memory_order_acq_rel);
  carrier_->unwatch(owned->netns);
  publish_plan(worker);
  rcu_.reclaim();  // no worker can still see the port: safe to close it
  return owned;    // closing it gives the netdev back to the kernel; a mirror persists
}

void Dataplane::set_port(uint32_t index, const PortPatch& patch) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  set_port_locked(port_ref(index), patch);
}

void Dataplane::set_port_locked(Port& p, const PortPatch& patch) {
  const uint32_t index = p.index;
  if (patch.table) table_slot(*patch.table);  // validate before changing anything
  if (patch.mtu) {
    if (*patch.mtu < limits::kMtuMin || *patch.mtu > limits::kMtuMax)
      throw std::invalid_argument("mtu must be " + std::to_string(limits::kMtuMin) + ".." + std::to_string(limits::kMtuMax));
    if (!p.is_sub()) {  // a sub-port's MTU is ours only
      set_netdev_mtu(p.name, p.netns, *patch.mtu);
      if (std::unique_ptr<io::RxQueue> old = p.io->fit_rx(*patch.mtu)) {
        // The plan published below moves the worker to the new RX queue; once
        // no worker can poll the old one, close it and let the new one receive.
        io::RxQueue* o = old.release();
        io::PortIo* io = p.io.get();
        rcu_.retire([o, io] {
          delete o;
          io->start_rx();
        });
      }
    }
    p.mtu = *patch.mtu;
  }
  if (patch.up) p.admin_up = *patch.up;
  if (patch.mac && !p.is_sub()) {  // a sub-port uses its parent's MAC
    p.mac = *patch.mac;
    for (uint32_t s : p.subs) fib_->port_set(s, l2_of(*ports_[s]));
  }
  if (patch.table && *patch.table != p.table) {
    p.table = *patch.table;
    fib_->port_move_addresses(index, p.table);
    pair_gen_.fetch_add(1, std::memory_order_acq_rel);
  }
  fib_->port_set(index, l2_of(p));
  publish_port(p);
  rcu_.reclaim();
}

PortView Dataplane::create_pair(uint32_t port, io::MirrorSpec spec) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  Port& p = port_ref(port);
  if (p.is_sub()) throw std::invalid_argument("port " + std::to_string(port) + " is a sub-port: it shares its parent's mirror");
  const bool p2p = p.io->link().p2p;
  if (spec.kind == MirrorKind::Auto) spec.kind = p2p ? MirrorKind::Tun : MirrorKind::Tap;
  if (spec.kind != MirrorKind::Tap && spec.kind != MirrorKind::Tun) throw std::invalid_argument("mirror kind must be tap or tun");
  if ((spec.kind == MirrorKind::Tun) != p2p)
    throw std::invalid_argument(std::string("a ") + (p2p ? "point-to-point" : "multi-point") +
                                " port needs a " + (p2p ? "tun" : "tap") + " mirror");
  if (p.mirror) {
    if (p.mirror_name == spec.name && p.mirror_netns == spec.netns) return view(p);  // idempotent
    throw std::invalid_argument("port " + std::to_string(port) + " already has mirror '" +
                                p.mirror_name + "'");
  }
  for (const auto& q : ports_)
    if (q && q->mirror && q->mirror_name == spec.name && q->mirror_netns == spec.netns)
      throw std::invalid_argument("mirror '" + spec.name + "' already pairs port " +
                                  std::to_string(q->index));
  const std::optional<std::array<uint8_t, 6>> want_mac = spec.mac;  // the pair's own, if it sets one
  if (!spec.mac) spec.mac = p.mac;
  if (!spec.mtu) spec.mtu = p.mtu;
  spec.owner_tag = cfg_.owner_tag;
  p.mirror = open_mirror(spec);
  if (!p.carrier) p.mirror->set_carrier(false);  // the port is down now: so is its mirror
  // Peers address the mirror's MAC: when the pair sets one, the port's
  // dataplane MAC (accepted dst, rewrite src) follows it.
  if (want_mac && *want_mac != p.mac) {
    p.mac = *want_mac;
    fib_->port_set(port, l2_of(p));
    for (uint32_t s : p.subs) fib_->port_set(s, l2_of(*ports_[s]));
  }
  p.mirror_name = spec.name;
  p.mirror_netns = spec.netns;
  p.mirror_kind = spec.kind;
  pair_gen_.fetch_add(1, std::memory_order_acq_rel);
  publish_port(p);
  rcu_.reclaim();
  return view(p);
}

void Dataplane::remove_pair(uint32_t port, bool destroy_device) {
  std::lock_guard<std::mutex> g(mu_);
  Port& p = port_ref(port);
  if (!p.mirror) return;
  std::unique_ptr<PairMirror> m = std::move(p.mirror);
  pair_gen_.fetch_add(1, std::memory_order_acq_rel);
  publish_port(p);
  rcu_.reclaim();
  if (destroy_device) m->destroy();
  p.mirror_name.clear();
  p.mirror_netns.clear();
  p.mirror_kind = MirrorKind::Auto;
}

std::vector<PortView> Dataplane::ports() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<PortView> out;
  for (const auto& p : ports_)
    if (p) out.push_back(view(*p));
  return out;
}

std::optional<PortView> Dataplane::port(uint32_t index) const {
  std::lock_guard<std::mutex> g(mu_);
  if (index >= ports_.size() || !ports_[index]) return std::nullopt;
  return view(*ports_[index]);
}

std::optional<PortView> Dataplane::find_port(const std::string& name, const std::string& netns) const {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& p : ports_)
    if (p && !p->is_sub() && p->name == name && p->netns == netns) return view(*p);
  return std::nullopt;
}

PortView Dataplane::view(const Port& p) const {
  if (p.is_sub()) {
    const Port& root = root_of(p);
    const bool vlan_dev = p.vlan_dev_ifindex != 0;  // its mirror: a VLAN device on the parent's
    return PortView{
        .index = p.index,
        .name = root.name + "." + std::to_string(p.vlan),
        .netns = root.netns,
        .driver = root.io->driver(),
        .ifindex = 0,
        .mac = root.mac,
        .mtu = p.mtu,
        .p2p = false,
        .admin_up = p.admin_up,
        .table = p.table,
        .worker = root.worker,
        .has_pair = vlan_dev,
        .mirror_name = p.vlan_dev_name,
        .mirror_netns = vlan_dev ? root.mirror_netns : std::string(),
        .mirror_kind = vlan_dev ? MirrorKind::Vlan : MirrorKind::Auto,
        .mirror_ifindex = p.vlan_dev_ifindex,
        .mirror_adopted = false,
        .parent = p.parent,
        .vlan = p.vlan,
        .tpid = p.tpid,
        .fast_path = "inactive: sub-port (VLAN-tagged frames go to the graph)",
    };
  }
  const io::LinkInfo& l = p.io->link();
  return PortView{
      .index = p.index,
      .name = p.name,
      .netns = p.netns,
      .driver = p.io->driver(),
      .ifindex = l.ifindex,
      .mac = p.mac,
      .mtu = p.mtu,
      .p2p = l.p2p,
      .admin_up = p.admin_up,
      .table = p.table,
      .worker = p.worker,
      .has_pair = bool(p.mirror),
      .mirror_name = p.mirror_name,
      .mirror_netns = p.mirror_netns,
      .mirror_kind = p.mirror_kind,
      .mirror_ifindex = p.mirror ? p.mirror->ifindex() : 0,
      .mirror_adopted = p.mirror ? p.mirror->adopted() : false,
      .fast_path = fast_ ? fast_->status(p.index) : "inactive: fastPath off for the dataplane",
      .rx_ring_bytes = p.io->rx_ring_bytes(),
      .rx_ring = p.io->rx_ring(),
  };
}

void Dataplane::table_add(uint32_t id) {
  std::lock_guard<std::mutex> g(mu_);
  fib_->table_add(id);
}

void Dataplane::table_del(uint32_t id) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& p : ports_)
    if (p && p->table == id)
      throw std::invalid_argument("table " + std::to_string(id) + " is used by port " +
                                  std::to_string(p->index));
  fib_->table_del(id);
  rcu_.reclaim();
}

std::vector<uint32_t> Dataplane::tables() const {
  std::lock_guard<std::mutex> g(mu_);
  return fib_->table_ids();
}

void Dataplane::routes_add(uint32_t table, const std::vector<fib::Route>& routes) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& r : routes) fib_->route_add(table, r);
  rcu_.reclaim();
}

bool Dataplane::route_del(uint32_t table, const fib::Prefix& p) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  const bool found = fib_->route_del(table, p);
  rcu_.reclaim();
  return found;
}

void Dataplane::address_add(uint32_t port, const fib::Prefix& addr) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  fib_->address_add(port_ref(port).table, port, addr);
  rcu_.reclaim();
}

bool Dataplane::address_del(uint32_t port, const fib::Prefix& addr) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  const bool found = fib_->address_del(port_ref(port).table, port, addr);
  rcu_.reclaim();
  return found;
}

void Dataplane::neighbor_add(uint32_t port, const fib::IpAddr& ip,
                             const std::array<uint8_t, 6>& mac) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  port_ref(port);
  fib_->neighbor_add(port, ip, mac);
  rcu_.reclaim();
}

bool Dataplane::neighbor_del(uint32_t port, const fib::IpAddr& ip) {
  SettleFastPath settle{fast_.get()};
  std::lock_guard<std::mutex> g(mu_);
  port_ref(port);
  const bool found = fib_->neighbor_del(port, ip);
  rcu_.reclaim();
  return found;
}

std::vector<fib::FibEntryDump> Dataplane::fib_dump(uint32_t table, fib::Family f) const {
  std::lock_guard<std::mutex> g(mu_);
  return fib_->dump(table, f);
}

void Dataplane::visit_routes(uint32_t table, fib::Family f, const RouteWalker& fn) const {
  std::lock_guard<std::mutex> g(mu_);
  const fib::Fib& fib = *fib_;
  fib.visit_routes(table, f, [&](const fib::Prefix& p, fib::RouteKind k, uint32_t lb) { fn(p, k, lb, fib); });
}

std::vector<fib::AdjacencyDump> Dataplane::adjacencies() const {
  std::lock_guard<std::mutex> g(mu_);
  return fib_->dump_adjacencies();
}

std::vector<MirrorPort> Dataplane::mirror_ports(const std::string& netns) const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<MirrorPort> out;
  for (const auto& p : ports_) {
    if (p && p->mirror && p->mirror_netns == netns)
      out.push_back({p->index, p->mirror->ifindex(), p->mirror_name, p->io->link().p2p});
    if (p && p->is_sub() && p->vlan_dev_ifindex && root_of(*p).mirror && root_of(*p).mirror_netns == netns)
      out.push_back({p->index, p->vlan_dev_ifindex, p->vlan_dev_name, false, true});
  }
  return out;
}

PortView Dataplane::add_sub_port(uint32_t parent, uint16_t vlan, uint16_t tpid) {
  std::lock_guard<std::mutex> g(mu_);
  return view(add_sub_port_locked(parent, vlan, tpid));
}

Dataplane::Port& Dataplane::add_sub_port_locked(uint32_t parent, uint16_t vlan, uint16_t tpid) {
  if (vlan < limits::kVlanMin || vlan > limits::kVlanMax)
    throw std::invalid_argument("vlan must be " + std::to_string(limits::kVlanMin) + ".." + std::to_string(limits::kVlanMax));
  if (tpid != 0x8100 && tpid != 0x88a8) throw std::invalid_argument("tpid must be 0x8100 (dot1q) or 0x88a8 (dot1ad)");
  Port& par = port_ref(parent);
  if (par.is_sub()) throw std::invalid_argument("port " + std::to_string(parent) + " is a sub-port (QinQ inner tags are not supported)");
  if (par.io->link().p2p) throw std::invalid_argument("port " + std::to_string(parent) + " is point-to-point: no VLANs");
  for (uint32_t s : par.subs)
    if (ports_[s]->vlan == vlan && ports_[s]->tpid == tpid)
      throw std::invalid_argument("port " + std::to_string(parent) + " already has sub-port " + std::to_string(s) +
                                  " for vlan " + std::to_string(vlan));
  if (par.subs.size() >= PortRuntime::kMaxSubPorts)
    throw std::runtime_error("port " + std::to_string(parent) + ": too many sub-ports");
  const uint32_t index = free_index();
  auto p = std::make_unique<Port>();
  p->index = index;
  p->parent = parent;
  p->vlan = vlan;
  p->tpid = tpid;
  p->worker = par.worker;
  p->admin_up = true;  // the parent's state gates it
  p->mtu = par.mtu;
  p->mac = par.mac;
  p->table = par.table;
  if (index >= ports_.size()) ports_.resize(index + 1);
  if (index >= counter_base_.size()) counter_base_.resize(index + 1);
  Port& ref = *p;
  ports_[index] = std::move(p);
  fib_->port_set(index, l2_of(ref));
  counter_base_[index] = sum_port(index);
  par.subs.push_back(index);
  publish_port(ref);
  publish_port(par);  // the parent's tag table, last: the sub-port is there first
  rcu_.reclaim();
  return ref;
}

void Dataplane::del_sub_port(uint32_t index) {
  std::lock_guard<std::mutex> g(mu_);
  if (!port_ref(index).is_sub()) throw std::invalid_argument("port " + std::to_string(index) + " is not a sub-port");
  del_port_locked(index);
}

void Dataplane::apply_one(const MirrorOp& op, MirrorApply& out) {
  using K = MirrorOp::Kind;
  switch (op.kind) {
    case K::RouteAdd: {
      uint32_t slot = 0;
      if (!fib_->table_slot(op.table, slot)) fib_->table_add(op.table);
      fib_->route_add(op.table, op.route);
      ++out.routes;
      break;
    }
    case K::RouteDel:
      fib_->route_del(op.table, op.route.prefix);
      ++out.routes;
      break;
    case K::NexthopSet: fib_->nexthop_set(op.nexthop, op.route.kind, op.route.paths); break;
    case K::NexthopDel: fib_->nexthop_del(op.nexthop); break;
    case K::LocalAdd: {
      uint32_t slot = 0;
      if (!fib_->table_slot(op.table, slot)) fib_->table_add(op.table);
      fib_->local_add(op.table, op.route.prefix.addr);
      break;
    }
    case K::LocalDel: fib_->local_del(op.table, op.route.prefix.addr); break;
    case K::AddrAdd: fib_->address_add(port_ref(op.port).table, op.port, op.route.prefix); break;
    case K::AddrDel: fib_->address_del(port_ref(op.port).table, op.port, op.route.prefix); break;
    case K::NeighAdd: port_ref(op.port); fib_->neighbor_add(op.port, op.ip, op.mac); break;
    case K::NeighDel: port_ref(op.port); fib_->neighbor_del(op.port, op.ip); break;
    case K::SubPortAdd: {  // a VLAN device appeared on a mirror (auto sub-interfaces)
      Port& par = port_ref(op.port);
      Port* sub = nullptr;
      for (uint32_t s : par.subs)
        if (ports_[s]->vlan == op.vlan && ports_[s]->tpid == op.tpid) sub = ports_[s].get();
      if (!sub) sub = &add_sub_port_locked(op.port, op.vlan, op.tpid);
      if (sub->vlan_dev_ifindex != op.ifindex || sub->vlan_dev_name != op.name) {
        sub->vlan_dev_ifindex = op.ifindex;
        sub->vlan_dev_name = op.name;
        pair_gen_.fetch_add(1, std::memory_order_acq_rel);  // the watcher re-reads its ifindex map
      }
      break;
    }
    case K::Link: {
      Port& p = port_ref(op.port);
      PortPatch diff;  // only what differs: a no-op event changes nothing
      if (op.link.up && *op.link.up != p.admin_up) diff.up = op.link.up;
      if (op.link.mtu && *op.link.mtu != p.mtu) diff.mtu = op.link.mtu;
      if (op.link.mac && *op.link.mac != p.mac && !p.is_sub() && !p.io->link().p2p) diff.mac = op.link.mac;
      if (op.link.table && *op.link.table != p.table && !p.is_sub()) {
        // The mirror was enslaved to a VRF (or released): the port follows into its table.
        uint32_t slot = 0;
        if (!fib_->table_slot(*op.link.table, slot)) fib_->table_add(*op.link.table);
        diff.table = op.link.table;
      }
      if (diff.up || diff.mtu || diff.mac || diff.table) set_port_locked(p, diff);
      break;
    }
  }
  ++out.applied;
}

void Dataplane::apply_mirror_ops(std::span<const MirrorOp> ops, std::chrono::microseconds budget,
                                 MirrorApply& out) {
  size_t i = 0;
  while (i < ops.size()) {
    {
      std::lock_guard<std::mutex> g(mu_);
      const auto end = std::chrono::steady_clock::now() + budget;
      // Check the clock every 64 ops: reading it costs more than a route.
      for (size_t n = 0; i < ops.size(); ++i, ++n) {
        if ((n & 63) == 63 && std::chrono::steady_clock::now() >= end) break;
        try {
          apply_one(ops[i], out);
        } catch (const std::exception& e) {
          ++out.errors;
          out.last_error = e.what();
        }
      }
      rcu_.reclaim();
    }
    if (i < ops.size()) std::this_thread::yield();  // let API callers take the mutex
  }
}

void Dataplane::mirror_gone(uint32_t port, int ifindex) {
  std::unique_ptr<PairMirror> m;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (port >= ports_.size() || !ports_[port]) return;
    Port& p = *ports_[port];
    if (p.is_sub()) {  // its VLAN device was deleted: so is the sub-port
      if (p.vlan_dev_ifindex == ifindex) del_port_locked(port);
      return;
    }
    if (!p.mirror || p.mirror->ifindex() != ifindex) return;  // already re-paired
    m = std::move(p.mirror);
    p.mirror_name.clear();
    p.mirror_netns.clear();
    p.mirror_kind = MirrorKind::Auto;
    p.admin_up = false;
    pair_gen_.fetch_add(1, std::memory_order_acq_rel);
    publish_port(p);
    rcu_.reclaim();  // no worker polls the dead fd any more
  }
}

size_t Dataplane::route_count(uint32_t table, fib::Family f) const {
  std::lock_guard<std::mutex> g(mu_);
  uint32_t slot = 0;
  if (!fib_->table_slot(table, slot)) return 0;
  return fib_->route_count(table, f);
}

std::vector<fib::NeighborDump> Dataplane::neighbors() const {
  std::lock_guard<std::mutex> g(mu_);
  return fib_->neighbors();
}

PortCounterView Dataplane::sum_port(uint32_t index) const {
  PortCounterView pc{index, 0, 0, 0, 0, 0, 0, 0};
  for (const auto& w : workers_) {
    const PortCounters& c = w->counters().ports[index];
    pc.rx_packets += c.rx_packets.get();
    pc.rx_bytes += c.rx_bytes.get();
    pc.tx_packets += c.tx_packets.get();
    pc.tx_bytes += c.tx_bytes.get();
    pc.drops += c.drops.get();
    pc.punts += c.punts.get();
    pc.injects += c.injects.get();
  }
  if (fast_) {  // what the XDP fast path forwarded never reached a worker
    const xdp::FastPathCounters f = fast_->counters(index);
    pc.rx_packets += f.rx_packets;
    pc.rx_bytes += f.rx_bytes;
    pc.tx_packets += f.tx_packets;
    pc.tx_bytes += f.tx_bytes;
    pc.fp_rx_packets = f.rx_packets;
    pc.fp_tx_packets = f.tx_packets;
  }
  return pc;
}

CounterView Dataplane::counters() const {
  std::lock_guard<std::mutex> g(mu_);
  CounterView v;
  for (const auto& p : ports_) {
    if (!p) continue;
    PortCounterView pc = sum_port(p->index);
    const PortCounterView& b = counter_base_[p->index];
    pc.rx_packets -= b.rx_packets;
    pc.rx_bytes -= b.rx_bytes;
    pc.tx_packets -= b.tx_packets;
    pc.tx_bytes -= b.tx_bytes;
    pc.drops -= b.drops;
    pc.punts -= b.punts;
    pc.injects -= b.injects;
    pc.fp_rx_packets -= b.fp_rx_packets;
    pc.fp_tx_packets -= b.fp_tx_packets;
    v.ports.push_back(pc);
  }
  for (const auto& w : workers_) {
    for (size_t e = 0; e < size_t(Error::Count); ++e) v.errors[e] += w->counters().errors[e].get();
    v.loops += w->counters().loops.get();
    v.vectors += w->counters().vectors.get();
    v.poll_set_changes += w->counters().poll_set_changes.get();
  }
  v.errors[size_t(Error::CarrierSync)] = carrier_errors_.load(std::memory_order_relaxed) + carrier_->errors();
  return v;
}

FastPathView Dataplane::fast_path() const {
  FastPathView v;
  if (!fast_) return v;
  v.enabled = true;
  v.usable = fast_->usable();
  v.reason = fast_->why_unusable();
  const xdp::FastPath::Stats s = fast_->stats();
  v.map_updates = s.map_updates;
  v.map_errors = s.map_errors;
  v.batches = s.batches;
  v.max_queue = s.max_queue;
  v.pending = s.pending;
  v.ip4_groups = s.ip4_groups;
  v.ip4_group_limit = s.ip4_group_limit;
  v.last_error = s.last_error;
  return v;
}

void Dataplane::trace_arm(uint32_t n) {
  std::lock_guard<std::mutex> g(mu_);
  if (n > kMaxTrace) throw std::invalid_argument("trace: at most " + std::to_string(kMaxTrace) + " packets");
  for (auto& w : workers_) w->trace().remaining.store(0);
  rcu_.synchronize();  // no worker is still tagging: the buffer is ours
  for (auto& w : workers_) {
    TraceBuffer& t = w->trace();
    for (auto& r : t.rec) r.n_nodes.store(0, std::memory_order_relaxed);
    t.used.store(0);
    t.remaining.store(int32_t(n));
  }
  // Traced packets must cross the graph: the fast path steps aside until the
  // workers have their N packets (its monitor then lifts the bypass).
  if (fast_) fast_->set_bypass(n > 0);
}

std::vector<TraceView> Dataplane::trace_read() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<TraceView> out;
  for (const auto& w : workers_) {
    TraceBuffer& t = w->trace();
    const uint32_t used = std::min(t.used.load(), kMaxTrace);
    for (uint32_t i = 0; i < used; ++i) {
      const TraceRecord& r = t.rec[i];
      const uint8_t n = r.n_nodes.load(std::memory_order_acquire);
      if (!n) continue;
      TraceView tv{w->id(), r.rx_port, {}, std::vector<uint8_t>(r.head, r.head + r.head_len)};
      for (uint8_t k = 0; k < n; ++k) tv.nodes.emplace_back(kNodeNames[r.nodes[k]]);
      out.push_back(std::move(tv));
    }
  }
  return out;
}

}  // namespace lcp
