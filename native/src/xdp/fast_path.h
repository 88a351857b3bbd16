// The XDP fast path's control side: BPF maps mirrored from the FIB (it is the
// FIB's observer), and the XDP program attached to each port netdev (native
// mode, through a bpf_link, so it goes with the last fd: port release,
// dataplane close, or process exit). AF_PACKET ports share one loaded program
// per netns (the port is found by ingress ifindex, which is unique only within
// a netns); an AF_XDP port has its own (it carries the port's XSK map). What the program cannot forward goes to the graph
// unchanged (XDP_PASS to the AF_PACKET socket; the XSK map of an AF_XDP
// port). A port is a redirect target only while its driver says it takes XDP
// frames (NETDEV_XDP_ACT_NDO_XMIT; for veth: the peer runs XDP or has GRO on),
// learnt from the netdev genetlink family's notifications (one subscription
// per netns with ports) plus a slow spread safety recheck, so redirects never
// go where the kernel drops them.
// Thread-safety: observer calls come under the dataplane's control mutex;
// port calls take the fast path's own mutex; a monitor thread owns the
// netlink sockets and applies what they say.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/rcu.h"
#include "fib/fib.h"
#include "io/fd.h"

struct bpf_object;
struct fp_key6;
struct fp_lens6;

namespace lcp::xdp {

struct FastPathCounters {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
};

struct FastPathPort {
  uint32_t index = 0;
  std::string name, netns;
  int ifindex = 0;
  bool p2p = false;
  int xsk_map_fd = -1;     // an AF_XDP port's XSKMAP: the program hands it the rest
  int replace_prog_fd = -1;  // an AF_XDP port's own program, replaced while we are attached
  uint32_t replace_flags = 0;  // ... and the mode it is attached in (XDP_FLAGS_DRV_MODE / SKB_MODE)
};

class FastPath final : public fib::FibObserver {
 public:
  // Creates the maps and loads the program once (to learn early whether the
  // kernel takes it). Never throws: a refusal is kept as the reason every
  // port reports, and the dataplane runs on the graph alone.
  FastPath();
  ~FastPath() override;
  FastPath(const FastPath&) = delete;
  FastPath& operator=(const FastPath&) = delete;

  bool usable() const { return usable_; }
  const std::string& why_unusable() const { return why_; }

  // Ports. attach: load + attach the port's program (want=false: 'off').
  // Failures are kept as the port's status, never thrown.
  void attach(const FastPathPort& p, bool want);
  void detach(uint32_t index);
  void update(uint32_t index, uint32_t table_slot, const std::array<uint8_t, 6>& mac, bool admin_up);
  std::string status(uint32_t index) const;
  FastPathCounters counters(uint32_t index) const;

  // Waits until every FIB change observed so far is in the maps (API calls
  // use it, so a route added through the API is forwarded by XDP when the
  // call returns; the netlink mirror does not wait).
  void flush();

  // Everything to the graph (a trace is armed) or back to normal.
  void set_bypass(bool on);
  // Called by the monitor every tick: true while a trace is armed.
  void set_trace_probe(std::function<bool()> probe);

  struct Stats {
    uint64_t map_updates = 0, map_errors = 0, batches = 0, max_queue = 0;
    uint64_t pending = 0;  // FIB changes queued, not yet in the maps
    uint64_t ip4_groups = 0, ip4_group_limit = 0;  // tbl8 groups in use (all IPv4 tables), limit per table
    std::string last_error;
  };
  Stats stats() const;

  // ---- fib::FibObserver ----
  void prefix_set(uint32_t slot, const fib::Prefix& p, uint32_t lb, bool fresh) override;
  void prefix_unset(uint32_t slot, const fib::Prefix& p, uint8_t cover_len, uint32_t cover_lb) override;
  void lb_set(uint32_t index, const fib::LoadBalance& lb) override;
  void lb_unset(uint32_t index) override;
  void adj_set(uint32_t index, const fib::Adjacency& a) override;
  void adj_unset(uint32_t index) override;

 private:
  struct Port;
  struct Watch;  // a netns's netdev genetlink sockets (fast_path.cc), monitor-owned
  struct Prog;   // a loaded program instance and its private fp_ifs map
  struct Lpm4;   // a table slot's IPv4 DIR-24-8 in mapped BPF arrays (fast_path.cc)
  struct ObjectCloser {
    void operator()(bpf_object* o) const;
  };
  using Object = std::unique_ptr<bpf_object, ObjectCloser>;

