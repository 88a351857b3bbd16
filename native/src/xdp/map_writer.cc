// The FIB in the fast path's BPF maps: FibObserver calls queued under the
// dataplane's mutex, applied in order by one writer thread, prefix runs in
// batch syscalls; IPv4 in mapped DIR-24-8 arrays, IPv6 in a hash by length.
#include <bpf/bpf.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fib/ip4_lpm.h"
#include "xdp/fast_path_parts.h"
#include "xdp/fastpath_abi.h"

namespace lcp::xdp {

using detail::err_text;

namespace {

constexpr int kENOTSUPP = 524;  // the kernel's internal "not supported" (no batch ops)

}  // namespace

// ---- fib::FibObserver: called under the dataplane's control mutex ----
// Each change is queued in order; the writer thread applies it.

void FastPath::enqueue(const Op& op) {
  {
    std::lock_guard lk(q_mu_);
    queue_.ops.push_back(op);
    ++q_enqueued_;
    if (queue_.ops.size() > max_queue_.load(std::memory_order_relaxed))
      max_queue_.store(queue_.ops.size(), std::memory_order_relaxed);
  }
  q_cv_.notify_one();
}

void FastPath::prefix_set(uint32_t slot, const fib::Prefix& p, uint32_t lb, bool fresh) {
  if (!usable_) return;
  Op op{p.addr.family == fib::Family::Ip4 ? Op::Set4 : Op::Set6, p.len, slot, lb, fresh ? 1u : 0u, {}};
  std::memcpy(op.addr, p.addr.b.data(), 16);
  enqueue(op);
}

void FastPath::prefix_unset(uint32_t slot, const fib::Prefix& p, uint8_t cover_len, uint32_t cover_lb) {
  if (!usable_) return;
  Op op{p.addr.family == fib::Family::Ip4 ? Op::Unset4 : Op::Unset6, p.len, slot, cover_lb, cover_len, {}};
  std::memcpy(op.addr, p.addr.b.data(), 16);
  enqueue(op);
}

void FastPath::lb_set(uint32_t index, const fib::LoadBalance& lb) {
  if (!usable_) return;
  {
    std::lock_guard lk(q_mu_);
    queue_.lbs.push_back(lb);
    queue_.ops.push_back(Op{Op::LbSet, 0, 0, index, uint32_t(queue_.lbs.size() - 1), {}});
    ++q_enqueued_;
  }
  q_cv_.notify_one();
}

void FastPath::lb_unset(uint32_t index) {
  if (usable_) enqueue(Op{Op::LbUnset, 0, 0, index, 0, {}});
}

void FastPath::adj_set(uint32_t index, const fib::Adjacency& a) {
  if (!usable_) return;
  {
    std::lock_guard lk(q_mu_);
    queue_.adjs.push_back(a);
    queue_.ops.push_back(Op{Op::AdjSet, 0, 0, index, uint32_t(queue_.adjs.size() - 1), {}});
    ++q_enqueued_;
  }
  q_cv_.notify_one();
}

void FastPath::adj_unset(uint32_t index) {
  if (usable_) enqueue(Op{Op::AdjUnset, 0, 0, index, 0, {}});
}

void FastPath::flush() {
  if (!usable_) return;
  std::unique_lock lk(q_mu_);
  const uint64_t target = q_enqueued_;
  q_done_cv_.wait(lk, [&] { return q_applied_ >= target || q_stop_; });
}

void FastPath::writer_loop() {
  Queue q;
  for (;;) {
    {
      std::unique_lock lk(q_mu_);
      q_cv_.wait(lk, [&] { return q_stop_ || !queue_.ops.empty(); });
      if (q_stop_ && queue_.ops.empty()) return;
      std::swap(q, queue_);  // the FIB goes on filling a fresh queue meanwhile
    }
    apply(q);
    const uint64_t n = q.ops.size();
    q.ops.clear();
    q.lbs.clear();
    q.adjs.clear();
    {
      std::lock_guard lk(q_mu_);
      q_applied_ += n;
    }
    q_done_cv_.notify_all();
  }
}

void FastPath::apply(Queue& q) {
  const size_t n = q.ops.size();
  size_t i = 0;
  while (i < n) {
    const Op& op = q.ops[i];
    switch (op.kind) {
      case Op::Set4:
      case Op::Set6:
      case Op::Unset4:
      case Op::Unset6: {
        size_t j = i + 1;
        while (j < n && q.ops[j].kind == op.kind && j - i < 8192) ++j;
        if (op.kind == Op::Set4 || op.kind == Op::Unset4) apply_prefix4_run(&q.ops[i], j - i);
        else apply_prefix6_run(&q.ops[i], j - i);
        i = j;
        continue;
      }
      case Op::LbSet: apply_lb(op.value, &q.lbs[op.aux]); break;
      case Op::LbUnset: apply_lb(op.value, nullptr); break;
      case Op::AdjSet: apply_adj(op.value, &q.adjs[op.aux]); break;
      case Op::AdjUnset: apply_adj(op.value, nullptr); break;
    }
    ++i;
  }
}


static_assert(FP_MAX_TABLES == fib::kMaxTables, "a map-of-maps slot per FIB table slot");

FastPath::Lpm4* FastPath::lpm4(uint32_t slot) {
  if (lpm4_.size() <= slot) lpm4_.resize(slot + 1);
  if (lpm4_[slot]) return lpm4_[slot].get();
  auto t = std::make_unique<Lpm4>();
  LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE);
  t->t24_fd.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "fp_t24", 4, sizeof(fp_words), 1u << 16, &mo));
  if (!t->t24_fd) {
    fib_failed("fast path IPv4 table (tbl24 array)", errno);
    return nullptr;
  }
  t->t8_fd.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "fp_t8", 4, sizeof(fp_words), FP_TBL8_GROUPS, &mo));
  if (!t->t8_fd) {
    fib_failed("fast path IPv4 table (tbl8 array)", errno);
    return nullptr;
  }
  t->t24 = ::mmap(nullptr, Lpm4::k24Bytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->t24_fd.get(), 0);
  if (t->t24 == MAP_FAILED) {
    fib_failed("map the fast path IPv4 tbl24", errno);
    return nullptr;
  }
  t->t8 = ::mmap(nullptr, Lpm4::k8Bytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->t8_fd.get(), 0);
  if (t->t8 == MAP_FAILED) {
    fib_failed("map the fast path IPv4 tbl8", errno);
    return nullptr;
  }
  t->lpm = std::make_unique<fib::Ip4Lpm>(lpm4_rcu_, static_cast<std::atomic<uint32_t>*>(t->t24),
                                         static_cast<std::atomic<uint32_t>*>(t->t8), FP_TBL8_GROUPS);
  // tbl8 first: a tbl24 word never points at a group the program cannot find.
  int fd = t->t8_fd.get();
  if (bpf_map_update_elem(tbl8_fd_, &slot, &fd, BPF_ANY) < 0) {
    fib_failed("fast path fp_tbl8 update", errno);
    return nullptr;
  }
  fd = t->t24_fd.get();
  if (bpf_map_update_elem(tbl24_fd_, &slot, &fd, BPF_ANY) < 0) {
    fib_failed("fast path fp_tbl24 update", errno);
    return nullptr;
  }
  lpm4_[slot] = std::move(t);
  return lpm4_[slot].get();
}

