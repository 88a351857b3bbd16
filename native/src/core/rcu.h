// Quiescent-state based reclamation (QSBR), the "epoch/RCU" publishing rule
// of the dataplane:
//  - writers (control threads, serialised by their own mutex) build a new
//    object, publish it with a release store, and hand the old one to
//    retire(); it is freed only after every worker has passed a quiescent
//    point (the top of its loop) or is offline (blocked in poll()).
//  - workers never lock; they call quiescent() once per loop iteration and
//    offline()/online() around blocking waits.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace lcp {

constexpr unsigned kMaxWorkers = 16;

class Rcu {
 public:
  static constexpr uint64_t kOffline = ~0ull;
  static constexpr uint64_t kUnused = 0;

  // A worker slot is registered when its thread starts and released on exit.
  unsigned register_worker() {
    for (unsigned i = 0; i < kMaxWorkers; ++i) {
      uint64_t expect = kUnused;
      if (slots_[i].seen.compare_exchange_strong(expect, kOffline)) return i;
    }
    return kMaxWorkers;
  }
  void unregister_worker(unsigned w) { slots_[w].seen.store(kUnused); }

  void quiescent(unsigned w) { slots_[w].seen.store(global_.load()); }
  void offline(unsigned w) { slots_[w].seen.store(kOffline); }
  void online(unsigned w) { slots_[w].seen.store(global_.load()); }

  // Wait until every worker has been quiescent (or offline) since now.
  void synchronize() {
    const uint64_t target = global_.fetch_add(1) + 1;
    for (unsigned i = 0; i < kMaxWorkers; ++i) {
      for (;;) {
        const uint64_t s = slots_[i].seen.load();
        if (s == kUnused || s == kOffline || s >= target) break;
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
  }

  // Free `fn` later, after a grace period. Cheap: batched in reclaim().
  void retire(std::function<void()> fn) {
    std::lock_guard<std::mutex> g(mu_);
    pending_.push_back(std::move(fn));
  }
  template <typename T>
  void retire_delete(T* p) {
    if (p) retire([p] { delete p; });
  }
  template <typename T>
  void retire_delete_array(T* p) {
    if (p) retire([p] { delete[] p; });
  }

  // Run a grace period and free everything retired before it.
  void reclaim() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> g(mu_);
      batch.swap(pending_);
    }
    if (batch.empty()) return;
    synchronize();
    for (auto& fn : batch) fn();
  }

  ~Rcu() {
    for (auto& fn : pending_) fn();
  }

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> seen{kUnused};
  };
  std::atomic<uint64_t> global_{1};
  Slot slots_[kMaxWorkers];
  std::mutex mu_;
  std::vector<std::function<void()>> pending_;
};

}  // namespace lcp
