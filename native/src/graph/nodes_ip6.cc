// ip6-input (validate, classify host-bound: multicast incl. ND/RA, link-local,
// hop-by-hop), ip6-lookup (FIB, ECMP, hop limit) and ip6-rewrite.
#include "graph/graph.h"
#include "graph/packet.h"

namespace lcp {
namespace {

constexpr uint8_t kHopByHop = 0;

uint32_t flow_hash6(const uint8_t* ip) {
  uint64_t h = 0;
  for (int k = 8; k < 40; k += 8) {  // src and dst, as four 64-bit words
    uint64_t w;
    std::memcpy(&w, ip + k, 8);
    h = pkt::mix32(h ^ w) | (h << 32);
  }
  const uint8_t nh = ip[6];
  uint32_t ports = 0;
  if (nh == 6 || nh == 17 || nh == 132) ports = pkt::load32(ip + pkt::kIp6Len);
  return pkt::mix32(h ^ (uint64_t(ports) << 8) ^ nh ^ (uint64_t(pkt::load32(ip) & 0xfffff) << 40));
}

}  // namespace

void ip6_input(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    Buffer* b = in.b[i];
    const uint8_t* ip = b->data() + b->meta.l3_offset;
    const size_t avail = b->length - b->meta.l3_offset;
    if (avail < pkt::kIp6Len) { ctx.drop(b, Error::Ip6Truncated); continue; }
    if ((ip[0] >> 4) != 6) { ctx.drop(b, Error::Ip6BadVersion); continue; }
    if (pkt::kIp6Len + pkt::load16(ip + 4) > avail) { ctx.drop(b, Error::Ip6BadLength); continue; }
    if (ip[8] == 0xff) { ctx.drop(b, Error::Ip6SrcMulticast); continue; }
    const uint8_t* dst = ip + 24;
    if (dst[0] == 0xff) { ctx.punt(b, Error::PuntMulticast); continue; }  // ND, RA, OSPFv3, MLD
    if (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) { ctx.punt(b, Error::PuntReceive); continue; }
    if (ip[6] == kHopByHop) { ctx.punt(b, Error::PuntOptions); continue; }
    ctx.enqueue(NodeId::Ip6Lookup, b);
  }
}

void ip6_lookup(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    if (i + 2 < in.n) __builtin_prefetch(in.b[i + 2]->data() + in.b[i + 2]->meta.l3_offset);
    Buffer* b = in.b[i];
    const PortRuntime* port = ctx.ports.get(b->meta.rx_port);
    const uint8_t* ip = b->data() + b->meta.l3_offset;
    b->meta.flow_hash = flow_hash6(ip);
    const uint32_t ai = ctx.fib.lookup6(port ? port->table_slot : 0, ip + 24, b->meta.flow_hash);
    dispose(ctx, b, ai, ip[7], NodeId::Ip6Rewrite);
  }
}

void ip6_rewrite(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    Buffer* b = in.b[i];
    const fib::Adjacency& a = ctx.fib.adjacency(b->meta.adjacency);
    if (a.kind != fib::AdjKind::Rewrite) { ctx.punt(b, Error::PuntGlean); continue; }
    uint8_t* ip = b->data() + b->meta.l3_offset;
    const uint16_t total = uint16_t(pkt::kIp6Len + pkt::load16(ip + 4));
    if (a.mtu && total > a.mtu) { ctx.punt(b, Error::PuntMtu); continue; }  // Linux sends packet-too-big
    ip[7] = uint8_t(ip[7] - 1);
    rewrite_and_send(ctx, b, a, total);
  }
}

}  // namespace lcp
