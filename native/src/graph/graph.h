// The packet graph: small nodes with one job each and explicit next-node
// dispositions. A worker pushes one received vector through the nodes in
// topological order (the graph is a DAG), so every node sees its whole share
// of the vector at once and no frame ever exceeds kMaxVector.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/buffer.h"
#include "fib/fib.h"
#include "graph/counters.h"
#include "graph/runtime.h"

namespace lcp {

// Order matters: it is the dispatch order (every edge points forward).
enum class NodeId : uint8_t {
  EthernetInput,
  P2pInput,
  Ip4Input,
  Ip6Input,
  Ip4Lookup,
  Ip6Lookup,
  Ip4Rewrite,
  Ip6Rewrite,
  Punt,
  PortOutput,
  Drop,
  Count,
  // Not dispatched: names used by the tracer for the rx sources.
  PortInput = Count,
  MirrorInput,
};

inline constexpr const char* kNodeNames[] = {
    "ethernet-input", "p2p-input",  "ip4-input",   "ip6-input",   "ip4-lookup", "ip6-lookup",
    "ip4-rewrite",    "ip6-rewrite", "punt",       "port-output", "drop",       "port-input",
    "mirror-input",
};

struct Frame {
  uint32_t n = 0;
  Buffer* b[kMaxVector];
};

struct Context {
  Context(unsigned w, const fib::Fib& f, const PortTable& p, WorkerCounters& c, TraceBuffer& t,
          BufferPool& bp)
      : worker(w), fib(f), ports(p), ctr(c), trace(t), pool(bp) {}

  unsigned worker;
  const fib::Fib& fib;
  const PortTable& ports;
  WorkerCounters& ctr;
  TraceBuffer& trace;
  BufferPool& pool;
  Frame frames[size_t(NodeId::Count)];
  bool tracing = false;  // some buffer of the current vector is traced

  void count(Error e, uint64_t n = 1) { ctr.errors[size_t(e)].add(n); }
  void enqueue(NodeId to, Buffer* b) {
    Frame& f = frames[size_t(to)];
    f.b[f.n++] = b;
  }
  // Send b to drop, remembering why.
  void drop(Buffer* b, Error why) {
    b->meta.error = uint16_t(why);
    enqueue(NodeId::Drop, b);
  }
  void punt(Buffer* b, Error why) {
    count(why);
    enqueue(NodeId::Punt, b);
  }
};

// ip4-lookup and ip6-lookup share what an adjacency means for a packet:
// rewrite (unless the TTL/hop limit expires), punt, or drop with a reason.
inline void dispose(Context& ctx, Buffer* b, uint32_t adj_index, uint8_t ttl, NodeId rewrite) {
  switch (ctx.fib.adjacency(adj_index).kind) {
    case fib::AdjKind::Rewrite:
      if (ttl <= 1) return ctx.punt(b, Error::PuntTtl);  // Linux sends time-exceeded
      b->meta.adjacency = adj_index;
      return ctx.enqueue(rewrite, b);
    case fib::AdjKind::Receive: return ctx.punt(b, Error::PuntReceive);
    case fib::AdjKind::Glean: return ctx.punt(b, Error::PuntGlean);
    case fib::AdjKind::Blackhole: return ctx.drop(b, Error::Blackhole);
    // Linux holds the same route and answers with the ICMP error (host
    // unreachable, administratively prohibited) at its own icmp_ratelimit.
    case fib::AdjKind::Unreachable: return ctx.punt(b, Error::PuntUnreachable);
    case fib::AdjKind::Prohibit: return ctx.punt(b, Error::PuntProhibit);
    case fib::AdjKind::Drop: break;
  }
  ctx.drop(b, Error::NoRoute);
}

// Replace the L2 header (and any Ethernet padding past the IP packet of
// `l3_length` bytes) with the adjacency's rewrite, and send it out its port.
inline void rewrite_and_send(Context& ctx, Buffer* b, const fib::Adjacency& a, uint16_t l3_length) {
  b->offset = uint16_t(b->offset + b->meta.l3_offset - a.rewrite_len);
  b->length = uint16_t(l3_length + a.rewrite_len);
  b->meta.l3_offset = a.rewrite_len;
  std::memcpy(b->data(), a.rewrite, a.rewrite_len);
  b->meta.tx_port = a.port;
  ctx.enqueue(NodeId::PortOutput, b);
}

// Every node: consume `in` (enqueue each buffer to its next node, or free it
// when it leaves the graph). Declared here, defined in nodes_*.cc.
void ethernet_input(Context& ctx, Frame& in);
void p2p_input(Context& ctx, Frame& in);
void ip4_input(Context& ctx, Frame& in);
void ip6_input(Context& ctx, Frame& in);
void ip4_lookup(Context& ctx, Frame& in);
void ip6_lookup(Context& ctx, Frame& in);
void ip4_rewrite(Context& ctx, Frame& in);
void ip6_rewrite(Context& ctx, Frame& in);
void punt(Context& ctx, Frame& in);
void port_output(Context& ctx, Frame& in);
void drop(Context& ctx, Frame& in);

// Run every pending frame through the graph, in order, until all are empty.
void dispatch(Context& ctx);

// Append `node` to the trace of every traced buffer in `f`.
void trace_frame(Context& ctx, const Frame& f, NodeId node);

}  // namespace lcp
