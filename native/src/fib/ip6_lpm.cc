#include "fib/ip6_lpm.h"

namespace lcp::fib {

namespace {
constexpr auto kRel = std::memory_order_release;
constexpr auto kRlx = std::memory_order_relaxed;
constexpr size_t kMinCapacity = 1024;

uint32_t leaf(uint8_t depth, uint32_t lb) { return (uint32_t(depth) << 24) | lb; }
uint8_t depth_of(uint32_t e) { return uint8_t(e >> 24); }
size_t pow2_at_least(size_t n) {
  size_t c = kMinCapacity;
  while (c < n) c <<= 1;
  return c;
}
}  // namespace

Ip6Lpm::Masks::Masks() {
  for (uint32_t l = 0; l <= 128; ++l) {
    hi[l] = l == 0 ? 0 : l >= 64 ? ~0ull : ~0ull << (64 - l);
    lo[l] = l <= 64 ? 0 : l == 128 ? ~0ull : ~0ull << (128 - l);
  }
}
const Ip6Lpm::Masks Ip6Lpm::kMasks;

Ip6Lpm::Ip6Lpm(Rcu& rcu)
    : rcu_(rcu),
      dir16_(1u << 16),
      short_mask_(1u << 16),
      long_mask_(1u << kBucketBits),
      ht_(new HashTable(kMinCapacity)) {}

Ip6Lpm::~Ip6Lpm() { delete ht_.load(); }

Ip6Lpm::Slot* Ip6Lpm::find(uint64_t hi, uint64_t lo, uint32_t len) const {
  HashTable* ht = ht_.load(kRlx);
  for (size_t i = hash(hi, lo, len) & ht->mask;; i = (i + 1) & ht->mask) {
    Slot& s = ht->slots[i];
    const uint32_t meta = s.meta.load(kRlx);
    if (meta == kEmpty) return nullptr;
    if (meta == len + 1 && s.hi.load(kRlx) == hi && s.lo.load(kRlx) == lo) return &s;
  }
}

void Ip6Lpm::insert_new(HashTable* ht, uint64_t hi, uint64_t lo, uint32_t len, uint32_t lb) {
  // Tombstones are skipped, not reused: a reader may still be comparing the
  // key that sits in them.
  for (size_t i = hash(hi, lo, len) & ht->mask;; i = (i + 1) & ht->mask) {
    Slot& s = ht->slots[i];
    if (s.meta.load(kRlx) != kEmpty) continue;
    s.hi.store(hi, kRlx);
    s.lo.store(lo, kRlx);
    s.lb.store(lb, kRlx);
    s.meta.store(len + 1, kRel);  // publishes the key
    return;
  }
}

void Ip6Lpm::rebuild(size_t cap) {
  HashTable* old = ht_.load(kRlx);
  auto* fresh = new HashTable(cap);
  for (size_t i = 0; i <= old->mask; ++i) {
    const Slot& s = old->slots[i];
    const uint32_t meta = s.meta.load(kRlx);
    if (meta != kEmpty && meta != kTomb)
      insert_new(fresh, s.hi.load(kRlx), s.lo.load(kRlx), meta - 1, s.lb.load(kRlx));
  }
  ht_.store(fresh, kRel);
  used_ = live_;
  rcu_.retire_delete(old);
}

uint64_t Ip6Lpm::count_key(uint64_t hi, uint32_t len) {
  const uint64_t slot = len <= 32 ? hi >> 48 : (1ull << 32) | bucket_of(hi);
  return (slot << 8) | len;
}

void Ip6Lpm::set_len_bit(uint64_t hi, uint32_t len, bool on) {
  if (len <= 32) {
    std::atomic<uint32_t>& word = short_mask_[hi >> 48];
    const uint32_t bit = 1u << (len - 17), v = word.load(kRlx);
    word.store(on ? v | bit : v & ~bit, kRel);
    return;
  }
  const uint32_t w = len >= 97 ? 1 : 0;
  const uint64_t bit = 1ull << (len - (w ? 97 : 33));
  std::atomic<uint64_t>& word = long_mask_[bucket_of(hi)].w[w];
  const uint64_t v = word.load(kRlx);
  word.store(on ? v | bit : v & ~bit, kRel);
}

void Ip6Lpm::set(uint64_t hi, uint64_t lo, uint8_t len, uint32_t lb) {
  if (len <= 16) {
    const uint32_t first = len == 0 ? 0 : uint32_t(hi >> 48);
    const uint32_t count = 1u << (16 - len);
    for (uint32_t i = first; i < first + count; ++i)
      if (depth_of(dir16_[i].load(kRlx)) <= len) dir16_[i].store(leaf(len, lb), kRel);
    return;
  }
  if (Slot* s = find(hi, lo, len)) {  // replace in place: one word
    s->lb.store(lb, kRel);
    return;
  }
  if ((used_ + 1) * 2 > ht_.load(kRlx)->mask + 1) rebuild(pow2_at_least((live_ + 1) * 3));
  insert_new(ht_.load(kRlx), hi, lo, len, lb);
  ++live_;
  ++used_;
  if (len_count_[count_key(hi, len)]++ == 0) set_len_bit(hi, len, true);  // after the key
}

void Ip6Lpm::remove(uint64_t hi, uint64_t lo, uint8_t len, uint8_t cover_len, uint32_t cover_lb) {
  if (len <= 16) {
    const uint32_t first = len == 0 ? 0 : uint32_t(hi >> 48);
    const uint32_t count = 1u << (16 - len);
    for (uint32_t i = first; i < first + count; ++i)
      if (depth_of(dir16_[i].load(kRlx)) == len) dir16_[i].store(leaf(cover_len, cover_lb), kRel);
    return;
  }
  Slot* s = find(hi, lo, len);
  if (!s) return;
  auto it = len_count_.find(count_key(hi, len));
  if (--it->second == 0) {
    len_count_.erase(it);
    set_len_bit(hi, len, false);  // before the key goes
  }
  s->meta.store(kTomb, kRel);
  --live_;
  // Shrink when mostly empty; tombstones are cleared by any rebuild.
  const size_t cap = ht_.load(kRlx)->mask + 1;
  if (cap > kMinCapacity && live_ * 8 < cap) rebuild(pow2_at_least(live_ * 3));
}

}  // namespace lcp::fib
