// The XDP fast path: one loaded instance per netns (AF_PACKET ports; the port
// is found by ingress ifindex) or per AF_XDP port, attached in native mode. Forwards the
// plain case — Ethernet to the port's MAC, IPv4 without options and with a
// valid header checksum / IPv6 without hop-by-hop, TTL/hop limit > 1, a FIB
// hit on a resolved Ethernet rewrite whose egress port takes XDP frames, no
// larger than the egress MTU — exactly as the graph would (same lookup, same
// ECMP flow hash, RFC 1624 checksum update), and hands everything else to the
// user-space graph unchanged: XDP_PASS to the AF_PACKET socket, or the XSK map
// of an AF_XDP port. The maps are filled by fast_path.cc from the FIB.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "fastpath_abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct fp_config);
} fp_config SEC(".maps");

// Private to each loaded instance (one per netns for AF_PACKET ports, one per
// AF_XDP port): the interfaces it is attached to, by ifindex. Absent: XDP_PASS.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FP_MAX_PORTS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct fp_self);
} fp_ifs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FP_MAX_PORTS);
  __type(key, __u32);
  __type(value, struct fp_port);
} fp_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __uint(max_entries, FP_MAX_PORTS);
  __type(key, __u32);
  __type(value, __u32);
} fp_tx SEC(".maps");

// IPv4 DIR-24-8 per table slot (fastpath_abi.h); the control side creates a
// slot's two arrays when the table gets its first IPv4 prefix.
struct fp_tbl24_arr {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1 << 16);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct fp_words));  // by size: BTF would only see a forward declaration
};
struct fp_tbl8_arr {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FP_TBL8_GROUPS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct fp_words));  // by size: BTF would only see a forward declaration
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, FP_MAX_TABLES);
  __type(key, __u32);
  __array(values, struct fp_tbl24_arr);
} fp_tbl24 SEC(".maps");
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, FP_MAX_TABLES);
  __type(key, __u32);
  __array(values, struct fp_tbl8_arr);
} fp_tbl8 SEC(".maps");

// IPv6 (fastpath_abi.h): the prefixes of every table, and which lengths to probe.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FP_MAX_ROUTES6);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct fp_key6);
  __type(value, __u32);
} fp_fib6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FP_LENS6_BUCKETS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct fp_lens6);
} fp_lens6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FP_MAX_TABLES);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, __u64);
} fp_short6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FP_MAX_LBS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct fp_lb);
} fp_lbs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FP_MAX_ADJS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct fp_adj);
} fp_adjs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FP_MAX_PORTS);
  __type(key, __u32);
  __type(value, struct fp_stats);
} fp_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} fp_xsks SEC(".maps");

// The graph's flow hash (graph/packet.h mix32, nodes_ip4.cc / nodes_ip6.cc),
// so ECMP picks the same bucket on both paths.
#define mix32 fp_mix32

