#include "xdp/fast_path.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>

#include "fib/ip4_lpm.h"
#include "io/netns.h"
#include "xdp/fastpath_abi.h"
#include "xdp/fastpath_bpf_obj.h"  // generated: kFastPathBpfObj (embed_bpf.sh)

namespace lcp::xdp {

namespace {

// netdev generic netlink (include/uapi/linux/netdev.h; not in Debian 12's headers).
constexpr uint8_t kNetdevCmdDevGet = 1;
constexpr uint8_t kNetdevCmdDevAddNtf = 2;
constexpr uint8_t kNetdevCmdDevDelNtf = 3;
constexpr uint8_t kNetdevCmdDevChangeNtf = 4;  // sent on NETDEV_XDP_FEAT_CHANGE (veth: peer XDP/GRO)
constexpr uint16_t kNetdevAttrIfindex = 1;
constexpr uint16_t kNetdevAttrXdpFeatures = 3;
constexpr uint64_t kXdpActNdoXmit = 1u << 2;

// The monitor's timer: the trace-bypass probe, and one slice of the safety
// recheck. Notifications do the real work; the safety recheck only covers a
// lost one (the kernel reports an overrun as ENOBUFS, which rechecks the
// whole netns at once), so it may be slow, and it is spread over the period
// (kSafetyPeriod / kTick slices) so 1,000 ports never cost a burst.
constexpr auto kTick = std::chrono::milliseconds(100);
constexpr auto kSafetyPeriod = std::chrono::seconds(5);
constexpr int kNtfRcvbuf = 1 << 20;  // notifications of a bulk attach, before ENOBUFS
constexpr int kENOTSUPP = 524;  // the kernel's internal "not supported" (no batch ops)

// The verifier gives up with EAGAIN whenever a signal is pending for the
// loading thread, and libbpf tries only 5 times: a profiler's SIGPROF (node
// --cpu-prof) or a child's SIGCHLD made every attempt at our program fail,
// and the fast path was off for the dataplane's life. Signals wait instead.
int load_object(bpf_object* obj) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  const int rc = bpf_object__load(obj);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

// libbpf's messages go to the reason a load failed, not to stderr.
thread_local std::string tl_libbpf_log;
int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  int n = std::vsnprintf(line, sizeof line, fmt, ap);
  if (tl_libbpf_log.size() < 4096) tl_libbpf_log.append(line, n > 0 ? std::min<size_t>(size_t(n), sizeof line - 1) : 0);
  return 0;
}

std::string err_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

// Last meaningful line libbpf logged (the verifier's complaint), if any.
std::string libbpf_detail() {
  std::string s = tl_libbpf_log;
  tl_libbpf_log.clear();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const size_t nl = s.rfind('\n');
  if (nl != std::string::npos) s = s.substr(nl + 1);
  return s.size() > 200 ? s.substr(0, 200) : s;
}

// ---- the driver's XDP features, through the netdev genetlink family ----

struct GenlReply {
  uint16_t family = 0;
  uint32_t mgmt_group = 0;  // the netdev family's "mgmt" multicast group
  uint64_t features = 0;
  bool have_features = false;
};

int mcast_grp_attr(const nlattr* a, void* data) {
  auto* g = static_cast<std::pair<std::string, uint32_t>*>(data);
  if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
    g->first = mnl_attr_get_str(a);
  if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
    g->second = mnl_attr_get_u32(a);
  return MNL_CB_OK;
}

int mcast_grp_entry(const nlattr* a, void* data) {
  std::pair<std::string, uint32_t> g{"", 0};
  mnl_attr_parse_nested(a, mcast_grp_attr, &g);
  if (g.first == "mgmt") static_cast<GenlReply*>(data)->mgmt_group = g.second;
  return MNL_CB_OK;
}

int ctrl_attr(const nlattr* a, void* data) {
  auto* r = static_cast<GenlReply*>(data);
  if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
    r->family = mnl_attr_get_u16(a);
  if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GROUPS) {
    mnl_attr_parse_nested(a, mcast_grp_entry, r);  // each entry: a nest of name + id
  }
  return MNL_CB_OK;
}
int ctrl_cb(const nlmsghdr* nlh, void* data) { return mnl_attr_parse(nlh, sizeof(genlmsghdr), ctrl_attr, data); }

struct DevEvent {
  uint8_t cmd = 0;
  uint32_t ifindex = 0;
  uint64_t features = 0;
  bool have_ifindex = false, have_features = false;
};

