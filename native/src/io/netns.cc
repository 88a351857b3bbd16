#include "io/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "core/limits.h"
#include "io/packet_io.h"

namespace lcp::io {

void validate_netns_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= limits::kNetnsNameMax && name != "." && name != "..";
  for (char c : name) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!allowed) ok = false;
  }
  if (!ok) throw make_error("invalid netns name", "'" + name + "'", EINVAL);
}

void validate_ifname(const std::string& name, const char* what) {
  bool ok = !name.empty() && name.size() <= limits::kIfNameMax && name != "." && name != "..";
  for (char c : name)
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) ok = false;
  if (!ok) throw make_error(what, "'" + name + "'", EINVAL);
}

std::string netns_label(const std::string& name) {
  return name.empty() ? std::string("netns (host)") : "netns '" + name + "'";
}

NetnsGuard::NetnsGuard(const std::string& name) {
  if (name.empty()) return;
  validate_netns_name(name);
  // setns(CLONE_NEWNET) is per thread, so remember this thread's own netns.
  int orig = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) throw make_error("enter netns: save current", netns_label(name), errno);
  std::string path = "/run/netns/" + name;
  int target = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    ::close(orig);
    throw make_error("enter netns", netns_label(name), e);
  }
  if (::setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    ::close(target);
    ::close(orig);
    throw make_error("enter netns", netns_label(name), e);
  }
  ::close(target);
  orig_fd_ = orig;
}

NetnsGuard::~NetnsGuard() {
  if (orig_fd_ < 0) return;
  // Failing to get back would leave this thread in the wrong netns and every
  // later socket it opens would land there: that is not recoverable.
  if (::setns(orig_fd_, CLONE_NEWNET) < 0) {
    std::perror("kube-lcp: restore netns");
    std::abort();
  }
  ::close(orig_fd_);
}

}  // namespace lcp::io
