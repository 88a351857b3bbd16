// Load-balance objects: the level between an LPM word and an adjacency.
// Interned by (kind, payload family, canonical path set) with refcounts, so a
// million routes over a handful of next hops share a handful of objects. An
// interned object is immutable; a changed path set is a different object (the
// route's LPM word moves to its index). An owned object (a nexthop object's,
// make()) is not interned: update() republishes it at the same index, so every
// route that names it follows at once, whatever their number. Freed objects
// and their indexes go through Rcu.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/rcu.h"
#include "fib/adj.h"
#include "fib/fib.h"
#include "fib/mem.h"

namespace lcp::fib {

// What a load-balance forwards to: a path set, or one shared special adjacency.
enum class LbKind : uint8_t { Paths, Drop, Blackhole, Unreachable, Prohibit, Receive };

class LbDb {
 public:
  static constexpr uint32_t kDropLb = 0;  // pinned; what a zeroed LPM word means
  static constexpr uint32_t kNone = 0xffffffffu;

  LbDb(Rcu& rcu, AdjDb& adjs);
  ~LbDb();
  LbDb(const LbDb&) = delete;
  LbDb& operator=(const LbDb&) = delete;

  // ---- reader ----
  const LoadBalance& get(uint32_t i) const { return *slots_[i].load(std::memory_order_acquire); }
  uint32_t pick(uint32_t i, uint32_t flow_hash) const {
    const LoadBalance* lb = slots_[i].load(std::memory_order_acquire);
    return lb->buckets[flow_hash & (lb->n_buckets - 1u)];
  }
  const std::atomic<LoadBalance*>* slots() const { return slots_.data(); }

  // ---- writer ----
  // Takes a reference. Paths must be validated by the caller (ports known,
  // family, count); weights of 0 count as 1, duplicates are merged.
  // `link`: the family of the packets (the rewrite's ethertype), which may
  // differ from a next hop's (RFC 8950).
  uint32_t intern(LbKind kind, Family link = Family::Ip4, const Path* paths = nullptr, size_t n = 0);
  // An owned object for `owner` (a nexthop id), one reference; update() keeps
  // its index and family and replaces what it forwards to.
  uint32_t make(uint64_t owner, LbKind kind, Family link, const Path* paths, size_t n);
  void update(uint32_t i, LbKind kind, const Path* paths, size_t n);
  void ref(uint32_t i) { ++recs_[i].refs; }
  uint64_t owner(uint32_t i) const { return recs_[i].owner; }  // 0: interned
  void release(uint32_t i);
  const std::vector<Path>& paths(uint32_t i) const { return recs_[i].paths; }
  LbKind kind(uint32_t i) const { return recs_[i].kind; }
  uint32_t refs(uint32_t i) const { return recs_[i].refs; }
  size_t live() const { return by_key_.size(); }
  void set_observer(FibObserver* obs);  // replays every live load-balance

  // Spread weights over a power-of-two bucket count (<= kMaxBuckets), each
  // path at least one bucket, interleaved so neighbouring hashes differ.
  static std::vector<uint32_t> buckets_for(const std::vector<uint32_t>& adjs,
                                           const std::vector<uint32_t>& weights);

 private:
  struct Rec {
    uint32_t refs = 0;
    LbKind kind = LbKind::Drop;
    std::vector<Path> paths;     // canonical (sorted, merged)
    std::vector<uint32_t> adjs;  // one reference each
    std::string key;             // empty for owned objects
    Family link = Family::Ip4;
    uint64_t owner = 0;
  };
  void canonicalise(const Path* paths, size_t n);
  // Fills rec (kind, paths from scratch_, adjacencies acquired) and returns the
  // object readers will see.
  LoadBalance* build(Rec& rec, LbKind kind);
  uint32_t publish_new(Rec&& rec, LoadBalance* lb);

  Rcu& rcu_;
  AdjDb& adjs_;
  MappedArray<std::atomic<LoadBalance*>> slots_;
  std::vector<Rec> recs_;
  std::unordered_map<std::string, uint32_t> by_key_;
  std::shared_ptr<IndexPool> pool_;
  FibObserver* obs_ = nullptr;
  std::vector<Path> scratch_;  // reused: interning an existing set allocates nothing
  std::string key_;
};

}  // namespace lcp::fib
