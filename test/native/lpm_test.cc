// FIB / LPM checks: the LPM against a naive reference on large random prefix
// sets, the FIB's object model (ECMP, interning, glean/rewrite, interface
// entries, drop kinds, tables, errors) and a reader racing the writer.
//   lpm_test           run the checks; last line "N passed, M failed"
//   lpm_test --bench   one JSON line of lookup/insert rates and memory
//   lpm_test --only S  run only the suites whose name contains S (e.g. under TSan)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/rcu.h"
#include "fib/adj.h"
#include "fib/fib.h"
#include "fib/ip4_lpm.h"
#include "fib/ip6_lpm.h"
#include "fib/lb.h"
#include "check.h"

using namespace lcp;
using namespace lcp::fib;

namespace {

using test::check;
using test::g_failed;
using test::g_passed;

// Runs fn, expects std::invalid_argument whose message contains `needle`.
void check_throws(const std::string& name, const std::string& needle, const std::function<void()>& fn) {
  try {
    fn();
    check(false, name, "no exception");
  } catch (const std::invalid_argument& e) {
    const bool ok = std::string(e.what()).find(needle) != std::string::npos;
    check(ok, name + " (\"" + e.what() + "\")", ok ? "" : "message lacks '" + needle + "'");
  } catch (const std::exception& e) {
    check(false, name, std::string("wrong exception: ") + e.what());
  }
}

IpAddr A(const std::string& s) { return parse_addr(s); }
Prefix P(const std::string& s) { return parse_prefix(s); }
Mac mac(uint8_t last) { return {0x02, 0, 0, 0, 0, last}; }

Path via(uint32_t port, const std::string& nh, uint16_t weight = 1) {
  Path p;
  p.port = port;
  p.via = A(nh);
  p.has_via = true;
  p.weight = weight;
  return p;
}
Path attached(uint32_t port) {
  Path p;
  p.port = port;
  return p;
}
Route R(const std::string& prefix, std::vector<Path> paths, RouteKind k = RouteKind::Forward) {
  return Route{P(prefix), k, std::move(paths)};
}

PortL2 eth(uint8_t id, uint16_t mtu = 1500) {
  PortL2 l2;
  l2.valid = true;
  l2.mac = {0x02, 0xaa, 0, 0, 0, id};
  l2.mtu = mtu;
  return l2;
}

uint32_t look(const Fib& fib, const std::string& a, uint32_t slot = 0, uint32_t hash = 0) {
  const IpAddr ip = A(a);
  if (ip.family == Family::Ip4) return fib.lookup4(slot, ip.v4(), hash);
  return fib.lookup6(slot, ip.b.data(), hash);
}
const Adjacency& adj(const Fib& fib, const std::string& a, uint32_t slot = 0) {
  return fib.adjacency(look(fib, a, slot));
}

// ------------------------------------------------------------------ parse

void test_parse() {
  check(format_prefix(P("10.0.0.0/8")) == "10.0.0.0/8", "parse: ipv4 prefix round-trips");
  check(format_prefix(P("2001:db8::/32")) == "2001:db8::/32", "parse: ipv6 prefix round-trips");
  check(P("192.0.2.1").len == 32 && P("2001:db8::1").len == 128, "parse: bare address is a host prefix");
  check(P("0.0.0.0/0").len == 0 && P("::/0").len == 0, "parse: default routes");
  check(format_addr(A("fe80::1")) == "fe80::1", "parse: address round-trips");
  check_throws("parse: host bits set are refused", "host bits", [] { P("10.0.0.1/8"); });
  check_throws("parse: ipv6 host bits set are refused", "host bits", [] { P("2001:db8::1/32"); });
  check_throws("parse: length > 32 refused", "exceeds 32", [] { P("10.0.0.0/33"); });
  check_throws("parse: length > 128 refused", "exceeds 128", [] { P("::/129"); });
  check_throws("parse: empty length refused", "bad length", [] { P("10.0.0.0/"); });
  check_throws("parse: signed length refused", "bad length", [] { P("10.0.0.0/-1"); });
  check_throws("parse: garbage address refused", "bad address", [] { P("10.0.0.256/8"); });
  check_throws("parse: garbage refused", "invalid IP address", [] { A("hello"); });
  check_throws("parse: empty refused", "invalid IP address", [] { A(""); });
}

// ------------------------------------------------------------------ reference model

// The naive reference: longest match by linear scan, and (to check many more
// addresses quickly) by per-length maps, itself checked against the scan.
struct RefEntry {
  uint64_t hi, lo;  // masked; ipv4 in hi
  uint8_t len;
  int val;
};
struct Reference {
  bool v4;
  std::map<std::tuple<uint64_t, uint64_t, int>, int> all;                       // (hi, lo, len) -> val

