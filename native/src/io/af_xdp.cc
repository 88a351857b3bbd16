#include "io/af_xdp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <vector>

#include "io/checksum.h"
#include "io/fd.h"
#include "io/kernel_guard.h"
#include "io/netlink.h"
#include "io/netns.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace lcp::io {

namespace {

constexpr uint32_t kFrameSize = 4096;

// One single-producer/single-consumer ring shared with the kernel. The
// cached indexes avoid touching the shared cache line on every packet.
struct Ring {
  Mapping map;
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  uint8_t* descs = nullptr;
  uint32_t size = 0, mask = 0;
  uint32_t cached_prod = 0, cached_cons = 0;

  template <class T> T& at(uint32_t i) { return reinterpret_cast<T*>(descs)[i & mask]; }
  // We consume (rx, completion): how many are ready, up to n.
  uint32_t ready(uint32_t n) {
    if (cached_prod == cached_cons) cached_prod = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
    return std::min(n, cached_prod - cached_cons);
  }
  void consumed(uint32_t n) {
    cached_cons += n;
    __atomic_store_n(consumer, cached_cons, __ATOMIC_RELEASE);
  }
  // We produce (fill, tx): how many free slots, up to n.
  uint32_t room(uint32_t n) {
    uint32_t free = size - (cached_prod - cached_cons);
    if (free < n) {
      cached_cons = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
      free = size - (cached_prod - cached_cons);
    }
    return std::min(n, free);
  }
  void produced(uint32_t n) {
    cached_prod += n;
    __atomic_store_n(producer, cached_prod, __ATOMIC_RELEASE);
  }
  bool needs_wakeup() const { return __atomic_load_n(flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP; }
  bool kernel_busy() const {  // TX descriptors not yet consumed by the kernel
    return __atomic_load_n(consumer, __ATOMIC_ACQUIRE) != cached_prod;
  }
};

void map_ring(Ring& r, int fd, uint64_t pgoff, const xdp_ring_offset& off, uint32_t size,
              size_t desc_size, const std::string& object) {
  size_t len = off.desc + size * desc_size;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
  if (p == MAP_FAILED) throw make_error("mmap xsk ring", object, errno);
  r.map = Mapping(p, len);
  auto* base = static_cast<uint8_t*>(p);
  r.producer = reinterpret_cast<uint32_t*>(base + off.producer);
  r.consumer = reinterpret_cast<uint32_t*>(base + off.consumer);
  r.flags = reinterpret_cast<uint32_t*>(base + off.flags);
  r.descs = base + off.desc;
  r.size = size;
  r.mask = size - 1;
  // Start from the kernel's view (both zero on a fresh socket).
  r.cached_prod = *r.producer;
  r.cached_cons = *r.consumer;
}

void xdp_opt(int fd, int opt, const void* v, socklen_t len, const char* what, const std::string& object) {
  if (::setsockopt(fd, SOL_XDP, opt, v, len) < 0) throw make_error(what, object, errno);
}

// return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP);
int load_redirect_prog(int map_fd, const std::string& object) {
  const bpf_insn insns[] = {
      {BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(xdp_md, rx_queue_index), 0},
      {BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd},
      {0, 0, 0, 0, 0},  // second half of the 64-bit immediate
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_DROP},
      {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "lcp_xsk_redir", "GPL", insns,
                         sizeof(insns) / sizeof(insns[0]), nullptr);
  if (fd < 0) throw make_error("load xdp program", object, -fd);
  return fd;
}

bool is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

}  // namespace

struct XskState {
  std::string netns, object;
  LinkInfo link;
  AfXdpOptions opts;
  std::unique_ptr<KernelGuard> guard;
  UniqueFd fd, map_fd, prog_fd;
  Mapping umem;
  Ring fill, comp, rx, tx;
  bool need_wakeup = false;
  bool native = false;
  bool native_zc = false;  // zero-copy: frames come from a NIC, never partial
  uint32_t attach_flags = 0;
  bool attached = false;

