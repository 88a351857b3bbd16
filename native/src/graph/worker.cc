#include "graph/worker.h"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "graph/graph.h"
#include "io/fd.h"

namespace lcp {
namespace {

constexpr unsigned kSpinBeforeSleep = 64;  // empty polls before blocking
constexpr int kIdlePollMs = 10;
constexpr uint64_t kWakeTag = ~0ull;         // epoll data of the wake eventfd
constexpr uint64_t kMirrorsTag = ~0ull - 1;  // ... of the nested mirror set

// The readiness sets: `mirrors` holds every mirror fd (a TAP/TUN costs a
// read() syscall to look at, so the loop reads only those epoll says are
// readable: one epoll_wait instead of a read per mirror per loop, which
// dominated a worker with 1,000 mirrors); `sleep` holds the wake eventfd, the
// port fds and `mirrors` itself, for blocking. A plan change costs a syscall
// per source that came or went, not per source: rebuilt whole, the sets cost
// ~2,000 epoll_ctl calls per pair added at 1,000 pairs (a third of the
// agent's CPU while applying them). Sources are told apart by InstanceId, as
// a new one may have a gone one's fd number; the epoll data is that id.
struct Readiness {
  io::UniqueFd mirrors, sleep;
  struct Registered {
    int fd;
    bool mirror;
  };
  std::unordered_map<uint64_t, Registered> registered;  // instance id -> in a set
  std::unordered_map<uint64_t, uint32_t> index_of;      // instance id -> index in the plan

  static uint64_t id_of(const RxSource& s) {
    return s.kind == RxSource::Kind::Port ? s.rxq->instance_id() : s.mirror->instance_id();
  }

  // Brings the sets to `plan`. False: epoll failed; the caller polls instead
  // and the next plan starts the sets afresh.
  bool update(const WorkerPlan& plan, int wake_fd, Counter& changes) {
    auto ctl = [&changes](int ep, int op, int fd, uint64_t tag) {
      changes.add(1);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = tag;
      return epoll_ctl(ep, op, fd, &ev) == 0;
    };
    if (!sleep) {
      registered.clear();
      mirrors.reset(epoll_create1(EPOLL_CLOEXEC));
      sleep.reset(epoll_create1(EPOLL_CLOEXEC));
      if (!mirrors || !sleep || !ctl(sleep.get(), EPOLL_CTL_ADD, wake_fd, kWakeTag) ||
          !ctl(sleep.get(), EPOLL_CTL_ADD, mirrors.get(), kMirrorsTag))
        return fail();
    }
    index_of.clear();
    for (uint32_t i = 0; i < plan.sources.size(); ++i) index_of.emplace(id_of(plan.sources[i]), i);
    // Gone sources first: a number freed by one may be a new source's below.
    // Its fd may be closed already (then it left the set by itself: EBADF or ENOENT).
    for (auto it = registered.begin(); it != registered.end();) {
      if (index_of.count(it->first)) {
        ++it;
        continue;
      }
      ctl(it->second.mirror ? mirrors.get() : sleep.get(), EPOLL_CTL_DEL, it->second.fd, 0);
      it = registered.erase(it);
    }
    for (const RxSource& s : plan.sources) {
      const uint64_t id = id_of(s);
      if (registered.count(id)) continue;
      const bool mirror = s.kind == RxSource::Kind::Mirror;
      if (!ctl(mirror ? mirrors.get() : sleep.get(), EPOLL_CTL_ADD, s.fd, id)) return fail();
      registered.emplace(id, Registered{s.fd, mirror});
    }
    return true;
  }

  bool fail() {
    mirrors.reset();
    sleep.reset();
    registered.clear();
    return false;
  }
};

}  // namespace

Worker::Worker(unsigned id, Rcu& rcu, const fib::Fib& fib, const PortTable& ports,
               uint32_t n_buffers)
    : id_(id), rcu_(rcu), fib_(fib), ports_(ports), pool_(n_buffers),
      counters_(std::make_unique<WorkerCounters>()), trace_(std::make_unique<TraceBuffer>()) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error(std::string("worker eventfd: ") + std::strerror(errno));
  plan_.store(new WorkerPlan{}, std::memory_order_release);
}

Worker::~Worker() {
  stop();
  delete plan_.load();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Worker::start() {
  running_.store(true);
  thread_ = std::thread([this] { run(); });
  // Named here, not in run(), so the name is there when start() returns.
  const std::string name = "lcp-worker-" + std::to_string(id_);
  pthread_setname_np(thread_.native_handle(), name.c_str());
}

void Worker::stop() {
  if (!running_.exchange(false)) return;
  wake();
  if (thread_.joinable()) thread_.join();
}

void Worker::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof one);
}

void Worker::publish(std::vector<RxSource> sources) {
  control_sources_ = sources;
  auto* next = new WorkerPlan{++generation_, std::move(sources)};
  WorkerPlan* old = plan_.exchange(next, std::memory_order_acq_rel);
  rcu_.retire_delete(old);
  wake();
}

uint32_t Worker::receive(const RxSource& src, Buffer** v) {
  return src.kind == RxSource::Kind::Port ? src.rxq->rx_burst(pool_, v, kMaxVector)
                                          : src.mirror->rx_burst(pool_, v, kMaxVector);
}