  explicit Reference(bool ipv4) : v4(ipv4) {}
  static uint64_t mhi(bool v4, unsigned len) {
    if (v4) return len == 0 ? 0 : (0xffffffffull << (32 - len)) & 0xffffffffull;
    return len == 0 ? 0 : len >= 64 ? ~0ull : ~0ull << (64 - len);
  }
  static uint64_t mlo(bool v4, unsigned len) {
    if (v4 || len <= 64) return 0;
    return len == 128 ? ~0ull : ~0ull << (128 - len);
  }
  void set(uint64_t hi, uint64_t lo, uint8_t len, int val) { all[{hi, lo, len}] = val; }
  void del(uint64_t hi, uint64_t lo, uint8_t len) { all.erase({hi, lo, len}); }
  // Linear scan over a flat snapshot taken by build().
  int linear(uint64_t hi, uint64_t lo) const {
    int best_len = -1, best = -1;
    for (const RefEntry& e : flat)
      if (e.len > best_len && (hi & mhi(v4, e.len)) == e.hi && (lo & mlo(v4, e.len)) == e.lo) {
        best_len = e.len;
        best = e.val;
      }
    return best;
  }
  // by-length index rebuilt on demand
  std::vector<std::map<std::pair<uint64_t, uint64_t>, int>> idx;
  std::vector<RefEntry> flat;
  void build() {
    idx.assign(129, {});
    flat.clear();
    for (const auto& [k, val] : all) flat.push_back({std::get<0>(k), std::get<1>(k), uint8_t(std::get<2>(k)), val});
    for (const auto& [k, val] : all) idx[std::get<2>(k)][{std::get<0>(k), std::get<1>(k)}] = val;
  }
  int fast(uint64_t hi, uint64_t lo) const {
    for (int len = v4 ? 32 : 128; len >= 0; --len) {
      if (idx[len].empty()) continue;
      auto it = idx[len].find({hi & mhi(v4, len), lo & mlo(v4, len)});
      if (it != idx[len].end()) return it->second;
    }
    return -1;
  }
};

// Values: 0..63 = forward via next hop #v; 100/101/102 = blackhole/unreachable/prohibit.
struct NhSet {
  std::vector<IpAddr> nh;
  std::vector<uint32_t> port;
};

NhSet make_nhs(Fib& fib, bool v4, unsigned n) {
  NhSet s;
  for (unsigned i = 0; i < n; ++i) {
    char buf[64];
    if (v4) std::snprintf(buf, sizeof buf, "100.64.%u.%u", i / 200, 1 + i % 200);
    else std::snprintf(buf, sizeof buf, "fd00::%x", i + 1);
    s.nh.push_back(A(buf));
    s.port.push_back(1 + i % 4);
    if (i % 2) fib.neighbor_add(s.port.back(), s.nh.back(), mac(uint8_t(i)));
  }
  return s;
}

Route value_route(const Prefix& p, int val, const NhSet& nhs) {
  Route r;
  r.prefix = p;
  if (val >= 100) {
    r.kind = val == 100 ? RouteKind::Blackhole : val == 101 ? RouteKind::Unreachable : RouteKind::Prohibit;
    return r;
  }
  Path path;
  path.port = nhs.port[val];
  path.via = nhs.nh[val];
  path.has_via = true;
  r.paths.push_back(path);
  return r;
}

bool adj_matches(const Adjacency& a, int val, const NhSet& nhs) {
  switch (val) {
    case -1: return a.kind == AdjKind::Drop;
    case 100: return a.kind == AdjKind::Blackhole;
    case 101: return a.kind == AdjKind::Unreachable;
    case 102: return a.kind == AdjKind::Prohibit;
    default:
      return (a.kind == AdjKind::Glean || a.kind == AdjKind::Rewrite) && a.next_hop == nhs.nh[val] &&
             a.port == nhs.port[val];
  }
}

int random_value(std::mt19937_64& g, unsigned n_nh) {
  const unsigned r = g() % 100;
  if (r < 3) return 100 + int(g() % 3);
  return int(g() % n_nh);
}

Prefix prefix_of(bool v4, uint64_t hi, uint64_t lo, uint8_t len) {
  Prefix p;
  p.len = len;
  p.addr.family = v4 ? Family::Ip4 : Family::Ip6;
  if (v4) {
    for (int i = 0; i < 4; ++i) p.addr.b[i] = uint8_t(hi >> (24 - 8 * i));
  } else {
    for (int i = 0; i < 8; ++i) p.addr.b[i] = uint8_t(hi >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) p.addr.b[8 + i] = uint8_t(lo >> (56 - 8 * i));
  }
  return p;
}

uint32_t lookup_hl(const Fib& fib, bool v4, uint64_t hi, uint64_t lo) {
  if (v4) return fib.lookup4(0, uint32_t(hi), 0);
  uint8_t b[16];
  for (int i = 0; i < 8; ++i) b[i] = uint8_t(hi >> (56 - 8 * i)), b[8 + i] = uint8_t(lo >> (56 - 8 * i));
  return fib.lookup6(0, b, 0);
}

// Compares the FIB with the reference on random, boundary and nearby addresses.
void compare(const Fib& fib, Reference& ref, const NhSet& nhs, std::mt19937_64& g, const std::string& phase,
             const std::vector<RefEntry>& probe_prefixes) {
  ref.build();
  const bool v4 = ref.v4;
  std::vector<std::pair<uint64_t, uint64_t>> addrs;
  auto rand_addr = [&] {
    // half random, half near known prefixes (so nested ones are exercised)
    if (g() % 2 || probe_prefixes.empty())
      return std::make_pair<uint64_t, uint64_t>(v4 ? g() & 0xffffffffull : g(), v4 ? 0 : g());
    const RefEntry& e = probe_prefixes[g() % probe_prefixes.size()];
    uint64_t hi = e.hi | (g() & ~Reference::mhi(v4, e.len) & (v4 ? 0xffffffffull : ~0ull));
    uint64_t lo = e.lo | (v4 ? 0 : g() & ~Reference::mlo(v4, e.len));
    return std::make_pair<uint64_t, uint64_t>(uint64_t(hi), uint64_t(lo));
  };
  for (int i = 0; i < 150000; ++i) addrs.push_back(rand_addr());
  for (size_t i = 0; i < probe_prefixes.size() && i < 20000; ++i) {  // boundaries: first, last, +-1
    const RefEntry& e = probe_prefixes[(i * 7919) % probe_prefixes.size()];
    const uint64_t last_hi = e.hi | (~Reference::mhi(v4, e.len) & (v4 ? 0xffffffffull : ~0ull));
    const uint64_t last_lo = v4 ? 0 : e.lo | ~Reference::mlo(v4, e.len);
    addrs.push_back({e.hi, e.lo});
    addrs.push_back({last_hi, last_lo});
    if (v4) {
      addrs.push_back({(e.hi - 1) & 0xffffffffull, 0});
      addrs.push_back({(last_hi + 1) & 0xffffffffull, 0});
    } else {
      addrs.push_back({e.lo ? e.hi : e.hi - 1, e.lo - 1});
      addrs.push_back({last_lo == ~0ull ? last_hi + 1 : last_hi, last_lo + 1});
    }
  }
  size_t bad = 0;
  std::string first_bad;
  for (const auto& [hi, lo] : addrs) {
    const int want = ref.fast(hi, lo);
    const Adjacency& a = fib.adjacency(lookup_hl(fib, v4, hi, lo));
    if (!adj_matches(a, want, nhs)) {
      if (!bad++) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "addr %016llx:%016llx want %d got kind %d nh %s", (unsigned long long)hi,
                      (unsigned long long)lo, want, int(a.kind), format_addr(a.next_hop).c_str());
        first_bad = buf;
      }
    }
  }
  check(bad == 0, phase + ": " + std::to_string(addrs.size()) + " lookups match the reference",
        std::to_string(bad) + " mismatches, first " + first_bad);
  // The by-length reference against the linear scan, on a sample.
  size_t ref_bad = 0;
  for (size_t i = 0; i < addrs.size(); i += addrs.size() / 1500 + 1)
    if (ref.linear(addrs[i].first, addrs[i].second) != ref.fast(addrs[i].first, addrs[i].second)) ++ref_bad;
  check(ref_bad == 0, phase + ": linear-scan reference agrees on a sample", std::to_string(ref_bad) + " differ");
}

void test_random(bool v4) {
  const std::string fam = v4 ? "ipv4" : "ipv6";
  Rcu rcu;
  Fib fib(rcu);
  for (uint8_t p = 1; p <= 4; ++p) fib.port_set(p, eth(p));
  const NhSet nhs = make_nhs(fib, v4, 64);
  std::mt19937_64 g(v4 ? 42 : 43);
  Reference ref(v4);
  const unsigned n = v4 ? 100000 : 25000;
  // Clustered bases so that prefixes nest and overlap a lot.
  std::vector<uint64_t> bases;
  for (int i = 0; i < (v4 ? 300 : 150); ++i) bases.push_back(v4 ? (g() & 0xffffffffull) : (0x2001ull << 48) | (g() >> 16 & 0x0000ffffffffffffull));
  auto rand_len = [&]() -> uint8_t {
    const unsigned r = g() % 100;
    if (v4) {
      // Short prefixes rewrite up to 2^24 words each (inherent to DIR-24-8):
      // few of them, as in real tables, keeps the test quick.
      if (r < 15) return uint8_t(g() % 1000 < 15 ? g() % 9 : 9 + g() % 12);  // /0-/8 rare, /9-/20
      if (r < 45) return uint8_t(21 + g() % 4);  // /21-/24
      return uint8_t(25 + g() % 8);              // /25-/32
    }
    if (r < 3) return uint8_t(g() % 17);
    if (r < 40) return uint8_t(17 + g() % 48);
    if (r < 60) return uint8_t(48 + g() % 17);
    return uint8_t(65 + g() % 64);
  };
  std::vector<RefEntry> added;
  auto add_one = [&](uint8_t len, int val, bool from_base) {
    uint64_t hi = v4 ? g() & 0xffffffffull : g(), lo = v4 ? 0 : g();
    if (from_base) {
      const uint64_t b = bases[g() % bases.size()];
      const uint64_t keep = Reference::mhi(v4, v4 ? 16 : 48);
      hi = (b & keep) | (hi & ~keep);
    }
    hi &= Reference::mhi(v4, len);
    lo &= Reference::mlo(v4, len);
    fib.route_add(0, value_route(prefix_of(v4, hi, lo, len), val, nhs));
    ref.set(hi, lo, len, val);
    added.push_back({hi, lo, len, val});
  };
  add_one(0, 7, false);  // a default route
  for (unsigned i = 0; i < n; ++i) add_one(rand_len(), random_value(g, 64), g() % 4 != 0);
  check(fib.route_count(0, v4 ? Family::Ip4 : Family::Ip6) == ref.all.size(),
        fam + " random: route_count equals distinct prefixes",
        std::to_string(fib.route_count(0, v4 ? Family::Ip4 : Family::Ip6)) + " vs " + std::to_string(ref.all.size()));
  compare(fib, ref, nhs, g, fam + " random " + std::to_string(n) + " prefixes", added);

  // Deletes (30%), replaces (20%), fresh adds, and deletes of absent prefixes.
  std::vector<RefEntry> live;
  for (const auto& [k, val] : ref.all) live.push_back({std::get<0>(k), std::get<1>(k), uint8_t(std::get<2>(k)), val});
  std::shuffle(live.begin(), live.end(), g);
  size_t del_ok = 0, del_n = 0;
  for (size_t i = 0; i < live.size(); ++i) {
    const RefEntry& e = live[i];
    const Prefix p = prefix_of(v4, e.hi, e.lo, e.len);
    if (i % 10 < 3) {
      del_ok += fib.route_del(0, p);
      ++del_n;
      ref.del(e.hi, e.lo, e.len);
    } else if (i % 10 < 5) {
      const int val = random_value(g, 64);
      fib.route_add(0, value_route(p, val, nhs));
      ref.set(e.hi, e.lo, e.len, val);
    }
  }
  for (unsigned i = 0; i < n / 10; ++i) add_one(rand_len(), random_value(g, 64), true);
  check(del_ok == del_n, fam + " random: route_del reports every present prefix");
  check(!fib.route_del(0, prefix_of(v4, live[0].hi, live[0].lo, live[0].len)), fam + " random: route_del of an absent prefix is false");
  rcu.reclaim();
  compare(fib, ref, nhs, g, fam + " after deletes and replaces", added);

  // Delete everything: the table must be empty again (all Drop).
  for (const auto& [k, val] : std::map(ref.all)) {
    fib.route_del(0, prefix_of(v4, std::get<0>(k), std::get<1>(k), uint8_t(std::get<2>(k))));
    ref.del(std::get<0>(k), std::get<1>(k), std::get<2>(k));
  }
  rcu.reclaim();
  compare(fib, ref, nhs, g, fam + " after deleting all", added);
  check(fib.route_count(0, v4 ? Family::Ip4 : Family::Ip6) == 0 && fib.dump(0, v4 ? Family::Ip4 : Family::Ip6).empty(),
        fam + " random: nothing left in dump");
  size_t dyn = 0;
  for (const auto& d : fib.dump_adjacencies()) dyn += d.index >= AdjDb::kFirstDynamic;
  check(dyn == 0, fam + " random: all next-hop adjacencies freed with their routes", std::to_string(dyn) + " left");
}

