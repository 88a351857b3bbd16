#include "io/af_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/checksum.h"
#include "io/netlink.h"
#include "io/netns.h"

namespace lcp::io {

namespace {

void set_opt(int fd, int opt, const void* v, socklen_t len, const char* what, const std::string& object) {
  if (::setsockopt(fd, SOL_PACKET, opt, v, len) < 0) throw make_error(what, object, errno);
}

void bind_to(int fd, int ifindex, uint16_t proto, const std::string& object) {
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(proto);
  sll.sll_ifindex = ifindex;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0)
    throw make_error("bind packet socket", object, errno);
}

constexpr size_t kTx2Data = TPACKET_ALIGN(sizeof(tpacket2_hdr));  // data offset in a TX slot

// The netdev's driver ("veth", "virtio_net", ...), "" if unknown. Called in
// the port's netns.
std::string driver_name(const std::string& ifname) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), std::min(ifname.size(), sizeof(ifr.ifr_name) - 1));
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  if (::ioctl(fd.get(), SIOCETHTOOL, &ifr) < 0) return {};
  return std::string(info.driver, strnlen(info.driver, sizeof(info.driver)));
}

}  // namespace

// ---------------------------------------------------------------- RX

AfPacketRx::AfPacketRx(const std::string& object, int ifindex, bool p2p, uint16_t mtu, const AfPacketOptions& o,
                       bool start)
    : object_(object), ifindex_(ifindex), v3_(o.rx_ring == AfPacketRxRing::V3), p2p_(p2p) {
  // Protocol 0 at socket(): nothing is queued until the ring exists and bind()
  // names ETH_P_ALL, so the ring never misses or double-buffers a frame.
  fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) throw make_error("open rx packet socket", object, errno);
  // Both layouts get the memory of o.rx_block_size * o.rx_block_count.
  const size_t budget = size_t(o.rx_block_size) * o.rx_block_count;
  size_t len = 0;
  if (v3_) {
    block_size_ = o.rx_block_size;
    block_count_ = o.rx_block_count;
    int v = TPACKET_V3;
    set_opt(fd_.get(), PACKET_VERSION, &v, sizeof(v), "set TPACKET_V3", object);
    tpacket_req3 req{};
    req.tp_block_size = block_size_;
    req.tp_block_nr = block_count_;
    req.tp_frame_size = 2048;  // only a sizing unit in V3: frames are packed
    req.tp_frame_nr = block_size_ / req.tp_frame_size * block_count_;
    req.tp_retire_blk_tov = o.rx_retire_ms;
    set_opt(fd_.get(), PACKET_RX_RING, &req, sizeof(req), "set rx ring", object);
    len = size_t(block_size_) * block_count_;
  } else {
    int v = TPACKET_V2;
    set_opt(fd_.get(), PACKET_VERSION, &v, sizeof(v), "set TPACKET_V2", object);
    // A slot holds the header, then the frame placed so that its L3 header is
    // 16-aligned (tpacket_rcv: at most TPACKET_ALIGN(hdrlen + 16) before L3).
    // At least a 1500 MTU's frames, so the usual raise to 1500 keeps the ring.
    max_frame_ = std::min<uint32_t>(frame_for_mtu(std::max<uint16_t>(mtu, 1500), p2p), kMaxFrame);
    slot_size_ = TPACKET_ALIGN(TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + max_frame_);
    block_size_ = 64 * 1024;  // ~40 slots of a 1500 MTU, 7 of a 9000 one
    frames_per_block_ = block_size_ / slot_size_;
    block_count_ = std::max<uint32_t>(2, uint32_t(budget / block_size_));
    slot_count_ = frames_per_block_ * block_count_;
    tpacket_req req{};
    req.tp_block_size = block_size_;
    req.tp_block_nr = block_count_;
    req.tp_frame_size = slot_size_;
    req.tp_frame_nr = slot_count_;
    set_opt(fd_.get(), PACKET_RX_RING, &req, sizeof(req), "set rx ring", object);
    len = size_t(block_size_) * block_count_;
  }
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_.get(), 0);
  if (p == MAP_FAILED) throw make_error("mmap rx ring", object, errno);
  ring_ = Mapping(p, len);
  // Promiscuous through the socket: the kernel reverts it when we close.
  packet_mreq mr{};
  mr.mr_ifindex = ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  set_opt(fd_.get(), PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr), "set promisc", object);
  // Frames the kernel (or a TX socket) sends out are not input.
  int one = 1;
  set_opt(fd_.get(), PACKET_IGNORE_OUTGOING, &one, sizeof(one), "ignore outgoing", object);
  if (start) this->start();
}

