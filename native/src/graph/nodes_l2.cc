// ethernet-input and p2p-input: classify what a port received by its L2
// (or, on a point-to-point port, by IP version) and hand it on.
#include "graph/graph.h"
#include "graph/packet.h"

namespace lcp {

namespace {
constexpr uint16_t kEthVlanLen = 18;  // dst, src, outer tag (TPID, TCI), ethertype
}  // namespace

void ethernet_input(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    if (i + 4 < in.n) __builtin_prefetch(in.b[i + 4]->data());
    Buffer* b = in.b[i];
    const PortRuntime* port = ctx.ports.get(b->meta.rx_port);
    if (!port || !port->admin_up) {
      ctx.drop(b, Error::PortDown);
      continue;
    }
    if (b->length < pkt::kEthLen) {
      ctx.drop(b, Error::EthTruncated);
      continue;
    }
    const uint8_t* eth = b->data();
    // L3 port: unicast frames must be for the port's (dataplane) MAC; the
    // netdev is promiscuous because the mirror's MAC is what peers use.
    if (!pkt::mac_is_multicast(eth) && std::memcmp(eth, port->mac.data(), 6) != 0) {
      ctx.drop(b, Error::EthNotForUs);
      continue;
    }
    b->meta.l3_offset = pkt::kEthLen;
    uint16_t type = pkt::load16(eth + 12);
    if ((type == pkt::kEthVlan || type == pkt::kEthQinq) && port->n_subs && b->length >= kEthVlanLen) {
      // A tag of one of our sub-ports: the packet is the sub-port's from here
      // on (lookup table, punt counters, ...); the tag stays in the buffer, so
      // a punt hands Linux the frame as received, for its VLAN device.
      const uint32_t sub = port->sub_of(type, pkt::load16(eth + 14) & 0x0fff);
      const PortRuntime* sp = sub == kInvalidIndex ? nullptr : ctx.ports.get(sub);
      if (sp) {
        if (!sp->admin_up) {
          ctx.drop(b, Error::PortDown);
          continue;
        }
        b->meta.rx_port = sub;
        b->meta.l3_offset = kEthVlanLen;
        type = pkt::load16(eth + 16);
      }
    }
    switch (type) {
      case pkt::kEthIp4: ctx.enqueue(NodeId::Ip4Input, b); break;
      case pkt::kEthIp6: ctx.enqueue(NodeId::Ip6Input, b); break;
      case pkt::kEthArp: ctx.punt(b, Error::PuntArp); break;
      // VLANs that are no sub-port, LLDP, LACP, IS-IS (LLC), ...: Linux on
      // the mirror decides what they mean.
      default: ctx.punt(b, Error::PuntOther); break;
    }
  }
}

void p2p_input(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    Buffer* b = in.b[i];
    const PortRuntime* port = ctx.ports.get(b->meta.rx_port);
    if (!port || !port->admin_up) {
      ctx.drop(b, Error::PortDown);
      continue;
    }
    b->meta.l3_offset = 0;
    const uint8_t version = b->length ? b->data()[0] >> 4 : 0;
    if (version == 4) ctx.enqueue(NodeId::Ip4Input, b);
    else if (version == 6) ctx.enqueue(NodeId::Ip6Input, b);
    else ctx.drop(b, Error::P2pBadVersion);
  }
}

}  // namespace lcp