int ntf_attr(const nlattr* a, void* data) {
  auto* e = static_cast<DevEvent*>(data);
  if (mnl_attr_get_type(a) == kNetdevAttrIfindex && mnl_attr_validate(a, MNL_TYPE_U32) >= 0) {
    e->ifindex = mnl_attr_get_u32(a);
    e->have_ifindex = true;
  }
  if (mnl_attr_get_type(a) == kNetdevAttrXdpFeatures && mnl_attr_validate(a, MNL_TYPE_U64) >= 0) {
    e->features = mnl_attr_get_u64(a);
    e->have_features = true;
  }
  return MNL_CB_OK;
}
int ntf_cb(const nlmsghdr* nlh, void* data) {
  auto* out = static_cast<std::vector<DevEvent>*>(data);
  const auto* g = static_cast<const genlmsghdr*>(mnl_nlmsg_get_payload(nlh));
  DevEvent e;
  e.cmd = g->cmd;
  mnl_attr_parse(nlh, sizeof(genlmsghdr), ntf_attr, &e);
  if (e.have_ifindex) out->push_back(e);
  return MNL_CB_OK;
}

int dev_attr(const nlattr* a, void* data) {
  auto* r = static_cast<GenlReply*>(data);
  if (mnl_attr_get_type(a) == kNetdevAttrXdpFeatures && mnl_attr_validate(a, MNL_TYPE_U64) >= 0) {
    r->features = mnl_attr_get_u64(a);
    r->have_features = true;
  }
  return MNL_CB_OK;
}
int dev_cb(const nlmsghdr* nlh, void* data) { return mnl_attr_parse(nlh, sizeof(genlmsghdr), dev_attr, data); }

// One request, read to the ack. Returns 0 or a positive errno.
int genl_request(mnl_socket* nl, uint16_t type, uint8_t cmd, uint16_t attr, const void* val, size_t len,
                 bool strz, mnl_cb_t cb, GenlReply& out) {
  alignas(nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  const uint32_t seq = 1;
  nlh->nlmsg_seq = seq;
  auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
  g->cmd = cmd;
  g->version = 1;
  if (strz) mnl_attr_put_strz(nlh, attr, static_cast<const char*>(val));
  else mnl_attr_put(nlh, attr, len, val);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return errno;
  const unsigned portid = mnl_socket_get_portid(nl);
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0) return errno;
    const int rc = mnl_cb_run(buf, size_t(n), seq, portid, cb, &out);
    if (rc == MNL_CB_STOP) return 0;
    if (rc < 0) return errno ? errno : EIO;
  }
}

struct MnlClose {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
using MnlSocket = std::unique_ptr<mnl_socket, MnlClose>;

// The device's XDP features, asked on a netdev genetlink socket of its netns.
// Returns 0 or a positive errno.
int xdp_features(mnl_socket* req, uint16_t family, int ifindex, uint64_t& features) {
  GenlReply dev;
  const uint32_t idx = uint32_t(ifindex);
  if (int e = genl_request(req, family, kNetdevCmdDevGet, kNetdevAttrIfindex, &idx, sizeof idx, false, dev_cb, dev))
    return e;
  if (!dev.have_features) return EOPNOTSUPP;
  features = dev.features;
  return 0;
}

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

const char* kSharedMaps[] = {"fp_config", "fp_ports", "fp_tx",  "fp_tbl24", "fp_tbl8", "fp_fib6",
                             "fp_lens6",  "fp_short6", "fp_lbs", "fp_adjs",  "fp_stats"};

}  // namespace

void FastPath::ObjectCloser::operator()(bpf_object* o) const { bpf_object__close(o); }

// One netns's netdev genetlink sockets, opened in it (a genetlink socket
// talks to the netns it was created in, and the family multicasts a device's
// notifications in the device's netns only): `ntf` joined to "mgmt" for
// dev-add/del/change notifications, `req` for DEV_GET, so a reply never
// interleaves with notifications.
struct FastPath::Watch {
  std::string netns;
  MnlSocket ntf, req;
  uint16_t family = 0;

