// The kernel side of a pair: a TAP (multi-point port) or TUN (point-to-point
// port) in a given netns, persistent so Linux keeps its addresses and routes
// across agent restarts. Ours is marked by ifalias "kube-lcp:<owner-tag>";
// a device without our marker is never modified.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "core/kinds.h"
#include "io/fd.h"
#include "io/packet_io.h"

namespace lcp::io {

inline constexpr const char* kOwnerPrefix = "kube-lcp:";

struct MirrorSpec {
  std::string name;               // <= 15 chars
  std::string netns;              // "" = current
  MirrorKind kind = MirrorKind::Tap;  // Tap | Tun
  std::string owner_tag;          // ifalias becomes "kube-lcp:<owner_tag>"
  std::optional<uint32_t> mtu;
  std::optional<std::array<uint8_t, 6>> mac;  // TAP only
};

struct MirrorStats {
  uint64_t rx_packets = 0, rx_bytes = 0, rx_dropped = 0;  // dropped: GSO or bad vnet header
  uint64_t csum_fixed = 0;
  uint64_t tx_packets = 0, tx_bytes = 0, tx_errors = 0;
};

class Mirror {
 public:
  // Create, or adopt one we made before. Throws IoError: EEXIST when the name
  // is taken by something we do not own (or of the other kind), EINVAL for a
  // bad name, ENOENT for a missing netns.
  explicit Mirror(const MirrorSpec& spec);
  ~Mirror() = default;  // closes the fd; the device persists (restarts)
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  // Clear persist and close: the device and its Linux config disappear.
  void destroy();
  // The device's carrier as Linux sees it (TUNSETCARRIER): the port's own.
  void set_carrier(bool on);

  bool adopted() const { return adopted_; }
  const LinkInfo& link() const { return link_; }
  const std::string& name() const { return spec_.name; }
  int fd() const { return fd_.get(); }  // O_NONBLOCK, poll(POLLIN)

  // What Linux sent on the device: read() until EAGAIN or max packets.
  uint32_t rx_burst(BufferPool& pool, Buffer** out, uint32_t max);
  // Inject into Linux: one write() per packet. Returns how many were written.
  uint32_t tx_burst(Buffer* const* bufs, uint32_t n);
  MirrorStats stats() const;

  // Devices in `netns` whose ifalias carries our marker (any owner tag), for
  // cleaning up orphans. Returns name and alias.
  struct Owned { std::string name, alias; };
  static std::vector<Owned> list_owned(const std::string& netns);
  // Delete `name` only if it carries our marker; false if it does not exist.
  // Throws EPERM-like IoError (EEXIST wording) if it is not ours.
  static bool delete_owned(const std::string& netns, const std::string& name);

  static void validate_name(const std::string& name);

 private:
  MirrorSpec spec_;
  std::string object_;
  UniqueFd fd_;
  LinkInfo link_;
  bool adopted_ = false;
  Counter rx_packets_, rx_bytes_, rx_dropped_, csum_fixed_, tx_packets_, tx_bytes_, tx_errors_;
};

}  // namespace lcp::io
