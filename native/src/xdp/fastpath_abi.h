// The XDP fast path's maps as both sides see them: the BPF program
// (fastpath.bpf.c, compiled with clang -target bpf) and the control side
// (fast_path.cc). Plain C, fixed-width fields, no implicit padding.
#pragma once

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 fp_u8;
typedef __u16 fp_u16;
typedef __u32 fp_u32;
typedef __u64 fp_u64;
#else
#include <stdint.h>
typedef uint8_t fp_u8;
typedef uint16_t fp_u16;
typedef uint32_t fp_u32;
typedef uint64_t fp_u64;
#endif

#define FP_MAX_PORTS 4096      // = kMaxPorts: map keys are dataplane port indexes
#define FP_MAX_BUCKETS 64      // ECMP buckets a load-balance may have to be fast-pathed
#define FP_MAX_LBS (1u << 17)
#define FP_MAX_ADJS (1u << 18)
#define FP_MAX_ROUTES6 (1u << 21)
#define FP_LENS6_BUCKETS (1u << 20)  // fp_lens6: buckets of /32s (hashed with the table slot)
#define FP_MAX_TABLES 256      // = fib::kMaxTables: FIB table slots
#define FP_TBL8_GROUPS (1u << 15)  // IPv4 groups of 256 words per table (32 MiB)

// fp_config[0]
struct fp_config {
  fp_u32 bypass;  // non-zero: every packet goes to the graph (a trace is armed)
  fp_u32 pad;
};

// fp_ifs[ifindex] (private to a loaded instance): the port an interface it is
// attached to serves. ifindexes are per netns, hence one instance per netns.
struct fp_self {
  fp_u32 port;
  fp_u32 use_xsk;  // AF_XDP port: what the fast path leaves goes to fp_xsks, not the stack
};

// fp_ports[port index]
struct fp_port {
  fp_u32 table_slot;  // FIB table slot for lookups of what it receives
  fp_u8 mac[6];       // accepted destination MAC (the port's dataplane MAC)
  fp_u8 rx_ok;        // receive side active: admin up, program attached, fastPath auto
  fp_u8 tx_ok;        // may be a redirect target: admin up, driver takes XDP frames (NDO_XMIT)
};

// IPv4: the FIB's own DIR-24-8 (fib/ip4_lpm.h), one per table slot, in two
// BPF_F_MMAPABLE array maps that the control side maps and writes in place:
// fp_tbl24[slot] holds one fp_words per /16 (the 256 /24 words under it),
// fp_tbl8[slot] one fp_words per group. A word is FP_LPM4_EXT | group, or
// depth << 24 | load-balance index (0: nothing, the graph decides).
#define FP_LPM4_EXT (1u << 31)
#define FP_LPM4_INDEX 0xffffffu
struct fp_words {
  fp_u32 w[256];
};

// IPv6: one hash of every table's prefixes (fp_fib6: table slot, length and
// masked address, as two host-order words), and which lengths to probe, longest
// first: lengths 32..128 per bucket of /32s (fp_lens6[fp_lens6_bucket()], bit
// i of w[0] = length 32 + i, of w[1] = 96 + i; /32s that share a bucket share
// its bits, which costs a wasted probe, never a wrong answer), lengths 0..31
// per table (fp_short6[slot], bit i = length i). Both arrays are mmap()ed by
// the control side, which sets a bit after the prefix is in the hash and
// clears it before the last prefix of that length there leaves.
struct fp_key6 {
  fp_u32 table;
  fp_u32 len;
  fp_u64 hi, lo;
};
struct fp_lens6 {
  fp_u64 w[2];
};

// The graph's mix32 (graph/packet.h), here to bucket /32s.
static inline __attribute__((always_inline)) fp_u32 fp_mix32(fp_u64 x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return (fp_u32)x;
}
static inline __attribute__((always_inline)) fp_u32 fp_lens6_bucket(fp_u32 slot, fp_u32 top32) {
  return fp_mix32(((fp_u64)slot << 32) | top32) & (FP_LENS6_BUCKETS - 1);
}

// fp_lbs[load-balance index]: present only for forwarding path sets.
struct fp_lb {
  fp_u32 n_buckets;  // power of two, <= FP_MAX_BUCKETS
  fp_u32 buckets[FP_MAX_BUCKETS];
};

// fp_adjs[adjacency index]: present only for resolved Ethernet rewrites.
struct fp_adj {
  fp_u32 port;       // egress port index (fp_ports, fp_tx)
  fp_u16 mtu;        // L3 MTU (0: no check)
  fp_u8 rewrite[14]; // dst MAC, src MAC, ethertype
};

// fp_stats[port index], per CPU: what the fast path forwarded.
struct fp_stats {
  fp_u64 rx_packets, rx_bytes, tx_packets, tx_bytes;
};