  // Throws (the netns is gone) or returns an error text ("" when open).
  std::string open() {
    io::NetnsGuard in(netns);
    req.reset(mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC));
    if (!req || mnl_socket_bind(req.get(), 0, MNL_SOCKET_AUTOPID) < 0) return err_text("netdev genetlink socket", errno);
    GenlReply fam;
    if (int e = genl_request(req.get(), GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, "netdev", 0, true,
                             ctrl_cb, fam))
      return err_text("resolve the netdev genetlink family", e);
    if (!fam.family || !fam.mgmt_group) return "no netdev genetlink family (mgmt group) on this kernel";
    family = fam.family;
    ntf.reset(mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!ntf || mnl_socket_bind(ntf.get(), 0, MNL_SOCKET_AUTOPID) < 0) return err_text("netdev genetlink socket", errno);
    // Best effort: a bigger buffer makes ENOBUFS (and its full recheck) rarer.
    const int rcv = kNtfRcvbuf;
    if (::setsockopt(mnl_socket_get_fd(ntf.get()), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
      ::setsockopt(mnl_socket_get_fd(ntf.get()), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    uint32_t grp = fam.mgmt_group;
    if (mnl_socket_setsockopt(ntf.get(), NETLINK_ADD_MEMBERSHIP, &grp, sizeof grp) < 0)
      return err_text("join the netdev genetlink mgmt group", errno);
    return "";
  }

  // Reads every queued notification. Returns false on an overrun (ENOBUFS:
  // some were lost, the caller rechecks the whole netns).
  bool read(std::vector<DevEvent>& out) {
    alignas(nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
    bool ok = true;
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(ntf.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == ENOBUFS) {
          ok = false;
          continue;
        }
        return ok;  // EAGAIN: drained
      }
      mnl_cb_run(buf, size_t(n), 0, 0, ntf_cb, &out);
    }
  }
};

struct FastPath::Prog {
  Object obj;
  int prog_fd = -1;
  int ifs_fd = -1;  // fp_ifs: ifindex → fp_self
};

struct FastPath::Port {
  FastPathPort spec;
  uint64_t serial = 0;
  bool want = true;
  std::shared_ptr<Prog> prog;  // shared by the netns's AF_PACKET ports; the last one closes it
  bool in_ifs = false;         // our entry is in prog->ifs_fd
  int prog_fd = -1;
  io::UniqueFd link;          // AF_PACKET: the bpf_link; closing it detaches
  bool netlink_attached = false;  // AF_XDP: replaced the port's own program
  uint32_t attach_flags = 0;
  bool gro_restore = false;
  bool devmap = false;
  bool attached = false;
  bool tx_capable = false;
  std::string why_rx, why_tx;
  // From the dataplane.
  uint32_t table_slot = 0;
  std::array<uint8_t, 6> mac{};
  bool admin_up = false;
};

FastPath::FastPath() {
  static_assert(kLens6Bytes == size_t(FP_LENS6_BUCKETS) * sizeof(fp_lens6) && FP_MAX_TABLES * 8 <= kShort6Bytes);
  libbpf_set_print(libbpf_print);
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ < 1) ncpus_ = 1;
  LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "lcp_fastpath");
  tl_libbpf_log.clear();
  bpf_object* obj = bpf_object__open_mem(kFastPathBpfObj, sizeof kFastPathBpfObj, &oo);
  if (!obj) {
    why_ = err_text("open the XDP program", errno) + " " + libbpf_detail();
    return;
  }
  master_.reset(obj);
  if (int rc = load_object(obj); rc < 0) {
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

std::shared_ptr<FastPath::Prog> FastPath::load_prog(int xsk_map_fd, std::string& why) {
  LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "lcp_fastpath");
  tl_libbpf_log.clear();
  bpf_object* obj = bpf_object__open_mem(kFastPathBpfObj, sizeof kFastPathBpfObj, &oo);
  if (!obj) {
    why = err_text("open the XDP program", errno);
    return nullptr;
  }
  auto prog = std::make_shared<Prog>();
  prog->obj.reset(obj);
  for (const char* name : kSharedMaps) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    const int fd = bpf_object__find_map_fd_by_name(master_.get(), name);
    if (!m || bpf_map__reuse_fd(m, fd) < 0) {
      why = err_text(std::string("share map ") + name, errno);
      return nullptr;
    }
  }
  if (xsk_map_fd >= 0) {
    bpf_map* m = bpf_object__find_map_by_name(obj, "fp_xsks");
    if (!m || bpf_map__reuse_fd(m, xsk_map_fd) < 0) {
      why = err_text("share the AF_XDP socket map", errno);
      return nullptr;
    }
  }
  if (int rc = load_object(obj); rc < 0) {
    why = err_text("the kernel refused the XDP program", -rc);
    if (std::string d = libbpf_detail(); !d.empty()) why += " (" + d + ")";
    return nullptr;
  }
  prog->ifs_fd = bpf_object__find_map_fd_by_name(obj, "fp_ifs");
  bpf_program* p = bpf_object__find_program_by_name(obj, "lcp_fastpath");
  prog->prog_fd = p ? bpf_program__fd(p) : -1;
  if (prog->prog_fd < 0 || prog->ifs_fd < 0) {
    why = "no program or fp_ifs map in the XDP object";
    return nullptr;
  }
  return prog;
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

