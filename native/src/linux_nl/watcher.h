// The netlink mirror of one netns: a thread that lives in that netns (entered
// with io::NetnsGuard, then sockets opened there), dumps links, addresses,
// routes and neighbours, then follows the rtnetlink groups, and applies what
// changed to the dataplane in batches (MirrorState decides what; the
// Dataplane applies under its mutex with a time budget). A lost message
// (ENOBUFS) or a change of pairs triggers a resync: mark, dump, sweep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "dataplane/dataplane.h"
#include "io/fd.h"
#include "linux_nl/drift.h"
#include "linux_nl/state.h"

namespace lcp::linux_nl {

struct WatchOptions {
  std::string netns;                 // a name under /run/netns ("" = the agent's own)
  uint32_t rcvbuf = 256u << 20;      // SO_RCVBUFFORCE of the notification socket
  MirrorOptions mirror;
  bool lcp_sync = false;             // push port link state / MTU to the mirror
  uint32_t batch_max = 8192;         // ops per batch at most
  uint32_t budget_us = 5000;         // batch collection window and mutex hold time
  uint32_t drift_interval_ms = 0;    // periodic drift check (own thread); 0 = off
  uint32_t drift_samples = 10;       // samples kept in the periodic result
};

// The last periodic drift check (WatchOptions::drift_interval_ms).
struct PeriodicDrift {
  uint64_t checks = 0;        // how many ran (0: none yet)
  double at_ms = 0;           // unix time it finished
  double took_ms = 0;
  bool settled = false;       // no notification arrived while it ran: a difference is real, not in flight
  std::string error;          // the check itself failed (e.g. netns gone)
  DriftReport report;
};

struct WatchStatus {
  std::string netns, state, last_error;  // state: starting | syncing | synced | netns-gone | stopped
  uint64_t events = 0, batches = 0, resyncs = 0, lost = 0, dump_restarts = 0;
  uint64_t parse_errors = 0, apply_errors = 0, routes_applied = 0;
  uint64_t routes_installed = 0, routes_known = 0, neighbors = 0, addresses = 0, mirrors = 0;
  uint64_t nexthops = 0, nexthops_installed = 0;  // kernel nexthop objects known / in the FIB
  uint64_t routes_unsupported = 0;                // kernel routes we cannot forward as Linux would
  double last_resync_at_ms = 0;   // unix time
  double last_resync_ms = 0;      // how long it took
  double lag_ms = 0, max_lag_ms = 0;  // first event of a batch read -> batch applied
  uint32_t rcvbuf = 0;
  PeriodicDrift drift;
};

class Watcher {
 public:
  // Starts the thread and waits until it entered the netns and opened its
  // sockets; throws (io::IoError) if it could not. The first dump runs after.
  Watcher(Dataplane& dp, WatchOptions opts);
  ~Watcher();  // stop(false)
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Stop following; `withdraw` first removes everything it installed.
  void stop(bool withdraw);
  WatchStatus status() const;
  const WatchOptions& options() const { return opts_; }
  void request_resync();

 private:
  void run();
  void loop();
  void resync();
  void read_events();
  void flush();
  bool netns_gone();
  void record_error(const std::string& what);
  void publish_counts();
  void drift_loop();  // the periodic drift check's own thread

  Dataplane& dp_;
  WatchOptions opts_;
  MirrorState state_;
  std::thread thread_;
  std::thread drift_thread_;
  std::condition_variable drift_cv_;  // with mu_: wakes drift_loop() on stop
  io::UniqueFd wake_;  // eventfd: stop / resync requests
  std::atomic<bool> stop_{false}, withdraw_{false}, resync_requested_{false};
  mutable std::mutex mu_;  // guards status_
  WatchStatus status_;

  // Thread-only state.
  struct Sockets;
  Sockets* socks_ = nullptr;
  uint64_t pair_gen_ = 0;
  // A change of pairs needs a resync (the new mirror's events came before its
  // port was known); in a burst (1,000 pairs applied at once, each a full dump
  // of a netns that keeps growing) they are spaced out by this, set after
  // each resync to a few times what it took.
  double pair_resync_not_before_ms_ = 0;
  uint64_t ns_ino_ = 0, ns_dev_ = 0;
  double batch_started_ms_ = 0;
  MirrorApply applied_;
  uint64_t events_ = 0, batches_ = 0, lost_ = 0, parse_errors_ = 0;
};

}  // namespace lcp::linux_nl