// ------------------------------------------------------------------ LPM internals

void test_ip4_lpm_groups() {
  Rcu rcu;
  Ip4Lpm lpm(rcu, 1024);
  lpm.set(0x0a000000, 8, 5);
  lpm.set(0x0a000080, 25, 6);
  check(lpm.groups_in_use() == 1, "ip4 lpm: a /25 makes one tbl8 group");
  check(lpm.lookup(0x0a000001) == 5 && lpm.lookup(0x0a000081) == 6 && lpm.lookup(0x0a0001ff) == 5,
        "ip4 lpm: group entries inherit the covering prefix");
  lpm.set(0x0a000000, 16, 7);  // shorter prefix added under an existing group
  check(lpm.lookup(0x0a000001) == 7 && lpm.lookup(0x0a000081) == 6, "ip4 lpm: shorter prefix updates group words it covers");
  lpm.remove(0x0a000080, 25, 16, 7);
  check(lpm.groups_in_use() == 0 && lpm.lookup(0x0a000081) == 7, "ip4 lpm: emptied group collapses back into tbl24");
  lpm.remove(0x0a000000, 16, 8, 5);
  check(lpm.lookup(0x0a000081) == 5 && lpm.lookup(0x0b000000) == 0, "ip4 lpm: delete restores the cover");
  rcu.reclaim();  // the collapsed group is reusable only after a grace period
  for (uint32_t i = 0; i < 1024; ++i) lpm.set((0x0b000000 | (i << 8)) | 0x80, 25, 9);
  bool threw = false;
  try {
    lpm.set(0x0c000080, 25, 9);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  check(threw, "ip4 lpm: running out of tbl8 groups is an error, not corruption");
  rcu.reclaim();
}

void test_ip6_lpm_rebuild() {
  Rcu rcu;
  Ip6Lpm lpm(rcu);
  // Flap one prefix many times: tombstones force rebuilds, answers stay right.
  bool ok = true;
  lpm.set(0x20010db800000000ull, 0, 32, 3);
  for (int i = 0; i < 20000; ++i) {
    lpm.set(0x20010db800010000ull, 0, 48, 4);
    ok &= lpm.lookup(0x20010db800010000ull, 1) == 4;
    lpm.remove(0x20010db800010000ull, 0, 48, 32, 3);
    ok &= lpm.lookup(0x20010db800010000ull, 1) == 3;
  }
  rcu.reclaim();
  check(ok && lpm.hash_capacity() <= 4096, "ip6 lpm: add/delete flapping stays correct and bounded",
        "capacity " + std::to_string(lpm.hash_capacity()));
}

// ------------------------------------------------------------------ objects

struct Lab {
  Rcu rcu;
  Fib fib{rcu};
  Lab() {
    for (uint8_t p = 1; p <= 4; ++p) fib.port_set(p, eth(p));
    PortL2 tun;
    tun.valid = true;
    tun.p2p = true;
    tun.mtu = 1400;
    fib.port_set(9, tun);
  }
};

std::map<uint32_t, int> spread(const Fib& fib, const std::string& dst, int n = 4096) {
  std::map<uint32_t, int> m;
  const IpAddr ip = A(dst);
  for (int h = 0; h < n; ++h) ++m[ip.family == Family::Ip4 ? fib.lookup4(0, ip.v4(), uint32_t(h)) : fib.lookup6(0, ip.b.data(), uint32_t(h))];
  return m;
}

void test_ecmp() {
  Lab l;
  l.fib.route_add(0, R("198.51.100.0/24", {via(1, "10.0.0.2"), via(2, "10.0.1.2")}));
  auto s = spread(l.fib, "198.51.100.7");
  check(s.size() == 2 && s.begin()->second == 2048, "ecmp: two equal paths split flows evenly");
  l.fib.route_add(0, R("198.51.100.0/24", {via(1, "10.0.0.2"), via(2, "10.0.1.2"), via(3, "10.0.2.2")}));
  s = spread(l.fib, "198.51.100.7");
  bool even3 = s.size() == 3;
  for (auto& [a, c] : s) even3 &= std::abs(c - 4096 / 3) <= 4096 / 32;
  check(even3, "ecmp: three equal paths within 1/32 of a third each");
  l.fib.route_add(0, R("198.51.100.0/24", {via(1, "10.0.0.2", 1), via(2, "10.0.1.2", 3)}));
  s = spread(l.fib, "198.51.100.7");
  const uint32_t a1 = look(l.fib, "10.0.0.2");  // not routed: just to keep names apart
  (void)a1;
  std::vector<int> counts;
  for (auto& [a, c] : s) counts.push_back(c);
  std::sort(counts.begin(), counts.end());
  check(counts.size() == 2 && counts[0] == 1024 && counts[1] == 3072, "ecmp: weights 1:3 give exactly 1/4 and 3/4");
  l.fib.route_add(0, R("198.51.100.0/24", {via(1, "10.0.0.2", 1), via(2, "10.0.1.2", 100)}));
  s = spread(l.fib, "198.51.100.7");
  check(s.size() == 2, "ecmp: a tiny weight still gets a bucket");
  std::vector<uint32_t> adjs, weights;
  for (uint32_t i = 0; i < kMaxPaths; ++i) adjs.push_back(100 + i), weights.push_back(1 + i % 3);
  const auto b = LbDb::buckets_for(adjs, weights);
  std::set<uint32_t> used(b.begin(), b.end());
  check(b.size() <= kMaxBuckets && (b.size() & (b.size() - 1)) == 0 && used.size() == kMaxPaths,
        "ecmp: 64 weighted paths fit a power-of-two <= kMaxBuckets, every path present");
  std::vector<Path> many;
  for (int i = 0; i < 64; ++i) many.push_back(via(1 + i % 4, "10.9.0." + std::to_string(i + 1)));
  l.fib.route_add(0, Route{P("203.0.113.0/24"), RouteKind::Forward, many});
  check(spread(l.fib, "203.0.113.1", 8192).size() == 64, "ecmp: 64-way route reaches all 64 next hops");
  // v6 ECMP
  l.fib.route_add(0, R("2001:db8:1::/48", {via(1, "fe80::1"), via(2, "fe80::2")}));
  check(spread(l.fib, "2001:db8:1::5").size() == 2, "ecmp: ipv6 multipath");
  // Same path set in another order, duplicates merged.
  l.fib.route_add(0, R("192.0.2.0/25", {via(2, "10.0.1.2"), via(1, "10.0.0.2")}));
  l.fib.route_add(0, R("192.0.2.128/25", {via(1, "10.0.0.2"), via(2, "10.0.1.2")}));
  check(look(l.fib, "192.0.2.1", 0, 1) == look(l.fib, "192.0.2.129", 0, 1) &&
            look(l.fib, "192.0.2.1", 0, 0) == look(l.fib, "192.0.2.129", 0, 0),
        "ecmp: path order does not matter");
}

void test_interning() {
  Rcu rcu;
  AdjDb adjs(rcu);
  LbDb lbs(rcu, adjs);
  adjs.port_set(1, eth(1));
  adjs.port_set(2, eth(2));
  const Path p12[] = {via(1, "10.0.0.2"), via(2, "10.0.1.2")};
  const Path p21[] = {via(2, "10.0.1.2"), via(1, "10.0.0.2")};
  const uint32_t a = lbs.intern(LbKind::Paths, Family::Ip4, p12, 2);
  const uint32_t b = lbs.intern(LbKind::Paths, Family::Ip4, p21, 2);
  check(a == b && lbs.refs(a) == 2 && lbs.live() == 1, "interning: the same path set is one object, refcount 2");
  const uint32_t c = lbs.intern(LbKind::Paths, Family::Ip4, p12, 1);
  check(c != a && lbs.live() == 2 && adjs.live() == 2, "interning: a subset is another object sharing adjacencies");
  lbs.release(a);
  check(lbs.refs(a) == 1 && lbs.live() == 2, "interning: release keeps a shared object");
  lbs.release(b);
  lbs.release(c);
  check(lbs.live() == 0 && adjs.live() == 0, "interning: last release frees object and adjacencies");
  rcu.reclaim();
  const uint32_t bh1 = lbs.intern(LbKind::Blackhole), bh2 = lbs.intern(LbKind::Blackhole);
  check(bh1 == bh2 && lbs.get(bh1).buckets[0] == AdjDb::kBlackhole, "interning: blackhole routes share one object");

  // Through the FIB: 10k routes over two next hops -> 2 adjacencies, refcount 1 each.
  Lab l;
  for (int i = 0; i < 10000; ++i) {
    Prefix p = P("10.0.0.0/24");
    p.addr.b[1] = uint8_t(i >> 8);
    p.addr.b[2] = uint8_t(i);
    l.fib.route_add(0, Route{p, RouteKind::Forward, {via(1 + i % 2, i % 2 ? "172.16.0.1" : "172.16.0.2")}});
  }
  size_t dyn = 0;
  uint32_t max_ref = 0;
  for (const auto& d : l.fib.dump_adjacencies())
    if (d.index >= AdjDb::kFirstDynamic) ++dyn, max_ref = std::max(max_ref, d.refcount);
  check(dyn == 2 && max_ref == 1, "interning: 10k routes over two next hops share two load-balances",
        std::to_string(dyn) + " adjacencies, max refcount " + std::to_string(max_ref));
}

void test_glean_rewrite() {
  Lab l;
  l.fib.route_add(0, R("198.51.100.0/24", {via(1, "10.0.0.2")}));
  const uint32_t i = look(l.fib, "198.51.100.1");
  check(l.fib.adjacency(i).kind == AdjKind::Glean && l.fib.adjacency(i).port == 1,
        "neighbour: route via an unresolved next hop gleans on its port");
  l.fib.neighbor_add(1, A("10.0.0.2"), mac(0x22));
  const Adjacency& a = l.fib.adjacency(look(l.fib, "198.51.100.1"));
  const uint8_t want[14] = {0x02, 0, 0, 0, 0, 0x22, 0x02, 0xaa, 0, 0, 0, 1, 0x08, 0x00};
  check(look(l.fib, "198.51.100.1") == i && a.kind == AdjKind::Rewrite && a.rewrite_len == 14 &&
            std::memcmp(a.rewrite, want, 14) == 0 && a.mtu == 1500,
        "neighbour: neighbor_add republishes the same index as a rewrite (dst, src, 0x0800)");
  l.fib.port_set(1, eth(0x77, 9000));
  const Adjacency& b = l.fib.adjacency(i);
  check(b.kind == AdjKind::Rewrite && b.rewrite[11] == 0x77 && b.mtu == 9000, "neighbour: port_set rebuilds the rewrite (mac, mtu)");
  check(l.fib.neighbor_del(1, A("10.0.0.2")) && l.fib.adjacency(i).kind == AdjKind::Glean && look(l.fib, "198.51.100.1") == i,
        "neighbour: neighbor_del turns it back into a glean");
  check(!l.fib.neighbor_del(1, A("10.0.0.2")), "neighbour: deleting an unknown neighbour is false");
  // Neighbour first, route later: rewrite straight away.
  l.fib.neighbor_add(2, A("fe80::2"), mac(0x66));
  l.fib.route_add(0, R("2001:db8::/32", {via(2, "fe80::2")}));
  const Adjacency& c = adj(l.fib, "2001:db8::1");
  check(c.kind == AdjKind::Rewrite && c.rewrite[12] == 0x86 && c.rewrite[13] == 0xdd, "neighbour: ipv6 rewrite uses 0x86dd");
  l.fib.route_add(0, R("203.0.113.0/24", {via(9, "10.99.0.1")}));
  const Adjacency& d = adj(l.fib, "203.0.113.9");
  check(d.kind == AdjKind::Rewrite && d.rewrite_len == 0 && d.port == 9 && d.mtu == 1400,
        "neighbour: next hop on a point-to-point port needs no resolution (rewrite_len 0)");
  l.fib.route_add(0, R("203.0.114.0/24", {attached(9)}));
  check(adj(l.fib, "203.0.114.9").kind == AdjKind::Rewrite && adj(l.fib, "203.0.114.9").rewrite_len == 0,
        "neighbour: attached route on a p2p port is a rewrite with no L2 header");
  l.fib.route_add(0, R("203.0.115.0/24", {attached(3)}));
  check(adj(l.fib, "203.0.115.9").kind == AdjKind::Glean && adj(l.fib, "203.0.115.9").port == 3,
        "neighbour: attached route on an ethernet port gleans");
}

void test_addresses() {
  Lab l;
  l.fib.address_add(0, 1, Prefix{A("10.0.0.1"), 24});
  check(adj(l.fib, "10.0.0.1").kind == AdjKind::Receive, "address: own address is a receive entry");
  check(adj(l.fib, "10.0.0.255").kind == AdjKind::Receive, "address: subnet broadcast is a receive entry");
  check(adj(l.fib, "10.0.0.7").kind == AdjKind::Glean && adj(l.fib, "10.0.0.7").port == 1, "address: connected subnet gleans on the port");
  check(adj(l.fib, "10.0.1.1").kind == AdjKind::Drop, "address: outside the subnet is dropped");
  l.fib.neighbor_add(1, A("10.0.0.2"), mac(2));
  check(adj(l.fib, "10.0.0.2").kind == AdjKind::Rewrite && adj(l.fib, "10.0.0.3").kind == AdjKind::Glean,
        "address: a resolved neighbour in the subnet gets a host entry (adj-fib)");
  l.fib.route_add(0, R("192.0.2.0/24", {via(1, "10.0.0.2")}));
  check(look(l.fib, "192.0.2.1") == look(l.fib, "10.0.0.2"), "address: routes via the neighbour share its adjacency");
  l.fib.neighbor_del(1, A("10.0.0.2"));
  check(adj(l.fib, "10.0.0.2").kind == AdjKind::Glean, "address: neighbor_del removes the host entry");
  l.fib.neighbor_add(1, A("10.0.5.5"), mac(5));
  check(adj(l.fib, "10.0.5.5").kind == AdjKind::Drop, "address: neighbour outside any subnet adds no host entry");
  // Interface entries win over routes for the same prefix; the route returns after.
  l.fib.route_add(0, R("10.0.0.0/24", {via(2, "10.1.0.1")}));
  check(adj(l.fib, "10.0.0.9").kind == AdjKind::Glean && adj(l.fib, "10.0.0.9").port == 1,
        "address: the connected entry beats a route for the same prefix");
  size_t n_route = 0, n_iface = 0;
  for (const auto& d : l.fib.dump(0, Family::Ip4))
    if (d.prefix.len == 24 && format_addr(d.prefix.addr) == "10.0.0.0")
      (d.source == EntrySource::Route ? n_route : n_iface)++;
  check(n_route == 1 && n_iface == 1, "address: dump reports both the route and the interface entry");
  l.fib.neighbor_add(1, A("10.0.0.2"), mac(2));  // adj-fib back before the address goes
  check(l.fib.address_del(0, 1, Prefix{A("10.0.0.1"), 24}), "address: address_del finds the address");
  check(adj(l.fib, "10.0.0.1").port == 2 && adj(l.fib, "10.0.0.255").port == 2 && adj(l.fib, "10.0.0.2").port == 2,
        "address: after address_del the route covers the subnet again (receive, broadcast, adj-fib gone)");
  check(!l.fib.address_del(0, 1, Prefix{A("10.0.0.1"), 24}), "address: deleting twice is false");
  l.fib.address_add(0, 1, Prefix{A("10.2.0.0"), 31});
  check(adj(l.fib, "10.2.0.1").kind == AdjKind::Glean && adj(l.fib, "10.2.0.0").kind == AdjKind::Receive,
        "address: a /31 has no broadcast receive");
  l.fib.address_add(0, 1, Prefix{A("2001:db8:5::1"), 64});
  check(adj(l.fib, "2001:db8:5::1").kind == AdjKind::Receive && adj(l.fib, "2001:db8:5::77").kind == AdjKind::Glean,
        "address: ipv6 address gives receive + connected glean");
  l.fib.address_add(0, 9, Prefix{A("10.3.0.1"), 24});
  check(adj(l.fib, "10.3.0.9").kind == AdjKind::Rewrite && adj(l.fib, "10.3.0.9").rewrite_len == 0,
        "address: connected subnet on a p2p port is a rewrite with no L2 header");
  l.fib.address_add(0, 1, Prefix{A("10.4.0.1"), 24});
  l.fib.address_add(0, 1, Prefix{A("10.4.0.2"), 24});
  l.fib.address_del(0, 1, Prefix{A("10.4.0.1"), 24});
  check(adj(l.fib, "10.4.0.9").kind == AdjKind::Glean && adj(l.fib, "10.4.0.255").kind == AdjKind::Receive &&
            adj(l.fib, "10.4.0.1").kind == AdjKind::Glean,
        "address: two addresses in one subnet share the connected entries");
  l.fib.port_del(1);
  check(adj(l.fib, "10.4.0.2").kind == AdjKind::Drop && adj(l.fib, "2001:db8:5::1").kind == AdjKind::Drop,
        "address: port_del withdraws the port's addresses");
}

void test_drops_and_precedence() {
  Lab l;
  l.fib.route_add(0, R("192.0.2.0/24", {}, RouteKind::Blackhole));
  l.fib.route_add(0, R("198.51.100.0/24", {}, RouteKind::Unreachable));
  l.fib.route_add(0, R("203.0.113.0/24", {}, RouteKind::Prohibit));
  l.fib.route_add(0, R("2001:db8::/32", {}, RouteKind::Blackhole));
  check(adj(l.fib, "192.0.2.1").kind == AdjKind::Blackhole, "drops: blackhole route");
  check(adj(l.fib, "198.51.100.1").kind == AdjKind::Unreachable, "drops: unreachable route");
  check(adj(l.fib, "203.0.113.1").kind == AdjKind::Prohibit, "drops: prohibit route");
  check(adj(l.fib, "2001:db8::1").kind == AdjKind::Blackhole, "drops: ipv6 blackhole route");
  check(adj(l.fib, "8.8.8.8").kind == AdjKind::Drop && adj(l.fib, "2001:4860::1").kind == AdjKind::Drop,
        "drops: no route is Drop");
  // Nesting and delete restoring the next less-specific.
  l.fib.route_add(0, R("10.0.0.0/8", {via(1, "172.16.0.1")}));
  l.fib.route_add(0, R("10.1.0.0/16", {via(1, "172.16.0.2")}));
  l.fib.route_add(0, R("10.1.1.0/24", {via(1, "172.16.0.3")}));
  l.fib.route_add(0, R("10.1.1.0/28", {via(1, "172.16.0.4")}));
  l.fib.route_add(0, R("10.1.1.5/32", {via(1, "172.16.0.5")}));
  auto nh = [&](const std::string& a) { return format_addr(adj(l.fib, a).next_hop); };
  check(nh("10.1.1.5") == "172.16.0.5" && nh("10.1.1.6") == "172.16.0.4" && nh("10.1.1.16") == "172.16.0.3" &&
            nh("10.1.2.1") == "172.16.0.2" && nh("10.2.0.0") == "172.16.0.1",
        "lpm: nested prefixes pick the longest");
  l.fib.route_del(0, P("10.1.1.0/28"));
  check(nh("10.1.1.6") == "172.16.0.3" && nh("10.1.1.5") == "172.16.0.5", "lpm: delete /28 restores the /24");
  l.fib.route_del(0, P("10.1.1.0/24"));
  check(nh("10.1.1.6") == "172.16.0.2", "lpm: delete /24 restores the /16");
  l.fib.route_add(0, R("10.1.0.0/16", {via(2, "172.16.1.2")}));
  check(nh("10.1.1.6") == "172.16.1.2" && nh("10.1.1.5") == "172.16.0.5" && l.fib.route_count(0, Family::Ip4) == 6,
        "lpm: replace changes the answer, never duplicates");
  l.fib.route_add(0, R("0.0.0.0/0", {via(3, "172.16.9.9")}));
  check(nh("8.8.8.8") == "172.16.9.9", "lpm: default route");
  l.fib.route_del(0, P("0.0.0.0/0"));
  check(adj(l.fib, "8.8.8.8").kind == AdjKind::Drop, "lpm: default route deleted -> drop");
  l.fib.route_add(0, R("::/0", {via(3, "fe80::9")}));
  l.fib.route_add(0, R("2001:db8:1:2::/64", {via(3, "fe80::1")}));
  l.fib.route_add(0, R("2001:db8:1:2::1/128", {via(3, "fe80::2")}));
  check(nh("2001:db8:1:2::1") == "fe80::2" && nh("2001:db8:1:2::2") == "fe80::1" &&
            adj(l.fib, "2001:db8:2::").kind == AdjKind::Blackhole &&
            nh("3fff::1") == "fe80::9",
        "lpm: ipv6 nested prefixes and default");
  // port_del drops paths through the port.
  l.fib.route_add(0, R("100.64.0.0/10", {via(1, "172.16.0.1"), via(2, "172.16.1.1")}));
  l.fib.port_del(2);
  check(spread(l.fib, "100.64.0.1").size() == 1 && adj(l.fib, "100.64.0.1").port == 1 && nh("10.1.1.6") == "172.16.0.1",
        "port_del: multipath routes lose the port's paths, single-path routes go");
}

void test_tables() {
  Lab l;
  const uint32_t s10 = l.fib.table_add(10);
  check(l.fib.table_add(10) == s10 && s10 != 0, "tables: table_add is idempotent and returns a slot");
  l.fib.route_add(10, R("10.0.0.0/8", {via(1, "172.16.0.1")}));
  check(adj(l.fib, "10.1.1.1", s10).kind == AdjKind::Glean && adj(l.fib, "10.1.1.1", 0).kind == AdjKind::Drop,
        "tables: a route in table 10 is invisible in table 0");
  l.fib.address_add(10, 2, Prefix{A("192.168.0.1"), 24});
  check(adj(l.fib, "192.168.0.1", s10).kind == AdjKind::Receive && adj(l.fib, "192.168.0.1", 0).kind == AdjKind::Drop,
        "tables: addresses land in their table only");
  check_throws("tables: table 0 cannot be deleted", "table 0", [&] { l.fib.table_del(0); });
  check_throws("tables: a table with addresses cannot be deleted", "in use", [&] { l.fib.table_del(10); });
  l.fib.address_del(10, 2, Prefix{A("192.168.0.1"), 24});
  l.fib.table_del(10);
  uint32_t slot;
  check(!l.fib.table_slot(10, slot) && adj(l.fib, "10.1.1.1", s10).kind == AdjKind::Drop,
        "tables: deleted table is gone and its slot reads Drop");
  check(l.fib.table_ids() == std::vector<uint32_t>{0}, "tables: table_ids lists what is left");
  check(adj(l.fib, "10.1.1.1", kMaxTables + 5).kind == AdjKind::Drop, "tables: an out-of-range slot reads Drop");
  l.rcu.reclaim();
}

void test_errors() {
  Lab l;
  check_throws("errors: unknown table", "unknown table 77", [&] { l.fib.route_add(77, R("10.0.0.0/8", {via(1, "10.0.0.1")})); });
  check_throws("errors: no paths", "no paths", [&] { l.fib.route_add(0, R("10.0.0.0/8", {})); });
  std::vector<Path> many(kMaxPaths + 1, via(1, "10.0.0.1"));
  check_throws("errors: too many paths", "at most 64", [&] { l.fib.route_add(0, Route{P("10.0.0.0/8"), RouteKind::Forward, many}); });
  check_throws("errors: family mismatch", "is IPv4 but the prefix is IPv6", [&] { l.fib.route_add(0, R("2001:db8::/32", {via(1, "10.0.0.1")})); });
  check_throws("errors: unknown port", "port 42 is unknown", [&] { l.fib.route_add(0, R("10.0.0.0/8", {via(42, "10.0.0.1")})); });
  Prefix bad = P("10.0.0.0/8");
  bad.addr.b[3] = 1;
  check_throws("errors: host bits in a route prefix", "host bits", [&] { l.fib.route_add(0, R("10.0.0.0/8", {via(1, "10.0.0.1")})), l.fib.route_add(0, Route{bad, RouteKind::Blackhole, {}}); });
  check_throws("errors: address on unknown port", "port 42", [&] { l.fib.address_add(0, 42, Prefix{A("10.0.0.1"), 24}); });
  check_throws("errors: neighbour on unknown port", "port 42", [&] { l.fib.neighbor_add(42, A("10.0.0.1"), mac(1)); });
  check_throws("errors: dump of unknown table", "unknown table", [&] { l.fib.dump(5, Family::Ip4); });
  check(l.fib.route_count(0, Family::Ip4) == 1, "errors: failed adds leave the table unchanged");
}

// ------------------------------------------------------------- nexthop objects

Route over(const std::string& prefix, uint64_t nexthop) {
  Route r{P(prefix), RouteKind::Forward, {}};
  r.nexthop = nexthop;
  return r;
}

void test_nexthops() {
  Lab l;
  l.fib.neighbor_add(1, A("10.0.0.2"), mac(0x21));
  l.fib.neighbor_add(2, A("10.0.1.2"), mac(0x22));
  l.fib.nexthop_set(7, RouteKind::Forward, {via(1, "10.0.0.2")});
  for (int i = 0; i < 1000; ++i) {
    Prefix p = P("20.0.0.0/24");
    p.addr.b[1] = uint8_t(i >> 8);
    p.addr.b[2] = uint8_t(i);
    l.fib.route_add(0, Route{p, RouteKind::Forward, {}, 7});
  }
  const uint32_t before = look(l.fib, "20.0.3.1");
  check(l.fib.adjacency(before).port == 1 && l.fib.adjacency(before).kind == AdjKind::Rewrite,
        "nexthop: routes over an object forward as it says");
  l.fib.nexthop_set(7, RouteKind::Forward, {via(2, "10.0.1.2")});
  check(adj(l.fib, "20.0.3.1").port == 2 && adj(l.fib, "20.0.0.1").port == 2 && adj(l.fib, "20.3.231.1").port == 2,
        "nexthop: one nexthop_set moves every route over it");
  const auto d = l.fib.dump(0, Family::Ip4);
  const auto e = std::find_if(d.begin(), d.end(), [](auto& x) { return format_prefix(x.prefix) == "20.0.3.0/24"; });
  check(e != d.end() && e->nexthop == 7 && e->paths.size() == 1 && e->paths[0].port == 2,
        "nexthop: a dump names the object and shows its paths now");
  l.fib.nexthop_set(7, RouteKind::Forward, {via(1, "10.0.0.2", 1), via(2, "10.0.1.2", 3)});
  int on2 = 0;
  for (uint32_t h = 0; h < 256; ++h) on2 += l.fib.adjacency(l.fib.lookup4(0, A("20.0.3.1").v4(), h)).port == 2;
  check(on2 == 192, "nexthop: a group's weights spread the buckets (1:3)", std::to_string(on2) + " of 256 on port 2");
  l.fib.nexthop_set(7, RouteKind::Blackhole, {});
  check(adj(l.fib, "20.0.3.1").kind == AdjKind::Blackhole, "nexthop: a blackhole object drops its routes' packets");
  check_throws("nexthop: an unknown object is refused", "nexthop 9 is unknown", [&] { l.fib.route_add(0, over("30.0.0.0/8", 9)); });
  check_throws("nexthop: an unknown port is refused", "port 42 is unknown",
               [&] { l.fib.nexthop_set(7, RouteKind::Forward, {via(42, "10.0.0.2")}); });
  check(adj(l.fib, "20.0.3.1").kind == AdjKind::Blackhole, "nexthop: an invalid change leaves the working object");

  // RFC 8950: an IPv4 route via an IPv6 (link-local) next hop rewrites with 0x0800, resolved by the IPv6 neighbour.
  l.fib.nexthop_set(8, RouteKind::Forward, {via(1, "fe80::2")});
  l.fib.route_add(0, over("40.0.0.0/8", 8));
  l.fib.route_add(0, over("2001:db8:40::/48", 8));
  l.fib.route_add(0, R("41.0.0.0/8", {via(1, "fe80::2")}));
  check(adj(l.fib, "40.1.1.1").kind == AdjKind::Glean && adj(l.fib, "41.1.1.1").kind == AdjKind::Glean,
        "rfc 8950: unresolved IPv6 next hop of an IPv4 route gleans");
  l.fib.neighbor_add(1, A("fe80::2"), mac(0x66));
  const Adjacency& v4 = adj(l.fib, "40.1.1.1");
  const Adjacency& v6 = adj(l.fib, "2001:db8:40::1");
  check(v4.kind == AdjKind::Rewrite && v4.rewrite[5] == 0x66 && v4.rewrite[12] == 0x08 && v4.rewrite[13] == 0x00 &&
            adj(l.fib, "41.1.1.1").rewrite[12] == 0x08,
        "rfc 8950: the IPv4 route's rewrite carries 0x0800 to the IPv6 neighbour's MAC");
  check(v6.kind == AdjKind::Rewrite && v6.rewrite[12] == 0x86 && look(l.fib, "40.1.1.1") != look(l.fib, "2001:db8:40::1"),
        "rfc 8950: the same object carries IPv6 with its own 0x86dd adjacency");
  l.fib.nexthop_set(10, RouteKind::Forward, {via(1, "10.0.0.2")});
  check_throws("nexthop: an IPv4 next hop cannot carry IPv6", "cannot carry IPv6",
               [&] { l.fib.route_add(0, over("2001:db8:41::/48", 10)); });

  // Deleting an object still in use: its routes drop until they go; a port
  // going away takes its paths out of the object in place.
  check(l.fib.nexthop_del(7) && adj(l.fib, "20.0.3.1").kind == AdjKind::Drop && l.fib.route_count(0, Family::Ip4) >= 1000,
        "nexthop: deleted while named, its routes drop (nothing forwards on a stale object)");
  l.fib.nexthop_set(11, RouteKind::Forward, {via(1, "10.0.0.2"), via(2, "10.0.1.2")});
  l.fib.route_add(0, over("50.0.0.0/8", 11));
  l.fib.port_del(1);
  bool all2 = true;
  for (uint32_t h = 0; h < 64; ++h) all2 = all2 && l.fib.adjacency(l.fib.lookup4(0, A("50.1.1.1").v4(), h)).port == 2;
  const auto d2 = l.fib.dump(0, Family::Ip4);
  const auto e2 = std::find_if(d2.begin(), d2.end(), [](auto& x) { return format_prefix(x.prefix) == "50.0.0.0/8"; });
  check(all2 && e2 != d2.end() && e2->nexthop == 11, "nexthop: port_del takes the port's paths out of the object, routes stay on it");
  check(l.fib.nexthop_count() == 3 && !l.fib.nexthop_del(7), "nexthop: count and a second delete");
}

// ------------------------------------------------------------------ concurrency

void test_concurrency() {
  Lab l;
  Fib& fib = l.fib;
  const std::vector<std::string> nhs = {"172.16.0.1", "172.16.0.2", "172.16.0.3", "172.16.0.4"};
  fib.route_add(0, R("10.0.0.0/8", {via(3, "172.16.9.9")}));  // the cover, adjacency C
  std::vector<Path> all4;
  for (auto& n : nhs) all4.push_back(via(1, n));
  fib.route_add(0, Route{P("172.31.0.0/16"), RouteKind::Forward, all4});  // keeps A1..A4 alive
  fib.route_add(0, R("10.1.0.1/32", {via(1, nhs[0])}));
  const uint32_t C = look(fib, "10.5.5.5");
  std::set<uint32_t> hops;
  for (int h = 0; h < 64; ++h) hops.insert(look(fib, "172.31.0.1", 0, h));
  const uint32_t A1 = look(fib, "10.1.0.1");
  fib.route_add(0, R("10.1.0.1/32", {via(1, nhs[1])}));
  const uint32_t A2 = look(fib, "10.1.0.1");
  std::set<uint32_t> ok_any = hops;
  // IPv6: the same game under 2001:db8::/32 (hash inserts, tombstones, rebuilds).
  const std::vector<std::string> nhs6 = {"fe80::1", "fe80::2", "fe80::3", "fe80::4"};
  fib.route_add(0, R("2001:db8::/32", {via(3, "fe80::99")}));
  std::vector<Path> all6;
  for (auto& n : nhs6) all6.push_back(via(2, n));
  fib.route_add(0, Route{P("2001:db8:ffff::/48"), RouteKind::Forward, all6});
  std::set<uint32_t> ok6;
  for (int h = 0; h < 64; ++h) ok6.insert(look(fib, "2001:db8:ffff::1", 0, h));
  ok6.insert(look(fib, "2001:db8:1::1"));
  std::atomic<uint64_t> bad6{0};
  ok_any.insert(C);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0}, bad_any{0}, bad_flip{0}, bad_outside{0}, bad_kind{0};
  std::thread reader([&] {
    const unsigned w = l.rcu.register_worker();
    std::mt19937 g(7);
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 256; ++i, ++n) {
        const uint32_t dst = 0x0a000000u | (g() & 0xffff);  // 10.0.0.0/16: the churned space
        const uint32_t a = fib.lookup4(0, dst, g());
        if (!ok_any.count(a)) ++bad_any;
        const AdjKind k = fib.adjacency(a).kind;
        if (k != AdjKind::Glean && k != AdjKind::Rewrite) ++bad_kind;
        const uint32_t f = fib.lookup4(0, 0x0a010001u, 0);  // 10.1.0.1: only ever A1 or A2
        if (f != A1 && f != A2) ++bad_flip;
        if (fib.lookup4(0, 0x0a0200c8u, g()) != C) ++bad_outside;  // 10.2.0.200: beside a flapping /28
        uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, uint8_t(g() & 3), uint8_t(g() & 3), uint8_t(g() & 3)};
        d6[15] = uint8_t(g());
        if (!ok6.count(fib.lookup6(0, d6, g()))) ++bad6;
      }
      l.rcu.quiescent(w);
    }
    lookups = n;
    l.rcu.unregister_worker(w);
  });
  std::mt19937_64 g(11);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t ops = 0;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1500)) {
    for (int i = 0; i < 64; ++i, ++ops) {
      const uint8_t len = uint8_t(16 + g() % 17);
      Prefix p;
      p.addr = A("10.0.0.0");
      const uint32_t v = (0x0a000000u | (g() & 0xffff)) & (len == 32 ? ~0u : ~(0xffffffffu >> len));
      p.addr.b[2] = uint8_t(v >> 8), p.addr.b[3] = uint8_t(v);
      p.len = len;
      if (g() % 3 == 0) {
        fib.route_del(0, p);
      } else {  // random ECMP subsets: load-balances come and go
        std::vector<Path> ps;
        for (size_t k = 0; k < nhs.size(); ++k)
          if (g() % 2) ps.push_back(via(1, nhs[k]));
        if (ps.empty()) ps.push_back(via(1, nhs[g() % nhs.size()]));
        fib.route_add(0, Route{p, RouteKind::Forward, ps});
      }
      fib.route_add(0, R("10.1.0.1/32", {via(1, nhs[ops % 2])}));
      if (ops % 2) fib.route_add(0, R("10.2.0.0/28", {via(1, nhs[2])}));
      else fib.route_del(0, P("10.2.0.0/28"));
      {  // a v6 prefix between /40 and /64 under 2001:db8:0000..0303::
        Prefix q = P("2001:db8::/32");
        q.len = uint8_t(40 + g() % 25);
        q.addr.b[5] = uint8_t(g() & 3), q.addr.b[6] = uint8_t(g() & 3), q.addr.b[7] = uint8_t(g() & 3);
        for (int b = q.len; b < 64; ++b) q.addr.b[b / 8] &= uint8_t(~(0x80 >> (b % 8)));
        if (g() % 3 == 0) fib.route_del(0, q);
        else fib.route_add(0, Route{q, RouteKind::Forward, {via(2, nhs6[g() % 4])}});
      }
      if (ops % 7 == 0) fib.neighbor_add(1, A(nhs[ops % 4]), mac(uint8_t(ops)));
      if (ops % 11 == 0) fib.neighbor_del(1, A(nhs[ops % 4]));
    }
    l.rcu.reclaim();  // waits for the reader's quiescent point
  }
  stop = true;
  reader.join();
  l.rcu.reclaim();
  const std::string stats = std::to_string(lookups.load()) + " lookups, " + std::to_string(ops) + " writer ops";
  check(lookups > 0 && ops > 0, "concurrency: reader and writer both ran (" + stats + ")");
  check(bad_any == 0, "concurrency: churned prefixes only ever resolve to old or new next hops", std::to_string(bad_any) + " bad");
  check(bad_kind == 0, "concurrency: adjacencies read during neighbour churn are always glean/rewrite", std::to_string(bad_kind) + " bad");
  check(bad_flip == 0, "concurrency: a replaced /32 is always the old or the new route, never a gap", std::to_string(bad_flip) + " bad");
  check(bad6 == 0, "concurrency: ipv6 lookups during churn only see old or new next hops", std::to_string(bad6) + " bad");
  check(bad_outside == 0, "concurrency: tbl8 groups appear and collapse without disturbing their /24",
        std::to_string(bad_outside) + " bad");
}

