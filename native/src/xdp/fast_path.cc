#include "xdp/fast_path.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/netns.h"
#include "xdp/fast_path_parts.h"
#include "xdp/fastpath_abi.h"
#include "xdp/fastpath_bpf_obj.h"  // generated: kFastPathBpfObj (embed_bpf.sh)

// The fast path's ports: which netdevs run the program, with what state, and
// the reasons they do not. Loading is loader.cc, drivers' XDP features
// netdev_monitor.cc, the FIB's maps map_writer.cc.

namespace lcp::xdp {

using detail::err_text;
using detail::libbpf_detail;

namespace {

// GRO on an AF_PACKET port would coalesce what XDP passes up into
// super-frames (veth runs GRO once an XDP program gives it NAPI): turned off
// while we are attached, restored after. Returns 0 or a positive errno.
int gro_get_set(const std::string& netns, const std::string& name, bool* get, const bool* set) {
  io::NetnsGuard in(netns);
  io::UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return errno;
  ethtool_value ev{};
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  if (get) {
    ev.cmd = ETHTOOL_GGRO;
    if (::ioctl(s.get(), SIOCETHTOOL, &ifr) < 0) return errno;
    *get = ev.data != 0;
  }
  if (set) {
    ev.cmd = ETHTOOL_SGRO;
    ev.data = *set ? 1 : 0;
    if (::ioctl(s.get(), SIOCETHTOOL, &ifr) < 0) return errno;
  }
  return 0;
}

}  // namespace

FastPath::FastPath() {
  static_assert(kLens6Bytes == size_t(FP_LENS6_BUCKETS) * sizeof(fp_lens6) && FP_MAX_TABLES * 8 <= kShort6Bytes);
  libbpf_set_print(detail::libbpf_print);
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ < 1) ncpus_ = 1;
  LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "lcp_fastpath");
  detail::libbpf_log_start();
  bpf_object* obj = bpf_object__open_mem(kFastPathBpfObj, sizeof kFastPathBpfObj, &oo);
  if (!obj) {
    why_ = err_text("open the XDP program", errno) + " " + libbpf_detail();
    return;
  }
  master_.reset(obj);
  if (int rc = detail::load_object(obj); rc < 0) {
    why_ = err_text("the kernel refused the XDP program", -rc);
    if (std::string d = libbpf_detail(); !d.empty()) why_ += " (" + d + ")";
    return;
  }
  cfg_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_config");
  ports_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_ports");
  tx_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_tx");
  tbl24_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_tbl24");
  tbl8_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_tbl8");
  fib6_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_fib6");
  // The IPv6 length bits are written in place (fastpath_abi.h).
  lens6_ = static_cast<fp_lens6*>(::mmap(nullptr, kLens6Bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                                         bpf_object__find_map_fd_by_name(obj, "fp_lens6"), 0));
  short6_ = static_cast<uint64_t*>(::mmap(nullptr, kShort6Bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                                          bpf_object__find_map_fd_by_name(obj, "fp_short6"), 0));
  if (lens6_ == MAP_FAILED || short6_ == MAP_FAILED) {
    why_ = err_text("map the fast path's IPv6 length arrays", errno);
    return;
  }
  lbs_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_lbs");
  adjs_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_adjs");
  stats_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_stats");
  usable_ = true;
  // Named, so tools (the bench's CPU plan) can tell these control-side
  // threads from the workers; named here, so the name is there when the
  // dataplane has opened.
  writer_ = std::thread([this] { writer_loop(); });
  pthread_setname_np(writer_.native_handle(), "lcp-fp-maps");
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) {
    usable_ = false;
    why_ = err_text("eventfd for the fast path monitor", errno);
    return;
  }
  monitor_ = std::thread([this] { monitor_loop(); });
  pthread_setname_np(monitor_.native_handle(), "lcp-fp-monitor");
}

FastPath::~FastPath() {
  stop_.store(true);
  kick_monitor();
  if (monitor_.joinable()) monitor_.join();
  {
    std::lock_guard lk(q_mu_);
    q_stop_ = true;
  }
  q_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  for (uint32_t i = 0; i < ports_.size(); ++i) detach(i);
  if (lens6_ && lens6_ != MAP_FAILED) ::munmap(lens6_, kLens6Bytes);
  if (short6_ && short6_ != MAP_FAILED) ::munmap(short6_, kShort6Bytes);
}

