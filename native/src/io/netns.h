// Enter a named network namespace (/run/netns/NAME, as `ip netns` makes them)
// on the calling thread for the lifetime of a scope. Every socket, device or
// netlink handle that must live in a port's or mirror's netns is opened under
// one of these; this is the only place that calls setns().
#pragma once

#include <string>

namespace lcp::io {

// Throws IoError(EINVAL) unless `name` is a plain netns name: 1..64 chars of
// [A-Za-z0-9_.-], not "." or "..". This keeps a spec from naming any file.
void validate_netns_name(const std::string& name);
// A netdev name that is safe in a path (/proc/sys/.../<name>/...): what the
// kernel accepts (< IFNAMSIZ, no "/", ":" or blanks, not "." or ".."); `what`
// starts the error ("invalid mirror name").
void validate_ifname(const std::string& name, const char* what);

// Human-readable object name for messages: "netns 'foo'" or "netns (host)".
std::string netns_label(const std::string& name);

class NetnsGuard {
 public:
  // Empty name: stay in the current netns (the guard does nothing).
  // Throws IoError: "enter netns: netns 'foo': No such file or directory".
  explicit NetnsGuard(const std::string& name);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  int orig_fd_ = -1;  // our thread's original netns, -1 when we did not move
};

}  // namespace lcp::io