void FastPath::kick_monitor() {
  if (!wake_) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);  // full counter: already kicked
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

void FastPath::set_tx_state(Port& p, int err, uint64_t features, const std::string& detail) {
  const bool capable = err == 0 && (features & kXdpActNdoXmit);
  std::string why;
  if (err && !detail.empty()) why = "cannot read its XDP features: " + detail;
  else if (err) why = err_text("cannot read its XDP features", err);
  else if (!capable)
    why = "'" + p.spec.name + "' does not take XDP frames now (a veth needs an XDP program or GRO on its peer)";
  if (capable != p.tx_capable || why != p.why_tx) {
    p.tx_capable = capable;
    p.why_tx = why;
    write_port(p);
  }
}

// The monitor: one netdev genetlink subscription per netns that has watched
// ports (want + devmap), opened before any of its ports is first read; a
// notification naming a port's ifindex carries its new xdp-features and is
// applied as is (dev-del: the netdev is gone). Reads (DEV_GET) happen only
// for newly attached ports, after an overrun, and in the safety slices.
void FastPath::monitor_loop() {
  std::map<std::string, std::unique_ptr<Watch>> watches;
  std::map<std::string, std::string> watch_errors;  // netns → why it has no subscription
  struct Check {
    uint32_t index;
    uint64_t serial;
    std::string netns;
    int ifindex;
  };
  std::vector<Check> checks;
  std::vector<DevEvent> events;
  std::vector<pollfd> pfds;
  std::vector<Watch*> polled;
  size_t safety_cursor = 0;
  auto next_tick = std::chrono::steady_clock::now() + kTick;

  while (!stop_.load()) {
    // 1. What to watch and what to read now.
    std::vector<std::string> netns_wanted;
    checks.clear();
    {
      std::lock_guard g(mu_);
      auto watched = [](const Port* p) { return p && p->want && p->devmap; };
      for (const auto& p : ports_)
        if (watched(p.get()) && (netns_wanted.empty() || netns_wanted.back() != p->spec.netns))
          netns_wanted.push_back(p->spec.netns);
      for (uint32_t i : dirty_)
        if (i < ports_.size() && watched(ports_[i].get()))
          checks.push_back({i, ports_[i]->serial, ports_[i]->spec.netns, ports_[i]->spec.ifindex});
      dirty_.clear();
    }
    std::sort(netns_wanted.begin(), netns_wanted.end());
    netns_wanted.erase(std::unique(netns_wanted.begin(), netns_wanted.end()), netns_wanted.end());
    for (auto it = watches.begin(); it != watches.end();)
      it = std::binary_search(netns_wanted.begin(), netns_wanted.end(), it->first) ? std::next(it) : watches.erase(it);
    for (auto it = watch_errors.begin(); it != watch_errors.end();)
      it = std::binary_search(netns_wanted.begin(), netns_wanted.end(), it->first) ? std::next(it)
                                                                                  : watch_errors.erase(it);
    for (const std::string& ns : netns_wanted) {
      if (watches.count(ns) || watch_errors.count(ns)) continue;  // a failed one is retried by the safety pass
      auto w = std::make_unique<Watch>();
      w->netns = ns;
      std::string err;
      try {
        err = w->open();
      } catch (const std::exception& e) {
        err = e.what();
      }
      if (err.empty()) watches.emplace(ns, std::move(w));
      else watch_errors.emplace(ns, err);
    }

    // 2. Reads: no lock held during the netlink round trip; the result is
    // applied only if the slot still holds the port it was read for.
    for (const Check& c : checks) {
      auto w = watches.find(c.netns);
      uint64_t features = 0;
      std::string detail;
      int err = ENOTCONN;
      if (w != watches.end()) err = xdp_features(w->second->req.get(), w->second->family, c.ifindex, features);
      else if (auto e = watch_errors.find(c.netns); e != watch_errors.end()) detail = e->second;
      std::lock_guard g(mu_);
      if (c.index < ports_.size() && ports_[c.index] && ports_[c.index]->serial == c.serial)
        set_tx_state(*ports_[c.index], err, features, detail);
    }

    // 3. Wait for a notification, a kick or the tick.
    pfds.clear();
    polled.clear();
    pfds.push_back({wake_.get(), POLLIN, 0});
    for (auto& [ns, w] : watches) {
      pfds.push_back({mnl_socket_get_fd(w->ntf.get()), POLLIN, 0});
      polled.push_back(w.get());
    }
    // No watched port and no trace: nothing for the tick to do, so no wakeups
    // until a kick (a port attached, a trace armed, stop).
    bool idle;
    {
      std::lock_guard g(mu_);
      idle = !bypass_trace_ && watches.empty() && watch_errors.empty() && dirty_.empty();
    }
    const auto now = std::chrono::steady_clock::now();
    const int timeout_ms =
        idle ? -1
        : now >= next_tick
            ? 0
            : int(std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now).count()) + 1;
    if (::poll(pfds.data(), pfds.size(), timeout_ms) < 0 && errno != EINTR) {
      std::this_thread::sleep_for(kTick);  // cannot happen with valid fds; never spin
      continue;
    }
    if (pfds[0].revents) {
      uint64_t v;
      [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &v, sizeof v);
    }

    // 4. Notifications.
    for (size_t i = 0; i < polled.size(); ++i) {
      if (!pfds[i + 1].revents) continue;
      Watch& w = *polled[i];
      events.clear();
      const bool complete = w.read(events);
      std::lock_guard g(mu_);
      for (const DevEvent& e : events) {
        for (auto& pp : ports_) {
          if (!pp || uint32_t(pp->spec.ifindex) != e.ifindex || !pp->want || !pp->devmap || pp->spec.netns != w.netns)
            continue;  // ifindex first: a bulk attach brings thousands of events, most about peers
          if (e.cmd == kNetdevCmdDevDelNtf) set_tx_state(*pp, ENODEV, 0);
          else if ((e.cmd == kNetdevCmdDevChangeNtf || e.cmd == kNetdevCmdDevAddNtf) && e.have_features)
            set_tx_state(*pp, 0, e.features);
        }
      }
      if (!complete)  // lost some: read every port of this netns again
        for (uint32_t k = 0; k < ports_.size(); ++k)
          if (ports_[k] && ports_[k]->spec.netns == w.netns) dirty_.push_back(k);
    }

    // 5. The tick: trace probe, one slice of the safety recheck.
    if (std::chrono::steady_clock::now() < next_tick) continue;
    next_tick = std::chrono::steady_clock::now() + kTick;
    std::lock_guard g(mu_);
    if (bypass_trace_ && trace_probe_ && !trace_probe_()) {
      bypass_trace_ = false;
      const fp_config c{uint32_t(fib_broken_.load()), 0};
      const uint32_t zero = 0;
      bpf_map_update_elem(cfg_fd_, &zero, &c, BPF_ANY);
    }
    constexpr size_t kSlices = size_t(kSafetyPeriod / kTick);
    const size_t n = ports_.size();
    if (n == 0) continue;
    const size_t slice = (n + kSlices - 1) / kSlices;
    for (size_t k = 0; k < slice; ++k, ++safety_cursor) {
      const uint32_t i = uint32_t(safety_cursor % n);
      if (ports_[i] && ports_[i]->want && ports_[i]->devmap) dirty_.push_back(i);
    }
    if (safety_cursor % n < slice) watch_errors.clear();  // a full pass: retry failed subscriptions
  }
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

