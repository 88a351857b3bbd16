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
#define FP_MAX_ROUTES4 (1u << 23)
#define FP_MAX_ROUTES6 (1u << 22)

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

// fp_fib4 / fp_fib6 (LPM_TRIE): the table slot is part of the key, so one trie
// holds every table; prefixlen counts its 32 bits plus the prefix length.
struct fp_key4 {
  fp_u32 prefixlen;
  fp_u32 table;
  fp_u8 addr[4];
};
struct fp_key6 {
  fp_u32 prefixlen;
  fp_u32 table;
  fp_u8 addr[16];
};

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
