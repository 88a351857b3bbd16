// The drivers' XDP features, followed through the netdev generic netlink
// family: whether each port's netdev takes XDP_REDIRECT frames now (a veth
// does only while its peer runs XDP or GRO), so the fast path forwards to a
// port only while it can.
#include <bpf/bpf.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <map>

#include "io/netns.h"
#include "xdp/fast_path_parts.h"
#include "xdp/fastpath_abi.h"

namespace lcp::xdp {

using detail::err_text;

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

}  // namespace

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

void FastPath::kick_monitor() {
  if (!wake_) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);  // full counter: already kicked
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

}  // namespace lcp::xdp
