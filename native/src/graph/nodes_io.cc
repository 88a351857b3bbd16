// The graph's exits: punt (to the rx port's mirror), port-output (to the tx
// port, batched per port) and drop (counted by reason). Plus the dispatcher.
#include "graph/graph.h"

namespace lcp {

void punt(Context& ctx, Frame& in) {
  // Packets go to Linux exactly as received, L2 header included. Runs of
  // packets for the same mirror are written as one burst.
  uint32_t i = 0;
  while (i < in.n) {
    const uint32_t rx = in.b[i]->meta.rx_port;
    uint32_t j = i + 1;
    while (j < in.n && in.b[j]->meta.rx_port == rx) ++j;
    const PortRuntime* port = ctx.ports.get(rx);
    if (!port || !port->mirror) {
      for (uint32_t k = i; k < j; ++k) ctx.drop(in.b[k], Error::NoMirror);
    } else {
      const uint32_t sent = port->mirror->tx_burst(in.b + i, j - i);
      ctx.ctr.ports[rx].punts.add(sent);
      for (uint32_t k = i + sent; k < j; ++k) ctx.drop(in.b[k], Error::PuntFull);
      for (uint32_t k = i; k < i + sent; ++k) ctx.pool.free(in.b[k]);
    }
    i = j;
  }
}

void port_output(Context& ctx, Frame& in) {
  io::TxQueue* used[kMaxVector];
  uint32_t n_used = 0;
  uint32_t i = 0;
  while (i < in.n) {
    const uint32_t tx = in.b[i]->meta.tx_port;
    uint32_t j = i + 1;
    while (j < in.n && in.b[j]->meta.tx_port == tx) ++j;
    const PortRuntime* port = ctx.ports.get(tx);
    io::TxQueue* q = port ? port->tx[ctx.worker] : nullptr;
    if (!q || !port->admin_up) {
      for (uint32_t k = i; k < j; ++k) ctx.drop(in.b[k], Error::PortDown);
    } else {
      const uint32_t sent = q->tx_burst(in.b + i, j - i);
      uint64_t bytes = 0;
      for (uint32_t k = i; k < i + sent; ++k) {
        bytes += in.b[k]->length;
        ctx.pool.free(in.b[k]);
      }
      PortCounters& c = ctx.ctr.ports[tx];
      c.tx_packets.add(sent);
      c.tx_bytes.add(bytes);
      for (uint32_t k = i + sent; k < j; ++k) ctx.drop(in.b[k], Error::TxFull);
      if (sent) used[n_used++] = q;
    }
    i = j;
  }
  for (uint32_t k = 0; k < n_used; ++k) used[k]->flush();
}

void drop(Context& ctx, Frame& in) {
  for (uint32_t i = 0; i < in.n; ++i) {
    Buffer* b = in.b[i];
    ctx.count(Error(b->meta.error));
    if (b->meta.rx_port < kMaxPorts) ctx.ctr.ports[b->meta.rx_port].drops.add(1);
    ctx.pool.free(b);
  }
}

void trace_frame(Context& ctx, const Frame& f, NodeId node) {
  for (uint32_t i = 0; i < f.n; ++i) {
    const uint32_t slot = f.b[i]->meta.trace;
    if (slot >= kMaxTrace) continue;
    TraceRecord& r = ctx.trace.rec[slot];
    const uint8_t n = r.n_nodes.load(std::memory_order_relaxed);
    if (n >= kTraceNodes) continue;
    r.nodes[n] = uint8_t(node);
    r.n_nodes.store(uint8_t(n + 1), std::memory_order_release);
  }
}

void dispatch(Context& ctx) {
  using NodeFn = void (*)(Context&, Frame&);
  static constexpr NodeFn kNodes[] = {ethernet_input, p2p_input,   ip4_input,   ip6_input,
                                      ip4_lookup,     ip6_lookup,  ip4_rewrite, ip6_rewrite,
                                      punt,           port_output, drop};
  static_assert(sizeof(kNodes) / sizeof(kNodes[0]) == size_t(NodeId::Count));
  // Every edge points to a later node, so one pass in order empties the graph.
  for (size_t id = 0; id < size_t(NodeId::Count); ++id) {
    Frame& f = ctx.frames[id];
    if (!f.n) continue;
    if (ctx.tracing) trace_frame(ctx, f, NodeId(id));
    ctx.ctr.vectors.add(1);
    kNodes[id](ctx, f);
    f.n = 0;
  }
  ctx.tracing = false;
}

}  // namespace lcp
