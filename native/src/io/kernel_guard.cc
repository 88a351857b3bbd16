#include "io/kernel_guard.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/netns.h"
#include "io/packet_io.h"

namespace lcp::io {

namespace {

constexpr uint32_t kTcHandle = 0x1c9;    // our filter's handle, so we detach only ours
constexpr uint32_t kTcPriority = 0xc9;

// r0 = TC_ACT_SHOT; exit. Two instructions need no compiler.
int load_drop_prog(const std::string& object) {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TC_ACT_SHOT},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "lcp_port_drop"  /* <= 15 chars */, "GPL", insns,
                         sizeof(insns) / sizeof(insns[0]), nullptr);
  if (fd < 0) throw make_error("kernel guard: load tc program", object, -fd);
  return fd;
}

std::string ipv6_path(const std::string& ifname) {
  return "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6";
}

// Returns the old value, or -1 when the file does not exist (no IPv6).
int read_sysctl(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char b[16] = {};
  ssize_t n = ::read(fd, b, sizeof(b) - 1);
  ::close(fd);
  return n > 0 ? std::atoi(b) : -1;
}

int write_sysctl(const std::string& path, int value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  std::string v = std::to_string(value) + "\n";
  int err = ::write(fd, v.data(), v.size()) < 0 ? errno : 0;
  ::close(fd);
  return err;
}

// /proc/sys mounted read-only (an unprivileged container) or not ours to
// write: the other layers of the guard do the job, this one is a bonus.
bool sysctl_unwritable(int err) { return err == EROFS || err == EACCES || err == EPERM; }

// One rtnetlink request on a socket of the current netns; returns 0 or a
// positive errno. `on_msg` sees each reply that is not the ack.
int rtnl_request(nlmsghdr* nlh, mnl_cb_t on_msg, void* ctx) {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!nl) return errno;
  int err = 0;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) err = errno;
  const uint32_t portid = mnl_socket_get_portid(nl);
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = 1;
  if (!err && mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) err = errno;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  while (!err) {
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n < 0) { err = errno; break; }
    int rc = mnl_cb_run(buf, static_cast<size_t>(n), 1, portid, on_msg, ctx);
    if (rc == MNL_CB_STOP) break;  // the ack
    if (rc < 0) err = errno;
  }
  mnl_socket_close(nl);
  return err;
}

nlmsghdr* link_msg(char* buf, uint16_t type, int ifindex) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  return nlh;
}

// The first nested attribute of `type` inside `parent`, or null.
const nlattr* nested(const nlattr* parent, uint16_t type) {
  auto* end = static_cast<const char*>(mnl_attr_get_payload(parent)) + mnl_attr_get_payload_len(parent);
  for (auto* a = static_cast<const nlattr*>(mnl_attr_get_payload(parent));
       mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a))
    if (mnl_attr_get_type(a) == type) return a;
  return nullptr;
}

// IFLA_AF_SPEC / AF_INET6 / IFLA_INET6_ADDR_GEN_MODE of the link, or -1 when
// the netdev has no IPv6 (ipv6.disable=1 or a device type without it).
int addr_gen_mode(int ifindex, int& mode) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  mode = -1;
  return rtnl_request(link_msg(buf, RTM_GETLINK, ifindex), [](const nlmsghdr* nlh, void* ctx) {
    if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
    auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(ifinfomsg)));
         mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) {
      if (mnl_attr_get_type(a) != IFLA_AF_SPEC) continue;
      const nlattr* inet6 = nested(a, AF_INET6);
      const nlattr* m = inet6 ? nested(inet6, IFLA_INET6_ADDR_GEN_MODE) : nullptr;
      if (m) *static_cast<int*>(ctx) = mnl_attr_get_u8(m);
    }
    return MNL_CB_OK;
  }, &mode);
}