// ---- fib::FibObserver: called under the dataplane's control mutex ----
// Each change is queued in order; the writer thread applies it.

void FastPath::enqueue(const Op& op) {
  {
    std::lock_guard lk(q_mu_);
    queue_.ops.push_back(op);
    ++q_enqueued_;
    if (queue_.ops.size() > max_queue_.load(std::memory_order_relaxed))
      max_queue_.store(queue_.ops.size(), std::memory_order_relaxed);
  }
  q_cv_.notify_one();
}

void FastPath::prefix_set(uint32_t slot, const fib::Prefix& p, uint32_t lb, bool fresh) {
  if (!usable_) return;
  Op op{p.addr.family == fib::Family::Ip4 ? Op::Set4 : Op::Set6, p.len, slot, lb, fresh ? 1u : 0u, {}};
  std::memcpy(op.addr, p.addr.b.data(), 16);
  enqueue(op);
}

void FastPath::prefix_unset(uint32_t slot, const fib::Prefix& p, uint8_t cover_len, uint32_t cover_lb) {
  if (!usable_) return;
  Op op{p.addr.family == fib::Family::Ip4 ? Op::Unset4 : Op::Unset6, p.len, slot, cover_lb, cover_len, {}};
  std::memcpy(op.addr, p.addr.b.data(), 16);
  enqueue(op);
}