  std::mutex tx_mu;             // shared by every TxQueue of the port
  std::vector<uint64_t> tx_free;  // TX frame addresses not in flight
  bool tx_pending = false;
  Counter rx_packets, rx_bytes, csum_fixed;
  uint64_t tx_packets = 0, tx_bytes = 0, tx_ring_full = 0, tx_oversize = 0;  // under tx_mu

  ~XskState() {
    if (!attached) return;
    try {
      NetnsGuard ns(netns);
      LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = prog_fd.get());
      bpf_xdp_attach(link.ifindex, -1, attach_flags, &o);  // only if still ours
    } catch (const std::exception&) {
      // netns gone: the netdev and its program went with it
    }
  }

  void reclaim_completions() {
    uint32_t n = comp.ready(tx.size);
    for (uint32_t i = 0; i < n; ++i) tx_free.push_back(comp.at<uint64_t>(comp.cached_cons + i));
    comp.consumed(n);
  }

  void kick_tx() {
    // In copy mode one sendto() transmits a bounded batch and answers EAGAIN
    // while more are queued; keep kicking until the kernel took everything.
    for (int tries = 0; tries < 64 && tx.kernel_busy(); ++tries) {
      if (need_wakeup && !tx.needs_wakeup()) break;
      if (::sendto(fd.get(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) continue;
      if (errno != EAGAIN && errno != EBUSY && errno != EINTR) break;
    }
  }
};

namespace {

class XdpRx final : public RxQueue {
 public:
  explicit XdpRx(XskState& s) : s_(s) {}
  int fd() const override { return s_.fd.get(); }

  uint32_t rx_burst(BufferPool& pool, Buffer** out, uint32_t max) override {
    Ring& rx = s_.rx;
    uint32_t n = rx.ready(max);
    uint32_t got = 0;
    uint64_t bytes = 0;
    for (; got < n; ++got) {
      Buffer* b = pool.alloc();
      if (!b) break;
      const xdp_desc& d = rx.at<xdp_desc>(rx.cached_cons + got);
      uint32_t len = std::min<uint32_t>(d.len, kMaxFrame);  // a frame is 4 KiB anyway
      std::memcpy(b->data(), s_.umem.data() + d.addr, len);
      b->length = static_cast<uint16_t>(len);
      // Copy mode on veth passes CHECKSUM_PARTIAL packets through unfinished.
      if (!s_.native_zc && finish_if_partial_csum(b->data(), len, !s_.link.p2p)) s_.csum_fixed.add();
      bytes += len;
      out[got] = b;
    }
    if (got) {
      // Give the frames straight back to the fill ring (it is as large as RX).
      uint32_t room = s_.fill.room(got);
      for (uint32_t i = 0; i < room; ++i)
        s_.fill.at<uint64_t>(s_.fill.cached_prod + i) =
            rx.at<xdp_desc>(rx.cached_cons + i).addr & ~uint64_t(kFrameSize - 1);
      s_.fill.produced(room);
      rx.consumed(got);
      s_.rx_packets.add(got);
      s_.rx_bytes.add(bytes);
    }
    if (s_.need_wakeup && s_.fill.needs_wakeup())
      ::recvfrom(s_.fd.get(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    return got;
  }

 private:
  XskState& s_;
};

class XdpTx final : public TxQueue {
 public:
  explicit XdpTx(std::shared_ptr<XskState> s) : s_(std::move(s)) {}

  uint32_t tx_burst(Buffer* const* bufs, uint32_t n) override {
    XskState& s = *s_;
    std::lock_guard lock(s.tx_mu);
    s.reclaim_completions();
    uint32_t slots = s.tx.room(n);
    uint32_t i = 0, queued = 0;
    for (; i < n; ++i) {
      const Buffer* b = bufs[i];
      if (b->length > kFrameSize) {
        ++s.tx_oversize;
        continue;
      }
      if (queued == slots || s.tx_free.empty()) break;
      uint64_t addr = s.tx_free.back();
      s.tx_free.pop_back();
      std::memcpy(s.umem.data() + addr, b->data(), b->length);
      xdp_desc& d = s.tx.at<xdp_desc>(s.tx.cached_prod + queued);
      d = xdp_desc{addr, b->length, 0};
      ++queued;
      s.tx_bytes += b->length;
    }
    s.tx.produced(queued);
    s.tx_packets += queued;
    s.tx_ring_full += n - i;
    if (queued) s.tx_pending = true;
    return i;
  }

  void flush() override {
    XskState& s = *s_;
    std::lock_guard lock(s.tx_mu);
    if (!s.tx_pending) return;
    s.tx_pending = false;
    s.kick_tx();
    s.reclaim_completions();
  }

 private:
  std::shared_ptr<XskState> s_;
};

}  // namespace

AfXdpPort::AfXdpPort(const std::string& netns, const std::string& ifname, AfXdpOptions o)
    : st_(std::make_shared<XskState>()) {
  XskState& s = *st_;
  s.netns = netns;
  s.opts = o;
  s.object = "port '" + ifname + "' in " + netns_label(netns);
  const std::string& object = s.object;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) throw make_error("open port", object, EINVAL);
  if (!is_pow2(o.rx_frames) || !is_pow2(o.tx_frames)) throw make_error("open port: ring sizes", object, EINVAL);

  NetnsGuard ns(netns);
  {
    Netlink nl(netns_label(netns));
    LinkDetails d = nl.get_link(ifname);
    if (!d.info.up) nl.set_up(ifname, true);
    s.link = d.info;
    s.link.up = true;
  }
  if (o.guard_kernel) s.guard = std::make_unique<KernelGuard>(netns, ifname);

  s.fd.reset(::socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!s.fd) throw make_error("open xdp socket", object, errno);
  int fd = s.fd.get();

  const uint32_t frames = o.rx_frames + o.tx_frames;
  size_t umem_len = size_t(frames) * kFrameSize;
  void* p = ::mmap(nullptr, umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw make_error("allocate umem", object, errno);
  s.umem = Mapping(p, umem_len);
  xdp_umem_reg reg{};
  reg.addr = reinterpret_cast<uint64_t>(p);
  reg.len = umem_len;
  reg.chunk_size = kFrameSize;
  xdp_opt(fd, XDP_UMEM_REG, &reg, sizeof(reg), "register umem", object);
  xdp_opt(fd, XDP_UMEM_FILL_RING, &o.rx_frames, sizeof(uint32_t), "size fill ring", object);
  xdp_opt(fd, XDP_UMEM_COMPLETION_RING, &o.tx_frames, sizeof(uint32_t), "size completion ring", object);
  xdp_opt(fd, XDP_RX_RING, &o.rx_frames, sizeof(uint32_t), "size rx ring", object);
  xdp_opt(fd, XDP_TX_RING, &o.tx_frames, sizeof(uint32_t), "size tx ring", object);

  xdp_mmap_offsets off{};
  socklen_t optlen = sizeof(off);
  if (::getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0)
    throw make_error("get xsk ring offsets", object, errno);
  map_ring(s.fill, fd, XDP_UMEM_PGOFF_FILL_RING, off.fr, o.rx_frames, sizeof(uint64_t), object);
  map_ring(s.comp, fd, XDP_UMEM_PGOFF_COMPLETION_RING, off.cr, o.tx_frames, sizeof(uint64_t), object);
  map_ring(s.rx, fd, XDP_PGOFF_RX_RING, off.rx, o.rx_frames, sizeof(xdp_desc), object);
  map_ring(s.tx, fd, XDP_PGOFF_TX_RING, off.tx, o.tx_frames, sizeof(xdp_desc), object);

  // Frames [0, rx_frames) live in the fill/RX cycle, the rest are for TX.
  for (uint32_t i = 0; i < o.rx_frames; ++i) s.fill.at<uint64_t>(s.fill.cached_prod + i) = uint64_t(i) * kFrameSize;
  s.fill.produced(o.rx_frames);
  s.tx_free.reserve(o.tx_frames);
  for (uint32_t i = o.rx_frames; i < frames; ++i) s.tx_free.push_back(uint64_t(i) * kFrameSize);

  sockaddr_xdp sxdp{};
  sxdp.sxdp_family = AF_XDP;
  sxdp.sxdp_ifindex = s.link.ifindex;
  sxdp.sxdp_queue_id = 0;
  int rc = -1;
  for (uint16_t flags : {uint16_t(XDP_COPY | XDP_USE_NEED_WAKEUP), uint16_t(XDP_COPY), uint16_t(0)}) {
    sxdp.sxdp_flags = flags;
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sxdp), sizeof(sxdp));
    if (rc == 0) {
      s.need_wakeup = flags & XDP_USE_NEED_WAKEUP;
      break;
    }
    if (errno != EINVAL && errno != EOPNOTSUPP) break;
  }
  if (rc < 0) throw make_error("bind xdp socket", object, errno);
  xdp_options xo{};
  optlen = sizeof(xo);
  if (::getsockopt(fd, SOL_XDP, XDP_OPTIONS, &xo, &optlen) == 0) s.native_zc = xo.flags & XDP_OPTIONS_ZEROCOPY;

  s.map_fd.reset(bpf_map_create(BPF_MAP_TYPE_XSKMAP, "lcp_xsks", 4, 4, 1, nullptr));
  if (!s.map_fd) throw make_error("create xskmap", object, errno);
  uint32_t key = 0, val = static_cast<uint32_t>(fd);
  if (bpf_map_update_elem(s.map_fd.get(), &key, &val, 0) < 0) throw make_error("insert socket in xskmap", object, errno);
  s.prog_fd.reset(load_redirect_prog(s.map_fd.get(), object));

  // UPDATE_IF_NOEXIST: an XDP program someone else attached is never replaced.
  rc = bpf_xdp_attach(s.link.ifindex, s.prog_fd.get(), XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
  if (rc == 0) {
    s.attach_flags = XDP_FLAGS_DRV_MODE;
    s.native = true;
  } else if (rc == -EOPNOTSUPP || rc == -EINVAL) {
    rc = bpf_xdp_attach(s.link.ifindex, s.prog_fd.get(), XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
    s.attach_flags = XDP_FLAGS_SKB_MODE;
  }
  if (rc < 0) throw make_error("attach xdp program", object, -rc);
  s.attached = true;
  rx_ = std::make_unique<XdpRx>(s);
}

AfXdpPort::~AfXdpPort() = default;

const LinkInfo& AfXdpPort::link() const { return st_->link; }
RxQueue& AfXdpPort::rx() { return *rx_; }
std::unique_ptr<TxQueue> AfXdpPort::open_tx() { return std::make_unique<XdpTx>(st_); }

XdpShare AfXdpPort::xdp_share() const {
  return XdpShare{st_->map_fd.get(), st_->prog_fd.get(), st_->attach_flags};
}

AfXdpStats AfXdpPort::stats() const {
  XskState& s = *st_;
  AfXdpStats out;
  out.rx_packets = s.rx_packets.get();
  out.rx_bytes = s.rx_bytes.get();
  out.rx_csum_fixed = s.csum_fixed.get();
  {
    std::lock_guard lock(s.tx_mu);
    out.tx_packets = s.tx_packets;
    out.tx_bytes = s.tx_bytes;
    out.tx_ring_full = s.tx_ring_full;
    out.tx_oversize = s.tx_oversize;
  }
  xdp_statistics xs{};
  socklen_t len = sizeof(xs);
  if (::getsockopt(s.fd.get(), SOL_XDP, XDP_STATISTICS, &xs, &len) == 0) {
    out.kernel_rx_dropped = xs.rx_dropped;
    out.kernel_rx_ring_full = xs.rx_ring_full;
    out.kernel_fill_empty = xs.rx_fill_ring_empty_descs;
  }
  out.native_xdp = s.native;
  out.need_wakeup = s.need_wakeup;
  return out;
}

}  // namespace lcp::io
