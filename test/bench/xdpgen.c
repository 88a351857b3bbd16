// xdpgen: the forwarding benchmark's traffic generator and XDP helper.
//
// Why this exists: a plain AF_PACKET generator tops out near 0.55 Mpps per
// core on these VMs, and Debian's xdp-trafficgen fails on this kernel (it
// needs tracepoint BTF). BPF_PROG_TEST_RUN's "live frames" mode
// (BPF_F_TEST_XDP_LIVE_FRAMES, what xdp-trafficgen uses underneath) runs an
// XDP program over a frame N times inside the kernel and really transmits
// XDP_TX results out of ctx.ingress_ifindex, so one syscall sends a whole
// batch without skbs. The programs are hand-assembled (no clang on the box).
//
// Subcommands (all print one JSON object on stdout, errors on stderr + exit 1):
//   gen     --netns NS --dev DEV --frame HEX [--seconds S | --count N]
//           [--batch B] [--cpu C]               -> {sent, seconds, pps}
//   pass    --netns NS --dev DEV                 attach XDP_PASS (gives a veth NAPI)
//   sink    --netns NS --dev DEV                 attach drop+count (per-CPU counter)
//   count   --netns NS --dev DEV                 -> {packets, bytes} of the sink program
//   redirect --netns NS --dev IN --to OUT [--dst-mac M --src-mac M]
//                                                attach bpf_redirect(IN -> OUT)
//   detach  --netns NS --dev DEV
//
// Programs are attached in native (driver) mode through netlink, without a
// bpf_link, so they outlive this process and stay until detached or until the
// device goes away; `count` finds the sink's map again from the attached
// program (no bpffs needed; it is not mounted on these machines).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "xdpgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

// ---- a tiny eBPF assembler: only the instruction shapes we use -------------
#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV64_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD64_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define ADD64_REG(d, s) INSN(BPF_ALU64 | BPF_ADD | BPF_X, d, s, 0, 0)
#define SUB64_REG(d, s) INSN(BPF_ALU64 | BPF_SUB | BPF_X, d, s, 0, 0)
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define LDX_DW(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define STX_DW(d, s, o) INSN(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define ST_W(d, o, i) INSN(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define ST_H(d, o, i) INSN(BPF_ST | BPF_MEM | BPF_H, d, 0, o, i)
#define ST_B(d, o, i) INSN(BPF_ST | BPF_MEM | BPF_B, d, 0, o, i)
#define JGT_REG(d, s, o) INSN(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
#define JEQ_IMM(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
// 64-bit immediate load of a map fd: two instruction slots.
#define LD_MAP_FD(d, fd) INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

// struct xdp_md offsets
enum { MD_DATA = 0, MD_DATA_END = 4 };

static int load_prog(const struct bpf_insn *insns, size_t n, const char *name) {
  static char log[65536];
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof log, .log_level = 1);
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, n, &opts);
  if (fd < 0) die("load %s: %s\n%s", name, strerror(errno), log);
  return fd;
}

static int prog_return(int action, const char *name) {
  struct bpf_insn p[] = {MOV64_IMM(BPF_REG_0, action), EXIT()};
  return load_prog(p, sizeof p / sizeof p[0], name);
}

static uint32_t le32(const uint8_t *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }
static uint16_t le16(const uint8_t *b) { return b[0] | b[1] << 8; }

// The generator's program: rewrite the frame's first bytes (headers) from
// immediates, then XDP_TX. Why rewrite: live-frame pages are initialised once
// and recycled through a page pool; a DUT that forwards in place (kernel
// ip_forward, an XDP redirect with MAC rewrite) edits the Ethernet and IP
// headers of that very page, and without this the next send of the page goes
// out addressed to the sink's MAC with a decremented TTL (seen: the DUT's
// ip_rcv dropping them as OTHERHOST).
enum { GEN_REWRITE_MAX = 64 };
static int prog_gen(const uint8_t *frame, size_t len) {
  struct bpf_insn p[8 + GEN_REWRITE_MAX / 4 + 2];
  size_t n = 0, w = len < GEN_REWRITE_MAX ? len : GEN_REWRITE_MAX, i = 0;
  p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, MD_DATA);
  p[n++] = LDX_W(BPF_REG_3, BPF_REG_1, MD_DATA_END);
  p[n++] = MOV64_REG(BPF_REG_4, BPF_REG_2);
  p[n++] = ADD64_IMM(BPF_REG_4, (int32_t)w);
  size_t jmp = n++;  // patched below: skip the stores if the frame is short
  for (; i + 4 <= w; i += 4) p[n++] = ST_W(BPF_REG_2, (int16_t)i, (int32_t)le32(frame + i));
  if (i + 2 <= w) p[n++] = ST_H(BPF_REG_2, (int16_t)i, le16(frame + i)), i += 2;
  if (i < w) p[n++] = ST_B(BPF_REG_2, (int16_t)i, frame[i]);
  p[jmp] = JGT_REG(BPF_REG_4, BPF_REG_3, (int16_t)(n - jmp - 1));
  p[n++] = MOV64_IMM(BPF_REG_0, XDP_TX);
  p[n++] = EXIT();
  return load_prog(p, n, "lcpb_gen");
}