// Under mu_. AF_PACKET ports of a netns share its instance (loaded by the
// first, closed with the last); an AF_XDP port loads its own, because its
// fp_xsks must be that port's XSK map (one XSKMAP per instance, and the
// program indexes it by rx queue).
std::unique_ptr<FastPath::Port> FastPath::make_port(const FastPathPort& spec, std::string& why) {
  auto p = std::make_unique<Port>();
  p->spec = spec;
  if (spec.xsk_map_fd >= 0) {
    p->prog = load_prog(spec.xsk_map_fd, why);
  } else {
    std::weak_ptr<Prog>& slot = netns_progs_[spec.netns];
    p->prog = slot.lock();
    if (!p->prog) {
      p->prog = load_prog(-1, why);
      slot = p->prog;
    }
  }
  if (!p->prog) return p;
  const fp_self self{spec.index, spec.xsk_map_fd >= 0 ? 1u : 0u};
  const uint32_t key = uint32_t(spec.ifindex);
  if (bpf_map_update_elem(p->prog->ifs_fd, &key, &self, BPF_ANY) < 0) {
    why = err_text("set the program's port", errno);
    return p;
  }
  p->in_ifs = true;
  p->prog_fd = p->prog->prog_fd;
  return p;
}

void FastPath::attach(const FastPathPort& spec, bool want) {
  std::lock_guard g(mu_);
  if (spec.index >= ports_.size()) ports_.resize(spec.index + 1);
  std::string why;
  std::unique_ptr<Port> p;
  if (!want) {
    p = std::make_unique<Port>();
    p->spec = spec;
    p->want = false;
  } else if (!usable_) {
    p = std::make_unique<Port>();
    p->spec = spec;
    why = why_;
  } else if (spec.p2p) {
    p = std::make_unique<Port>();
    p->spec = spec;
    why = "point-to-point port (no Ethernet header)";
  } else {
    p = make_port(spec, why);
  }
  if (want && why.empty()) {
    // Zeroed counters, then the devmap entry (resolved in the port's netns).
    std::vector<fp_stats> zero(static_cast<size_t>(ncpus_));
    bpf_map_update_elem(stats_fd_, &spec.index, zero.data(), BPF_ANY);
    try {
      io::NetnsGuard in(spec.netns);
      const uint32_t ifindex = uint32_t(spec.ifindex);
      if (bpf_map_update_elem(tx_fd_, &spec.index, &ifindex, BPF_ANY) == 0) p->devmap = true;
      else p->why_tx = err_text("add to the redirect map", errno);
      if (spec.replace_prog_fd >= 0) {
        // AF_XDP: one program per interface, so ours (which also feeds the
        // XSK map) replaces the port's own while we are attached.
        if (spec.replace_flags != XDP_FLAGS_DRV_MODE) {
          why = "the AF_XDP port runs in generic (SKB) XDP mode";
        } else {
          LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = spec.replace_prog_fd);
          const int rc = bpf_xdp_attach(spec.ifindex, p->prog_fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &o);
          if (rc == 0) {
            p->netlink_attached = true;
            p->attach_flags = XDP_FLAGS_DRV_MODE;
          } else {
            why = err_text("replace the AF_XDP port's XDP program", -rc);
          }
        }
      } else {
        bool gro = false;
        if (gro_get_set(spec.netns, spec.name, &gro, nullptr) == 0 && gro) {
          const bool off = false;
          if (gro_get_set(spec.netns, spec.name, nullptr, &off) == 0) p->gro_restore = true;
        }
        LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
        const int fd = bpf_link_create(p->prog_fd, spec.ifindex, BPF_XDP, &lo);
        if (fd >= 0) {
          p->link.reset(fd);
        } else {
          why = err_text("attach the XDP program (native mode)", errno);
          if (p->gro_restore) {
            const bool on = true;
            gro_get_set(spec.netns, spec.name, nullptr, &on);
            p->gro_restore = false;
          }
        }
      }
    } catch (const std::exception& e) {
      why = e.what();
    }
    p->attached = why.empty();
  }
  p->why_rx = why;
  p->serial = next_serial_++;
  const bool watched = p->want && p->devmap;
  ports_[spec.index] = std::move(p);
  write_port(*ports_[spec.index]);
  if (watched) {
    // The monitor subscribes to the port's netns first, then reads its
    // features, so no change between the two is missed.
    dirty_.push_back(spec.index);
    kick_monitor();
  }
}