void AfPacketRx::start() { bind_to(fd_.get(), ifindex_, ETH_P_ALL, object_); }

uint32_t AfPacketRx::rx_burst(BufferPool& pool, Buffer** out, uint32_t max) {
  const uint32_t got = v3_ ? burst_v3(pool, out, max) : burst_v2(pool, out, max);
  packets_.add(got);
  return got;
}

bool AfPacketRx::take(BufferPool& pool, const uint8_t* frame, uint32_t len, uint32_t wire_len, uint32_t status,
                      uint16_t tci, uint16_t tpid_meta, Buffer** out, uint32_t& got) {
  const bool vlan = !p2p_ && (status & TP_STATUS_VLAN_VALID);
  const uint32_t total = len + (vlan ? 4 : 0);
  if (wire_len != len || total > kMaxFrame || (vlan && len < 12)) {
    oversize_.add();
    return true;
  }
  Buffer* b = pool.alloc();
  if (!b) return false;  // leave it in the ring: the next burst retries
  uint8_t* d = b->data();
  if (vlan) {
    // The kernel moved the tag into metadata; the graph wants the wire frame.
    const uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? tpid_meta : ETH_P_8021Q;
    std::memcpy(d, frame, 12);
    d[12] = uint8_t(tpid >> 8), d[13] = uint8_t(tpid);
    d[14] = uint8_t(tci >> 8), d[15] = uint8_t(tci);
    std::memcpy(d + 16, frame + 12, len - 12);
  } else {
    std::memcpy(d, frame, len);
  }
  b->length = static_cast<uint16_t>(total);
  if ((status & TP_STATUS_CSUMNOTREADY) && finish_partial_csum_parsed(d, total, !p2p_)) csum_fixed_.add();
  out[got++] = b;
  bytes_.add(total);
  return true;
}

uint32_t AfPacketRx::burst_v2(BufferPool& pool, Buffer** out, uint32_t max) {
  uint32_t got = 0;
  while (got < max) {
    auto* h = reinterpret_cast<tpacket2_hdr*>(ring_.data() + size_t(slot_ / frames_per_block_) * block_size_ +
                                              size_t(slot_ % frames_per_block_) * slot_size_);
    // Acquire: the kernel writes the frame, then hands the slot over via status.
    const uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (!(st & TP_STATUS_USER)) break;
    if (!take(pool, reinterpret_cast<uint8_t*>(h) + h->tp_mac, h->tp_snaplen, h->tp_len, st, h->tp_vlan_tci,
              h->tp_vlan_tpid, out, got))
      break;
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    slot_ = slot_ + 1 == slot_count_ ? 0 : slot_ + 1;
  }
  return got;
}

uint32_t AfPacketRx::burst_v3(BufferPool& pool, Buffer** out, uint32_t max) {
  uint32_t got = 0;
  while (got < max) {
    auto* bd = reinterpret_cast<tpacket_block_desc*>(ring_.data() + size_t(block_) * block_size_);
    if (!next_) {
      // Acquire: the kernel fills the block, then hands it over via status.
      if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
      left_ = bd->hdr.bh1.num_pkts;
      next_ = reinterpret_cast<uint8_t*>(bd) + bd->hdr.bh1.offset_to_first_pkt;
    }
    while (left_ && got < max) {
      auto* h = reinterpret_cast<tpacket3_hdr*>(next_);
      if (!take(pool, next_ + h->tp_mac, h->tp_snaplen, h->tp_len, h->tp_status, h->hv1.tp_vlan_tci,
                h->hv1.tp_vlan_tpid, out, got))
        break;
      next_ += h->tp_next_offset;
      --left_;
    }
    if (left_) break;  // out of buffers or burst full mid-block
    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    next_ = nullptr;
    block_ = (block_ + 1) % block_count_;
  }
  return got;
}

