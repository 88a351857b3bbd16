#include "fib/ip4_lpm.h"

#include <stdexcept>

namespace lcp::fib {

namespace {
constexpr auto kRel = std::memory_order_release;
constexpr auto kRlx = std::memory_order_relaxed;
}  // namespace

Ip4Lpm::Ip4Lpm(Rcu& rcu, uint32_t max_groups)
    : rcu_(rcu),
      own24_(size_t(1) << 24),
      own8_(size_t(max_groups) << 8),
      tbl24_(own24_.data()),
      tbl8_(own8_.data()),
      groups_(std::make_shared<IndexPool>(0, max_groups)) {}

Ip4Lpm::Ip4Lpm(Rcu& rcu, std::atomic<uint32_t>* tbl24, std::atomic<uint32_t>* tbl8, uint32_t max_groups)
    : rcu_(rcu), tbl24_(tbl24), tbl8_(tbl8), groups_(std::make_shared<IndexPool>(0, max_groups)) {}

void Ip4Lpm::set(uint32_t addr, uint8_t len, uint32_t lb) {
  const uint32_t val = leaf(len, lb);
  if (len <= 24) {
    // Every /24 the prefix spans: overwrite what is not more specific.
    const uint32_t first = len == 0 ? 0 : addr >> 8;
    const uint32_t count = 1u << (24 - len);
    for (uint32_t i = first; i < first + count; ++i) {
      const uint32_t e = tbl24_[i].load(kRlx);
      if (e & kExt) {
        std::atomic<uint32_t>* grp = group(e & kIndexMask);
        for (uint32_t j = 0; j < 256; ++j)
          if (depth_of(grp[j].load(kRlx)) <= len) grp[j].store(val, kRel);
      } else if (depth_of(e) <= len) {
        tbl24_[i].store(val, kRel);
      }
    }
    return;
  }
  const uint32_t i24 = addr >> 8;
  const uint32_t lo = addr & 0xff;
  const uint32_t count = 1u << (32 - len);
  const uint32_t e = tbl24_[i24].load(kRlx);
  if (e & kExt) {
    std::atomic<uint32_t>* grp = group(e & kIndexMask);
    for (uint32_t j = lo; j < lo + count; ++j)
      if (depth_of(grp[j].load(kRlx)) <= len) grp[j].store(val, kRel);
    return;
  }
  // First long prefix in this /24: build the group off-line, then publish.
  const uint32_t g = groups_->alloc();
  if (g == groups_->limit()) throw std::runtime_error("ip4 lpm: out of tbl8 groups");
  ++groups_in_use_;
  std::atomic<uint32_t>* grp = group(g);
  for (uint32_t j = 0; j < 256; ++j) grp[j].store(j >= lo && j < lo + count ? val : e, kRlx);
  tbl24_[i24].store(kExt | g, kRel);  // release: the filled group is visible first
}

void Ip4Lpm::remove(uint32_t addr, uint8_t len, uint8_t cover_len, uint32_t cover_lb) {
  const uint32_t cover = leaf(cover_len, cover_lb);
  if (len <= 24) {
    const uint32_t first = len == 0 ? 0 : addr >> 8;
    const uint32_t count = 1u << (24 - len);
    for (uint32_t i = first; i < first + count; ++i) {
      const uint32_t e = tbl24_[i].load(kRlx);
      if (e & kExt) {
        std::atomic<uint32_t>* grp = group(e & kIndexMask);
        for (uint32_t j = 0; j < 256; ++j)
          if (depth_of(grp[j].load(kRlx)) == len) grp[j].store(cover, kRel);
      } else if (depth_of(e) == len) {
        tbl24_[i].store(cover, kRel);
      }
    }
    return;
  }
  const uint32_t i24 = addr >> 8;
  const uint32_t e = tbl24_[i24].load(kRlx);
  if (!(e & kExt)) return;  // nothing long here (caller bug); keep the table sane
  const uint32_t g = e & kIndexMask;
  std::atomic<uint32_t>* grp = group(g);
  const uint32_t lo = addr & 0xff;
  const uint32_t count = 1u << (32 - len);
  for (uint32_t j = lo; j < lo + count; ++j)
    if (depth_of(grp[j].load(kRlx)) == len) grp[j].store(cover, kRel);
  collapse_if_short(i24, g);
}

// A group whose words all come from prefixes <= /24 holds one value (they
// all cover the whole /24): fold it back into tbl24 and recycle it later.
void Ip4Lpm::collapse_if_short(uint32_t i24, uint32_t g) {
  std::atomic<uint32_t>* grp = group(g);
  for (uint32_t j = 0; j < 256; ++j)
    if (depth_of(grp[j].load(kRlx)) > 24) return;
  tbl24_[i24].store(grp[0].load(kRlx), kRel);
  --groups_in_use_;
  rcu_.retire([pool = groups_, g] { pool->release(g); });
}

}  // namespace lcp::fib