// Count packets and bytes in a one-slot per-CPU array, then drop: the sink
// pays a few tens of ns per packet instead of a trip through its IP stack.
static int prog_sink(void) {
  int map = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "lcpb_sink", 4, 16, 1, NULL);
  if (map < 0) die("map create: %s", strerror(errno));
  struct bpf_insn p[] = {
      LDX_W(BPF_REG_6, BPF_REG_1, MD_DATA),      // r6 = data
      LDX_W(BPF_REG_7, BPF_REG_1, MD_DATA_END),  // r7 = data_end
      SUB64_REG(BPF_REG_7, BPF_REG_6),           // r7 = length (scalar now)
      ST_W(BPF_REG_10, -4, 0),                   // key = 0
      MOV64_REG(BPF_REG_2, BPF_REG_10),
      ADD64_IMM(BPF_REG_2, -4),
      LD_MAP_FD(BPF_REG_1, map),
      CALL(BPF_FUNC_map_lookup_elem),
      JEQ_IMM(BPF_REG_0, 0, 6),  // -> drop
      LDX_DW(BPF_REG_1, BPF_REG_0, 0),
      ADD64_IMM(BPF_REG_1, 1),
      STX_DW(BPF_REG_0, BPF_REG_1, 0),  // packets++ (per CPU: no atomics)
      LDX_DW(BPF_REG_1, BPF_REG_0, 8),
      ADD64_REG(BPF_REG_1, BPF_REG_7),
      STX_DW(BPF_REG_0, BPF_REG_1, 8),  // bytes += length
      MOV64_IMM(BPF_REG_0, XDP_DROP),
      EXIT(),
  };
  int fd = load_prog(p, sizeof p / sizeof p[0], "lcpb_sink");
  close(map);  // the program holds its own reference
  return fd;
}


// bpf_redirect(out) with an optional MAC rewrite, so frames reach the sink
// addressed to it, like a router's. No TTL or checksum work: this is the
// machine's upper bound, not a router.
static int prog_redirect(int out_ifindex, const uint8_t *dst, const uint8_t *src) {
  struct bpf_insn p[24];
  size_t n = 0;
  if (dst && src) {
    p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, MD_DATA);
    p[n++] = LDX_W(BPF_REG_3, BPF_REG_1, MD_DATA_END);
    p[n++] = MOV64_REG(BPF_REG_4, BPF_REG_2);
    p[n++] = ADD64_IMM(BPF_REG_4, 12);
    p[n++] = JGT_REG(BPF_REG_4, BPF_REG_3, 4);  // short frame: skip rewrite
    p[n++] = ST_W(BPF_REG_2, 0, (int32_t)le32(dst));
    p[n++] = ST_H(BPF_REG_2, 4, le16(dst + 4));
    p[n++] = ST_W(BPF_REG_2, 6, (int32_t)le32(src));
    p[n++] = ST_H(BPF_REG_2, 10, le16(src + 4));
  }
  p[n++] = MOV64_IMM(BPF_REG_1, out_ifindex);
  p[n++] = MOV64_IMM(BPF_REG_2, 0);
  p[n++] = CALL(BPF_FUNC_redirect);
  p[n++] = EXIT();
  return load_prog(p, n, "lcpb_redirect");
}

