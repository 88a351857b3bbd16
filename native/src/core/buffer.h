// Packet buffers: fixed-size, preallocated per worker, recycled through a free
// stack. Nothing here allocates after construction and nothing is shared
// between workers, so no locks or atomics are needed on the fast path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

namespace lcp {

constexpr uint32_t kInvalidIndex = 0xffffffffu;
constexpr size_t kMaxVector = 256;      // packets per frame through the graph
constexpr size_t kHeadroom = 128;       // room to prepend a rewrite / VLAN tag
constexpr size_t kMaxFrame = 9216 + 32; // jumbo frame plus vnet header slack

// Per-packet metadata travels with the buffer, never in globals.
struct BufferMeta {
  uint32_t rx_port = kInvalidIndex;  // port (or mirror's port) it came in on
  uint32_t tx_port = kInvalidIndex;  // chosen output port
  uint32_t adjacency = kInvalidIndex;
  uint32_t flow_hash = 0;
  uint32_t trace = kInvalidIndex;    // slot in the worker's trace buffer
  uint16_t l3_offset = 0;            // offset of the IP header from data()
  uint16_t error = 0;                // drop reason, when sent to drop
};

struct alignas(64) Buffer {
  BufferMeta meta;
  uint16_t offset = kHeadroom;  // start of packet inside storage
  uint16_t length = 0;          // bytes of packet
  uint32_t index = 0;           // own index in the pool
  alignas(64) uint8_t storage[kHeadroom + kMaxFrame];

  uint8_t* data() { return storage + offset; }
  const uint8_t* data() const { return storage + offset; }
  size_t tailroom() const { return sizeof(storage) - offset; }
  void reset() {
    meta = BufferMeta{};
    offset = kHeadroom;
    length = 0;
  }
  // Prepend n bytes (e.g. an L2 rewrite); the caller checked headroom.
  uint8_t* push(size_t n) {
    offset = static_cast<uint16_t>(offset - n);
    length = static_cast<uint16_t>(length + n);
    return data();
  }
  void pull(size_t n) {
    offset = static_cast<uint16_t>(offset + n);
    length = static_cast<uint16_t>(length - n);
  }
  size_t headroom() const { return offset; }
};

// One pool per worker. alloc()/free() are O(1) pushes/pops on an index stack.
class BufferPool {
 public:
  explicit BufferPool(uint32_t n) : buffers_(new Buffer[n]), n_(n) {
    free_.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      buffers_[i].index = i;
      free_.push_back(n - 1 - i);
    }
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  Buffer* alloc() {
    if (free_.empty()) return nullptr;
    Buffer* b = &buffers_[free_.back()];
    free_.pop_back();
    b->reset();
    return b;
  }
  // Fill `out` with up to n buffers; returns how many it got.
  uint32_t alloc_burst(Buffer** out, uint32_t n) {
    uint32_t got = 0;
    while (got < n && !free_.empty()) {
      out[got] = &buffers_[free_.back()];
      out[got]->reset();
      free_.pop_back();
      ++got;
    }
    return got;
  }
  void free(Buffer* b) { free_.push_back(b->index); }
  void free_burst(Buffer* const* bs, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) free_.push_back(bs[i]->index);
  }
  uint32_t available() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t capacity() const { return n_; }

 private:
  std::unique_ptr<Buffer[]> buffers_;
  uint32_t n_;
  std::vector<uint32_t> free_;
};

}  // namespace lcp
