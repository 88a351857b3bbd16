// A worker thread: polls the rx queues of the ports (and their mirrors) it
// owns and pushes each received vector through the graph. What it polls is a
// WorkerPlan published by the control thread (pointer swap + Rcu), so adding
// or removing a port never stops the worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "core/buffer.h"
#include "core/rcu.h"
#include "fib/fib.h"
#include "graph/counters.h"
#include "graph/runtime.h"

namespace lcp {

struct RxSource {
  enum class Kind : uint8_t { Port, Mirror } kind;
  uint32_t port;
  io::RxQueue* rxq = nullptr;  // Kind::Port
  MirrorIo* mirror = nullptr;  // Kind::Mirror
  int fd = -1;
};

struct WorkerPlan {
  uint64_t generation = 0;
  std::vector<RxSource> sources;
};

class Worker {
 public:
  Worker(unsigned id, Rcu& rcu, const fib::Fib& fib, const PortTable& ports, uint32_t n_buffers);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void stop();
  // Control thread: replace the plan (the old one is retired through Rcu).
  void publish(std::vector<RxSource> sources);
  const std::vector<RxSource>& sources() const { return control_sources_; }

  unsigned id() const { return id_; }
  const WorkerCounters& counters() const { return *counters_; }
  TraceBuffer& trace() { return *trace_; }
  uint32_t buffers_free() const { return pool_.available(); }

 private:
  void run();
  uint32_t receive(const RxSource& src, Buffer** v);
  void wake();

  unsigned id_;
  Rcu& rcu_;
  const fib::Fib& fib_;
  const PortTable& ports_;
  BufferPool pool_;
  std::unique_ptr<WorkerCounters> counters_;
  std::unique_ptr<TraceBuffer> trace_;
  std::atomic<WorkerPlan*> plan_{nullptr};
  std::vector<RxSource> control_sources_;  // control thread's copy
  uint64_t generation_ = 0;
  std::atomic<bool> running_{false};
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace lcp
