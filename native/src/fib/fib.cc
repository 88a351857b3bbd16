// The FIB: tables of prefixes (control-side maps, the source of truth for
// dumps, deletes and covers) mirrored into per-table LPM arrays that the
// workers read without locks. Interface entries (receive, connected glean,
// adj-fib host routes) and API routes may share a prefix: both are kept,
// and the interface one is what the LPM holds.
// Over 600 lines on purpose: tables, interface entries, routes, nexthop
// objects and their LPM publication share one writer and its bookkeeping.
#include "fib/fib.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "fib/adj.h"
#include "fib/ip4_lpm.h"
#include "fib/ip6_lpm.h"
#include "fib/lb.h"

namespace lcp::fib {

namespace {

constexpr uint32_t kNone = LbDb::kNone;
constexpr uint32_t kNoPort = 0xffffffffu;  // a local address held by no port

// A prefix's address as a map key: IPv4 in the low 32 bits of hi.
struct U128 {
  uint64_t hi = 0, lo = 0;
  bool operator==(const U128&) const = default;
};
struct U128Hash {
  size_t operator()(const U128& k) const {
    uint64_t h = k.hi * 0x9E3779B97F4A7C15ull ^ k.lo * 0xC2B2AE3D27D4EB4Full;
    return size_t(h ^ (h >> 32));
  }
};

uint64_t load_be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
void store_be64(uint8_t* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

unsigned fi(Family f) { return f == Family::Ip4 ? 0 : 1; }
unsigned max_len(Family f) { return f == Family::Ip4 ? 32 : 128; }
const char* fam_name(Family f) { return f == Family::Ip4 ? "IPv4" : "IPv6"; }

U128 key_of(const IpAddr& a) {
  if (a.family == Family::Ip4) return {a.v4(), 0};
  return {load_be64(a.b.data()), load_be64(a.b.data() + 8)};
}
U128 mask_key(Family f, U128 k, unsigned len) {
  if (f == Family::Ip4) return {len == 0 ? 0 : k.hi & (0xffffffffull << (32 - len)) & 0xffffffffull, 0};
  const uint64_t mh = len == 0 ? 0 : len >= 64 ? ~0ull : ~0ull << (64 - len);
  const uint64_t ml = len <= 64 ? 0 : len == 128 ? ~0ull : ~0ull << (128 - len);
  return {k.hi & mh, k.lo & ml};
}
IpAddr addr_of(Family f, U128 k) {
  IpAddr a;
  a.family = f;
  if (f == Family::Ip4) {
    const uint32_t v = uint32_t(k.hi);
    a.b[0] = uint8_t(v >> 24), a.b[1] = uint8_t(v >> 16), a.b[2] = uint8_t(v >> 8), a.b[3] = uint8_t(v);
  } else {
    store_be64(a.b.data(), k.hi);
    store_be64(a.b.data() + 8, k.lo);
  }
  return a;
}

// Interface contributions, best first: own address, neighbour host, subnet.
enum IfacePrio : uint8_t { kReceive = 0, kAdjFib = 1, kGlean = 2 };
struct IfaceRef {
  uint8_t prio;
  uint32_t port;
  uint32_t lb;    // one reference
  uint32_t refs;  // e.g. two addresses of one subnet share the glean
};

struct Entry {
  uint32_t route_lb = kNone;   // EntrySource::Route (one reference)
  uint32_t installed = kNone;  // what the LPM holds for this prefix
  RouteKind route_kind = RouteKind::Forward;
  std::unique_ptr<std::vector<IfaceRef>> iface;  // rare: kept out of line

  uint32_t effective() const {
    if (iface && !iface->empty())
      return std::min_element(iface->begin(), iface->end(),
                              [](auto& a, auto& b) { return a.prio < b.prio; })->lb;
    return route_lb;
  }
};

using PrefixMap = std::unordered_map<U128, Entry, U128Hash>;

struct FamilyTable {
  std::array<PrefixMap, 129> by_len;
  size_t routes = 0;
};

// What readers reach through a table slot.
struct TableRt {
  explicit TableRt(Rcu& rcu) : v4(rcu), v6(rcu) {}
  Ip4Lpm v4;
  Ip6Lpm v6;
};

struct TableCtl {
  uint32_t id = 0;
  uint32_t slot = 0;
  TableRt* rt = nullptr;
  FamilyTable fam[2];
  uint32_t n_addresses = 0;
};

struct AddrRec {
  uint32_t table;
  uint32_t port;
  Prefix p;  // the address itself, with its length
};

LbKind lb_kind_of(RouteKind k) {
  switch (k) {
    case RouteKind::Blackhole: return LbKind::Blackhole;
    case RouteKind::Unreachable: return LbKind::Unreachable;
    case RouteKind::Prohibit: return LbKind::Prohibit;
    default: return LbKind::Paths;
  }
}

}  // namespace

struct Fib::Impl {
  explicit Impl(Rcu& r) : rcu(r), adjs(r), lbs(r, adjs) {}
  ~Impl() {
    for (auto& [id, t] : tables) delete t->rt;
  }

