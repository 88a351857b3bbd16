// A number no other object of the process ever had. A worker tells a new
// receive source from a freed one by it: the new one may sit at the freed
// one's address with the freed one's fd number.
#pragma once

#include <atomic>
#include <cstdint>

namespace lcp {

class InstanceId {
 public:
  InstanceId() : id_(next()) {}
  InstanceId(const InstanceId&) : id_(next()) {}  // a copy is another object
  InstanceId& operator=(const InstanceId&) { return *this; }
  uint64_t instance_id() const { return id_; }

 private:
  static uint64_t next() {
    static std::atomic<uint64_t> n{1};
    return n.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t id_;
};

}  // namespace lcp