// ---- arguments --------------------------------------------------------------
struct args {
  const char *netns, *dev, *to, *frame_hex, *dst_mac, *src_mac;
  double seconds;
  long long count;
  int batch, cpu;
};

static void parse(int argc, char **argv, struct args *a) {
  *a = (struct args){.seconds = 3, .count = 0, .batch = 64, .cpu = -1};
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i];
    if (i + 1 >= argc) die("missing value for %s", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--netns")) a->netns = v;
    else if (!strcmp(k, "--dev")) a->dev = v;
    else if (!strcmp(k, "--to")) a->to = v;
    else if (!strcmp(k, "--frame")) a->frame_hex = v;
    else if (!strcmp(k, "--dst-mac")) a->dst_mac = v;
    else if (!strcmp(k, "--src-mac")) a->src_mac = v;
    else if (!strcmp(k, "--seconds")) a->seconds = atof(v);
    else if (!strcmp(k, "--count")) a->count = atoll(v);
    else if (!strcmp(k, "--batch")) a->batch = atoi(v);
    else if (!strcmp(k, "--cpu")) a->cpu = atoi(v);
    else die("unknown option %s", k);
  }
  if (!a->dev) die("--dev is required");
}

static void enter_netns(const char *name) {
  if (!name) return;
  char path[256];
  snprintf(path, sizeof path, "/run/netns/%s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  if (setns(fd, CLONE_NEWNET) < 0) die("setns %s: %s", name, strerror(errno));
  close(fd);
}

static int ifindex_of(const char *dev) {
  int i = (int)if_nametoindex(dev);
  if (!i) die("no such device %s: %s", dev, strerror(errno));
  return i;
}

static size_t parse_hex(const char *hex, uint8_t *out, size_t max) {
  size_t n = strlen(hex);
  if (n % 2 || n / 2 > max) die("bad frame hex (length %zu)", n);
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) die("bad frame hex at %zu", 2 * i);
    out[i] = (uint8_t)v;
  }
  return n / 2;
}

static void parse_mac(const char *s, uint8_t *m) {
  unsigned b[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) die("bad MAC %s", s);
  for (int i = 0; i < 6; i++) m[i] = (uint8_t)b[i];
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void attach(int ifindex, int fd, const char *what) {
  if (bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL) < 0) die("attach %s: %s", what, strerror(errno));
}

