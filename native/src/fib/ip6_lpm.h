// IPv6 longest-prefix match: a direct table for prefixes up to /16 (leaf-
// pushed like tbl24, one word per /16: depth << 24 | LB index) plus one
// open-addressing hash of (masked address, length) for everything longer.
// Bitmaps of the lengths present say which lengths can match at all: one per
// /16 for lengths 17..32, and one per hash bucket of the /32 for lengths
// 33..128 (colliding /32s share a bucket: the bitmap is a superset, which
// costs a wasted probe, never a wrong answer). So a lookup probes only the
// few lengths used near its address, longest first, and stops at the first
// hit. Memory stays ~linear in the prefix count (200k prefixes: ~40 MB),
// unlike a multibit trie on sparse v6 space.
//
// Readers are wait-free: hash slots are filled key first and published by a
// release store of their `meta` word; a deleted slot becomes a tombstone and
// is never rewritten in place (the table is rebuilt into a fresh array,
// swapped by pointer and the old one retired through Rcu), so a reader never
// sees a half-written key.
#pragma once

#include <atomic>
#include <cstdint>
#include <unordered_map>

#include "core/rcu.h"
#include "fib/mem.h"

namespace lcp::fib {

class Ip6Lpm {
 public:
  explicit Ip6Lpm(Rcu& rcu);
  ~Ip6Lpm();
  Ip6Lpm(const Ip6Lpm&) = delete;
  Ip6Lpm& operator=(const Ip6Lpm&) = delete;

  // ---- reader: wait-free; hi/lo are the address as two host-order words ----
  uint32_t lookup(uint64_t hi, uint64_t lo) const {
    const uint32_t top = uint32_t(hi >> 48);
    const LenMask& m = long_mask_[bucket_of(hi)];
    uint64_t w1 = m.w[1].load(std::memory_order_acquire);                // lengths 97..128
    uint64_t w0 = m.w[0].load(std::memory_order_acquire);                // lengths 33..96
    uint32_t w16 = short_mask_[top].load(std::memory_order_acquire);     // lengths 17..32
    if (w0 | w1 | w16) {
      const HashTable* ht = ht_.load(std::memory_order_acquire);
      uint32_t lb;
      while (w1) {
        const int b = 63 - __builtin_clzll(w1);
        w1 &= ~(1ull << b);
        if (probe(ht, hi, lo, 97 + b, lb)) return lb;
      }
      while (w0) {
        const int b = 63 - __builtin_clzll(w0);
        w0 &= ~(1ull << b);
        if (probe(ht, hi, lo, 33 + b, lb)) return lb;
      }
      while (w16) {
        const int b = 31 - __builtin_clz(w16);
        w16 &= ~(1u << b);
        if (probe(ht, hi, lo, 17 + b, lb)) return lb;
      }
    }
    return dir16_[top].load(std::memory_order_acquire) & 0xffffffu;
  }

  // ---- writer: serialised by the caller; hi/lo have no bits beyond len ----
  void set(uint64_t hi, uint64_t lo, uint8_t len, uint32_t lb);
  void remove(uint64_t hi, uint64_t lo, uint8_t len, uint8_t cover_len, uint32_t cover_lb);

  size_t hashed_prefixes() const { return live_; }
  size_t hash_capacity() const { return ht_.load(std::memory_order_relaxed)->mask + 1; }

 private:
  static constexpr uint32_t kEmpty = 0, kTomb = 0xffffffffu;  // else meta = len + 1
  struct alignas(32) Slot {
    std::atomic<uint64_t> hi, lo;
    std::atomic<uint32_t> meta, lb;
  };
  struct HashTable {
    explicit HashTable(size_t cap) : mask(cap - 1), slots(cap) {}
    size_t mask;
    MappedArray<Slot> slots;
  };
  struct alignas(16) LenMask {
    std::atomic<uint64_t> w[2];
  };
  static constexpr unsigned kBucketBits = 19;  // 8 MiB of bitmaps, committed as used
  static uint32_t bucket_of(uint64_t hi) {
    return uint32_t(((hi >> 32) * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits));
  }
  struct Masks {
    uint64_t hi[129], lo[129];
    Masks();
  };
  static const Masks kMasks;

  static uint64_t hash(uint64_t hi, uint64_t lo, uint32_t len) {
    uint64_t h = (hi ^ (uint64_t(len) << 56)) * 0x9E3779B97F4A7C15ull;
    h ^= (lo + len) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    h *= 0x165667B19E3779F9ull;
    return h ^ (h >> 29);
  }
  static bool probe(const HashTable* ht, uint64_t hi, uint64_t lo, uint32_t len, uint32_t& lb) {
    hi &= kMasks.hi[len];
    lo &= kMasks.lo[len];
    for (size_t i = hash(hi, lo, len) & ht->mask;; i = (i + 1) & ht->mask) {
      const Slot& s = ht->slots[i];
      const uint32_t meta = s.meta.load(std::memory_order_acquire);
      if (meta == kEmpty) return false;
      if (meta == len + 1 && s.hi.load(std::memory_order_relaxed) == hi &&
          s.lo.load(std::memory_order_relaxed) == lo) {
        lb = s.lb.load(std::memory_order_relaxed);
        return true;
      }
    }
  }

  Slot* find(uint64_t hi, uint64_t lo, uint32_t len) const;
  void insert_new(HashTable* ht, uint64_t hi, uint64_t lo, uint32_t len, uint32_t lb);
  void rebuild(size_t cap);
  void set_len_bit(uint64_t hi, uint32_t len, bool on);
  static uint64_t count_key(uint64_t hi, uint32_t len);

  Rcu& rcu_;
  MappedArray<std::atomic<uint32_t>> dir16_;
  MappedArray<std::atomic<uint32_t>> short_mask_;  // per /16: lengths 17..32
  MappedArray<LenMask> long_mask_;                 // per /32 bucket: lengths 33..128
  std::atomic<HashTable*> ht_;
  std::unordered_map<uint64_t, uint32_t> len_count_;  // (mask slot << 8 | len) -> prefixes
  size_t live_ = 0;   // live keys
  size_t used_ = 0;   // live keys + tombstones
};

}  // namespace lcp::fib