  Rcu& rcu;
  AdjDb adjs;
  LbDb lbs;
  std::array<std::atomic<TableRt*>, kMaxTables> rt{};
  std::unordered_map<uint32_t, std::unique_ptr<TableCtl>> tables;
  std::vector<AddrRec> addrs;
  std::unordered_map<AdjKey, std::vector<uint32_t>, AdjKeyHash> adj_fibs;  // (port, ip) -> table ids
  std::vector<Path> scratch;
  FibObserver* obs = nullptr;

  struct Nexthop {
    RouteKind kind = RouteKind::Forward;
    std::vector<Path> paths;
    uint32_t lb[2] = {kNone, kNone};  // per payload family, made on first use (one reference)
  };
  std::unordered_map<uint64_t, Nexthop> nexthops;

  // What a nexthop's load-balance for payload family f should forward to.
  // Throws on paths that cannot carry f (an IPv4 next hop for IPv6).
  LbKind nexthop_content(const Nexthop& nh, Family f, uint64_t id) {
    if (nh.kind != RouteKind::Forward) return lb_kind_of(nh.kind);
    scratch.assign(nh.paths.begin(), nh.paths.end());
    for (Path& p : scratch) {
      if (p.has_via && f == Family::Ip6 && p.via.family == Family::Ip4)
        throw std::invalid_argument("nexthop " + std::to_string(id) + ": IPv4 next hop " + format_addr(p.via) +
                                    " cannot carry IPv6");
      if (!p.has_via) p.via = IpAddr{f, {}};
    }
    return scratch.empty() ? LbKind::Drop : LbKind::Paths;
  }
  uint32_t nexthop_lb(uint64_t id, Family f) {  // takes a reference for the route
    auto it = nexthops.find(id);
    if (it == nexthops.end()) throw std::invalid_argument("nexthop " + std::to_string(id) + " is unknown");
    Nexthop& nh = it->second;
    uint32_t& lb = nh.lb[fi(f)];
    if (lb == kNone) {
      const LbKind kind = nexthop_content(nh, f, id);
      lb = lbs.make(id, kind, f, scratch.data(), scratch.size());
    }
    lbs.ref(lb);
    return lb;
  }
  void nexthop_republish(uint64_t id, Nexthop& nh) {
    for (Family f : {Family::Ip4, Family::Ip6}) {
      const uint32_t lb = nh.lb[fi(f)];
      if (lb == kNone) continue;
      const LbKind kind = nexthop_content(nh, f, id);
      lbs.update(lb, kind, scratch.data(), scratch.size());
    }
  }

  TableCtl& table(uint32_t id) {
    auto it = tables.find(id);
    if (it == tables.end()) throw std::invalid_argument("unknown table " + std::to_string(id));
    return *it->second;
  }

  static U128 checked_key(const Prefix& p) {
    const Family f = p.addr.family;
    if (p.len > max_len(f))
      throw std::invalid_argument("prefix length /" + std::to_string(p.len) + " is too long for " + fam_name(f));
    const U128 k = key_of(p.addr);
    if (!(mask_key(f, k, p.len) == k))
      throw std::invalid_argument("prefix " + format_prefix(p) + " has host bits set");
    return k;
  }