// ------------------------------------------------------------------ bench

double rss_mb() {
  std::ifstream f("/proc/self/statm");
  long size = 0, res = 0;
  f >> size >> res;
  return double(res) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double secs_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int bench() {
  std::mt19937_64 g(2024);
  std::vector<Path> hops4, hops6;
  for (int i = 0; i < 8; ++i) {
    hops4.push_back(via(1 + i % 4, "172.16.0." + std::to_string(i + 1)));
    hops6.push_back(via(1 + i % 4, "fe80::" + std::to_string(i + 1)));
  }
  // Internet-like length mix (IPv4 2020s: ~60% /24, then /22, /23, /21, /20...).
  const std::pair<int, int> mix4[] = {{24, 580}, {22, 110}, {23, 90}, {21, 50}, {20, 45}, {19, 30}, {16, 25},
                                      {18, 20},  {17, 12},  {15, 5},  {14, 4},  {13, 3},  {12, 2},  {11, 1},
                                      {10, 1},   {8, 1},    {25, 2},  {26, 2},  {27, 1},  {28, 1},  {29, 1}};
  const std::pair<int, int> mix6[] = {{48, 500}, {32, 120}, {40, 60}, {44, 90}, {36, 30}, {29, 20},
                                      {46, 20},  {47, 15},  {42, 15}, {56, 40}, {64, 30}, {28, 10}, {128, 10}};
  auto pick = [&](auto& mix) {
    int total = 0;
    for (auto& [l, w] : mix) total += w;
    int r = int(g() % total);
    for (auto& [l, w] : mix)
      if ((r -= w) < 0) return l;
    return 24;
  };
  const size_t n4 = 1000000, n6 = 200000;
  std::vector<Route> r4(n4), r6(n6);
  for (auto& r : r4) {
    const int len = pick(mix4);
    const uint32_t a = uint32_t(g()) & (0xffffffffu << (32 - len));
    r.prefix.addr.family = Family::Ip4;
    for (int i = 0; i < 4; ++i) r.prefix.addr.b[i] = uint8_t(a >> (24 - 8 * i));
    r.prefix.len = uint8_t(len);
    r.paths.push_back(hops4[g() % 8]);
    if (g() % 10 == 0) r.paths.push_back(hops4[g() % 8]);  // some ECMP
  }
  for (auto& r : r6) {
    const int len = pick(mix6);
    // Global unicast 2000::/3, clustered under a few thousand /24 allocations.
    uint64_t hi = (0x2ull << 60) | ((g() % 4096) << 40) | (g() & ((1ull << 40) - 1));
    uint64_t lo = g();
    hi &= len >= 64 ? ~0ull : ~0ull << (64 - len);
    lo &= len <= 64 ? 0 : len == 128 ? ~0ull : ~0ull << (128 - len);
    r.prefix = prefix_of(false, hi, lo, uint8_t(len));
    r.paths.push_back(hops6[g() % 8]);
  }
  // Memory is measured from here: the FIB only, not the input vectors.
  const double rss0 = rss_mb();
  Rcu rcu;
  auto fib = std::make_unique<Fib>(rcu);
  for (uint8_t p = 1; p <= 4; ++p) fib->port_set(p, eth(p));
  for (int i = 0; i < 8; ++i) {
    fib->neighbor_add(hops4[i].port, hops4[i].via, mac(uint8_t(i)));
    fib->neighbor_add(hops6[i].port, hops6[i].via, mac(uint8_t(i)));
  }
  auto t0 = std::chrono::steady_clock::now();
  for (const Route& r : r4) fib->route_add(0, r);
  const double ins4 = double(n4) / secs_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (const Route& r : r6) fib->route_add(0, r);
  const double ins6 = double(n6) / secs_since(t0);
  rcu.reclaim();
  const double rss = rss_mb() - rss0;
  const size_t routes4 = fib->route_count(0, Family::Ip4), routes6 = fib->route_count(0, Family::Ip6);

  // IPv4 lookups: random destinations, random flow hashes, batches of 256.
  const size_t na = 1 << 22;
  std::vector<uint32_t> dst(na), hash(na), out(256);
  for (size_t i = 0; i < na; ++i) dst[i] = uint32_t(g()), hash[i] = uint32_t(g());
  uint64_t sink = 0, n = 0;
  fib->lookup4_batch(0, dst.data(), hash.data(), out.data(), 256);  // warm
  t0 = std::chrono::steady_clock::now();
  for (int pass = 0; pass < 4; ++pass)
    for (size_t i = 0; i < na; i += 256, n += 256) {
      fib->lookup4_batch(0, dst.data() + i, hash.data() + i, out.data(), 256);
      sink += out[0] + out[255];
    }
  const double lk4 = double(n) / secs_since(t0);

  // IPv6: half inside known prefixes, half random global unicast.
  const size_t n6a = 1 << 20;
  std::vector<std::array<uint8_t, 16>> d6(n6a);
  for (size_t i = 0; i < n6a; ++i) {
    if (i % 2) {
      const Prefix& p = r6[g() % n6].prefix;
      d6[i] = p.addr.b;
      for (int b = p.len; b < 128; ++b)
        if (g() & 1) d6[i][b / 8] |= uint8_t(0x80 >> (b % 8));
    } else {
      const uint64_t hi = (0x2ull << 60) | ((g() % 4096) << 40) | (g() & ((1ull << 40) - 1)), lo = g();
      for (int b = 0; b < 8; ++b) d6[i][b] = uint8_t(hi >> (56 - 8 * b)), d6[i][8 + b] = uint8_t(lo >> (56 - 8 * b));
    }
  }
  n = 0;
  t0 = std::chrono::steady_clock::now();
  for (int pass = 0; pass < 4; ++pass)
    for (size_t i = 0; i < n6a; ++i, ++n) sink += fib->lookup6(0, d6[i].data(), uint32_t(i));
  const double lk6 = double(n) / secs_since(t0);

  // Delete rate, for the report on stderr.
  t0 = std::chrono::steady_clock::now();
  for (const Route& r : r4) fib->route_del(0, r.prefix);
  const double del4 = double(n4) / secs_since(t0);
  std::fprintf(stderr, "ipv4 delete %.0f/s, sink %llu\n", del4, (unsigned long long)sink);

  std::printf(
      "{\"lpm4_lookups_per_s\":%.0f,\"lpm6_lookups_per_s\":%.0f,\"lpm_ip4_insert_per_s\":%.0f,"
      "\"lpm_ip6_insert_per_s\":%.0f,\"lpm_rss_mb\":%.1f,\"lpm_ip4_routes\":%zu,\"lpm_ip6_routes\":%zu}\n",
      lk4, lk6, ins4, ins6, rss, routes4, routes6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--bench") return bench();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::pair<const char*, std::function<void()>> suites[] = {
      {"parse", test_parse},
      {"ip4 lpm groups", test_ip4_lpm_groups},
      {"ip6 lpm rebuild", test_ip6_lpm_rebuild},
      {"ecmp", test_ecmp},
      {"interning", test_interning},
      {"nexthops", test_nexthops},
      {"glean/rewrite", test_glean_rewrite},
      {"addresses", test_addresses},
      {"drops and precedence", test_drops_and_precedence},
      {"tables", test_tables},
      {"errors", test_errors},
      {"random ipv4", [] { test_random(true); }},
      {"random ipv6", [] { test_random(false); }},
      {"concurrency", test_concurrency},
  };
  const std::string only = argc > 2 && std::string(argv[1]) == "--only" ? argv[2] : "";
  for (const auto& [name, fn] : suites) {
    if (std::string(name).find(only) == std::string::npos) continue;
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    std::fprintf(stderr, "# %s: %.2fs\n", name, secs_since(t0));
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