void FastPath::lb_set(uint32_t index, const fib::LoadBalance& lb) {
  if (!usable_) return;
  {
    std::lock_guard lk(q_mu_);
    queue_.lbs.push_back(lb);
    queue_.ops.push_back(Op{Op::LbSet, 0, 0, index, uint32_t(queue_.lbs.size() - 1), {}});
    ++q_enqueued_;
  }
  q_cv_.notify_one();
}

void FastPath::lb_unset(uint32_t index) {
  if (usable_) enqueue(Op{Op::LbUnset, 0, 0, index, 0, {}});
}

void FastPath::adj_set(uint32_t index, const fib::Adjacency& a) {
  if (!usable_) return;
  {
    std::lock_guard lk(q_mu_);
    queue_.adjs.push_back(a);
    queue_.ops.push_back(Op{Op::AdjSet, 0, 0, index, uint32_t(queue_.adjs.size() - 1), {}});
    ++q_enqueued_;
  }
  q_cv_.notify_one();
}

void FastPath::adj_unset(uint32_t index) {
  if (usable_) enqueue(Op{Op::AdjUnset, 0, 0, index, 0, {}});
}

void FastPath::flush() {
  if (!usable_) return;
  std::unique_lock lk(q_mu_);
  const uint64_t target = q_enqueued_;
  q_done_cv_.wait(lk, [&] { return q_applied_ >= target || q_stop_; });
}

void FastPath::writer_loop() {
  Queue q;
  for (;;) {
    {
      std::unique_lock lk(q_mu_);
      q_cv_.wait(lk, [&] { return q_stop_ || !queue_.ops.empty(); });
      if (q_stop_ && queue_.ops.empty()) return;
      std::swap(q, queue_);  // the FIB goes on filling a fresh queue meanwhile
    }
    apply(q);
    const uint64_t n = q.ops.size();
    q.ops.clear();
    q.lbs.clear();
    q.adjs.clear();
    {
      std::lock_guard lk(q_mu_);
      q_applied_ += n;
    }
    q_done_cv_.notify_all();
  }
}

void FastPath::apply(Queue& q) {
  const size_t n = q.ops.size();
  size_t i = 0;
  while (i < n) {
    const Op& op = q.ops[i];
    switch (op.kind) {
      case Op::Set4:
      case Op::Set6:
      case Op::Unset4:
      case Op::Unset6: {
        size_t j = i + 1;
        while (j < n && q.ops[j].kind == op.kind && j - i < 8192) ++j;
        if (op.kind == Op::Set4 || op.kind == Op::Unset4) apply_prefix4_run(&q.ops[i], j - i);
        else apply_prefix6_run(&q.ops[i], j - i);
        i = j;
        continue;
      }
      case Op::LbSet: apply_lb(op.value, &q.lbs[op.aux]); break;
      case Op::LbUnset: apply_lb(op.value, nullptr); break;
      case Op::AdjSet: apply_adj(op.value, &q.adjs[op.aux]); break;
      case Op::AdjUnset: apply_adj(op.value, nullptr); break;
    }
    ++i;
  }
}

// A table slot's IPv4 DIR-24-8: the two arrays the program reads (created
// here, put in fp_tbl24 / fp_tbl8 at the slot, mapped shared) and the FIB's
// own Ip4Lpm over that memory, so an update is a few stores, no syscall.
struct FastPath::Lpm4 {
  io::UniqueFd t24_fd, t8_fd;
  void* t24 = MAP_FAILED;
  void* t8 = MAP_FAILED;
  std::unique_ptr<fib::Ip4Lpm> lpm;
  static constexpr size_t k24Bytes = size_t(1) << 16 << 10;  // 65536 rows of 256 words
  static constexpr size_t k8Bytes = size_t(FP_TBL8_GROUPS) << 10;
  ~Lpm4() {
    lpm.reset();
    if (t24 != MAP_FAILED) ::munmap(t24, k24Bytes);
    if (t8 != MAP_FAILED) ::munmap(t8, k8Bytes);
  }
};

static_assert(FP_MAX_TABLES == fib::kMaxTables, "a map-of-maps slot per FIB table slot");

