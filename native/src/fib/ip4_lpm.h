// IPv4 longest-prefix match, DIR-24-8: one 32-bit word per /24 (tbl24) and
// groups of 256 words (tbl8) for /24s that hold longer prefixes. A word is
//   bit 31 = ext (low 24 bits are a tbl8 group), else
//   bits 24..29 = depth (prefix length that wrote it), bits 0..23 = LB index.
// Zero means "depth 0, LB 0" = the table's drop default, so fresh (never
// touched) pages already hold the right answer.
//
// Updates are single 32-bit release stores, so a lockless reader sees each
// word either old or new; a new tbl8 group is completely filled before the
// tbl24 word that points at it is published, and a group emptied of long
// prefixes is collapsed back into tbl24 and reused only after an Rcu grace
// period. The LPM knows nothing about routes: the caller (Fib) owns the
// prefix maps and tells remove() which prefix now covers the deleted one.
// The tables are its own mapping, or memory the caller lends (the XDP fast
// path's BPF array maps, mmap()ed: the same words, read by the program).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "core/rcu.h"
#include "fib/mem.h"

namespace lcp::fib {

class Ip4Lpm {
 public:
  static constexpr uint32_t kExt = 1u << 31;
  static constexpr uint32_t kIndexMask = 0xffffffu;
  static constexpr uint32_t kDefaultGroups = 1u << 19;  // 512 MiB reserved, committed on use

  explicit Ip4Lpm(Rcu& rcu, uint32_t max_groups = kDefaultGroups);
  // Over lent, zeroed memory: 1 << 24 words of tbl24, max_groups << 8 of
  // tbl8. The lender keeps it mapped for the Ip4Lpm's lifetime.
  Ip4Lpm(Rcu& rcu, std::atomic<uint32_t>* tbl24, std::atomic<uint32_t>* tbl8, uint32_t max_groups);

  // ---- reader: wait-free ----
  uint32_t lookup(uint32_t dst) const {
    uint32_t e = tbl24_[dst >> 8].load(std::memory_order_acquire);
    if (e & kExt) e = tbl8_[((e & kIndexMask) << 8) | (dst & 0xff)].load(std::memory_order_acquire);
    return e & kIndexMask;
  }
  const std::atomic<uint32_t>* tbl24() const { return tbl24_; }
  const std::atomic<uint32_t>* tbl8() const { return tbl8_; }

  // ---- writer: serialised by the caller ----
  // Add or replace addr/len -> lb. Throws std::runtime_error when out of tbl8 groups.
  void set(uint32_t addr, uint8_t len, uint32_t lb);
  // Withdraw addr/len; words it wrote take the covering prefix (cover_len <
  // len, cover_lb; 0/0 when nothing covers it).
  void remove(uint32_t addr, uint8_t len, uint8_t cover_len, uint32_t cover_lb);

  uint32_t groups_in_use() const { return groups_in_use_; }

 private:
  static uint32_t leaf(uint8_t depth, uint32_t lb) { return (uint32_t(depth) << 24) | lb; }
  static uint8_t depth_of(uint32_t e) { return (e >> 24) & 0x3f; }
  std::atomic<uint32_t>* group(uint32_t g) const { return tbl8_ + (size_t(g) << 8); }
  void collapse_if_short(uint32_t i24, uint32_t g);

  Rcu& rcu_;
  MappedArray<std::atomic<uint32_t>> own24_, own8_;  // empty when the memory is lent
  std::atomic<uint32_t>* tbl24_;
  std::atomic<uint32_t>* tbl8_;
  std::shared_ptr<IndexPool> groups_;
  uint32_t groups_in_use_ = 0;
};

}  // namespace lcp::fib
