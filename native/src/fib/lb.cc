#include "fib/lb.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace lcp::fib {

namespace {

bool path_less(const Path& a, const Path& b) {
  if (a.port != b.port) return a.port < b.port;
  if (a.has_via != b.has_via) return a.has_via < b.has_via;
  if (a.via.family != b.via.family) return a.via.family < b.via.family;
  return a.via.b < b.via.b;
}
bool same_hop(const Path& a, const Path& b) {
  return a.port == b.port && a.has_via == b.has_via && a.via == b.via;
}

}  // namespace

LbDb::LbDb(Rcu& rcu, AdjDb& adjs)
    : rcu_(rcu), adjs_(adjs), slots_(kMaxLoadBalances, false),
      pool_(std::make_shared<IndexPool>(1, kMaxLoadBalances)) {
  auto* drop = new LoadBalance;
  drop->buckets[0] = AdjDb::kDrop;
  slots_[kDropLb].store(drop, std::memory_order_release);
  recs_.resize(1);
  recs_[0].refs = 1;  // pinned, never interned by key
  recs_[0].kind = LbKind::Drop;
}

LbDb::~LbDb() {
  for (uint32_t i = 0; i < recs_.size(); ++i)
    if (recs_[i].refs) delete slots_[i].load();
}

void LbDb::canonicalise(const Path* paths, size_t n) {
  scratch_.assign(paths, paths + n);
  for (Path& p : scratch_) {
    if (p.weight == 0) p.weight = 1;
    if (!p.has_via) p.via.b = {};  // only the family of an attached path matters
  }
  std::sort(scratch_.begin(), scratch_.end(), path_less);
  size_t out = 0;
  for (size_t i = 0; i < scratch_.size(); ++i) {
    if (out && same_hop(scratch_[out - 1], scratch_[i]))
      scratch_[out - 1].weight = uint16_t(std::min<uint32_t>(0xffff, scratch_[out - 1].weight + scratch_[i].weight));
    else
      scratch_[out++] = scratch_[i];
  }
  scratch_.resize(out);
}

LoadBalance* LbDb::build(Rec& rec, LbKind kind) {
  rec.kind = kind;
  rec.paths = kind == LbKind::Paths ? scratch_ : std::vector<Path>{};
  rec.adjs.clear();
  std::vector<uint32_t> weights;
  switch (kind) {
    case LbKind::Drop: rec.adjs = {AdjDb::kDrop}; break;
    case LbKind::Blackhole: rec.adjs = {AdjDb::kBlackhole}; break;
    case LbKind::Unreachable: rec.adjs = {AdjDb::kUnreachable}; break;
    case LbKind::Prohibit: rec.adjs = {AdjDb::kProhibit}; break;
    case LbKind::Receive: rec.adjs = {AdjDb::kReceive}; break;
    case LbKind::Paths:
      try {
        for (const Path& p : rec.paths) {
          rec.adjs.push_back(adjs_.acquire(AdjKey{p.port, p.via, p.has_via, rec.link}));
          weights.push_back(p.weight);
        }
      } catch (...) {
        for (uint32_t a : rec.adjs) adjs_.release(a);
        throw;
      }
  }
  if (weights.empty()) weights.assign(rec.adjs.size(), 1);
  for (uint32_t a : rec.adjs)
    if (a < AdjDb::kFirstDynamic) adjs_.ref(a);
  auto* lb = new LoadBalance;
  const std::vector<uint32_t> b = buckets_for(rec.adjs, weights);
  lb->n_buckets = uint16_t(b.size());
  lb->n_paths = uint16_t(rec.adjs.size());
  std::copy(b.begin(), b.end(), lb->buckets);
  return lb;
}

uint32_t LbDb::publish_new(Rec&& rec, LoadBalance* lb) {
  const uint32_t i = pool_->alloc();
  if (i == pool_->limit()) {
    for (uint32_t a : rec.adjs) adjs_.release(a);
    delete lb;
    throw std::runtime_error("fib: out of load-balance objects");
  }
  if (i >= recs_.size()) recs_.resize(i + 1);
  rec.refs = 1;
  recs_[i] = std::move(rec);
  if (!recs_[i].key.empty()) by_key_.emplace(recs_[i].key, i);
  slots_[i].store(lb, std::memory_order_release);  // before any LPM word names i
  if (obs_) obs_->lb_set(i, *lb);
  return i;
}