// Updating a map-of-maps slot makes the kernel wait for every running BPF
// program (synchronize_rcu in the bpf() syscall): after it, no program still
// holds a tbl24 word read before a group was folded back, so the group may be
// reused. Writing the slot's own array again changes nothing else.
void FastPath::sync_bpf_readers(uint32_t slot) {
  const int fd = lpm4_[slot]->t24_fd.get();
  if (bpf_map_update_elem(tbl24_fd_, &slot, &fd, BPF_ANY) < 0) return fib_failed("fast path fp_tbl24 sync", errno);
  lpm4_rcu_.reclaim();  // no workers: runs what waited, now that the kernel's readers are done
}

// IPv4 prefix ops: the same DIR-24-8 updates the FIB made to its own table,
// on the program's memory (single 32-bit stores, groups published last).
void FastPath::apply_prefix4_run(const Op* ops, size_t n) {
  if (fib_broken_.load(std::memory_order_relaxed)) return;
  map_updates_.fetch_add(n, std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    const Op& op = ops[i];
    const uint32_t addr = (uint32_t(op.addr[0]) << 24) | (uint32_t(op.addr[1]) << 16) | (uint32_t(op.addr[2]) << 8) | op.addr[3];
    if (op.kind == Op::Set4) {
      Lpm4* t = lpm4(op.slot);
      if (!t) return;
      try {
        t->lpm->set(addr, op.len, op.value);
      } catch (const std::exception&) {
        // A prefix missing here would let its cover forward what it should not.
        return fib_failed("fast path IPv4 table: all " + std::to_string(FP_TBL8_GROUPS) + " tbl8 groups in use", ENOSPC);
      }
    } else if (op.slot < lpm4_.size() && lpm4_[op.slot]) {
      Lpm4& t = *lpm4_[op.slot];
      const uint32_t groups = t.lpm->groups_in_use();
      t.lpm->remove(addr, op.len, op.aux, op.value);
      if (t.lpm->groups_in_use() < groups) sync_bpf_readers(op.slot);
    }
  }
  uint64_t groups = 0;
  for (const auto& t : lpm4_)
    if (t) groups += t->lpm->groups_in_use();
  lpm4_groups_.store(groups, std::memory_order_relaxed);
}