  // ---- LPM mirror of the maps ----
  void sync(TableCtl& t, Family f, U128 k, uint8_t len, PrefixMap::iterator it) {
    Entry& e = it->second;
    const uint32_t want = e.effective();
    if (want == e.installed && want != kNone) return;
    if (want == kNone) {
      const bool was_installed = e.installed != kNone;
      t.fam[fi(f)].by_len[len].erase(it);
      if (was_installed) withdraw(t, f, k, len);
      return;
    }
    const bool fresh = e.installed == kNone;
    e.installed = want;
    if (f == Family::Ip4) t.rt->v4.set(uint32_t(k.hi), len, want);
    else t.rt->v6.set(k.hi, k.lo, len, want);
    if (obs) obs->prefix_set(t.slot, Prefix{addr_of(f, k), len}, want, fresh);
  }

  void withdraw(TableCtl& t, Family f, U128 k, uint8_t len) {
    uint8_t cover_len = 0;
    uint32_t cover_lb = LbDb::kDropLb;
    const FamilyTable& ft = t.fam[fi(f)];
    for (int l = int(len) - 1; l >= 0; --l) {
      const PrefixMap& m = ft.by_len[l];
      if (m.empty()) continue;
      if (auto c = m.find(mask_key(f, k, l)); c != m.end()) {
        cover_len = uint8_t(l);
        cover_lb = c->second.installed;
        break;
      }
    }
    if (f == Family::Ip4) t.rt->v4.remove(uint32_t(k.hi), len, cover_len, cover_lb);
    else t.rt->v6.remove(k.hi, k.lo, len, cover_len, cover_lb);
    if (obs) obs->prefix_unset(t.slot, Prefix{addr_of(f, k), len}, cover_len, cover_lb);
  }

  // ---- interface contributions ----
  void add_iface(TableCtl& t, Family f, U128 k, uint8_t len, uint8_t prio, uint32_t port, uint32_t lb) {
    auto it = t.fam[fi(f)].by_len[len].try_emplace(k).first;
    Entry& e = it->second;
    if (!e.iface) e.iface = std::make_unique<std::vector<IfaceRef>>();
    for (IfaceRef& r : *e.iface)
      if (r.prio == prio && r.port == port) {
        ++r.refs;
        lbs.release(lb);
        return;
      }
    e.iface->push_back({prio, port, lb, 1});
    sync(t, f, k, len, it);
  }

  void del_iface(TableCtl& t, Family f, U128 k, uint8_t len, uint8_t prio, uint32_t port) {
    PrefixMap& m = t.fam[fi(f)].by_len[len];
    auto it = m.find(k);
    if (it == m.end() || !it->second.iface) return;
    auto& v = *it->second.iface;
    auto r = std::find_if(v.begin(), v.end(), [&](auto& x) { return x.prio == prio && x.port == port; });
    if (r == v.end() || --r->refs > 0) return;
    const uint32_t old = r->lb;
    v.erase(r);
    if (v.empty()) it->second.iface.reset();
    sync(t, f, k, len, it);  // may erase the entry
    lbs.release(old);        // after the LPM no longer names it
  }

  uint32_t attached_lb(uint32_t port, Family f) {
    Path p;
    p.port = port;
    p.via.family = f;
    return lbs.intern(LbKind::Paths, f, &p, 1);
  }

  // A route over a nexthop object forwards as the object does now.
  RouteKind route_kind(const Entry& e) const {
    if (!lbs.owner(e.route_lb)) return e.route_kind;
    switch (lbs.kind(e.route_lb)) {
      case LbKind::Blackhole: return RouteKind::Blackhole;
      case LbKind::Unreachable: return RouteKind::Unreachable;
      case LbKind::Prohibit: return RouteKind::Prohibit;
      default: return RouteKind::Forward;
    }
  }

