// Header layouts and checksum helpers. Loads go through memcpy so unaligned
// headers (VLAN, odd offsets) are safe.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace lcp::pkt {

constexpr uint16_t kEthIp4 = 0x0800;
constexpr uint16_t kEthArp = 0x0806;
constexpr uint16_t kEthIp6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100;
constexpr uint16_t kEthQinq = 0x88a8;
constexpr size_t kEthLen = 14;
constexpr size_t kIp4MinLen = 20;
constexpr size_t kIp6Len = 40;

inline uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return ntohs(v);
}
inline uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}
inline void store16(uint8_t* p, uint16_t v) {
  v = htons(v);
  std::memcpy(p, &v, 2);
}

// One's-complement sum of a header (RFC 1071), result folded, not inverted.
inline uint32_t csum_partial(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (; len > 1; p += 2, len -= 2) sum += load16(p);
  if (len) sum += uint32_t(p[0]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}
inline bool ip4_checksum_ok(const uint8_t* ip, size_t ihl_bytes) {
  return csum_partial(ip, ihl_bytes) == 0xffff;
}

// TTL decrement with the incremental update of RFC 1624 (HC' = ~(~HC + ~m + m')).
inline void ip4_decrement_ttl(uint8_t* ip) {
  const uint16_t old_word = load16(ip + 8);  // TTL | protocol
  ip[8] = uint8_t(ip[8] - 1);
  const uint16_t new_word = load16(ip + 8);
  uint32_t sum = uint16_t(~load16(ip + 10)) + uint16_t(~old_word) + new_word;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  store16(ip + 10, uint16_t(~sum));
}

inline bool mac_is_multicast(const uint8_t* mac) { return mac[0] & 1; }

// Cheap, well-mixed flow hash for ECMP (same flow -> same path).
inline uint32_t mix32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return uint32_t(x);
}

}  // namespace lcp::pkt
