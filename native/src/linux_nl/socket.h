// An rtnetlink socket for the mirror (libmnl underneath): either the
// notification socket (multicast groups, a large SO_RCVBUFFORCE buffer,
// non-blocking) or the request socket the mirror dumps through. Opened in the
// netns of the calling thread, so open it under an io::NetnsGuard.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct mnl_socket;
struct nlmsghdr;

namespace lcp::linux_nl {

class RtSocket {
 public:
  // groups: RTMGRP_* bitmask (0 for a request socket). rcvbuf: bytes, forced
  // past rmem_max with SO_RCVBUFFORCE (we are root), SO_RCVBUF as a fallback.
  RtSocket(uint32_t groups, uint32_t rcvbuf, std::string where);
  // A group past the bitmask's 32 (RTNLGRP_NEXTHOP is 32).
  void join(unsigned group);
  ~RtSocket();
  RtSocket(const RtSocket&) = delete;
  RtSocket& operator=(const RtSocket&) = delete;

  int fd() const;
  uint32_t rcvbuf() const { return rcvbuf_; }  // what the kernel granted

  // Non-blocking read of one datagram into the internal buffer. Returns bytes
  // (>0), 0 when nothing is queued, or -errno (-ENOBUFS: messages were lost).
  ssize_t recv();
  const char* data() const { return buf_.data(); }

  // A full dump (NLM_F_DUMP) of `type` (RTM_GETLINK...) for `family`;
  // `on_msg` sees each message. Returns 0, or a positive errno. Sets
  // `interrupted` when the kernel flagged the dump NLM_F_DUMP_INTR (the
  // table changed under it): the caller redoes it.
  int dump(uint16_t type, uint8_t family, const std::function<void(const nlmsghdr*)>& on_msg,
           bool& interrupted);

  // Walk the messages of one datagram (bounds-checked). False if truncated.
  static bool for_each(const char* data, size_t len, const std::function<void(const nlmsghdr*)>& fn);

 private:
  mnl_socket* nl_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  uint32_t rcvbuf_ = 0;
  std::string where_;
  std::vector<char> buf_;
};

}  // namespace lcp::linux_nl