void FastPath::detach(uint32_t index) {
  std::unique_ptr<Port> p;
  {
    std::lock_guard g(mu_);
    if (index >= ports_.size() || !ports_[index]) return;
    p = std::move(ports_[index]);
    if (p->in_ifs) {  // the shared instance no longer knows this ifindex: XDP_PASS if it runs on it
      const uint32_t key = uint32_t(p->spec.ifindex);
      bpf_map_delete_elem(p->prog->ifs_fd, &key);
    }
    const fp_port none{};
    bpf_map_update_elem(ports_fd_, &index, &none, BPF_ANY);  // no redirect into it, no fast path from it
    if (p->devmap) bpf_map_delete_elem(tx_fd_, &index);
    std::vector<fp_stats> zero(static_cast<size_t>(ncpus_));
    if (p->attached) bpf_map_update_elem(stats_fd_, &index, zero.data(), BPF_ANY);
  }
  kick_monitor();  // it closes the netns's subscription (which holds the netns) if this was its last port
  try {
    io::NetnsGuard in(p->spec.netns);
    if (p->netlink_attached) {
      LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = p->prog_fd);
      bpf_xdp_attach(p->spec.ifindex, p->spec.replace_prog_fd, p->attach_flags | XDP_FLAGS_REPLACE, &o);
    }
    p->link.reset();  // detaches
    if (p->gro_restore) {
      const bool on = true;
      gro_get_set(p->spec.netns, p->spec.name, nullptr, &on);
    }
  } catch (const std::exception&) {
    // netns gone: the netdev and its program went with it
  }
}

void FastPath::update(uint32_t index, uint32_t table_slot, const std::array<uint8_t, 6>& mac, bool admin_up) {
  std::lock_guard g(mu_);
  if (index >= ports_.size() || !ports_[index]) return;
  Port& p = *ports_[index];
  p.table_slot = table_slot;
  p.mac = mac;
  p.admin_up = admin_up;
  write_port(p);
}

void FastPath::write_port(const Port& p) {
  fp_port v{};
  v.table_slot = p.table_slot;
  std::memcpy(v.mac, p.mac.data(), 6);
  v.rx_ok = p.want && p.attached && p.admin_up;
  v.tx_ok = p.want && p.devmap && p.admin_up && p.tx_capable && usable_;
  const uint32_t key = p.spec.index;
  if (ports_fd_ >= 0) bpf_map_update_elem(ports_fd_, &key, &v, BPF_ANY);
}

std::string FastPath::status(uint32_t index) const {
  std::lock_guard g(mu_);
  if (index >= ports_.size() || !ports_[index]) return "inactive: not an Ethernet port of its own";
  const Port& p = *ports_[index];
  if (!p.want) return "inactive: fastPath off";
  if (fib_broken_.load()) {
    std::lock_guard e(err_mu_);
    return "inactive: " + last_error_;
  }
  if (!p.attached) return "inactive: " + p.why_rx;
  if (!p.admin_up) return "inactive: port down";
  if (!p.tx_capable || !p.devmap) return "rx-only: " + (p.why_tx.empty() ? std::string("not checked yet") : p.why_tx);
  return "active";
}

FastPathCounters FastPath::counters(uint32_t index) const {
  FastPathCounters c;
  if (!usable_ || index >= FP_MAX_PORTS) return c;
  std::vector<fp_stats> v(static_cast<size_t>(ncpus_));
  if (bpf_map_lookup_elem(stats_fd_, &index, v.data()) < 0) return c;
  for (const fp_stats& s : v) {
    c.rx_packets += s.rx_packets;
    c.rx_bytes += s.rx_bytes;
    c.tx_packets += s.tx_packets;
    c.tx_bytes += s.tx_bytes;
  }
  return c;
}

void FastPath::set_bypass(bool on) {
  {
    std::lock_guard g(mu_);
    bypass_trace_ = on;
    const fp_config c{uint32_t(on || fib_broken_.load()), 0};
    const uint32_t zero = 0;
    if (cfg_fd_ >= 0) bpf_map_update_elem(cfg_fd_, &zero, &c, BPF_ANY);
  }
  if (on) kick_monitor();  // it may be sleeping without a tick (nothing to watch)
}

void FastPath::set_trace_probe(std::function<bool()> probe) {
  std::lock_guard g(mu_);
  trace_probe_ = std::move(probe);
}

FastPath::Stats FastPath::stats() const {
  Stats s;
  s.map_updates = map_updates_.load();
  s.map_errors = map_errors_.load();
  s.batches = batches_.load();
  s.max_queue = max_queue_.load();
  s.ip4_groups = lpm4_groups_.load();
  s.ip4_group_limit = FP_TBL8_GROUPS;
  {
    std::lock_guard q(q_mu_);
    s.pending = q_enqueued_ - q_applied_;
  }
  std::lock_guard e(err_mu_);
  s.last_error = last_error_;
  return s;
}

void FastPath::map_error(const std::string& what, int err) {
  map_errors_.fetch_add(1);
  std::lock_guard e(err_mu_);
  last_error_ = err_text(what, err);
}

void FastPath::fib_failed(const std::string& what, int err) {
  map_error(what, err);
  if (fib_broken_.exchange(true)) return;
  // A prefix missing from the trie could let a covering route forward what
  // the graph would punt: from now on everything goes to the graph.
  const fp_config c{1, 0};
  const uint32_t zero = 0;
  bpf_map_update_elem(cfg_fd_, &zero, &c, BPF_ANY);
}

}  // namespace lcp::xdp