int set_addr_gen_mode(int ifindex, uint8_t mode) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = link_msg(buf, RTM_SETLINK, ifindex);
  nlattr* spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
  nlattr* inet6 = mnl_attr_nest_start(nlh, AF_INET6);
  mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, mode);
  mnl_attr_nest_end(nlh, inet6);
  mnl_attr_nest_end(nlh, spec);
  return rtnl_request(nlh, nullptr, nullptr);
}

}  // namespace

std::optional<LinkState> link_state(const std::string& netns, const std::string& ifname) {
  validate_ifname(ifname, "invalid device name");  // it becomes a procfs path
  NetnsGuard in(netns);  // procfs and a new netlink socket both answer for the calling thread's netns
  Netlink nl(netns_label(netns));
  std::optional<LinkDetails> link = nl.find_link(ifname);
  if (!link) return std::nullopt;
  LinkState s{*link};
  if (addr_gen_mode(link->info.ifindex, s.addr_gen_mode) != 0) s.addr_gen_mode = -1;
  s.disable_ipv6 = read_sysctl(ipv6_path(ifname));
  return s;
}

namespace {

// Our filter on one direction of `ifindex`: the program there is ours by
// handle, priority and name (someone else's filter at that slot is left alone).
bool detach_ours(int ifindex, bpf_tc_attach_point where, const std::string& object) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  if (bpf_tc_query(&hook, &opts) < 0) return false;  // no clsact qdisc, or no filter there
  int fd = bpf_prog_get_fd_by_id(opts.prog_id);
  if (fd < 0) return false;
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  const bool ours = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::strcmp(info.name, "lcp_port_drop") == 0;
  ::close(fd);
  if (!ours) return false;
  LIBBPF_OPTS(bpf_tc_opts, del, .handle = kTcHandle, .priority = kTcPriority);
  const int rc = bpf_tc_detach(&hook, &del);
  if (rc < 0 && rc != -ENOENT) throw make_error("remove port guard", object, -rc);
  return rc == 0;
}

int ifindex_of(const std::string& ifname, const std::string& object) {
  const int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (!ifindex) throw make_error("find link", object, errno);
  return ifindex;
}

}  // namespace

bool remove_stale_guard(const std::string& netns, const std::string& ifname) {
  validate_ifname(ifname, "invalid device name");
  const std::string object = "link '" + ifname + "' in " + netns_label(netns);
  NetnsGuard in(netns);
  const int ifindex = ifindex_of(ifname, object);
  const bool egress = detach_ours(ifindex, BPF_TC_EGRESS, object);
  const bool ingress = detach_ours(ifindex, BPF_TC_INGRESS, object);
  return egress || ingress;
}

void set_addr_gen_mode(const std::string& netns, const std::string& ifname, uint8_t mode) {
  validate_ifname(ifname, "invalid device name");
  const std::string object = "link '" + ifname + "' in " + netns_label(netns);
  if (mode > IN6_ADDR_GEN_MODE_RANDOM) throw make_error("set ipv6 addr_gen_mode", object, EINVAL);
  NetnsGuard in(netns);
  const int err = set_addr_gen_mode(ifindex_of(ifname, object), mode);
  if (err) throw make_error("set ipv6 addr_gen_mode", object, err);
}

void set_ipv6_disabled(const std::string& netns, const std::string& ifname, bool disabled) {
  validate_ifname(ifname, "invalid device name");  // it becomes a procfs path
  const std::string object = "link '" + ifname + "' in " + netns_label(netns);
  NetnsGuard in(netns);  // /proc/sys/net answers for the opening thread's netns
  ifindex_of(ifname, object);
  int err = write_sysctl(ipv6_path(ifname), disabled ? 1 : 0);
  if (err == ENOENT) err = EAFNOSUPPORT;  // the device is there (above) but has no IPv6; ENOENT would read as "no netns"
  if (err) throw make_error("set disable_ipv6", object, err);
}

