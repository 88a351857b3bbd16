// ip4-input (validate, classify host-bound), ip4-lookup (FIB, ECMP, TTL) and
// ip4-rewrite (TTL, checksum, MTU, L2 header).
#include "graph/graph.h"
#include "graph/packet.h"

namespace lcp {
namespace {

bool is_multicast4(uint32_t a) { return (a >> 28) == 0xe; }

uint32_t flow_hash4(const uint8_t* ip, size_t ihl) {
  const uint32_t src = pkt::load32(ip + 12), dst = pkt::load32(ip + 16);
  const uint8_t proto = ip[9];
  const bool first_fragment = (pkt::load16(ip + 6) & 0x1fff) == 0;
  const bool more_fragments = pkt::load16(ip + 6) & 0x2000;
  uint32_t ports = 0;
  // Ports only for unfragmented TCP/UDP/SCTP, so all fragments hash alike.
  if ((proto == 6 || proto == 17 || proto == 132) && first_fragment && !more_fragments)
    ports = pkt::load32(ip + ihl);
  return pkt::mix32((uint64_t(src) << 32 | dst) ^ (uint64_t(ports) << 8) ^ proto);
}

}  // namespace

void ip4_input(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    Buffer* b = in.b[i];
    const uint8_t* ip = b->data() + b->meta.l3_offset;
    const size_t avail = b->length - b->meta.l3_offset;
    if (avail < pkt::kIp4MinLen) { ctx.drop(b, Error::Ip4Truncated); continue; }
    if ((ip[0] >> 4) != 4) { ctx.drop(b, Error::Ip4BadVersion); continue; }
    const size_t ihl = size_t(ip[0] & 0xf) * 4;
    if (ihl < pkt::kIp4MinLen) { ctx.drop(b, Error::Ip4BadIhl); continue; }
    if (ihl > avail) { ctx.drop(b, Error::Ip4Truncated); continue; }
    const size_t total = pkt::load16(ip + 2);
    if (total < ihl || total > avail) { ctx.drop(b, Error::Ip4BadLength); continue; }
    if (!pkt::ip4_checksum_ok(ip, ihl)) { ctx.drop(b, Error::Ip4BadChecksum); continue; }
    const uint32_t src = pkt::load32(ip + 12), dst = pkt::load32(ip + 16);
    if (is_multicast4(src)) { ctx.drop(b, Error::Ip4SrcMulticast); continue; }
    if (is_multicast4(dst) || dst == 0xffffffffu) { ctx.punt(b, Error::PuntMulticast); continue; }
    if (ihl > pkt::kIp4MinLen) { ctx.punt(b, Error::PuntOptions); continue; }  // Linux handles options
    ctx.enqueue(NodeId::Ip4Lookup, b);
  }
}

void ip4_lookup(Context& ctx, Frame& in) {
  uint32_t dst[kMaxVector], hash[kMaxVector], adj[kMaxVector];
  // Lookups are batched per run of packets that use the same table, so the
  // FIB can prefetch ahead; one table for the whole vector is the usual case.
  uint32_t run_start = 0;
  uint32_t run_slot = 0;
  for (uint32_t i = 0; i <= in.n; ++i) {
    uint32_t slot = 0;
    if (i < in.n) {
      Buffer* b = in.b[i];
      const PortRuntime* port = ctx.ports.get(b->meta.rx_port);
      slot = port ? port->table_slot : 0;
      const uint8_t* ip = b->data() + b->meta.l3_offset;
      dst[i] = pkt::load32(ip + 16);
      hash[i] = flow_hash4(ip, size_t(ip[0] & 0xf) * 4);
      b->meta.flow_hash = hash[i];
    }
    if (i == in.n || (i > run_start && slot != run_slot)) {
      ctx.fib.lookup4_batch(run_slot, dst + run_start, hash + run_start, adj + run_start,
                            i - run_start);
      run_start = i;
    }
    run_slot = slot;
  }
  for (uint32_t i = 0; i < in.n; ++i) {
    Buffer* b = in.b[i];
    dispose(ctx, b, adj[i], b->data()[b->meta.l3_offset + 8], NodeId::Ip4Rewrite);
  }
}

void ip4_rewrite(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    Buffer* b = in.b[i];
    const fib::Adjacency& a = ctx.fib.adjacency(b->meta.adjacency);
    if (a.kind != fib::AdjKind::Rewrite) { ctx.punt(b, Error::PuntGlean); continue; }  // raced a withdraw
    uint8_t* ip = b->data() + b->meta.l3_offset;
    const uint16_t total = pkt::load16(ip + 2);
    if (a.mtu && total > a.mtu) { ctx.punt(b, Error::PuntMtu); continue; }  // Linux fragments / sends frag-needed
    pkt::ip4_decrement_ttl(ip);
    rewrite_and_send(ctx, b, a, total);
  }
}

}  // namespace lcp