static __always_inline __u32 load_be32(const __u8* p) {
  return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

static __always_inline __u32 fold(__u32 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

static __always_inline __u32 sum16(const __u8* p) { return ((__u32)p[0] << 8) | p[1]; }

// A packet a local stack sent over a veth with checksum offload arrives with
// CHECKSUM_PARTIAL: its TCP/UDP checksum field holds only the pseudo-header
// sum, and the skb's note to finish it is lost when XDP redirects the frame.
// Such packets (and the 1 in 65536 complete ones that look alike) go to the
// graph, which finishes the checksum. `l4` is the TCP/UDP header.
static __always_inline int looks_partial(const __u8* l4, const __u8* end, __u8 proto, __u32 pseudo) {
  const __u8* check = proto == 6 ? l4 + 16 : l4 + 6;
  if (check + 2 > end) return 0;
  return sum16(check) == fold(pseudo);
}

// The load-balance index for dst in table `slot`; 0 when the table has none
// (no IPv4 yet, or nothing covers dst): the graph decides.
static __always_inline __u32 lookup4(__u32 slot, __u32 dst) {
  void* t24 = bpf_map_lookup_elem(&fp_tbl24, &slot);
  if (!t24) return 0;
  __u32 row = dst >> 16;
  const struct fp_words* r = bpf_map_lookup_elem(t24, &row);
  if (!r) return 0;
  __u32 e = r->w[(dst >> 8) & 0xff];
  if (e & FP_LPM4_EXT) {
    void* t8 = bpf_map_lookup_elem(&fp_tbl8, &slot);
    if (!t8) return 0;
    __u32 g = e & FP_LPM4_INDEX;
    const struct fp_words* grp = bpf_map_lookup_elem(t8, &g);
    if (!grp) return 0;
    e = grp->w[dst & 0xff];
  }
  return e & FP_LPM4_INDEX;
}

static __always_inline __u64 load_be64(const __u8* p) {
  return ((__u64)load_be32(p) << 32) | load_be32(p + 4);
}

// Index of the highest set bit of a non-zero word (the BPF ISA has no clz).
static __always_inline int top_bit(__u64 w) {
  int b = 0;
  if (w >> 32) { w >>= 32; b += 32; }
  if (w >> 16) { w >>= 16; b += 16; }
  if (w >> 8) { w >>= 8; b += 8; }
  if (w >> 4) { w >>= 4; b += 4; }
  if (w >> 2) { w >>= 2; b += 2; }
  if (w >> 1) b += 1;
  return b;
}

// Probes dst/len in fp_fib6: its load-balance index, or NULL.
static __always_inline const __u32* probe6(struct fp_key6* key, __u64 hi, __u64 lo, int len) {
  key->len = len;
  key->hi = len == 0 ? 0 : len < 64 ? hi & (~0ULL << (64 - len)) : hi;
  key->lo = len <= 64 ? 0 : len < 128 ? lo & (~0ULL << (128 - len)) : lo;
  return bpf_map_lookup_elem(&fp_fib6, key);
}

// lookup6's state through bpf_loop(): a loop of map lookups unrolled by the
// verifier's path walk would exceed its budget; a bpf_loop callback is
// verified once.
struct lookup6_ctx {
  struct fp_key6 key;
  __u64 hi, lo;
  __u64 w0, w1, ws;  // lengths still to probe: 32..95, 96..159, 0..31
  __u32 lb;
  int found;
};

static __always_inline long probe_len(struct lookup6_ctx* c, int len) {
  const __u32* lb = probe6(&c->key, c->hi, c->lo, len);
  if (!lb) return 0;
  c->lb = *lb;
  c->found = 1;
  return 1;  // stop: the longest match
}

static long probe_long(__u64 index, void* data) {
  struct lookup6_ctx* c = data;
  int len;
  if (c->w1) {
    const int t = top_bit(c->w1);
    c->w1 &= ~(1ULL << t);
    len = 96 + t;
  } else if (c->w0) {
    const int t = top_bit(c->w0);
    c->w0 &= ~(1ULL << t);
    len = 32 + t;
  } else {
    return 1;
  }
  if (len > 128) return 0;
  return probe_len(c, len);
}

static long probe_short(__u64 index, void* data) {
  struct lookup6_ctx* c = data;
  if (!c->ws) return 1;
  const int t = top_bit(c->ws);
  c->ws &= ~(1ULL << t);
  return probe_len(c, t & 31);
}

// The load-balance index for dst (16 bytes) in table `slot`, longest match
// first over the lengths that exist near dst (an installed drop or receive
// entry stops the search like any other); 0: nothing (the graph decides).
static __always_inline __u32 lookup6(__u32 slot, const __u8* dst) {
  struct lookup6_ctx c = {.key = {.table = slot}, .hi = load_be64(dst), .lo = load_be64(dst + 8)};
  __u32 b = fp_lens6_bucket(slot, (__u32)(c.hi >> 32));
  const struct fp_lens6* m = bpf_map_lookup_elem(&fp_lens6, &b);
  if (m) {
    c.w0 = m->w[0];
    c.w1 = m->w[1];
    if (c.w0 | c.w1) bpf_loop(97, probe_long, &c, 0);  // at most one probe per length 32..128
    if (c.found) return c.lb;
  }
  const __u64* s = bpf_map_lookup_elem(&fp_short6, &slot);
  if (!s) return 0;
  c.ws = *s & 0xffffffffULL;
  if (c.ws) bpf_loop(32, probe_short, &c, 0);
  return c.found ? c.lb : 0;
}

static __always_inline int to_graph(struct xdp_md* ctx, const struct fp_self* self) {
  if (self->use_xsk) return bpf_redirect_map(&fp_xsks, ctx->rx_queue_index, XDP_DROP);
  return XDP_PASS;
}

// Pick the adjacency (ECMP bucket), check it and its egress; NULL: the graph's.
static __always_inline const struct fp_adj* resolve(__u32 lb_index, __u32 hash, __u32 l3_len) {
  const struct fp_lb* lb = bpf_map_lookup_elem(&fp_lbs, &lb_index);
  if (!lb) return 0;
  __u32 bucket = hash & (lb->n_buckets - 1) & (FP_MAX_BUCKETS - 1);
  __u32 adj_index = lb->buckets[bucket];
  const struct fp_adj* adj = bpf_map_lookup_elem(&fp_adjs, &adj_index);
  if (!adj) return 0;
  if (adj->mtu && l3_len > adj->mtu) return 0;  // Linux fragments / answers
  __u32 out = adj->port;
  const struct fp_port* op = bpf_map_lookup_elem(&fp_ports, &out);
  if (!op || !op->tx_ok) return 0;
  if (!bpf_map_lookup_elem(&fp_tx, &out)) return 0;
  return adj;
}

static __always_inline void count(__u32 port, int rx, __u64 bytes) {
  struct fp_stats* s = bpf_map_lookup_elem(&fp_stats, &port);
  if (!s) return;
  if (rx) {
    s->rx_packets++;
    s->rx_bytes += bytes;
  } else {
    s->tx_packets++;
    s->tx_bytes += bytes;
  }
}

static __always_inline int send(struct xdp_md* ctx, __u8* eth, const struct fp_adj* adj, __u32 me, __u64 len) {
  __builtin_memcpy(eth, adj->rewrite, 14);
  __u32 out = adj->port;
  int action = bpf_redirect_map(&fp_tx, out, 0);
  if (action == XDP_REDIRECT) {
    count(me, 1, len);
    count(out, 0, len);
  }
  return action;
}

SEC("xdp.frags")  // frags-aware: a jumbo MTU stays possible; multi-buffer frames go to the graph
int lcp_fastpath(struct xdp_md* ctx) {
  __u32 zero = 0;
  __u32 ifindex = ctx->ingress_ifindex;  // unique within the instance's netns
  const struct fp_self* self = bpf_map_lookup_elem(&fp_ifs, &ifindex);
  if (!self) return XDP_PASS;
  const struct fp_config* cfg = bpf_map_lookup_elem(&fp_config, &zero);
  if (!cfg || cfg->bypass) return to_graph(ctx, self);
  __u32 me = self->port;
  const struct fp_port* in = bpf_map_lookup_elem(&fp_ports, &me);
  if (!in || !in->rx_ok) return to_graph(ctx, self);

  __u8* data = (__u8*)(long)ctx->data;
  __u8* end = (__u8*)(long)ctx->data_end;
  __u8* eth = data;
  if (eth + 14 > end) return to_graph(ctx, self);
  if (eth[0] != in->mac[0] || eth[1] != in->mac[1] || eth[2] != in->mac[2] || eth[3] != in->mac[3] ||
      eth[4] != in->mac[4] || eth[5] != in->mac[5])
    return to_graph(ctx, self);
  const __u16 type = ((__u16)eth[12] << 8) | eth[13];
  const __u64 frame_len = (__u64)(end - data);

  if (type == ETH_P_IP) {
    __u8* ip = eth + 14;
    if (ip + 24 > end) return to_graph(ctx, self);  // header + ports (or a 4-byte payload)
    if (ip[0] != 0x45) return to_graph(ctx, self);  // version 4, no options
    const __u32 total = ((__u32)ip[2] << 8) | ip[3];
    if (14 + total != frame_len) return to_graph(ctx, self);  // padding, truncation: the graph's
    __u32 sum = 0;
#pragma unroll
    for (int i = 0; i < 20; i += 2) sum += sum16(ip + i);
    if (fold(sum) != 0xffff) return to_graph(ctx, self);
    const __u32 src = load_be32(ip + 12), dst = load_be32(ip + 16);
    if ((src >> 28) == 0xe || (dst >> 28) == 0xe || dst == 0xffffffffu) return to_graph(ctx, self);
    if (ip[8] <= 1) return to_graph(ctx, self);  // TTL: Linux sends time-exceeded

    const __u32 lb = lookup4(in->table_slot, dst);
    if (!lb) return to_graph(ctx, self);
    const __u8 proto = ip[9];
    const __u16 frag = ((__u16)ip[6] << 8) | ip[7];
    __u32 ports = 0;
    if ((proto == 6 || proto == 17 || proto == 132) && (frag & 0x3fff) == 0) ports = load_be32(ip + 20);
    if ((proto == 6 || proto == 17) && (frag & 0x3fff) == 0) {
      const __u32 pseudo = sum16(ip + 12) + sum16(ip + 14) + sum16(ip + 16) + sum16(ip + 18) + proto + (total - 20);
      if (looks_partial(ip + 20, end, proto, pseudo)) return to_graph(ctx, self);
    }
    const __u32 hash = mix32((((__u64)src << 32) | dst) ^ ((__u64)ports << 8) ^ proto);
    const struct fp_adj* adj = resolve(lb, hash, total);
    if (!adj) return to_graph(ctx, self);

    // TTL - 1 and the RFC 1624 update of the checksum: HC' = ~(~HC + ~m + m').
    const __u16 old_word = ((__u16)ip[8] << 8) | ip[9];
    ip[8] -= 1;
    const __u16 new_word = ((__u16)ip[8] << 8) | ip[9];
    __u32 c = (__u16)~(((__u16)ip[10] << 8) | ip[11]);
    c += (__u16)~old_word;
    c += new_word;
    c = (c & 0xffff) + (c >> 16);
    c = (c & 0xffff) + (c >> 16);
    const __u16 csum = (__u16)~c;
    ip[10] = csum >> 8;
    ip[11] = csum & 0xff;
    return send(ctx, eth, adj, me, frame_len);
  }

  if (type == ETH_P_IPV6) {
    __u8* ip = eth + 14;
    if (ip + 40 > end) return to_graph(ctx, self);
    if ((ip[0] >> 4) != 6) return to_graph(ctx, self);
    const __u32 payload = ((__u32)ip[4] << 8) | ip[5];
    if (14 + 40 + payload != frame_len) return to_graph(ctx, self);
    const __u8 nh = ip[6];
    if (nh == 0) return to_graph(ctx, self);                 // hop-by-hop
    if (ip[8] == 0xff || ip[24] == 0xff) return to_graph(ctx, self);  // multicast
    if (ip[24] == 0xfe && (ip[25] & 0xc0) == 0x80) return to_graph(ctx, self);  // link-local
    if (ip[7] <= 1) return to_graph(ctx, self);              // hop limit

    const __u32 lb = lookup6(in->table_slot, ip + 24);
    if (!lb) return to_graph(ctx, self);
    __u64 h = 0;
#pragma unroll
    for (int k = 8; k < 40; k += 8) {
      __u64 w;
      __builtin_memcpy(&w, ip + k, 8);
      h = (__u64)mix32(h ^ w) | (h << 32);
    }
    __u32 ports = 0;
    if ((nh == 6 || nh == 17 || nh == 132) && ip + 44 <= end) ports = load_be32(ip + 40);
    if (nh == 6 || nh == 17) {
      __u32 pseudo = nh + payload;
#pragma unroll
      for (int i = 8; i < 40; i += 2) pseudo += sum16(ip + i);
      if (looks_partial(ip + 40, end, nh, pseudo)) return to_graph(ctx, self);
    }
    const __u32 flow = load_be32(ip) & 0xfffff;
    const __u32 hash = mix32(h ^ ((__u64)ports << 8) ^ nh ^ ((__u64)flow << 40));
    const struct fp_adj* adj = resolve(lb, hash, 40 + payload);
    if (!adj) return to_graph(ctx, self);
    ip[7] -= 1;
    return send(ctx, eth, adj, me, frame_len);
  }
  return to_graph(ctx, self);
}

char LICENSE[] SEC("license") = "GPL";
