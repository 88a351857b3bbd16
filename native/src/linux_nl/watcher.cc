#include "linux_nl/watcher.h"

#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>

#include "io/netns.h"
#include "io/packet_io.h"
#include "linux_nl/socket.h"

namespace lcp::linux_nl {

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double unix_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Pair-driven resyncs: at least this far apart, and this many times what the
// last one took (so they cost the watcher at most ~1/4 of its time).
constexpr double kPairResyncMinGapMs = 20;
constexpr double kPairResyncGapFactor = 3;

constexpr uint32_t kGroups = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                             RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;

}  // namespace

struct Watcher::Sockets {
  RtSocket events, requests;
  Sockets(uint32_t rcvbuf, const std::string& where)
      : events(kGroups, rcvbuf, where), requests(0, 8u << 20, where) {
    events.join(RTNLGRP_NEXTHOP);
  }
};

namespace {
// Each watcher gets its own space of FIB nexthop ids (kernel ids are per netns).
MirrorOptions with_nexthop_space(MirrorOptions m) {
  static std::atomic<uint32_t> next{1};
  m.nexthop_space = next.fetch_add(1, std::memory_order_relaxed);
  return m;
}
}  // namespace

Watcher::Watcher(Dataplane& dp, WatchOptions opts)
    : dp_(dp), opts_(std::move(opts)), state_(with_nexthop_space(opts_.mirror)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (wake_.get() < 0) throw io::make_error("eventfd", "netlink mirror", errno);
  if (!opts_.netns.empty()) io::validate_netns_name(opts_.netns);
  status_.netns = opts_.netns;
  status_.state = "starting";
  auto started = std::make_shared<std::promise<void>>();
  std::future<void> ready = started->get_future();
  thread_ = std::thread([this, started] {
    std::unique_ptr<io::NetnsGuard> ns;
    std::unique_ptr<Sockets> socks;
    try {
      // This thread stays in the netns for its whole life: the sockets it
      // opens there see that netns's links, routes and neighbours.
      ns = std::make_unique<io::NetnsGuard>(opts_.netns);
      struct stat st{};
      if (::stat("/proc/thread-self/ns/net", &st) == 0) ns_ino_ = st.st_ino, ns_dev_ = st.st_dev;
      socks = std::make_unique<Sockets>(opts_.rcvbuf, io::netns_label(opts_.netns));
    } catch (...) {
      started->set_exception(std::current_exception());
      return;
    }
    socks_ = socks.get();
    {
      std::lock_guard<std::mutex> g(mu_);
      status_.rcvbuf = socks->events.rcvbuf();
      status_.state = "syncing";
    }
    started->set_value();
    run();
    socks_ = nullptr;
  });
  // Named from here, as the workers are: `top -H` and profiles tell them apart.
  pthread_setname_np(thread_.native_handle(), "lcp-nl-mirror");
  try {
    ready.get();
  } catch (...) {
    thread_.join();
    throw;
  }
  if (opts_.drift_interval_ms > 0) {
    drift_thread_ = std::thread([this] { drift_loop(); });
    pthread_setname_np(drift_thread_.native_handle(), "lcp-nl-drift");
  }
}

// Off the JS thread and off the watcher's: a drift check at full-table scale
// dumps the kernel and walks the FIB for a second or more, and the watcher
// must keep following events meanwhile.
void Watcher::drift_loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> g(mu_);
      drift_cv_.wait_for(g, std::chrono::milliseconds(opts_.drift_interval_ms), [this] { return stop_.load(); });
      if (stop_) return;
      if (status_.state == "netns-gone" || status_.state == "stopped") return;
      if (status_.state != "synced") continue;  // the first dump is still running
    }
    const double t0 = now_ms();
    const uint64_t events_before = status().events;
    PeriodicDrift d;
    try {
      d.report = check_drift(dp_, opts_.netns, opts_.mirror, opts_.drift_samples);
    } catch (const std::exception& e) {
      d.error = e.what();
    }
    std::lock_guard<std::mutex> g(mu_);
    d.checks = status_.drift.checks + 1;
    d.at_ms = unix_ms();
    d.took_ms = now_ms() - t0;
    d.settled = d.error.empty() && status_.events == events_before && status_.state == "synced";
    status_.drift = std::move(d);
  }
}

Watcher::~Watcher() { stop(false); }