KernelGuard::KernelGuard(const std::string& netns, const std::string& ifname)
    : netns_(netns), ifname_(ifname) {
  const std::string object = "port '" + ifname + "' in " + netns_label(netns);
  NetnsGuard ns(netns);
  ifindex_ = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (!ifindex_) throw make_error("kernel guard", object, errno);
  try {
    prog_fd_ = load_drop_prog(object);
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_INGRESS);
    int rc = bpf_tc_hook_create(&hook);
    if (rc == 0) created_hook_ = true;
    else if (rc != -EEXIST) throw make_error("kernel guard: create clsact qdisc", object, -rc);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd_, .flags = BPF_TC_F_REPLACE,
                .handle = kTcHandle, .priority = kTcPriority);
    rc = bpf_tc_attach(&hook, &opts);
    if (rc < 0) throw make_error("kernel guard: attach tc ingress drop", object, -rc);
    attached_ingress_ = true;
    // Same clsact qdisc, other direction. First among the egress guards: from
    // here on nothing the kernel sends leaves, whatever else it is doing.
    hook.attach_point = BPF_TC_EGRESS;
    LIBBPF_OPTS(bpf_tc_opts, eopts, .prog_fd = prog_fd_, .flags = BPF_TC_F_REPLACE,
                .handle = kTcHandle, .priority = kTcPriority);
    rc = bpf_tc_attach(&hook, &eopts);
    if (rc < 0) throw make_error("kernel guard: attach tc egress drop", object, -rc);
    attached_egress_ = true;

    int mode = -1;
    int err = addr_gen_mode(ifindex_, mode);
    if (err) throw make_error("kernel guard: read ipv6 addr_gen_mode", object, err);
    if (mode >= 0 && mode != IN6_ADDR_GEN_MODE_NONE) {
      err = set_addr_gen_mode(ifindex_, IN6_ADDR_GEN_MODE_NONE);
      if (err) throw make_error("kernel guard: set ipv6 addr_gen_mode none", object, err);
      old_addr_gen_mode_ = mode;
    }

    old_disable_ipv6_ = read_sysctl(ipv6_path(ifname));
    if (old_disable_ipv6_ == 0) {
      err = write_sysctl(ipv6_path(ifname), 1);
      if (err) {
        old_disable_ipv6_ = -1;
        if (!sysctl_unwritable(err)) throw make_error("kernel guard: disable ipv6", object, err);
      }
    }
  } catch (...) {
    release();
    throw;
  }
}

KernelGuard::~KernelGuard() {
  try {
    NetnsGuard ns(netns_);
    release();
  } catch (const std::exception&) {
    // The netns is gone: so is the netdev and everything we put on it.
    if (prog_fd_ >= 0) ::close(prog_fd_);
  }
}

void KernelGuard::release() noexcept {
  // Runs inside the port's netns. A netdev that vanished took all of this with it.
  // The drops go first: the netdev is the kernel's again, and what IPv6 does
  // when it comes back (link-local, DAD, RS) should leave as on any netdev.
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_EGRESS);
  if (attached_egress_) {
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    bpf_tc_detach(&hook, &opts);
    attached_egress_ = false;
  }
  hook.attach_point = BPF_TC_INGRESS;
  if (attached_ingress_) {
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    bpf_tc_detach(&hook, &opts);
    attached_ingress_ = false;
  }
  // The mode before disable_ipv6: re-enabling IPv6 generates the link-local
  // by the mode in force at that moment.
  if (old_addr_gen_mode_ >= 0) set_addr_gen_mode(ifindex_, static_cast<uint8_t>(old_addr_gen_mode_));
  old_addr_gen_mode_ = -1;
  if (old_disable_ipv6_ == 0) write_sysctl(ipv6_path(ifname_), 0);
  old_disable_ipv6_ = -1;
  if (created_hook_) {
    // INGRESS|EGRESS is how libbpf is told to delete the clsact qdisc itself.
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    bpf_tc_hook_destroy(&hook);
    created_hook_ = false;
  }
  if (prog_fd_ >= 0) ::close(prog_fd_);
  prog_fd_ = -1;
}

}  // namespace lcp::io