AfPacketRxStats AfPacketRx::stats() {
  tpacket_stats_v3 st{};
  socklen_t len = sizeof(st);
  if (::getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
    kernel_drops_.v.fetch_add(st.tp_drops, std::memory_order_relaxed);  // reading resets them
  return {packets_.get(), bytes_.get(), oversize_.get(), csum_fixed_.get(), kernel_drops_.get()};
}

// ---------------------------------------------------------------- TX

AfPacketTx::AfPacketTx(const std::string& object, const LinkInfo& link, const AfPacketOptions& o)
    : link_(link) {
  fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) throw make_error("open tx packet socket", object, errno);
  // Bound with protocol 0: a TX socket never receives anything.
  max_len_ = std::min<uint32_t>(link.mtu + (link.p2p ? 0 : 22), kMaxFrame);  // + L2 + 2 tags
  if (link.p2p || o.tx_mode == AfPacketTxMode::Copy) {
    // A point-to-point port has no L2 header to derive skb->protocol from,
    // so each packet is sent with an explicit one; veth prefers linear skbs
    // (AfPacketTxMode). Either way: sendmmsg per burst rather than a ring.
    copy_ = true;
    bind_to(fd_.get(), link.ifindex, 0, object);
    int one = 1;
    set_opt(fd_.get(), PACKET_QDISC_BYPASS, &one, sizeof(one), "set qdisc bypass", object);
    // Room for a whole burst of jumbo skbs in flight (the default ~200 KiB
    // holds fewer than 256 MTU-sized ones); best effort: FORCE needs CAP_NET_ADMIN.
    int sndbuf = 4 << 20;
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return;
  }
  int v = TPACKET_V2;
  set_opt(fd_.get(), PACKET_VERSION, &v, sizeof(v), "set TPACKET_V2", object);
  int one = 1;
  set_opt(fd_.get(), PACKET_QDISC_BYPASS, &one, sizeof(one), "set qdisc bypass", object);
  frame_size_ = 2048;
  while (frame_size_ < kTx2Data + max_len_) frame_size_ *= 2;
  frame_count_ = o.tx_frame_count;
  uint32_t block = std::max<uint32_t>(frame_size_, 4096);
  tpacket_req req{};
  req.tp_block_size = block;
  req.tp_frame_size = frame_size_;
  req.tp_block_nr = frame_count_ / (block / frame_size_);
  req.tp_frame_nr = req.tp_block_nr * (block / frame_size_);
  frame_count_ = req.tp_frame_nr;
  set_opt(fd_.get(), PACKET_TX_RING, &req, sizeof(req), "set tx ring", object);
  size_t len = size_t(block) * req.tp_block_nr;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_.get(), 0);
  if (p == MAP_FAILED) throw make_error("mmap tx ring", object, errno);
  ring_ = Mapping(p, len);
  bind_to(fd_.get(), link.ifindex, 0, object);
}

uint32_t AfPacketTx::tx_burst(Buffer* const* bufs, uint32_t n) {
  if (copy_) return tx_copy(bufs, n);
  uint32_t i = 0;
  for (; i < n; ++i) {
    const Buffer* b = bufs[i];
    auto* h = reinterpret_cast<tpacket2_hdr*>(ring_.data() + size_t(cur_) * frame_size_);
    uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (st == TP_STATUS_WRONG_FORMAT) {
      errors_.add();  // the kernel refused the previous user of this slot
    } else if (st != TP_STATUS_AVAILABLE) {
      break;  // ring full: the kernel has not sent what is queued yet
    }
    if (b->length > max_len_ || b->length < 14) {
      oversize_.add();  // accepted and dropped: the caller frees it either way
      continue;
    }
    std::memcpy(reinterpret_cast<uint8_t*>(h) + kTx2Data, b->data(), b->length);
    h->tp_len = b->length;
    h->tp_snaplen = b->length;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    cur_ = cur_ + 1 == frame_count_ ? 0 : cur_ + 1;
    bytes_.add(b->length);
    packets_.add();
    pending_ = true;
  }
  if (i < n) ring_full_.add(n - i);
  return i;
}

