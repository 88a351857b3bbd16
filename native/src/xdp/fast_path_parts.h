// What the fast path's parts share (fast_path.cc: ports and their state;
// loader.cc: the BPF object and its instances; netdev_monitor.cc: drivers'
// XDP features; map_writer.cc: the FIB in BPF maps). Not for other users.
#pragma once

#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <cstdarg>
#include <memory>
#include <string>

#include "fib/ip4_lpm.h"
#include "io/fd.h"
#include "xdp/fast_path.h"
#include "xdp/fastpath_abi.h"

namespace lcp::xdp {

namespace detail {

std::string err_text(const std::string& what, int err);
// Loads with every signal blocked (see loader.cc); 0 or a negative errno.
int load_object(bpf_object* obj);
// libbpf's messages are kept per thread for the reason a load failed:
// libbpf_print is the hook, libbpf_log_start() forgets what came before, and
// libbpf_detail() is the last meaningful line since.
int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap);
void libbpf_log_start();
std::string libbpf_detail();
// The maps every program instance shares with the master object.
extern const char* const kSharedMaps[11];

}  // namespace detail

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

}  // namespace lcp::xdp
