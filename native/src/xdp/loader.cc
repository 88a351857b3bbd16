// The fast path's BPF object: opened from the embedded ELF, loaded once as
// the master (it holds the shared maps), and as an instance per netns of
// AF_PACKET ports or per AF_XDP port, each reusing the master's maps.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "xdp/fast_path_parts.h"
#include "xdp/fastpath_bpf_obj.h"  // generated: kFastPathBpfObj (embed_bpf.sh)

namespace lcp::xdp {

namespace detail {

const char* const kSharedMaps[11] = {"fp_config", "fp_ports", "fp_tx",  "fp_tbl24", "fp_tbl8", "fp_fib6",
                             "fp_lens6",  "fp_short6", "fp_lbs", "fp_adjs",  "fp_stats"};

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
namespace {
thread_local std::string tl_libbpf_log;
}  // namespace

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

void libbpf_log_start() { tl_libbpf_log.clear(); }

}  // namespace detail

using detail::err_text;
using detail::libbpf_detail;
using detail::load_object;

void FastPath::ObjectCloser::operator()(bpf_object* o) const { bpf_object__close(o); }

std::shared_ptr<FastPath::Prog> FastPath::load_prog(int xsk_map_fd, std::string& why) {
  LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "lcp_fastpath");
  detail::libbpf_log_start();
  bpf_object* obj = bpf_object__open_mem(kFastPathBpfObj, sizeof kFastPathBpfObj, &oo);
  if (!obj) {
    why = err_text("open the XDP program", errno);
    return nullptr;
  }
  auto prog = std::make_shared<Prog>();
  prog->obj.reset(obj);
  for (const char* name : detail::kSharedMaps) {
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

}  // namespace lcp::xdp