// A run of one kind of IPv6 prefix op: one batch syscall per run for the
// hash, and the length bits around it (set once a prefix is in, cleared
// before the last of its length in the bucket leaves).
void FastPath::apply_prefix6_run(const Op* ops, size_t n) {
  if (fib_broken_.load(std::memory_order_relaxed)) return;
  const bool set = ops[0].kind == Op::Set6;
  thread_local std::vector<fp_key6> keys;
  thread_local std::vector<uint32_t> values;
  keys.resize(n);
  values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    fp_key6& k = keys[i];
    k = fp_key6{};
    k.table = ops[i].slot;
    k.len = ops[i].len;
    for (int b = 0; b < 8; ++b) {
      k.hi = (k.hi << 8) | ops[i].addr[b];
      k.lo = (k.lo << 8) | ops[i].addr[8 + b];
    }
    values[i] = ops[i].value;
  }
  map_updates_.fetch_add(n, std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  if (!set)
    for (size_t i = 0; i < n; ++i) count_len6(keys[i], -1);
  if (!write_fib6(set, keys.data(), values.data(), n)) return;
  if (set)
    for (size_t i = 0; i < n; ++i)
      if (ops[i].aux) count_len6(keys[i], +1);  // fresh: a replaced prefix is counted already
}

// One more or one less prefix of k's length where k's lookups look: the
// bit goes on with the first and off with the last.
void FastPath::count_len6(const fp_key6& k, int delta) {
  uint64_t* word;
  uint64_t bit;
  uint64_t key;
  if (k.len >= 32) {
    const uint32_t b = fp_lens6_bucket(k.table, uint32_t(k.hi >> 32));
    const uint32_t i = k.len - 32;
    word = &lens6_[b].w[i / 64];
    bit = 1ull << (i % 64);
    key = (uint64_t(b) << 8) | k.len;
  } else {
    word = &short6_[k.table];
    bit = 1ull << k.len;
    key = (uint64_t(1) << 40) | (uint64_t(k.table) << 8) | k.len;
  }
  if (delta > 0) {
    if (len6_count_[key]++ == 0) __atomic_fetch_or(word, bit, __ATOMIC_RELEASE);
    return;
  }
  auto it = len6_count_.find(key);
  if (it == len6_count_.end()) return;
  if (--it->second == 0) {
    __atomic_fetch_and(word, ~bit, __ATOMIC_RELEASE);
    len6_count_.erase(it);
  }
}

bool FastPath::write_fib6(bool set, const fp_key6* keys, const uint32_t* values, size_t n) {
  const int fd = fib6_fd_;
  size_t done = 0;
  while (done < n) {
    uint32_t count = uint32_t(n - done);
    const int rc = set ? bpf_map_update_batch(fd, keys + done, values + done, &count, nullptr)
                       : bpf_map_delete_batch(fd, keys + done, &count, nullptr);
    if (rc == 0) return true;
    const int err = errno;
    done += count;  // processed before the failing one
    if (err == EINVAL || err == kENOTSUPP || err == EOPNOTSUPP) {
      // No batch ops for this map on this kernel: one syscall each.
      for (; done < n; ++done) {
        const int r = set ? bpf_map_update_elem(fd, &keys[done], &values[done], BPF_ANY) : bpf_map_delete_elem(fd, &keys[done]);
        if (r < 0 && !(errno == ENOENT && !set)) {
          fib_failed("fast path FIB map update", errno);
          return false;
        }
      }
      return true;
    }
    if (err == ENOENT && !set) {  // deleting what is not there: skip it, go on
      ++done;
      continue;
    }
    fib_failed(set ? "fast path FIB map update" : "fast path FIB map delete", err);
    return false;
  }
  return true;
}

void FastPath::apply_lb(uint32_t index, const fib::LoadBalance* lb) {
  map_updates_.fetch_add(1, std::memory_order_relaxed);
  if (!lb || lb->n_buckets > FP_MAX_BUCKETS) {  // freed, or wide ECMP: the graph's
    bpf_map_delete_elem(lbs_fd_, &index);
    return;
  }
  fp_lb v{};
  v.n_buckets = lb->n_buckets;
  for (uint32_t i = 0; i < lb->n_buckets; ++i) v.buckets[i] = lb->buckets[i];
  if (bpf_map_update_elem(lbs_fd_, &index, &v, BPF_ANY) < 0) {
    const int err = errno;
    bpf_map_delete_elem(lbs_fd_, &index);  // never a stale one
    map_error("fast path load-balance map update", err);
  }
}

void FastPath::apply_adj(uint32_t index, const fib::Adjacency* a) {
  map_updates_.fetch_add(1, std::memory_order_relaxed);
  // Glean, receive, drops, VLAN and point-to-point rewrites: the graph's.
  if (!a || a->kind != fib::AdjKind::Rewrite || a->rewrite_len != 14) {
    bpf_map_delete_elem(adjs_fd_, &index);
    return;
  }
  fp_adj v{};
  v.port = a->port;
  v.mtu = a->mtu;
  std::memcpy(v.rewrite, a->rewrite, 14);
  if (bpf_map_update_elem(adjs_fd_, &index, &v, BPF_ANY) < 0) {
    const int err = errno;
    bpf_map_delete_elem(adjs_fd_, &index);
    map_error("fast path adjacency map update", err);
  }
}

}  // namespace lcp::xdp