FastPath::Lpm4* FastPath::lpm4(uint32_t slot) {
  if (lpm4_.size() <= slot) lpm4_.resize(slot + 1);
  if (lpm4_[slot]) return lpm4_[slot].get();
  auto t = std::make_unique<Lpm4>();
  LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE);
  t->t24_fd.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "fp_t24", 4, sizeof(fp_words), 1u << 16, &mo));
  if (!t->t24_fd) {
    fib_failed("fast path IPv4 table (tbl24 array)", errno);
    return nullptr;
  }
  t->t8_fd.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "fp_t8", 4, sizeof(fp_words), FP_TBL8_GROUPS, &mo));
  if (!t->t8_fd) {
    fib_failed("fast path IPv4 table (tbl8 array)", errno);
    return nullptr;
  }
  t->t24 = ::mmap(nullptr, Lpm4::k24Bytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->t24_fd.get(), 0);
  if (t->t24 == MAP_FAILED) {
    fib_failed("map the fast path IPv4 tbl24", errno);
    return nullptr;
  }
  t->t8 = ::mmap(nullptr, Lpm4::k8Bytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->t8_fd.get(), 0);
  if (t->t8 == MAP_FAILED) {
    fib_failed("map the fast path IPv4 tbl8", errno);
    return nullptr;
  }
  t->lpm = std::make_unique<fib::Ip4Lpm>(lpm4_rcu_, static_cast<std::atomic<uint32_t>*>(t->t24),
                                         static_cast<std::atomic<uint32_t>*>(t->t8), FP_TBL8_GROUPS);
  // tbl8 first: a tbl24 word never points at a group the program cannot find.
  int fd = t->t8_fd.get();
  if (bpf_map_update_elem(tbl8_fd_, &slot, &fd, BPF_ANY) < 0) {
    fib_failed("fast path fp_tbl8 update", errno);
    return nullptr;
  }
  fd = t->t24_fd.get();
  if (bpf_map_update_elem(tbl24_fd_, &slot, &fd, BPF_ANY) < 0) {
    fib_failed("fast path fp_tbl24 update", errno);
    return nullptr;
  }
  lpm4_[slot] = std::move(t);
  return lpm4_[slot].get();
}

// Updating a map-of-maps slot makes the kernel wait for every running BPF
// program (synchronize_rcu in the bpf() syscall): after it, no program still
// holds a tbl24 word read before a group was folded back, so the group may be
// reused. Writing the slot's own array again changes nothing else.
void FastPath::sync_bpf_readers(uint32_t slot) {
  const int fd = lpm4_[slot]->t24_fd.get();
  if (bpf_map_update_elem(tbl24_fd_, &slot, &fd, BPF_ANY) < 0) return fib_failed("fast path fp_tbl24 sync", errno);
  lpm4_rcu_.reclaim();  // no workers: runs what waited, now that the kernel's readers are done
}

// IPv4 prefix ops: the same DIR-24-8 updates the FIB made to its own table,
// on the program's memory (single 32-bit stores, groups published last).
void FastPath::apply_prefix4_run(const Op* ops, size_t n) {
  if (fib_broken_.load(std::memory_order_relaxed)) return;
  map_updates_.fetch_add(n, std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    const Op& op = ops[i];
    const uint32_t addr = (uint32_t(op.addr[0]) << 24) | (uint32_t(op.addr[1]) << 16) | (uint32_t(op.addr[2]) << 8) | op.addr[3];
    if (op.kind == Op::Set4) {
      Lpm4* t = lpm4(op.slot);
      if (!t) return;
      try {
        t->lpm->set(addr, op.len, op.value);
      } catch (const std::exception&) {
        // A prefix missing here would let its cover forward what it should not.
        return fib_failed("fast path IPv4 table: all " + std::to_string(FP_TBL8_GROUPS) + " tbl8 groups in use", ENOSPC);
      }
    } else if (op.slot < lpm4_.size() && lpm4_[op.slot]) {
      Lpm4& t = *lpm4_[op.slot];
      const uint32_t groups = t.lpm->groups_in_use();
      t.lpm->remove(addr, op.len, op.aux, op.value);
      if (t.lpm->groups_in_use() < groups) sync_bpf_readers(op.slot);
    }
  }
  uint64_t groups = 0;
  for (const auto& t : lpm4_)
    if (t) groups += t->lpm->groups_in_use();
  lpm4_groups_.store(groups, std::memory_order_relaxed);
}

// A run of one kind of IPv6 prefix op: one batch syscall per run for the
// hash, and the length bits around it (set once a prefix is in, cleared
// before the last of its length in the bucket leaves).
void FastPath::apply_prefix6_run(const Op* ops, size_t n) {
  if (fib_broken_.load(std::memory_order_relaxed)) return;
  const bool set = ops[0].kind == Op::Set6;
  thread_local std::vector<fp_key6> keys;
  thread_local std::vector<uint32_t> values;
  keys.resize(n);
  values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    fp_key6& k = keys[i];
    k = fp_key6{};
    k.table = ops[i].slot;
    k.len = ops[i].len;
    for (int b = 0; b < 8; ++b) {
      k.hi = (k.hi << 8) | ops[i].addr[b];
      k.lo = (k.lo << 8) | ops[i].addr[8 + b];
    }
    values[i] = ops[i].value;
  }
  map_updates_.fetch_add(n, std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  if (!set)
    for (size_t i = 0; i < n; ++i) count_len6(keys[i], -1);
  if (!write_fib6(set, keys.data(), values.data(), n)) return;
  if (set)
    for (size_t i = 0; i < n; ++i)
      if (ops[i].aux) count_len6(keys[i], +1);  // fresh: a replaced prefix is counted already
}