void Watcher::stop(bool withdraw) {
  if (drift_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    drift_cv_.notify_all();
    drift_thread_.join();
  }
  if (!thread_.joinable()) return;
  withdraw_ = withdraw;
  stop_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void Watcher::request_resync() {
  resync_requested_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

WatchStatus Watcher::status() const {
  std::lock_guard<std::mutex> g(mu_);
  return status_;
}

void Watcher::record_error(const std::string& what) {
  std::lock_guard<std::mutex> g(mu_);
  status_.last_error = what;
}

void Watcher::publish_counts() {
  std::lock_guard<std::mutex> g(mu_);
  status_.events = events_;
  status_.batches = batches_;
  status_.lost = lost_;
  status_.parse_errors = parse_errors_;
  status_.apply_errors = applied_.errors;
  status_.routes_applied = applied_.routes;
  status_.routes_installed = state_.routes_installed();
  status_.routes_known = state_.routes_known();
  status_.neighbors = state_.neighbors();
  status_.addresses = state_.addresses();
  status_.nexthops = state_.nexthops();
  status_.nexthops_installed = state_.nexthops_installed();
  status_.routes_unsupported = state_.routes_unsupported();
  if (!applied_.last_error.empty()) status_.last_error = applied_.last_error;
}

void Watcher::flush() {
  state_.settle();
  std::vector<MirrorOp>& ops = state_.ops();
  if (!ops.empty()) {
    dp_.apply_mirror_ops(ops, std::chrono::microseconds(opts_.budget_us), applied_);
    ops.clear();
    ++batches_;
    if (batch_started_ms_ > 0) {
      const double lag = now_ms() - batch_started_ms_;
      std::lock_guard<std::mutex> g(mu_);
      status_.lag_ms = lag;
      if (lag > status_.max_lag_ms) status_.max_lag_ms = lag;
    }
  }
  batch_started_ms_ = 0;
  for (auto [port, ifindex] : state_.take_gone()) dp_.mirror_gone(port, ifindex);
  publish_counts();
}

bool Watcher::netns_gone() {
  if (opts_.netns.empty()) return false;
  // `ip netns del` only unmounts the name: our sockets keep the netns alive,
  // so notice that the name is gone (or now names another netns).
  struct stat st{};
  const std::string path = "/run/netns/" + opts_.netns;
  if (::stat(path.c_str(), &st) < 0) return true;
  return st.st_ino != ns_ino_ || st.st_dev != ns_dev_;
}

void Watcher::resync() {
  const double t0 = now_ms();
  pair_gen_ = dp_.pair_generation();  // before reading the map: a later change is seen
  const std::vector<MirrorPort> ports = dp_.mirror_ports(opts_.netns);
  state_.set_ports(ports);
  // Nexthop objects before the routes that name them.
  const uint16_t dumps[] = {RTM_GETLINK, RTM_GETADDR, RTM_GETNEXTHOP, RTM_GETROUTE, RTM_GETNEIGH};
  uint64_t restarts = 0;
  NlMsg msg;
  for (int attempt = 0;; ++attempt) {
    state_.begin_resync();
    bool interrupted = false;
    for (uint16_t type : dumps) {
      bool intr = false;
      const int err = socks_->requests.dump(type, AF_UNSPEC, [&](const nlmsghdr* m) {
        if (!parse_message(m, msg)) {
          ++parse_errors_;
          return;
        }
        state_.handle(msg);
        if (state_.ops().size() >= opts_.batch_max) flush();
      }, intr);
      if (err) record_error(std::string("dump: ") + std::strerror(err));
      interrupted |= intr;
    }
    if (!interrupted || attempt >= 8) break;
    ++restarts;  // NLM_F_DUMP_INTR: the tables changed under the dump, redo it
  }
  state_.sweep();
  flush();
  const double took = now_ms() - t0;
  pair_resync_not_before_ms_ = now_ms() + std::max(kPairResyncMinGapMs, kPairResyncGapFactor * took);
  std::lock_guard<std::mutex> g(mu_);
  ++status_.resyncs;
  status_.dump_restarts += restarts;
  status_.last_resync_at_ms = unix_ms();
  status_.last_resync_ms = took;
  status_.mirrors = ports.size();
  status_.state = "synced";
}

void Watcher::read_events() {
  const double start = now_ms();
  NlMsg msg;
  bool lost = false;
  for (;;) {
    const ssize_t n = socks_->events.recv();
    if (n == 0) break;
    if (n == -ENOBUFS) {  // the kernel dropped messages: what we hold is stale
      ++lost_;
      lost = true;
      continue;  // drain what is queued after the loss, then resync
    }
    if (n < 0) {
      record_error(std::string("recv: ") + std::strerror(int(-n)));
      break;
    }
    if (batch_started_ms_ == 0) batch_started_ms_ = now_ms();
    const bool ok = RtSocket::for_each(socks_->events.data(), size_t(n), [&](const nlmsghdr* m) {
      ++events_;
      if (!parse_message(m, msg)) {
        ++parse_errors_;
        return;
      }
      state_.handle(msg);
    });
    if (!ok) ++parse_errors_;
    if (state_.ops().size() >= opts_.batch_max || now_ms() - start >= opts_.budget_us / 1000.0) break;
  }
  flush();
  if (lost) {
    {
      std::lock_guard<std::mutex> g(mu_);
      status_.state = "syncing";
    }
    resync();
  }
}

void Watcher::run() {
  try {
    resync();
    loop();
  } catch (const std::exception& e) {
    record_error(e.what());
  }
  if (withdraw_) {
    state_.withdraw_all([this] { flush(); }, opts_.batch_max);
    flush();
  }
  std::lock_guard<std::mutex> g(mu_);
  if (status_.state != "netns-gone") status_.state = "stopped";
}

void Watcher::loop() {
  double next_ns_check = now_ms() + 500;
  while (!stop_) {
    pollfd fds[2] = {{socks_->events.fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int timeout_ms = 200;
    if (dp_.pair_generation() != pair_gen_)  // a deferred pair resync is due then
      timeout_ms = std::clamp(int(pair_resync_not_before_ms_ - now_ms()) + 1, 0, timeout_ms);
    const int rc = ::poll(fds, 2, timeout_ms);
    if (rc < 0 && errno != EINTR) throw io::make_error("poll", "netlink mirror", errno);
    if (stop_) break;
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_.get(), &v, sizeof v);
    }
    if (now_ms() >= next_ns_check) {
      next_ns_check = now_ms() + 500;
      if (netns_gone()) {
        // Nobody can reach the netns any more: what came from it goes.
        state_.withdraw_all([this] { flush(); }, opts_.batch_max);
        flush();
        std::lock_guard<std::mutex> g(mu_);
        status_.state = "netns-gone";
        return;
      }
    }
    if (fds[0].revents & (POLLIN | POLLERR)) read_events();
    if (resync_requested_.exchange(false) || state_.take_resync_request() ||
        (dp_.pair_generation() != pair_gen_ && now_ms() >= pair_resync_not_before_ms_))
      resync();
  }
}

}  // namespace lcp::linux_nl
