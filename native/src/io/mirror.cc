#include "io/mirror.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <endian.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "io/checksum.h"
#include "io/netlink.h"
#include "io/netns.h"

namespace lcp::io {

namespace {

// struct virtio_net_hdr (linux/virtio_net.h does not compile as C++: a field
// is named `class`). 10 bytes: no mergeable buffers. Little-endian on the
// wire for modern virtio, which TUN uses on little-endian hosts.
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset;
} __attribute__((packed));
constexpr size_t kVnetHdr = sizeof(VnetHdr);
static_assert(kVnetHdr == 10);
constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE

bool is_ours(const std::string& alias) { return alias.rfind(kOwnerPrefix, 0) == 0; }

// TAP or TUN: ARPHRD_ETHER vs ARPHRD_NONE, both of kind "tun".
bool same_kind(const LinkDetails& d, bool tun) {
  return d.kind == "tun" && (tun ? d.type == ARPHRD_NONE : d.type == ARPHRD_ETHER);
}

}  // namespace

void Mirror::validate_name(const std::string& name) { validate_ifname(name, "invalid mirror name"); }

Mirror::Mirror(const MirrorSpec& spec)
    : spec_(spec), object_("mirror '" + spec.name + "' in " + netns_label(spec.netns)) {
  validate_name(spec.name);
  if (spec.kind != MirrorKind::Tap && spec.kind != MirrorKind::Tun)
    throw make_error("mirror kind must be tap or tun", object_, EINVAL);
  const bool tun = spec.kind == MirrorKind::Tun;
  const std::string alias = kOwnerPrefix + spec.owner_tag;
  if (alias.size() >= IFALIASZ) throw make_error("mirror owner tag too long", object_, EINVAL);
  NetnsGuard ns(spec.netns);
  Netlink nl(netns_label(spec.netns));

  if (auto existing = nl.find_link(spec.name)) {
    if (!is_ours(existing->alias))
      throw IoError(object_ + ": name taken by a device kube-lcp does not own", EEXIST);
    if (!same_kind(*existing, tun))
      throw IoError(object_ + ": name taken by our " + (tun ? "tap" : "tun") + ", the spec asks for a " +
                    (tun ? "tun" : "tap"), EEXIST);
    if (existing->alias != alias)
      throw IoError(object_ + ": name taken by another kube-lcp owner ('" + existing->alias + "')", EEXIST);
    adopted_ = true;
  }

  // /dev/net/tun creates the device in the netns current at open().
  fd_.reset(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd_) throw make_error("open /dev/net/tun", object_, errno);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, spec.name.data(), spec.name.size());
  ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI | IFF_VNET_HDR;
  // Creating: EXCL so a device that appeared since the lookup is not taken over.
  if (!adopted_) ifr.ifr_flags |= IFF_TUN_EXCL;
  if (::ioctl(fd_.get(), TUNSETIFF, &ifr) < 0) {
    int e = errno;
    if (e == EBUSY && !adopted_) throw IoError(object_ + ": name taken by a device kube-lcp does not own", EEXIST);
    throw make_error(adopted_ ? "adopt mirror" : "create mirror", object_, e);
  }
  bool created = !adopted_;
  try {
    int hdr = kVnetHdr;
    if (::ioctl(fd_.get(), TUNSETVNETHDRSZ, &hdr) < 0) throw make_error("set vnet header size", object_, errno);
    // No offloads: the kernel hands us complete, unsegmented packets.
    if (::ioctl(fd_.get(), TUNSETOFFLOAD, 0u) < 0) throw make_error("disable offloads", object_, errno);
    if (::ioctl(fd_.get(), TUNSETPERSIST, 1) < 0) throw make_error("set persist", object_, errno);
    if (created) nl.set_alias(spec.name, alias);  // mark it ours before anything else
    LinkDetails d = nl.get_link(spec.name);
    if (!tun && spec.mac && d.info.mac != *spec.mac) nl.set_mac(spec.name, *spec.mac);
    if (spec.mtu && d.info.mtu != *spec.mtu) nl.set_mtu(spec.name, *spec.mtu);
    // Promiscuous: Linux writes the peer's MAC, and the port's traffic is ours to see.
    if (!(d.flags & IFF_PROMISC)) nl.set_promisc(spec.name, true);
    if (!d.info.up) nl.set_up(spec.name, true);
    link_ = nl.get_link(spec.name).info;
  } catch (...) {
    if (created) ::ioctl(fd_.get(), TUNSETPERSIST, 0);  // closing the fd removes it
    throw;
  }
}

