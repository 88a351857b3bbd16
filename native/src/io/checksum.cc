#include "io/checksum.h"

#include <netinet/in.h>

namespace lcp::io {

namespace {

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc) {
  for (; n > 1; p += 2, n -= 2) acc += (uint32_t(p[0]) << 8) | p[1];
  if (n) acc += uint32_t(p[0]) << 8;
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

}  // namespace

bool finish_partial_csum(uint8_t* pkt, size_t len, size_t start, size_t offset) {
  if (start > len || start + offset + 2 > len) return false;
  uint16_t c = static_cast<uint16_t>(~fold(sum16(pkt + start, len - start, 0)));
  if (c == 0) c = 0xffff;  // as the kernel does: 0 means "no checksum" for UDP
  pkt[start + offset] = static_cast<uint8_t>(c >> 8);
  pkt[start + offset + 1] = static_cast<uint8_t>(c);
  return true;
}

namespace {

struct L4 {
  size_t start = 0, offset = 0;  // checksum field at start + offset
  uint32_t pseudo = 0;           // pseudo-header sum (unfolded)
};

// Find the TCP/UDP header and its pseudo-header sum; false if not TCP/UDP.
bool locate_l4(const uint8_t* pkt, size_t len, bool l2, L4& out) {
  size_t off = 0;
  unsigned version = 0;
  if (l2) {
    if (len < 14) return false;
    uint16_t type = (pkt[12] << 8) | pkt[13];
    off = 14;
    if (type == 0x8100 || type == 0x88a8) {
      if (len < 18) return false;
      type = (pkt[16] << 8) | pkt[17];
      off = 18;
    }
    version = type == 0x0800 ? 4 : type == 0x86dd ? 6 : 0;
  } else if (len > 0) {
    version = pkt[0] >> 4;
  }
  uint8_t proto = 0;
  size_t l4len = 0;
  if (version == 4) {
    if (len < off + 20) return false;
    size_t ihl = (pkt[off] & 0x0f) * 4u;
    size_t total = (pkt[off + 2] << 8) | pkt[off + 3];
    if (ihl < 20 || total < ihl || off + total > len) return false;
    if ((((pkt[off + 6] & 0x3f) << 8) | pkt[off + 7]) != 0) return false;  // fragment
    proto = pkt[off + 9];
    out.start = off + ihl;
    l4len = total - ihl;
    out.pseudo = sum16(pkt + off + 12, 8, 0);
  } else if (version == 6) {
    if (len < off + 40) return false;
    size_t payload = (pkt[off + 4] << 8) | pkt[off + 5];
    if (off + 40 + payload > len) return false;
    proto = pkt[off + 6];  // the kernel only offloads when L4 directly follows
    out.start = off + 40;
    l4len = payload;
    out.pseudo = sum16(pkt + off + 8, 32, 0);
  } else {
    return false;
  }
  if (proto == IPPROTO_TCP) out.offset = 16;
  else if (proto == IPPROTO_UDP) out.offset = 6;
  else return false;
  if (out.start + out.offset + 2 > len) return false;
  out.pseudo += proto + static_cast<uint32_t>(l4len);
  return true;
}

}  // namespace

bool finish_partial_csum_parsed(uint8_t* pkt, size_t len, bool l2) {
  L4 l4;
  if (!locate_l4(pkt, len, l2, l4)) return false;
  return finish_partial_csum(pkt, len, l4.start, l4.offset);
}

bool finish_if_partial_csum(uint8_t* pkt, size_t len, bool l2) {
  L4 l4;
  if (!locate_l4(pkt, len, l2, l4)) return false;
  uint16_t field = (pkt[l4.start + l4.offset] << 8) | pkt[l4.start + l4.offset + 1];
  // A partial checksum field holds exactly the folded pseudo-header sum.
  // Finishing a complete packet whose field happens to equal it rewrites the
  // same value, so this test can never damage a good packet.
  if (field == 0 || field != fold(l4.pseudo)) return false;
  return finish_partial_csum(pkt, len, l4.start, l4.offset);
}

}  // namespace lcp::io