  // Host entries for resolved neighbours inside a connected subnet of their
  // port (VPP's adj-fib): keep the set of tables equal to what it should be.
  void sync_adj_fib(uint32_t port, const IpAddr& ip) {
    const Family f = ip.family;
    const U128 k = key_of(ip);
    std::vector<uint32_t> want;
    if (adjs.neighbor_known(port, ip)) {
      for (const AddrRec& a : addrs) {
        if (a.port != port || a.p.addr.family != f || a.p.len >= max_len(f) || a.p.addr == ip) continue;
        if (!(mask_key(f, key_of(a.p.addr), a.p.len) == mask_key(f, k, a.p.len))) continue;
        if (std::find(want.begin(), want.end(), a.table) == want.end()) want.push_back(a.table);
      }
    }
    const AdjKey key{port, ip, true};
    auto cur_it = adj_fibs.find(key);
    std::vector<uint32_t> cur = cur_it == adj_fibs.end() ? std::vector<uint32_t>{} : cur_it->second;
    const uint8_t host = uint8_t(max_len(f));
    for (uint32_t tid : cur)
      if (std::find(want.begin(), want.end(), tid) == want.end())
        if (auto t = tables.find(tid); t != tables.end()) del_iface(*t->second, f, k, host, kAdjFib, port);
    for (uint32_t tid : want)
      if (std::find(cur.begin(), cur.end(), tid) == cur.end()) {
        Path p;
        p.port = port;
        p.via = ip;
        p.has_via = true;
        add_iface(table(tid), f, k, host, kAdjFib, port, lbs.intern(LbKind::Paths, f, &p, 1));
      }
    if (want.empty()) adj_fibs.erase(key);
    else adj_fibs[key] = std::move(want);
  }
  void sync_adj_fibs(uint32_t port) {
    for (const IpAddr& ip : adjs.neighbors_of(port)) sync_adj_fib(port, ip);
    // Entries for neighbours already gone are dropped by neighbor_del.
  }