void Worker::run() {
  const unsigned slot = rcu_.register_worker();
  if (slot >= kMaxWorkers) return;
  rcu_.online(slot);
  Context ctx(id_, fib_, ports_, *counters_, *trace_, pool_);
  std::vector<pollfd> pfds;  // without epoll (it failed): poll() everything, read every mirror
  Readiness rd;
  bool use_epoll = false, has_mirrors = false;
  std::vector<uint8_t> readable;  // per plan source: a mirror epoll reported (ports: unused)
  epoll_event evs[64];
  uint64_t seen_generation = ~0ull;
  unsigned idle = 0;
  Buffer* v[kMaxVector];

  while (running_.load(std::memory_order_relaxed)) {
    rcu_.quiescent(slot);
    const WorkerPlan* plan = plan_.load(std::memory_order_acquire);
    if (plan->generation != seen_generation) {  // allocation only on plan change
      seen_generation = plan->generation;
      use_epoll = rd.update(*plan, wake_fd_, counters_->poll_set_changes);
      pfds.clear();
      if (!use_epoll) {
        pfds.push_back({wake_fd_, POLLIN, 0});
        for (const RxSource& s : plan->sources) pfds.push_back({s.fd, POLLIN, 0});
      }
      readable.assign(plan->sources.size(), use_epoll ? 0 : 1);
      has_mirrors = false;
      for (const RxSource& s : plan->sources) has_mirrors |= s.kind == RxSource::Kind::Mirror;
    }
    counters_->loops.add(1);
    if (use_epoll && has_mirrors) {
      const int k = epoll_wait(rd.mirrors.get(), evs, 64, 0);
      for (int e = 0; e < k; ++e) {
        const auto it = rd.index_of.find(evs[e].data.u64);
        if (it != rd.index_of.end()) readable[it->second] = 1;
      }
    }
    uint32_t work = 0;
    for (size_t si = 0; si < plan->sources.size(); ++si) {
      const RxSource& src = plan->sources[si];
      const bool mirror = src.kind == RxSource::Kind::Mirror;
      if (mirror && !readable[si]) continue;
      const uint32_t n = receive(src, v);
      // Drained (a short burst): wait for epoll to say so again.
      if (mirror && use_epoll && n < kMaxVector) readable[si] = 0;
      if (!n) continue;
      work += n;
      const PortRuntime* port = ports_.get(src.port);
      PortCounters& pc = counters_->ports[src.port];
      uint64_t bytes = 0;
      for (uint32_t i = 0; i < n; ++i) {
        v[i]->meta.rx_port = src.port;
        bytes += v[i]->length;
      }
      const bool from_port = src.kind == RxSource::Kind::Port;
      if (from_port) {
        pc.rx_packets.add(n);
        pc.rx_bytes.add(bytes);
      } else {
        pc.injects.add(n);
      }
      // Tag packets for the tracer, if armed.
      if (trace_->remaining.load(std::memory_order_relaxed) > 0) {
        for (uint32_t i = 0; i < n; ++i) {
          if (trace_->remaining.fetch_sub(1) <= 0) break;
          const uint32_t t = trace_->used.fetch_add(1);
          if (t >= kMaxTrace) break;
          TraceRecord& r = trace_->rec[t];
          r.rx_port = src.port;
          r.head_len = uint8_t(std::min<uint32_t>(v[i]->length, kTraceHead));
          std::memcpy(r.head, v[i]->data(), r.head_len);
          r.nodes[0] = uint8_t(from_port ? NodeId::PortInput : NodeId::MirrorInput);
          r.n_nodes.store(1, std::memory_order_release);
          v[i]->meta.trace = t;
          ctx.tracing = true;
        }
      }
      if (!port || !port->admin_up) {
        for (uint32_t i = 0; i < n; ++i) ctx.drop(v[i], Error::PortDown);
      } else if (!from_port) {
        // Host -> port cross-connect: Linux chose the next hop and wrote the
        // L2 header; the packet leaves through the port's output path.
        for (uint32_t i = 0; i < n; ++i) {
          v[i]->meta.tx_port = src.port;
          ctx.enqueue(NodeId::PortOutput, v[i]);
        }
      } else {
        const NodeId first = port->p2p ? NodeId::P2pInput : NodeId::EthernetInput;
        for (uint32_t i = 0; i < n; ++i) ctx.enqueue(first, v[i]);
      }
      dispatch(ctx);
    }
    if (work) {
      idle = 0;
      continue;
    }
    if (++idle < kSpinBeforeSleep) continue;
    // Nothing to do: block in poll(), offline for Rcu so writers don't wait.
    rcu_.offline(slot);
    bool woken = false;
    if (use_epoll) {
      const int k = epoll_wait(rd.sleep.get(), evs, 64, kIdlePollMs);
      for (int e = 0; e < k; ++e) woken |= evs[e].data.u64 == kWakeTag;
    } else {
      poll(pfds.data(), pfds.size(), kIdlePollMs);
      woken = pfds[0].revents & POLLIN;
    }
    if (woken) {
      uint64_t drain;
      [[maybe_unused]] ssize_t r = read(wake_fd_, &drain, sizeof drain);
    }
    rcu_.online(slot);
    idle = 0;
  }
  rcu_.unregister_worker(slot);
}

}  // namespace lcp