void AfPacketTx::flush() {
  if (!pending_) return;
  pending_ = false;
  // One kick sends every SEND_REQUEST slot; DONTWAIT: do not wait for completion.
  if (::send(fd_.get(), nullptr, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
    errors_.add();
}

uint32_t AfPacketTx::tx_copy(Buffer* const* bufs, uint32_t n) {
  mmsghdr msgs[kMaxVector];
  iovec iov[kMaxVector];
  sockaddr_ll addr[kMaxVector];
  uint32_t m = 0;
  for (uint32_t i = 0; i < n && m < kMaxVector; ++i) {
    Buffer* b = bufs[i];
    unsigned ver = b->length ? b->data()[0] >> 4 : 0;
    if (b->length > max_len_ || (link_.p2p && ver != 4 && ver != 6) || (!link_.p2p && b->length < 14)) {
      oversize_.add();
      continue;
    }
    iov[m] = {b->data(), b->length};
    msgs[m] = mmsghdr{};
    if (link_.p2p) {
      addr[m] = sockaddr_ll{};
      addr[m].sll_family = AF_PACKET;
      addr[m].sll_ifindex = link_.ifindex;
      addr[m].sll_protocol = htons(ver == 4 ? ETH_P_IP : ETH_P_IPV6);
      msgs[m].msg_hdr.msg_name = &addr[m];
      msgs[m].msg_hdr.msg_namelen = sizeof(sockaddr_ll);
    }
    msgs[m].msg_hdr.msg_iov = &iov[m];
    msgs[m].msg_hdr.msg_iovlen = 1;
    ++m;
  }
  uint32_t sent = 0;
  while (sent < m) {
    int r = ::sendmmsg(fd_.get(), msgs + sent, m - sent, MSG_DONTWAIT);
    if (r <= 0) break;
    for (int k = 0; k < r; ++k) bytes_.add(iov[sent + k].iov_len);
    sent += r;
  }
  packets_.add(sent);
  if (sent < m) errors_.add(m - sent);  // the kernel refused them: counted, dropped
  uint32_t accepted = std::min<uint32_t>(n, kMaxVector);
  if (accepted < n) ring_full_.add(n - accepted);
  return accepted;
}

AfPacketTxStats AfPacketTx::stats() const {
  return {packets_.get(), bytes_.get(), ring_full_.get(), oversize_.get(), errors_.get()};
}

// ---------------------------------------------------------------- port

AfPacketPort::AfPacketPort(const std::string& netns, const std::string& ifname, AfPacketOptions o)
    : netns_(netns), ifname_(ifname), object_("port '" + ifname + "' in " + netns_label(netns)), opts_(o) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) throw make_error("open port", object_, EINVAL);
  NetnsGuard ns(netns);
  Netlink nl(netns_label(netns));
  LinkDetails d = nl.get_link(ifname);
  if (!d.info.up) nl.set_up(ifname, true);
  link_ = d.info;
  link_.up = true;
  if (o.guard_kernel) guard_ = std::make_unique<KernelGuard>(netns, ifname);
  if (opts_.tx_mode == AfPacketTxMode::Auto)
    opts_.tx_mode = link_.p2p || driver_name(ifname) == "veth" ? AfPacketTxMode::Copy : AfPacketTxMode::Ring;
  rx_ = std::make_unique<AfPacketRx>(object_, link_.ifindex, link_.p2p, link_.mtu, opts_);
}

std::unique_ptr<RxQueue> AfPacketPort::fit_rx(uint16_t mtu) {
  if (AfPacketRx::frame_for_mtu(mtu, link_.p2p) <= rx_->max_frame()) return nullptr;
  NetnsGuard ns(netns_);
  // Not bound yet: the old ring receives until the workers have left it.
  auto next = std::make_unique<AfPacketRx>(object_, link_.ifindex, link_.p2p, mtu, opts_, false);
  std::unique_ptr<RxQueue> old = std::move(rx_);
  rx_ = std::move(next);
  return old;
}

std::unique_ptr<TxQueue> AfPacketPort::open_tx() {
  NetnsGuard ns(netns_);
  return std::make_unique<AfPacketTx>(object_, link_, opts_);
}

}  // namespace lcp::io
