// Big zero-initialised arrays for the LPM tables, mapped straight from the
// kernel: untouched pages cost nothing (a fresh tbl24 is all-zero = "drop"),
// MADV_HUGEPAGE cuts TLB misses on random lookups, and MAP_NORESERVE lets us
// reserve address space for tbl8 groups that are only committed when used.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <new>
#include <type_traits>
#include <mutex>
#include <utility>
#include <vector>

namespace lcp::fib {

template <typename T>
class MappedArray {
  static_assert(std::is_trivially_destructible_v<T>);

 public:
  MappedArray() = default;
  explicit MappedArray(size_t n, bool huge = true) : n_(n) {
    bytes_ = n * sizeof(T);
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (huge) ::madvise(p, bytes_, MADV_HUGEPAGE);  // best effort
    p_ = static_cast<T*>(p);  // zero bytes are a valid T (atomics of 0, null pointers)
  }
  ~MappedArray() { reset(); }
  MappedArray(MappedArray&& o) noexcept { swap(o); }
  MappedArray& operator=(MappedArray&& o) noexcept {
    if (this != &o) { reset(); swap(o); }
    return *this;
  }
  MappedArray(const MappedArray&) = delete;
  MappedArray& operator=(const MappedArray&) = delete;

  T* data() const { return p_; }
  size_t size() const { return n_; }
  T& operator[](size_t i) const { return p_[i]; }

 private:
  void reset() {
    if (p_) ::munmap(p_, bytes_);
    p_ = nullptr;
    n_ = bytes_ = 0;
  }
  void swap(MappedArray& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(bytes_, o.bytes_);
  }
  T* p_ = nullptr;
  size_t n_ = 0;
  size_t bytes_ = 0;
};

static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == 8 && std::atomic<uint64_t>::is_always_lock_free);

// A free list of indexes whose reuse must wait for a grace period: released
// indexes are handed back from an Rcu callback, which may run on another
// thread than the writer, hence the small (control-side only) mutex. Shared
// ownership so that callbacks still pending when the owner dies stay valid.
class IndexPool {
 public:
  explicit IndexPool(uint32_t first, uint32_t limit) : next_(first), limit_(limit) {}
  // Returns limit() when exhausted.
  uint32_t alloc() {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!free_.empty()) {
        uint32_t i = free_.back();
        free_.pop_back();
        return i;
      }
    }
    return next_ < limit_ ? next_++ : limit_;
  }
  void release(uint32_t i) {
    std::lock_guard<std::mutex> g(mu_);
    free_.push_back(i);
  }
  uint32_t limit() const { return limit_; }
  uint32_t high_water() const { return next_; }
  size_t free_count() {
    std::lock_guard<std::mutex> g(mu_);
    return free_.size();
  }

 private:
  std::mutex mu_;
  std::vector<uint32_t> free_;
  uint32_t next_;
  uint32_t limit_;
};

}  // namespace lcp::fib
