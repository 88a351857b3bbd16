#include "linux_nl/socket.h"

#include <libmnl/libmnl.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "io/packet_io.h"

namespace lcp::linux_nl {

RtSocket::RtSocket(uint32_t groups, uint32_t rcvbuf, std::string where)
    : where_(std::move(where)), buf_(1 << 20) {
  nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (!nl_) throw io::make_error("open rtnetlink", where_, errno);
  if (rcvbuf) {
    int v = int(rcvbuf);
    if (setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0)
      setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  }
  int granted = 0;
  socklen_t gl = sizeof granted;
  getsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVBUF, &granted, &gl);
  rcvbuf_ = uint32_t(granted);
  if (mnl_socket_bind(nl_, groups, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    mnl_socket_close(nl_);
    throw io::make_error("bind rtnetlink", where_, e);
  }
  portid_ = mnl_socket_get_portid(nl_);
}

void RtSocket::join(unsigned group) {
  if (setsockopt(mnl_socket_get_fd(nl_), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
    throw io::make_error("join rtnetlink group " + std::to_string(group), where_, errno);
}

RtSocket::~RtSocket() {
  if (nl_) mnl_socket_close(nl_);
}

int RtSocket::fd() const { return mnl_socket_get_fd(nl_); }

ssize_t RtSocket::recv() {
  for (;;) {
    const ssize_t n = ::recv(fd(), buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 0;
    return -errno;
  }
}

bool RtSocket::for_each(const char* data, size_t len, const std::function<void(const nlmsghdr*)>& fn) {
  size_t off = 0;
  while (len - off >= sizeof(nlmsghdr)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(data + off);
    if (nlh->nlmsg_len < sizeof(nlmsghdr) || nlh->nlmsg_len > len - off) return false;
    fn(nlh);
    off += NLMSG_ALIGN(nlh->nlmsg_len);
  }
  return true;
}

int RtSocket::dump(uint16_t type, uint8_t family, const std::function<void(const nlmsghdr*)>& on_msg,
                   bool& interrupted) {
  interrupted = false;
  char req[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  // Every RTM_GET* header starts with the family byte. rtmsg is the largest
  // of the legacy ones and they read only what they need; the nexthop dump
  // parses strictly, so it gets exactly its nhmsg (extra bytes are refused).
  const size_t hdr = type == RTM_GETNEXTHOP ? sizeof(nhmsg) : sizeof(rtmsg);
  auto* fam = static_cast<uint8_t*>(mnl_nlmsg_put_extra_header(nlh, hdr));
  fam[0] = family;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errno;
  const uint32_t seq = seq_;
  for (;;) {
    ssize_t n = ::recv(fd(), buf_.data(), buf_.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {  // the socket is non-blocking: wait for the kernel
      pollfd p{fd(), POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return ETIMEDOUT;
      continue;
    }
    if (n < 0) return errno;
    bool done = false;
    int err = 0;
    const bool ok = for_each(buf_.data(), size_t(n), [&](const nlmsghdr* m) {
      if (done || m->nlmsg_seq != seq || m->nlmsg_pid != portid_) return;
      if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (m->nlmsg_type == NLMSG_DONE) {
        done = true;
      } else if (m->nlmsg_type == NLMSG_ERROR) {
        done = true;
        if (m->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)))
          err = -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m))->error;
        else
          err = EIO;
      } else {
        on_msg(m);
      }
    });
    if (!ok) return EPROTO;
    if (done) return err;
  }
}

}  // namespace lcp::linux_nl