// One more or one less prefix of k's length where k's lookups look: the
// bit goes on with the first and off with the last.
void FastPath::count_len6(const fp_key6& k, int delta) {
  uint64_t* word;
  uint64_t bit;
  uint64_t key;
  if (k.len >= 32) {
    const uint32_t b = fp_lens6_bucket(k.table, uint32_t(k.hi >> 32));
    const uint32_t i = k.len - 32;
    word = &lens6_[b].w[i / 64];
    bit = 1ull << (i % 64);
    key = (uint64_t(b) << 8) | k.len;
  } else {
    word = &short6_[k.table];
    bit = 1ull << k.len;
    key = (uint64_t(1) << 40) | (uint64_t(k.table) << 8) | k.len;
  }
  if (delta > 0) {
    if (len6_count_[key]++ == 0) __atomic_fetch_or(word, bit, __ATOMIC_RELEASE);
    return;
  }
  auto it = len6_count_.find(key);
  if (it == len6_count_.end()) return;
  if (--it->second == 0) {
    __atomic_fetch_and(word, ~bit, __ATOMIC_RELEASE);
    len6_count_.erase(it);
  }
}

bool FastPath::write_fib6(bool set, const fp_key6* keys, const uint32_t* values, size_t n) {
  const int fd = fib6_fd_;
  size_t done = 0;
  while (done < n) {
    uint32_t count = uint32_t(n - done);
    const int rc = set ? bpf_map_update_batch(fd, keys + done, values + done, &count, nullptr)
                       : bpf_map_delete_batch(fd, keys + done, &count, nullptr);
    if (rc == 0) return true;
    const int err = errno;
    done += count;  // processed before the failing one
    if (err == EINVAL || err == kENOTSUPP || err == EOPNOTSUPP) {
      // No batch ops for this map on this kernel: one syscall each.
      for (; done < n; ++done) {
        const int r = set ? bpf_map_update_elem(fd, &keys[done], &values[done], BPF_ANY) : bpf_map_delete_elem(fd, &keys[done]);
        if (r < 0 && !(errno == ENOENT && !set)) {
          fib_failed("fast path FIB map update", errno);
          return false;
        }
      }
      return true;
    }
    if (err == ENOENT && !set) {  // deleting what is not there: skip it, go on
      ++done;
      continue;
    }
    fib_failed(set ? "fast path FIB map update" : "fast path FIB map delete", err);
    return false;
  }
  return true;
}

void FastPath::apply_lb(uint32_t index, const fib::LoadBalance* lb) {
  map_updates_.fetch_add(1, std::memory_order_relaxed);
  if (!lb || lb->n_buckets > FP_MAX_BUCKETS) {  // freed, or wide ECMP: the graph's
    bpf_map_delete_elem(lbs_fd_, &index);
    return;
  }
  fp_lb v{};
  v.n_buckets = lb->n_buckets;
  for (uint32_t i = 0; i < lb->n_buckets; ++i) v.buckets[i] = lb->buckets[i];
  if (bpf_map_update_elem(lbs_fd_, &index, &v, BPF_ANY) < 0) {
    const int err = errno;
    bpf_map_delete_elem(lbs_fd_, &index);  // never a stale one
    map_error("fast path load-balance map update", err);
  }
}

void FastPath::apply_adj(uint32_t index, const fib::Adjacency* a) {
  map_updates_.fetch_add(1, std::memory_order_relaxed);
  // Glean, receive, drops, VLAN and point-to-point rewrites: the graph's.
  if (!a || a->kind != fib::AdjKind::Rewrite || a->rewrite_len != 14) {
    bpf_map_delete_elem(adjs_fd_, &index);
    return;
  }
  fp_adj v{};
  v.port = a->port;
  v.mtu = a->mtu;
  std::memcpy(v.rewrite, a->rewrite, 14);
  if (bpf_map_update_elem(adjs_fd_, &index, &v, BPF_ANY) < 0) {
    const int err = errno;
    bpf_map_delete_elem(adjs_fd_, &index);
    map_error("fast path adjacency map update", err);
  }
}

}  // namespace lcp::xdp