  // Opens and loads an instance sharing the maps (the verifier's run: the
  // cost a port must not pay each). xsk_map_fd >= 0: an AF_XDP port's.
  std::shared_ptr<Prog> load_prog(int xsk_map_fd, std::string& why);
  std::unique_ptr<Port> make_port(const FastPathPort& spec, std::string& why);
  void write_port(const Port& p);  // fp_ports entry, under mu_
  void monitor_loop();
  // The port's driver says (err == 0) whether it takes XDP frames; under mu_.
  // `detail`: why its netns has no netdev genetlink subscription, if so.
  void set_tx_state(Port& p, int err, uint64_t features, const std::string& detail = {});
  void kick_monitor();
  void fib_failed(const std::string& what, int err);
  void map_error(const std::string& what, int err);

  // FIB changes are applied to the maps by a writer thread, in order, with
  // runs of prefix updates in BPF_MAP_UPDATE_BATCH / DELETE_BATCH calls: a
  // syscall per route would cap a full-table sync at ~400k routes/s under
  // the control mutex. Load-balance and adjacency payloads (few) go in side
  // vectors so a queued prefix costs 28 bytes.
  struct Op {
    enum Kind : uint8_t { Set4, Set6, Unset4, Unset6, LbSet, LbUnset, AdjSet, AdjUnset } kind;
    uint8_t len = 0;
    uint32_t slot = 0;
    uint32_t value = 0;  // lb index (Set*), cover lb (Unset4), map index (Lb*/Adj*)
    uint32_t aux = 0;    // side-vector slot (LbSet/AdjSet), cover length (Unset4)
    uint8_t addr[16];
  };
  struct Queue {
    std::vector<Op> ops;
    std::vector<fib::LoadBalance> lbs;
    std::vector<fib::Adjacency> adjs;
  };
  void enqueue(const Op& op);
  void writer_loop();
  void apply(Queue& q);
  void apply_prefix6_run(const Op* ops, size_t n);
  bool write_fib6(bool set, const fp_key6* keys, const uint32_t* values, size_t n);
  void count_len6(const fp_key6& k, int delta);
  void apply_prefix4_run(const Op* ops, size_t n);
  Lpm4* lpm4(uint32_t slot);  // creates the slot's arrays on first use; nullptr: failed
  void apply_lb(uint32_t index, const fib::LoadBalance* lb);
  void apply_adj(uint32_t index, const fib::Adjacency* a);

  bool usable_ = false;
  std::string why_;
  Object master_;  // holds the shared maps
  int cfg_fd_ = -1, ports_fd_ = -1, tx_fd_ = -1, tbl24_fd_ = -1, tbl8_fd_ = -1, fib6_fd_ = -1;
  int lbs_fd_ = -1, adjs_fd_ = -1, stats_fd_ = -1;
  int ncpus_ = 1;

  mutable std::mutex mu_;  // ports_, bypass state
  std::vector<std::unique_ptr<Port>> ports_;
  std::map<std::string, std::weak_ptr<Prog>> netns_progs_;  // AF_PACKET ports' instance per netns
  bool bypass_trace_ = false;
  std::atomic<bool> fib_broken_{false};  // a trie update failed: the fast path is off for good
  std::function<bool()> trace_probe_;
  std::vector<uint32_t> dirty_;  // ports whose xdp-features the monitor reads next, under mu_
  uint64_t next_serial_ = 1;     // tells a re-attached port slot from the port a check was for

  std::atomic<uint64_t> map_updates_{0}, map_errors_{0};
  mutable std::mutex err_mu_;
  std::string last_error_;

  mutable std::mutex q_mu_;
  std::condition_variable q_cv_, q_done_cv_;
  Queue queue_;
  uint64_t q_enqueued_ = 0, q_applied_ = 0;  // ops, under q_mu_
  bool q_stop_ = false;
  std::atomic<uint64_t> batches_{0}, max_queue_{0};
  std::thread writer_;
  // Writer-thread only. lpm4_rcu_ has no workers: what it defers (tbl8 group
  // reuse) waits for the kernel's grace period instead (sync_bpf_readers()).
  std::vector<std::unique_ptr<Lpm4>> lpm4_;
  Rcu lpm4_rcu_;
  std::atomic<uint64_t> lpm4_groups_{0};  // published by the writer for stats()
  // IPv6 length bits (fp_lens6, fp_short6), mapped; prefixes per (bucket or
  // table, length) behind each bit. Writer-thread only.
  fp_lens6* lens6_ = nullptr;
  uint64_t* short6_ = nullptr;
  static constexpr size_t kLens6Bytes = size_t(1) << 20 << 4;  // FP_LENS6_BUCKETS x 16 bytes
  static constexpr size_t kShort6Bytes = 4096;                  // 256 tables x 8 bytes, one page
  std::unordered_map<uint64_t, uint32_t> len6_count_;
  void sync_bpf_readers(uint32_t slot);

  io::UniqueFd wake_;  // eventfd: new dirty ports, or stop
  std::atomic<bool> stop_{false};
  std::thread monitor_;
};

}  // namespace lcp::xdp