uint32_t LbDb::intern(LbKind kind, Family link, const Path* paths, size_t n) {
  if (kind == LbKind::Drop) {
    ++recs_[kDropLb].refs;
    return kDropLb;
  }
  key_.clear();
  key_.push_back(char(kind));
  scratch_.clear();
  if (kind == LbKind::Paths) {
    key_.push_back(char(link));
    canonicalise(paths, n);
    for (const Path& p : scratch_) {
      const size_t len = p.via.family == Family::Ip4 ? 4 : 16;
      key_.append(reinterpret_cast<const char*>(&p.port), 4);
      key_.push_back(char(uint8_t(p.via.family) | (p.has_via ? 0x80 : 0)));
      if (p.has_via) key_.append(reinterpret_cast<const char*>(p.via.b.data()), len);
      key_.append(reinterpret_cast<const char*>(&p.weight), 2);
    }
  }
  if (auto it = by_key_.find(key_); it != by_key_.end()) {
    ++recs_[it->second].refs;
    return it->second;
  }
  Rec rec;
  rec.key = key_;
  rec.link = link;
  LoadBalance* lb = build(rec, kind);
  return publish_new(std::move(rec), lb);
}

uint32_t LbDb::make(uint64_t owner, LbKind kind, Family link, const Path* paths, size_t n) {
  scratch_.clear();
  if (kind == LbKind::Paths) canonicalise(paths, n);
  Rec rec;
  rec.link = link;
  rec.owner = owner;
  LoadBalance* lb = build(rec, kind);
  return publish_new(std::move(rec), lb);
}

void LbDb::update(uint32_t i, LbKind kind, const Path* paths, size_t n) {
  Rec& r = recs_[i];
  scratch_.clear();
  if (kind == LbKind::Paths) canonicalise(paths, n);
  std::vector<uint32_t> old_adjs = std::move(r.adjs);
  LoadBalance* lb;
  try {
    lb = build(r, kind);
  } catch (...) {
    r.adjs = std::move(old_adjs);
    throw;
  }
  // One pointer store moves every route that names this object; readers that
  // still hold the old one finish with it before the grace period ends.
  LoadBalance* old = slots_[i].load(std::memory_order_relaxed);
  slots_[i].store(lb, std::memory_order_release);
  rcu_.retire_delete(old);
  for (uint32_t a : old_adjs) adjs_.release(a);
  if (obs_) obs_->lb_set(i, *lb);
}

void LbDb::set_observer(FibObserver* obs) {
  obs_ = obs;
  if (obs_)
    for (uint32_t i = 0; i < recs_.size(); ++i)
      if (recs_[i].refs) obs_->lb_set(i, get(i));
}

void LbDb::release(uint32_t i) {
  Rec& r = recs_[i];
  if (--r.refs > 0 || i == kDropLb) {
    if (i == kDropLb && r.refs == 0) r.refs = 1;
    return;
  }
  if (!r.key.empty()) by_key_.erase(r.key);
  if (obs_) obs_->lb_unset(i);
  for (uint32_t a : r.adjs) adjs_.release(a);
  r = Rec{};
  // The slot keeps pointing at the object until the grace period ends: a
  // reader that read index i from an old LPM word still finds it intact.
  LoadBalance* lb = slots_[i].load(std::memory_order_relaxed);
  rcu_.retire([lb, i, pool = pool_] {
    delete lb;
    pool->release(i);
  });
}

std::vector<uint32_t> LbDb::buckets_for(const std::vector<uint32_t>& adjs,
                                        const std::vector<uint32_t>& weights) {
  const size_t n = adjs.size();
  if (n == 1) return {adjs[0]};
  uint32_t g = 0;
  for (uint32_t w : weights) g = std::gcd(g, w);
  std::vector<uint64_t> w(n);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += w[i] = weights[i] / g;
  // Exact when the reduced weights already sum to a power of two that fits;
  // otherwise >= 16 buckets per path keeps the error small.
  uint32_t nb;
  if (total <= kMaxBuckets && (total & (total - 1)) == 0) {
    nb = uint32_t(total);
  } else {
    nb = 1;
    const uint64_t want = std::max<uint64_t>(total, 16 * n);
    while (nb < want && nb < kMaxBuckets) nb <<= 1;
  }
  // Largest-remainder apportionment, then every path gets at least one.
  std::vector<uint32_t> count(n);
  std::vector<std::pair<uint64_t, size_t>> rem(n);
  uint32_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t q = w[i] * nb;
    count[i] = uint32_t(q / total);
    rem[i] = {q % total, i};
    given += count[i];
  }
  std::sort(rem.begin(), rem.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < nb; k = (k + 1) % n, ++given) ++count[rem[k].second];
  for (size_t i = 0; i < n; ++i) {
    while (count[i] == 0) {  // steal from the largest share (nb >= n always)
      size_t big = size_t(std::max_element(count.begin(), count.end()) - count.begin());
      --count[big];
      ++count[i];
    }
  }
  // Interleave: round-robin over paths while they have buckets left.
  std::vector<uint32_t> out;
  out.reserve(nb);
  while (out.size() < nb)
    for (size_t i = 0; i < n; ++i)
      if (count[i]) {
        --count[i];
        out.push_back(adjs[i]);
      }
  return out;
}

}  // namespace lcp::fib