void Mirror::destroy() {
  if (!fd_) return;
  if (::ioctl(fd_.get(), TUNSETPERSIST, 0) < 0) throw make_error("clear persist", object_, errno);
  fd_.reset();
}

void Mirror::set_carrier(bool on) {
  int v = on ? 1 : 0;
  if (::ioctl(fd_.get(), TUNSETCARRIER, &v) < 0) throw make_error("set carrier", object_, errno);
}

uint32_t Mirror::rx_burst(BufferPool& pool, Buffer** out, uint32_t max) {
  uint32_t got = 0;
  while (got < max) {
    Buffer* b = pool.alloc();
    if (!b) break;
    // Read the vnet header into the headroom, so the packet lands at data().
    uint8_t* start = b->data() - kVnetHdr;
    ssize_t n = ::read(fd_.get(), start, kVnetHdr + kMaxFrame);
    if (n < static_cast<ssize_t>(kVnetHdr)) {
      pool.free(b);
      if (n < 0 && errno == EINTR) continue;
      break;  // EAGAIN (drained), EBADFD (device gone): stop this burst
    }
    VnetHdr vh;
    std::memcpy(&vh, start, kVnetHdr);
    b->length = static_cast<uint16_t>(n - kVnetHdr);
    if (vh.gso_type != kGsoNone) {
      rx_dropped_.add();  // cannot happen with offloads off; never forward a super-packet
      pool.free(b);
      continue;
    }
    if (vh.flags & kNeedsCsum) {
      if (!finish_partial_csum(b->data(), b->length, le16toh(vh.csum_start), le16toh(vh.csum_offset))) {
        rx_dropped_.add();
        pool.free(b);
        continue;
      }
      csum_fixed_.add();
    }
    rx_bytes_.add(b->length);
    out[got++] = b;
  }
  rx_packets_.add(got);
  return got;
}

uint32_t Mirror::tx_burst(Buffer* const* bufs, uint32_t n) {
  static const uint8_t zero_hdr[kVnetHdr] = {};
  uint32_t i = 0;
  for (; i < n; ++i) {
    Buffer* b = bufs[i];
    ssize_t want = kVnetHdr + b->length, w;
    if (b->headroom() >= kVnetHdr) {
      // Headroom is scratch: one plain write() (measured fastest for punt).
      uint8_t* start = b->data() - kVnetHdr;
      std::memset(start, 0, kVnetHdr);
      w = ::write(fd_.get(), start, want);
    } else {
      iovec iov[2] = {{const_cast<uint8_t*>(zero_hdr), kVnetHdr}, {b->data(), b->length}};
      w = ::writev(fd_.get(), iov, 2);
    }
    if (w < 0 && errno == EAGAIN) break;  // the caller decides what to drop
    if (w != want) {
      tx_errors_.add();  // e.g. malformed packet refused, device down
      continue;
    }
    tx_packets_.add();
    tx_bytes_.add(b->length);
  }
  return i;
}

MirrorStats Mirror::stats() const {
  return {rx_packets_.get(), rx_bytes_.get(), rx_dropped_.get(), csum_fixed_.get(),
          tx_packets_.get(), tx_bytes_.get(), tx_errors_.get()};
}

std::vector<Mirror::Owned> Mirror::list_owned(const std::string& netns) {
  NetnsGuard ns(netns);
  Netlink nl(netns_label(netns));
  std::vector<Owned> out;
  for (auto& l : nl.list_links())
    if (is_ours(l.alias)) out.push_back({l.name, l.alias});
  return out;
}

bool Mirror::delete_owned(const std::string& netns, const std::string& name) {
  validate_name(name);
  NetnsGuard ns(netns);
  Netlink nl(netns_label(netns));
  auto l = nl.find_link(name);
  if (!l) return false;
  const std::string object = "mirror '" + name + "' in " + netns_label(netns);
  if (!is_ours(l->alias)) throw IoError(object + ": not deleted, kube-lcp does not own it", EPERM);
  nl.delete_link(name);
  return true;
}

}  // namespace lcp::io
