#include "io/kernel_guard.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
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

}  // namespace

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
    attached_ = true;

    old_disable_ipv6_ = read_sysctl(ipv6_path(ifname));
    if (old_disable_ipv6_ == 0) {
      int err = write_sysctl(ipv6_path(ifname), 1);
      if (err) {
        old_disable_ipv6_ = -1;
        throw make_error("kernel guard: disable ipv6", object, err);
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
  if (old_disable_ipv6_ == 0) write_sysctl(ipv6_path(ifname_), 0);
  old_disable_ipv6_ = -1;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_INGRESS);
  if (attached_) {
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    bpf_tc_detach(&hook, &opts);
    attached_ = false;
  }
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