  void dump_entry(std::vector<FibEntryDump>& out, Family f, U128 k, uint8_t len, const Entry& e) const {
    Prefix p{addr_of(f, k), len};
    if (e.route_lb != kNone) {
      FibEntryDump d{p, EntrySource::Route, route_kind(e), AdjKind::Drop, lbs.paths(e.route_lb)};
      d.adj_kind = adjs.get(lbs.get(e.route_lb).buckets[0]).kind;
      d.nexthop = lbs.owner(e.route_lb);
      out.push_back(std::move(d));
    }
    if (e.iface)
      for (const IfaceRef& r : *e.iface) {
        FibEntryDump d{p, EntrySource::Interface, RouteKind::Forward, AdjKind::Receive, lbs.paths(r.lb)};
        if (r.prio != kReceive) d.adj_kind = adjs.get(lbs.get(r.lb).buckets[0]).kind;
        if (d.paths.empty() && r.port != kNoPort) {
          Path port_only;
          port_only.port = r.port;
          port_only.via.family = f;
          d.paths.push_back(port_only);
        }
        out.push_back(std::move(d));
      }
  }
};

Fib::Fib(Rcu& rcu) : impl_(std::make_unique<Impl>(rcu)) { table_add(0); }
Fib::~Fib() = default;

// ---------------------------------------------------------------- tables

uint32_t Fib::table_add(uint32_t id) {
  Impl& m = *impl_;
  if (auto it = m.tables.find(id); it != m.tables.end()) return it->second->slot;
  uint32_t slot = 0;
  while (slot < kMaxTables && m.rt[slot].load(std::memory_order_relaxed)) ++slot;
  if (slot == kMaxTables) throw std::invalid_argument("table " + std::to_string(id) + ": all table slots in use");
  auto t = std::make_unique<TableCtl>();
  t->id = id;
  t->slot = slot;
  t->rt = new TableRt(m.rcu);
  m.rt[slot].store(t->rt, std::memory_order_release);
  m.tables.emplace(id, std::move(t));
  return slot;
}

void Fib::table_del(uint32_t id) {
  Impl& m = *impl_;
  if (id == 0) throw std::invalid_argument("table 0 cannot be deleted");
  TableCtl& t = m.table(id);
  if (t.n_addresses)
    throw std::invalid_argument("table " + std::to_string(id) + " is in use by " +
                                std::to_string(t.n_addresses) + " interface address(es)");
  m.rt[t.slot].store(nullptr, std::memory_order_release);
  m.rcu.retire_delete(t.rt);
  for (unsigned f = 0; f < 2; ++f)
    for (unsigned len = 0; len <= 128; ++len)
      for (auto& [k, e] : t.fam[f].by_len[len]) {
        if (m.obs && e.installed != kNone)
          m.obs->prefix_unset(t.slot, Prefix{addr_of(f ? Family::Ip6 : Family::Ip4, k), uint8_t(len)}, 0, LbDb::kDropLb);
        if (e.route_lb != kNone) m.lbs.release(e.route_lb);
        if (e.iface)
          for (IfaceRef& r : *e.iface) m.lbs.release(r.lb);
      }
  m.tables.erase(id);
}

bool Fib::table_slot(uint32_t id, uint32_t& slot) const {
  auto it = impl_->tables.find(id);
  if (it == impl_->tables.end()) return false;
  slot = it->second->slot;
  return true;
}

std::vector<uint32_t> Fib::table_ids() const {
  std::vector<uint32_t> ids;
  for (auto& [id, t] : impl_->tables) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void Fib::set_observer(FibObserver* obs) {
  Impl& m = *impl_;
  m.obs = obs;
  // Adjacencies, then load-balances, then prefixes: what a prefix names is
  // there before the prefix is.
  m.adjs.set_observer(obs);
  m.lbs.set_observer(obs);
  if (!obs) return;
  for (auto& [id, t] : m.tables)
    for (unsigned f = 0; f < 2; ++f)
      for (unsigned len = 0; len <= 128; ++len)
        for (auto& [k, e] : t->fam[f].by_len[len])
          if (e.installed != kNone)
            obs->prefix_set(t->slot, Prefix{addr_of(f ? Family::Ip6 : Family::Ip4, k), uint8_t(len)}, e.installed, true);
}

// ---------------------------------------------------------------- ports

void Fib::port_set(uint32_t port, const PortL2& l2) { impl_->adjs.port_set(port, l2); }

void Fib::port_del(uint32_t port) {
  Impl& m = *impl_;
  if (!m.adjs.port_known(port)) return;
  for (const AddrRec& a : std::vector<AddrRec>(m.addrs))
    if (a.port == port) address_del(a.table, port, a.p);
  for (const IpAddr& ip : m.adjs.neighbors_of(port)) neighbor_del(port, ip);
  // Nexthop objects through the port lose those paths (in place: routes
  // over them follow); one left without any drops.
  for (auto& [id, nh] : m.nexthops) {
    if (std::none_of(nh.paths.begin(), nh.paths.end(), [&](auto& p) { return p.port == port; })) continue;
    std::erase_if(nh.paths, [&](auto& p) { return p.port == port; });
    m.nexthop_republish(id, nh);
  }
  // Routes through the port lose those paths; routes left without any go.
  struct Fix {
    uint32_t table;
    Route r;
  };
  std::vector<Fix> fixes;
  for (auto& [id, t] : m.tables)
    for (unsigned f = 0; f < 2; ++f)
      for (unsigned len = 0; len <= 128; ++len)
        for (auto& [k, e] : t->fam[f].by_len[len]) {
          if (e.route_lb == kNone || e.route_kind != RouteKind::Forward || m.lbs.owner(e.route_lb)) continue;
          const auto& paths = m.lbs.paths(e.route_lb);
          if (std::none_of(paths.begin(), paths.end(), [&](auto& p) { return p.port == port; })) continue;
          const Family fam = f ? Family::Ip6 : Family::Ip4;
          Fix fx{id, Route{Prefix{addr_of(fam, k), uint8_t(len)}, RouteKind::Forward, {}}};
          for (const Path& p : paths)
            if (p.port != port) fx.r.paths.push_back(p);
          fixes.push_back(std::move(fx));
        }
  for (Fix& fx : fixes) {
    if (fx.r.paths.empty()) route_del(fx.table, fx.r.prefix);
    else route_add(fx.table, fx.r);
  }
  m.adjs.port_erase(port);  // adjacencies still held (none expected) become Drop
}

// ---------------------------------------------------------------- routes

void Fib::route_add(uint32_t table_id, const Route& r) {
  Impl& m = *impl_;
  TableCtl& t = m.table(table_id);
  const Family f = r.prefix.addr.family;
  const U128 k = Impl::checked_key(r.prefix);
  uint32_t lb;
  if (r.nexthop) {
    lb = m.nexthop_lb(r.nexthop, f);
  } else if (r.kind == RouteKind::Forward) {
    // Built only on error: formatting costs more than the whole insert.
    auto what = [&] { return "route " + std::to_string(table_id) + ":" + format_prefix(r.prefix); };
    if (r.paths.empty()) throw std::invalid_argument(what() + ": no paths");
    if (r.paths.size() > kMaxPaths)
      throw std::invalid_argument(what() + ": " + std::to_string(r.paths.size()) + " paths, at most " +
                                  std::to_string(kMaxPaths));
    m.scratch.assign(r.paths.begin(), r.paths.end());
    for (Path& p : m.scratch) {
      if (!m.adjs.port_known(p.port))
        throw std::invalid_argument(what() + ": port " + std::to_string(p.port) + " is unknown (not set by port_set)");
      // An IPv6 next hop may carry IPv4 (RFC 8950); not the other way round.
      if (p.has_via && p.via.family != f && f == Family::Ip6)
        throw std::invalid_argument(what() + ": next hop " + format_addr(p.via) + " is " + fam_name(p.via.family) +
                                    " but the prefix is " + fam_name(f));
      if (!p.has_via) p.via = IpAddr{f, {}};
    }
    lb = m.lbs.intern(LbKind::Paths, f, m.scratch.data(), m.scratch.size());
  } else {
    lb = m.lbs.intern(lb_kind_of(r.kind));
  }
  FamilyTable& ft = t.fam[fi(f)];
  auto it = ft.by_len[r.prefix.len].try_emplace(k).first;
  Entry& e = it->second;
  const uint32_t old = e.route_lb;
  e.route_lb = lb;
  e.route_kind = r.nexthop ? RouteKind::Forward : r.kind;
  if (old == kNone) ++ft.routes;
  m.sync(t, f, k, r.prefix.len, it);
  if (old != kNone) m.lbs.release(old);  // after the LPM moved to the new one
}

bool Fib::route_del(uint32_t table_id, const Prefix& p) {
  Impl& m = *impl_;
  TableCtl& t = m.table(table_id);
  const Family f = p.addr.family;
  const U128 k = Impl::checked_key(p);
  FamilyTable& ft = t.fam[fi(f)];
  auto it = ft.by_len[p.len].find(k);
  if (it == ft.by_len[p.len].end() || it->second.route_lb == kNone) return false;
  const uint32_t old = it->second.route_lb;
  it->second.route_lb = kNone;
  --ft.routes;
  m.sync(t, f, k, p.len, it);
  m.lbs.release(old);
  return true;
}

// ---------------------------------------------------------------- local addresses

void Fib::local_add(uint32_t table_id, const IpAddr& a) {
  Impl& m = *impl_;
  TableCtl& t = m.table(table_id);
  m.add_iface(t, a.family, key_of(a), uint8_t(max_len(a.family)), kReceive, kNoPort, m.lbs.intern(LbKind::Receive));
  ++t.n_addresses;
}

bool Fib::local_del(uint32_t table_id, const IpAddr& a) {
  Impl& m = *impl_;
  TableCtl& t = m.table(table_id);
  const PrefixMap& pm = t.fam[fi(a.family)].by_len[max_len(a.family)];
  auto it = pm.find(key_of(a));
  if (it == pm.end() || !it->second.iface ||
      std::none_of(it->second.iface->begin(), it->second.iface->end(),
                   [](const IfaceRef& r) { return r.prio == kReceive && r.port == kNoPort; }))
    return false;
  m.del_iface(t, a.family, key_of(a), uint8_t(max_len(a.family)), kReceive, kNoPort);
  --t.n_addresses;
  return true;
}

// ---------------------------------------------------------------- nexthops

void Fib::nexthop_set(uint64_t id, RouteKind kind, const std::vector<Path>& paths) {
  Impl& m = *impl_;
  if (id == 0) throw std::invalid_argument("nexthop id 0 is reserved");
  const std::string what = "nexthop " + std::to_string(id);
  if (kind == RouteKind::Forward) {
    if (paths.empty()) throw std::invalid_argument(what + ": no paths");
    if (paths.size() > kMaxPaths)
      throw std::invalid_argument(what + ": " + std::to_string(paths.size()) + " paths, at most " +
                                  std::to_string(kMaxPaths));
    for (const Path& p : paths)
      if (!m.adjs.port_known(p.port))
        throw std::invalid_argument(what + ": port " + std::to_string(p.port) + " is unknown (not set by port_set)");
  }
  auto [it, fresh] = m.nexthops.try_emplace(id);
  Impl::Nexthop& nh = it->second;
  Impl::Nexthop before = nh;
  nh.kind = kind;
  nh.paths = kind == RouteKind::Forward ? paths : std::vector<Path>{};
  if (fresh) return;  // its load-balances are made when a route first names it
  try {
    m.nexthop_republish(id, nh);
  } catch (...) {
    nh.kind = before.kind;  // an invalid change leaves the working one
    nh.paths = std::move(before.paths);
    throw;
  }
}

bool Fib::nexthop_del(uint64_t id) {
  Impl& m = *impl_;
  auto it = m.nexthops.find(id);
  if (it == m.nexthops.end()) return false;
  for (uint32_t lb : it->second.lb) {
    if (lb == kNone) continue;
    if (m.lbs.refs(lb) > 1) m.lbs.update(lb, LbKind::Drop, nullptr, 0);  // routes still name it
    m.lbs.release(lb);
  }
  m.nexthops.erase(it);
  return true;
}

size_t Fib::nexthop_count() const { return impl_->nexthops.size(); }

// ---------------------------------------------------------------- addresses

void Fib::address_add(uint32_t table_id, uint32_t port, const Prefix& a) {
  Impl& m = *impl_;
  TableCtl& t = m.table(table_id);
  const Family f = a.addr.family;
  const unsigned max = max_len(f);
  if (a.len > max)
    throw std::invalid_argument("address " + format_addr(a.addr) + "/" + std::to_string(a.len) +
                                ": length too long for " + fam_name(f));
  if (!m.adjs.port_known(port))
    throw std::invalid_argument("address " + format_prefix(a) + ": port " + std::to_string(port) +
                                " is unknown (not set by port_set)");
  for (const AddrRec& r : m.addrs)
    if (r.table == table_id && r.port == port && r.p.addr == a.addr && r.p.len == a.len) return;
  const U128 k = key_of(a.addr);
  m.add_iface(t, f, k, uint8_t(max), kReceive, port, m.lbs.intern(LbKind::Receive));
  if (a.len < max) {
    m.add_iface(t, f, mask_key(f, k, a.len), a.len, kGlean, port, m.attached_lb(port, f));
    if (f == Family::Ip4 && a.len < 31) {
      const U128 bcast{k.hi | (0xffffffffull >> a.len), 0};
      m.add_iface(t, f, bcast, 32, kReceive, port, m.lbs.intern(LbKind::Receive));
    }
  }
  m.addrs.push_back({table_id, port, a});
  ++t.n_addresses;
  m.sync_adj_fibs(port);
}

void Fib::port_move_addresses(uint32_t port, uint32_t to) {
  std::vector<AddrRec> moving;
  for (const AddrRec& r : impl_->addrs)
    if (r.port == port && r.table != to) moving.push_back(r);
  for (const AddrRec& r : moving) {
    address_del(r.table, port, r.p);
    address_add(to, port, r.p);
  }
}

bool Fib::address_del(uint32_t table_id, uint32_t port, const Prefix& a) {
  Impl& m = *impl_;
  auto rec = std::find_if(m.addrs.begin(), m.addrs.end(), [&](const AddrRec& r) {
    return r.table == table_id && r.port == port && r.p.addr == a.addr && r.p.len == a.len;
  });
  if (rec == m.addrs.end()) return false;
  m.addrs.erase(rec);
  TableCtl& t = m.table(table_id);
  --t.n_addresses;
  const Family f = a.addr.family;
  const unsigned max = max_len(f);
  const U128 k = key_of(a.addr);
  m.del_iface(t, f, k, uint8_t(max), kReceive, port);
  if (a.len < max) {
    m.del_iface(t, f, mask_key(f, k, a.len), a.len, kGlean, port);
    if (f == Family::Ip4 && a.len < 31) m.del_iface(t, f, {k.hi | (0xffffffffull >> a.len), 0}, 32, kReceive, port);
  }
  // Host entries that this subnet justified: recheck every one on the port.
  for (auto& [key, tids] : std::unordered_map<AdjKey, std::vector<uint32_t>, AdjKeyHash>(m.adj_fibs))
    if (key.port == port) m.sync_adj_fib(port, key.nh);
  return true;
}

// ---------------------------------------------------------------- neighbours

void Fib::neighbor_add(uint32_t port, const IpAddr& ip, const std::array<uint8_t, 6>& mac) {
  Impl& m = *impl_;
  if (!m.adjs.port_known(port))
    throw std::invalid_argument("neighbour " + format_addr(ip) + ": port " + std::to_string(port) +
                                " is unknown (not set by port_set)");
  m.adjs.neighbor_set(port, ip, mac);  // same adjacency index, now Rewrite
  m.sync_adj_fib(port, ip);
}

bool Fib::neighbor_del(uint32_t port, const IpAddr& ip) {
  Impl& m = *impl_;
  if (!m.adjs.neighbor_erase(port, ip)) return false;  // back to Glean
  m.sync_adj_fib(port, ip);
  return true;
}

// ---------------------------------------------------------------- dumps

std::vector<FibEntryDump> Fib::dump(uint32_t table_id, Family f) const {
  Impl& m = *impl_;
  const TableCtl& t = m.table(table_id);
  std::vector<FibEntryDump> out;
  out.reserve(t.fam[fi(f)].routes);
  for (unsigned len = 0; len <= max_len(f); ++len)
    for (const auto& [k, e] : t.fam[fi(f)].by_len[len]) m.dump_entry(out, f, k, uint8_t(len), e);
  return out;
}

void Fib::visit_routes(uint32_t table_id, Family f, const RouteVisitor& fn) const {
  Impl& m = *impl_;
  const TableCtl& t = m.table(table_id);
  Prefix p;
  p.addr.family = f;
  for (unsigned len = 0; len <= max_len(f); ++len)
    for (const auto& [k, e] : t.fam[fi(f)].by_len[len]) {
      if (e.route_lb == kNone) continue;
      p.addr = addr_of(f, k);
      p.len = uint8_t(len);
      fn(p, m.route_kind(e), e.route_lb);
    }
}

std::vector<Path> Fib::lb_paths(uint32_t lb) const { return impl_->lbs.paths(lb); }

std::vector<AdjacencyDump> Fib::dump_adjacencies() const { return impl_->adjs.dump(); }

std::vector<NeighborDump> Fib::neighbors() const { return impl_->adjs.neighbors(); }

size_t Fib::route_count(uint32_t table_id, Family f) const { return impl_->table(table_id).fam[fi(f)].routes; }

// ---------------------------------------------------------------- readers

uint32_t Fib::lookup4(uint32_t slot, uint32_t dst, uint32_t flow_hash) const {
  const TableRt* t = slot < kMaxTables ? impl_->rt[slot].load(std::memory_order_acquire) : nullptr;
  if (!t) return AdjDb::kDrop;
  return impl_->lbs.pick(t->v4.lookup(dst), flow_hash);
}

uint32_t Fib::lookup6(uint32_t slot, const uint8_t dst[16], uint32_t flow_hash) const {
  const TableRt* t = slot < kMaxTables ? impl_->rt[slot].load(std::memory_order_acquire) : nullptr;
  if (!t) return AdjDb::kDrop;
  return impl_->lbs.pick(t->v6.lookup(load_be64(dst), load_be64(dst + 8)), flow_hash);
}

void Fib::lookup4_batch(uint32_t slot, const uint32_t* dst, const uint32_t* flow_hash, uint32_t* adj_out,
                        uint32_t n) const {
  const TableRt* t = slot < kMaxTables ? impl_->rt[slot].load(std::memory_order_acquire) : nullptr;
  if (!t) {
    std::fill(adj_out, adj_out + n, AdjDb::kDrop);
    return;
  }
  // The tbl24 word is the one likely cache/TLB miss: prefetch it well ahead
  // so that many misses are in flight at once.
  constexpr uint32_t kAhead = 16;
  const std::atomic<uint32_t>* tbl24 = t->v4.tbl24();
  const LbDb& lbs = impl_->lbs;
  for (uint32_t i = 0; i < n && i < kAhead; ++i) __builtin_prefetch(&tbl24[dst[i] >> 8]);
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(&tbl24[dst[i + kAhead] >> 8]);
    adj_out[i] = lbs.pick(t->v4.lookup(dst[i]), flow_hash ? flow_hash[i] : 0);
  }
}

const Adjacency& Fib::adjacency(uint32_t index) const { return impl_->adjs.get(index); }

}  // namespace lcp::fib
