// Owning file descriptor and mmap'ed region: the only close()/munmap() calls
// the I/O layer needs, in destructors.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace lcp::io {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) { reset(); fd_ = std::exchange(o.fd_, -1); }
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

class Mapping {
 public:
  Mapping() = default;
  Mapping(void* p, size_t len) : p_(p), len_(len) {}
  ~Mapping() { if (p_) ::munmap(p_, len_); }
  Mapping(Mapping&& o) noexcept : p_(std::exchange(o.p_, nullptr)), len_(o.len_) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      if (p_) ::munmap(p_, len_);
      p_ = std::exchange(o.p_, nullptr);
      len_ = o.len_;
    }
    return *this;
  }
  uint8_t* data() const { return static_cast<uint8_t*>(p_); }
  size_t size() const { return len_; }

 private:
  void* p_ = nullptr;
  size_t len_ = 0;
};

// A counter written by one thread (the worker) and read by others (stats).
// Relaxed load+store instead of fetch_add: no locked instruction on the path.
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

}  // namespace lcp::io