// ---- subcommands ------------------------------------------------------------
static int cmd_gen(const struct args *a) {
  static uint8_t frame[4096];
  if (!a->frame_hex) die("--frame is required");
  size_t len = parse_hex(a->frame_hex, frame, sizeof frame);
  if (a->cpu >= 0) {
    // Pin, so the DUT can be given the other core and the two never share one.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(a->cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) die("affinity: %s", strerror(errno));
  }
  int ifindex = ifindex_of(a->dev);
  int prog = prog_gen(frame, len);
  // ingress_ifindex is the device XDP_TX "bounces" the frame out of; the
  // kernel requires data_end == frame size and nothing before data.
  struct xdp_md ctx = {.data = 0, .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex};
  long long sent = 0;
  int repeat = 1 << 16;
  double t0 = now(), t = t0;
  for (;;) {
    int r = repeat;
    if (a->count > 0 && a->count - sent < r) r = (int)(a->count - sent);
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len, .ctx_in = &ctx,
                .ctx_size_in = sizeof ctx, .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = r,
                .batch_size = (uint32_t)a->batch);
    if (bpf_prog_test_run_opts(prog, &o) < 0) die("test_run: %s", strerror(errno));
    sent += r;
    double t1 = now();
    // Aim for ~50 ms per syscall: short enough to stop on time, long enough
    // that the syscall and the clock are noise.
    double per = (t1 - t) / r;
    t = t1;
    if (per > 0) {
      double want = 0.05 / per;
      repeat = want < 1024 ? 1024 : want > (1 << 24) ? (1 << 24) : (int)want;
    }
    if (a->count > 0 ? sent >= a->count : t - t0 >= a->seconds) break;
  }
  double secs = t - t0;
  printf("{\"sent\":%lld,\"seconds\":%.6f,\"pps\":%.0f,\"frame_bytes\":%zu}\n", sent, secs, sent / secs, len);
  return 0;
}

static int cmd_count(const struct args *a) {
  int ifindex = ifindex_of(a->dev);
  __u32 prog_id = 0;
  if (bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &prog_id) < 0 || !prog_id) die("no XDP program on %s", a->dev);
  int prog = bpf_prog_get_fd_by_id(prog_id);
  if (prog < 0) die("prog by id: %s", strerror(errno));
  __u32 map_ids[1] = {0};
  struct bpf_prog_info info = {.nr_map_ids = 1, .map_ids = (uint64_t)(uintptr_t)map_ids};
  __u32 ilen = sizeof info;
  if (bpf_obj_get_info_by_fd(prog, &info, &ilen) < 0) die("prog info: %s", strerror(errno));
  if (info.nr_map_ids < 1 || !map_ids[0]) die("XDP program on %s is not a sink", a->dev);
  int map = bpf_map_get_fd_by_id(map_ids[0]);
  if (map < 0) die("map by id: %s", strerror(errno));
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) die("possible cpus: %d", ncpu);
  uint64_t *v = calloc((size_t)ncpu * 2, sizeof *v);
  __u32 key = 0;
  if (bpf_map_lookup_elem(map, &key, v) < 0) die("lookup: %s", strerror(errno));
  uint64_t pk = 0, by = 0;
  for (int c = 0; c < ncpu; c++) pk += v[2 * c], by += v[2 * c + 1];
  printf("{\"packets\":%llu,\"bytes\":%llu}\n", (unsigned long long)pk, (unsigned long long)by);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: xdpgen gen|pass|sink|count|redirect|detach --netns NS --dev DEV ...");
  const char *cmd = argv[1];
  struct args a;
  parse(argc, argv, &a);
  enter_netns(a.netns);
  if (!strcmp(cmd, "gen")) return cmd_gen(&a);
  if (!strcmp(cmd, "count")) return cmd_count(&a);
  int ifindex = ifindex_of(a.dev);
  if (!strcmp(cmd, "pass")) {
    attach(ifindex, prog_return(XDP_PASS, "lcpb_pass"), "pass");
  } else if (!strcmp(cmd, "sink")) {
    attach(ifindex, prog_sink(), "sink");
  } else if (!strcmp(cmd, "redirect")) {
    if (!a.to) die("--to is required");
    uint8_t dst[6], src[6];
    int rewrite = a.dst_mac && a.src_mac;
    if (rewrite) parse_mac(a.dst_mac, dst), parse_mac(a.src_mac, src);
    attach(ifindex, prog_redirect(ifindex_of(a.to), rewrite ? dst : NULL, rewrite ? src : NULL), "redirect");
  } else if (!strcmp(cmd, "detach")) {
    if (bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL) < 0) die("detach: %s", strerror(errno));
  } else {
    die("unknown subcommand %s", cmd);
  }
  printf("{\"ok\":true}\n");
  return 0;
}
