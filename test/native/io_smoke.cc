// Smoke test of native/src/io on real netns + veth + TAP/TUN. Run as root:
//   g++ -std=c++20 -O2 -Inative/src test/native/io_smoke.cc native/src/io/*.cc
//       -lmnl -lbpf -lpthread -o /tmp/io_smoke && /tmp/io_smoke
// Everything it makes is named lcpio-* and removed at the end (and at start).
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>
#include <atomic>
#include <thread>
#include <memory>

#include "io/af_packet.h"
#include "io/af_xdp.h"
#include "io/kernel_guard.h"
#include "io/mirror.h"
#include "io/netlink.h"
#include "io/netns.h"

using namespace lcp;
using namespace lcp::io;

static int passed = 0, failed = 0;
static void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  (ok ? passed : failed)++;
}
static int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }
static std::string sh_out(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  char buf[512];
  while (f && fgets(buf, sizeof buf, f)) out += buf;
  if (f) pclose(f);
  return out;
}
template <class F> static int expect_errno(F f) {
  try { f(); } catch (const IoError& e) { std::printf("     (%s)\n", e.what()); return e.err(); }
  return 0;
}

const char* A = "lcpio-a";
const char* B = "lcpio-b";
constexpr uint16_t kType = 0x88b5;  // IEEE local experimental ethertype

static void cleanup() {
  sh(std::string("ip netns del ") + A);
  sh(std::string("ip netns del ") + B);
}

static void setup() {
  cleanup();
  sh(std::string("ip netns add ") + A);
  sh(std::string("ip netns add ") + B);
  for (int i = 0; i < 2; ++i) {
    std::string p = "lcpio-p" + std::to_string(i), q = "lcpio-q" + std::to_string(i);
    sh("ip -n " + std::string(A) + " link add " + p + " type veth peer name " + q + " netns " + B);
    sh("ip -n " + std::string(A) + " addr add 10.77." + std::to_string(i) + ".1/24 dev " + p);
    sh("ip -n " + std::string(B) + " addr add 10.77." + std::to_string(i) + ".2/24 dev " + q);
    sh("ip -n " + std::string(A) + " link set " + p + " up");
    sh("ip -n " + std::string(B) + " link set " + q + " up");
  }
}

// A raw socket on the peer end, in netns B.
struct Peer {
  UniqueFd fd;
  int ifindex = 0;
  std::array<uint8_t, 6> mac{};
  explicit Peer(const std::string& ifname) {
    NetnsGuard ns(B);
    Netlink nl("B");
    auto l = nl.get_link(ifname);
    ifindex = l.info.ifindex;
    mac = l.info.mac;
    fd.reset(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(kType)));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(kType);
    sll.sll_ifindex = ifindex;
    bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll);
    int one = 1, rcvbuf = 8 << 20;
    setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  }
  void send_frame(const std::vector<uint8_t>& f) { send(fd.get(), f.data(), f.size(), 0); }
  // Count frames of our type with the marker within `ms`.
  int recv_count(int want, int ms, const std::string& marker) {
    int n = 0;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (n < want && std::chrono::steady_clock::now() < end) {
      pollfd p{fd.get(), POLLIN, 0};
      poll(&p, 1, 10);
      uint8_t buf[2048];
      ssize_t r;
      while ((r = recv(fd.get(), buf, sizeof buf, 0)) > 0)
        if (r > 20 && std::memcmp(buf + 14, marker.data(), marker.size()) == 0) ++n;
    }
    return n;
  }
};

static std::vector<uint8_t> frame(const std::array<uint8_t, 6>& dst, const std::array<uint8_t, 6>& src,
                                  const std::string& payload) {
  std::vector<uint8_t> f(14);
  std::memcpy(f.data(), dst.data(), 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  f[12] = kType >> 8, f[13] = kType & 0xff;
  f.insert(f.end(), payload.begin(), payload.end());
  f.resize(std::max<size_t>(f.size(), 60));
  return f;
}

// Poll an RxQueue until `want` buffers or timeout; keeps those `keep` accepts.
static std::vector<Buffer*> rx_until(BufferPool& pool, std::function<uint32_t(Buffer**, uint32_t)> burst,
                                     int fd, size_t want, int ms, std::function<bool(const Buffer*)> keep) {
  std::vector<Buffer*> got;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  Buffer* b[64];
  while (got.size() < want && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 10);
    uint32_t n = burst(b, 64);
    for (uint32_t i = 0; i < n; ++i) {
      if (keep(b[i])) got.push_back(b[i]);
      else pool.free(b[i]);
    }
  }
  return got;
}

static bool has_marker(const Buffer* b, const std::string& m) {
  return b->length > 14 + m.size() && b->data()[12] == (kType >> 8) && b->data()[13] == (kType & 0xff) &&
         std::memcmp(b->data() + 14, m.data(), m.size()) == 0;
}

static uint16_t csum(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (; n > 1; p += 2, n -= 2) acc += (p[0] << 8) | p[1];
  if (n) acc += p[0] << 8;
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

// A UDP/IPv4 datagram in an Ethernet frame whose L4 checksum verifies.
static bool udp4_csum_ok(const Buffer* b) {
  const uint8_t* ip = b->data() + 14;
  size_t ihl = (ip[0] & 15) * 4, ulen = (ip[ihl + 4] << 8) | ip[ihl + 5];
  uint32_t pseudo = csum(ip + 12, 8) + 17 + ulen;
  return csum(ip + ihl, ulen, pseudo) == 0xffff;
}

static std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::string s;
  std::getline(f, s);
  return s;
}

// ICMP echo from netns B (no ping binary on the box): true if answered in 1 s.
static bool ping(const std::string& ip) {
  NetnsGuard ns(B);
  UniqueFd fd(socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
  static uint16_t seq = 0;
  uint8_t req[16] = {8, 0, 0, 0, 0x4c, 0x43, 0, 0};
  req[6] = uint8_t(++seq >> 8), req[7] = uint8_t(seq);
  uint16_t c = ~csum(req, sizeof req);
  req[2] = c >> 8, req[3] = c;
  sendto(fd.get(), req, sizeof req, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd.get(), POLLIN, 0};
    poll(&p, 1, 20);
    uint8_t buf[1500];
    ssize_t n;
    while ((n = recv(fd.get(), buf, sizeof buf, 0)) > 0) {
      size_t ihl = (buf[0] & 15) * 4;
      if (n >= ssize_t(ihl + 8) && buf[ihl] == 0 && buf[ihl + 4] == 0x4c && buf[ihl + 5] == 0x43 &&
          buf[ihl + 6] == req[6] && buf[ihl + 7] == req[7])
        return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------

static void test_netns() {
  for (std::string bad : std::vector<std::string>{"", ".", "..", "../etc", "a/b", "x y", std::string(65, 'a')})
    check(expect_errno([&] { validate_netns_name(bad); }) == EINVAL, "netns name '" + bad.substr(0, 10) + "' refused");
  int e = 0;
  try { NetnsGuard g("lcpio-missing"); } catch (const IoError& x) {
    e = x.err();
    check(std::string(x.what()) == "enter netns: netns 'lcpio-missing': No such file or directory", "netns error message names the netns");
  }
  check(e == ENOENT, "missing netns -> ENOENT");
  std::string before = read_file("/proc/thread-self/ns/net");
  std::string here = sh_out("readlink /proc/self/ns/net");
  {
    NetnsGuard g(A);
    check(if_nametoindex("lcpio-p0") != 0, "inside netns guard the netns' links are visible");
  }
  check(if_nametoindex("lcpio-p0") == 0, "after the guard the thread is back home");
  (void)before; (void)here;
}

static void test_netlink() {
  NetnsGuard ns(A);
  Netlink nl("netns 'lcpio-a'");
  auto l = nl.get_link("lcpio-p0");
  check(l.info.ifindex > 0 && !l.info.p2p && l.kind == "veth", "get_link: veth found, ethernet");
  nl.set_mtu("lcpio-p0", 1400);
  check(nl.get_link("lcpio-p0").info.mtu == 1400, "set_mtu");
  nl.set_mtu("lcpio-p0", 1500);
  std::array<uint8_t, 6> mac{0x02, 0, 0, 0x77, 0, 0x10};
  nl.set_mac("lcpio-p0", mac);
  check(nl.get_link("lcpio-p0").info.mac == mac, "set_mac");
  nl.set_alias("lcpio-p0", "hello");
  check(nl.get_alias("lcpio-p0") == "hello", "set/get ifalias");
  nl.set_alias("lcpio-p0", "");
  check(nl.get_alias("lcpio-p0").empty(), "clear ifalias");
  nl.set_promisc("lcpio-p0", true);
  check(nl.get_link("lcpio-p0").flags & IFF_PROMISC, "set promisc");
  nl.set_promisc("lcpio-p0", false);
  check(expect_errno([&] { nl.get_link("lcpio-nope"); }) == ENODEV, "get_link of missing -> ENODEV");
  check(expect_errno([&] { nl.set_mtu("lcpio-p0", 10); }) == EINVAL, "kernel error decoded (mtu 10 -> EINVAL)");
  sh("ip link add lcpio-dx type veth peer name lcpio-dy");
  nl.delete_link("lcpio-dx");
  check(!nl.find_link("lcpio-dx"), "delete_link");
}

static void test_af_packet() {
  const std::string v6 = "/proc/sys/net/ipv6/conf/lcpio-p0/disable_ipv6";
  Peer peer("lcpio-q0");
  BufferPool pool(1024);
  check(ping("10.77.0.1"), "before the port is opened, the kernel answers ping");
  {
    AfPacketPort port(A, "lcpio-p0");
    check(port.link().ifindex > 0 && !port.link().p2p && port.driver() == PortDriver::AfPacket, "af_packet port opened");
    {
      NetnsGuard ns(A);
      check(read_file(v6) == "1", "ipv6 disabled on the port while owned");
      check(sh_out("tc filter show dev lcpio-p0 ingress").find("lcp_port_drop") != std::string::npos, "tc ingress drop attached");
    }
    auto& rx = port.rx();
    // Drain whatever the kernel had queued before.
    rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), 1 << 30, 50, [](auto) { return false; });

    sh(std::string("ip -n ") + B + " neigh flush dev lcpio-q0");  // so the peer must ARP
    check(!ping("10.77.0.1"), "guarded port: kernel does not answer ping/ARP");
    auto arps = rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), 1, 500,
                         [](const Buffer* b) { return b->data()[12] == 0x08 && b->data()[13] == 0x06; });
    check(!arps.empty(), "guarded port: AF_PACKET still sees the ARP requests");
    pool.free_burst(arps.data(), arps.size());

    const int N = 200;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < N; ++i) peer.send_frame(frame(port.link().mac, peer.mac, "lcpio-rx " + std::to_string(i)));
    auto got = rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), N, 2000,
                        [](const Buffer* b) { return has_marker(b, "lcpio-rx"); });
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    bool in_order = got.size() == size_t(N);
    for (size_t i = 0; in_order && i < got.size(); ++i)
      in_order = has_marker(got[i], "lcpio-rx " + std::to_string(i));
    check(in_order, "af_packet rx: " + std::to_string(got.size()) + "/" + std::to_string(N) + " frames, in order (" + std::to_string(us) + " us)");
    pool.free_burst(got.data(), got.size());

    // One frame, latency through the 1 ms block timeout.
    t0 = std::chrono::steady_clock::now();
    peer.send_frame(frame(port.link().mac, peer.mac, "lcpio-rx one"));
    got = rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), 1, 1000,
                   [](const Buffer* b) { return has_marker(b, "lcpio-rx one"); });
    us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    check(got.size() == 1 && us < 20000, "af_packet rx: a lone frame arrives in " + std::to_string(us) + " us");
    pool.free_burst(got.data(), got.size());

    // UDP from the peer's stack: veth hands it over with a partial checksum.
    sh(std::string("ip -n ") + B + " neigh replace 10.77.0.1 lladdr " +
       sh_out("ip -n lcpio-a -br link show lcpio-p0 | awk '{printf $3}'") + " dev lcpio-q0");
    sh(std::string("ip netns exec ") + B + " bash -c 'echo hello-udp > /dev/udp/10.77.0.1/9999'");
    got = rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), 1, 1000,
                   [](const Buffer* b) { return b->length > 42 && b->data()[12] == 8 && b->data()[13] == 0 && b->data()[23] == 17; });
    check(got.size() == 1 && udp4_csum_ok(got[0]), "af_packet rx: UDP from the peer stack has a complete checksum (fixed: " +
          std::to_string(port.af_rx().stats().csum_fixed) + ")");
    pool.free_burst(got.data(), got.size());

    auto tx = port.open_tx();
    std::vector<Buffer*> out;
    for (int i = 0; i < N; ++i) {
      Buffer* b = pool.alloc();
      auto f = frame(peer.mac, port.link().mac, "lcpio-tx " + std::to_string(i));
      std::memcpy(b->data(), f.data(), f.size());
      b->length = f.size();
      out.push_back(b);
    }
    uint32_t sent = 0;
    for (int i = 0; i < N; i += 64) {
      uint32_t n = std::min(64, N - i);
      sent += tx->tx_burst(out.data() + i, n);
      tx->flush();
    }
    pool.free_burst(out.data(), out.size());
    int arrived = peer.recv_count(N, 2000, "lcpio-tx");
    check(sent == uint32_t(N) && arrived == N, "af_packet tx: " + std::to_string(arrived) + "/" + std::to_string(N) + " frames arrive at the peer");
    auto st = port.af_rx().stats();
    std::printf("     rx stats: packets %lu oversize %lu csum_fixed %lu kernel_drops %lu\n", st.packets, st.oversize, st.csum_fixed, st.kernel_drops);
  }
  {
    NetnsGuard ns(A);
    check(read_file(v6) == "0", "port closed: disable_ipv6 restored");
    check(sh_out("tc qdisc show dev lcpio-p0").find("clsact") == std::string::npos, "port closed: clsact qdisc removed");
  }
  check(ping("10.77.0.1"), "port closed: the kernel answers ping again");
  check(pool.available() == pool.capacity(), "no buffer leaked");
}

static void test_af_xdp() {
  Peer peer("lcpio-q1");
  BufferPool pool(1024);
  check(ping("10.77.1.1"), "before the xdp port is opened, the kernel answers ping");
  {
    AfXdpPort port(A, "lcpio-p1");
    auto s0 = port.stats();
    check(port.driver() == PortDriver::AfXdp, std::string("af_xdp port opened (") + (s0.native_xdp ? "native" : "skb") +
          " xdp, need_wakeup " + (s0.need_wakeup ? "yes" : "no") + ")");
    auto& rx = port.rx();
    check(!ping("10.77.1.1"), "xdp port: kernel does not answer ping");
    const int N = 200;
    for (int i = 0; i < N; ++i) peer.send_frame(frame(port.link().mac, peer.mac, "lcpio-rx " + std::to_string(i)));
    auto got = rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), N, 2000,
                        [](const Buffer* b) { return has_marker(b, "lcpio-rx"); });
    bool in_order = got.size() == size_t(N);
    for (size_t i = 0; in_order && i < got.size(); ++i) in_order = has_marker(got[i], "lcpio-rx " + std::to_string(i));
    check(in_order, "af_xdp rx: " + std::to_string(got.size()) + "/" + std::to_string(N) + " frames, in order");
    pool.free_burst(got.data(), got.size());

    // More than the RX ring holds, in bursts: the fill ring must be refilled.
    int sent_more = 0, got_more = 0;
    for (int round = 0; round < 8; ++round) {
      for (int i = 0; i < 500; ++i, ++sent_more) peer.send_frame(frame(port.link().mac, peer.mac, "lcpio-bulk"));
      auto g = rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), 500, 1000,
                        [](const Buffer* b) { return has_marker(b, "lcpio-bulk"); });
      got_more += g.size();
      pool.free_burst(g.data(), g.size());
    }
    check(got_more == sent_more, "af_xdp rx: " + std::to_string(got_more) + "/" + std::to_string(sent_more) + " frames across fill-ring refills");

    // UDP from the peer's stack (partial checksum on veth): does XDP see it complete?
    sh(std::string("ip -n ") + B + " neigh replace 10.77.1.1 lladdr " +
       sh_out("ip -n lcpio-a -br link show lcpio-p1 | awk '{printf $3}'") + " dev lcpio-q1");
    sh(std::string("ip netns exec ") + B + " bash -c 'echo hello-udp > /dev/udp/10.77.1.1/9999'");
    got = rx_until(pool, [&](Buffer** b, uint32_t m) { return rx.rx_burst(pool, b, m); }, rx.fd(), 1, 1000,
                   [](const Buffer* b) { return b->length > 42 && b->data()[12] == 8 && b->data()[13] == 0 && b->data()[23] == 17; });
    check(got.size() == 1 && udp4_csum_ok(got[0]), "af_xdp rx: UDP from the peer stack has a complete checksum (fixed: " +
          std::to_string(port.stats().rx_csum_fixed) + ")");
    pool.free_burst(got.data(), got.size());

    auto tx1 = port.open_tx();
    auto tx2 = port.open_tx();
    std::vector<Buffer*> out;
    for (int i = 0; i < 2 * N; ++i) {
      Buffer* b = pool.alloc();
      auto f = frame(peer.mac, port.link().mac, "lcpio-tx " + std::to_string(i));
      std::memcpy(b->data(), f.data(), f.size());
      b->length = f.size();
      out.push_back(b);
    }
    uint32_t sent = 0;
    for (int i = 0; i < 2 * N; i += 100) {
      TxQueue& q = (i / 100) % 2 ? *tx2 : *tx1;
      sent += q.tx_burst(out.data() + i, 100);
      q.flush();
    }
    pool.free_burst(out.data(), out.size());
    int arrived = peer.recv_count(2 * N, 2000, "lcpio-tx");
    check(sent == uint32_t(2 * N) && arrived == 2 * N, "af_xdp tx (two TxQueues): " + std::to_string(arrived) + "/" + std::to_string(2 * N) + " frames arrive");
    auto st = port.stats();
    std::printf("     stats: rx %lu tx %lu ring_full %lu kernel rx_dropped %lu fill_empty %lu\n", st.rx_packets, st.tx_packets,
                st.tx_ring_full, st.kernel_rx_dropped, st.kernel_fill_empty);
    {
      NetnsGuard ns(A);
      check(sh_out("ip link show dev lcpio-p1").find("xdp") != std::string::npos, "xdp program attached while open");
    }
    tx1.reset();
  }
  {
    NetnsGuard ns(A);
    check(sh_out("ip link show dev lcpio-p1").find("xdp") == std::string::npos, "xdp port closed: program detached");
  }
  check(ping("10.77.1.1"), "xdp port closed: the kernel answers ping again");
  check(pool.available() == pool.capacity(), "no buffer leaked");
}

static std::vector<uint8_t> arp_request(const std::array<uint8_t, 6>& src, const char* sip, const char* tip) {
  std::vector<uint8_t> f(42, 0);
  std::memset(f.data(), 0xff, 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  f[12] = 0x08, f[13] = 0x06;
  uint8_t* a = f.data() + 14;
  a[1] = 1, a[2] = 0x08, a[4] = 6, a[5] = 4, a[7] = 1;  // ether, ipv4, request
  std::memcpy(a + 8, src.data(), 6);
  inet_pton(AF_INET, sip, a + 14);
  inet_pton(AF_INET, tip, a + 24);
  f.resize(60);
  return f;
}

static std::vector<uint8_t> icmp_echo(const char* src, const char* dst) {
  std::vector<uint8_t> p(28 + 8, 0);
  p[0] = 0x45, p[3] = p.size(), p[8] = 64, p[9] = 1;
  inet_pton(AF_INET, src, p.data() + 12);
  inet_pton(AF_INET, dst, p.data() + 16);
  uint16_t c = ~csum(p.data(), 20);
  p[10] = c >> 8, p[11] = c;
  p[20] = 8, p[24] = 0x12, p[26] = 1;  // echo request id 0x1200 seq 1
  std::memcpy(p.data() + 28, "lcpioabc", 8);
  c = ~csum(p.data() + 20, 16);
  p[22] = c >> 8, p[23] = c;
  return p;
}

static Buffer* to_buf(BufferPool& pool, const std::vector<uint8_t>& d) {
  Buffer* b = pool.alloc();
  std::memcpy(b->data(), d.data(), d.size());
  b->length = d.size();
  return b;
}

static void test_mirror() {
  BufferPool pool(256);
  std::array<uint8_t, 6> mac{0x02, 0, 0, 0x78, 0, 1};
  MirrorSpec tap{.name = "lcpio-tap0", .netns = A, .kind = MirrorKind::Tap, .owner_tag = "smoke", .mtu = 1400, .mac = mac};
  {
    Mirror m(tap);
    check(!m.adopted() && m.link().mac == mac && m.link().mtu == 1400 && m.link().up, "tap created with mac, mtu, up");
    sh(std::string("ip -n ") + A + " addr add 10.78.0.1/24 dev lcpio-tap0");
    {
      NetnsGuard ns(A);
      Netlink nl("A");
      auto d = nl.get_link("lcpio-tap0");
      check(d.alias == "kube-lcp:smoke" && (d.flags & IFF_PROMISC), "tap marked ours (ifalias) and promiscuous");
    }
    // Inject an ARP request into Linux; Linux answers on the tap.
    std::array<uint8_t, 6> peer{0x02, 0, 0, 0x78, 0, 2};
    Buffer* b = to_buf(pool, arp_request(peer, "10.78.0.2", "10.78.0.1"));
    check(m.tx_burst(&b, 1) == 1, "tap tx_burst: ARP request written");
    pool.free(b);
    auto got = rx_until(pool, [&](Buffer** o, uint32_t n) { return m.rx_burst(pool, o, n); }, m.fd(), 1, 1000,
                        [&](const Buffer* r) { return r->length >= 42 && r->data()[13] == 0x06 && r->data()[21] == 2 &&
                                                       std::memcmp(r->data(), peer.data(), 6) == 0; });
    check(got.size() == 1, "tap rx_burst: Linux's ARP reply read back");
    pool.free_burst(got.data(), got.size());
  }
  check(sh(std::string("ip -n ") + A + " link show lcpio-tap0") == 0, "closing without destroy(): the tap persists");
  {
    Mirror m(tap);
    check(m.adopted(), "re-open: adopted");
    check(sh_out(std::string("ip -n ") + A + " -br addr show lcpio-tap0").find("10.78.0.1/24") != std::string::npos,
          "adopted tap kept its Linux address");
    MirrorSpec tun = tap;
    tun.kind = MirrorKind::Tun;
    tun.mac.reset();
    check(expect_errno([&] { Mirror x(tun); }) == EEXIST, "a tun spec on our tap's name -> EEXIST");
    MirrorSpec other = tap;
    other.owner_tag = "someone-else";
    check(expect_errno([&] { Mirror x(other); }) == EEXIST, "another owner's tap -> EEXIST");
  }
  // A foreign TAP: same kind as ours, but without our marker.
  sh(std::string("ip -n ") + A + " tuntap add lcpio-dum0 mode tap");
  MirrorSpec taken{.name = "lcpio-dum0", .netns = A, .owner_tag = "smoke"};
  int e = 0;
  try { Mirror x(taken); } catch (const IoError& x) {
    e = x.err();
    std::printf("     (%s)\n", x.what());
  }
  check(e == EEXIST, "a name taken by a foreign device -> EEXIST");
  check(sh_out(std::string("ip -n ") + A + " link show lcpio-dum0").find("alias") == std::string::npos, "the foreign device was not touched");
  check(expect_errno([&] { Mirror x(MirrorSpec{.name = "lcpio-much-too-long", .netns = A}); }) == EINVAL, "16-char name -> EINVAL");
  check(expect_errno([&] { Mirror x(MirrorSpec{.name = "lcpio-t", .netns = "../../etc"}); }) == EINVAL, "bad netns name -> EINVAL");

  // TUN: point-to-point, raw IP both ways.
  MirrorSpec tunspec{.name = "lcpio-tun0", .netns = A, .kind = MirrorKind::Tun, .owner_tag = "smoke"};
  {
    Mirror t(tunspec);
    check(!t.adopted() && t.link().p2p, "tun created, point-to-point");
    sh(std::string("ip -n ") + A + " addr add 10.79.0.1/24 dev lcpio-tun0");
    Buffer* b = to_buf(pool, icmp_echo("10.79.0.2", "10.79.0.1"));
    check(t.tx_burst(&b, 1) == 1, "tun tx_burst: echo request written");
    pool.free(b);
    auto got = rx_until(pool, [&](Buffer** o, uint32_t n) { return t.rx_burst(pool, o, n); }, t.fd(), 1, 1000,
                        [](const Buffer* r) { return r->length >= 28 && (r->data()[0] >> 4) == 4 && r->data()[9] == 1 && r->data()[20] == 0; });
    check(got.size() == 1, "tun rx_burst: Linux's echo reply read back (no L2 header)");
    pool.free_burst(got.data(), got.size());

    // Linux's own UDP to the tun: checksum arrives complete (offloads off).
    sh(std::string("ip netns exec ") + A + " bash -c 'echo hi > /dev/udp/10.79.0.2/9999'");
    got = rx_until(pool, [&](Buffer** o, uint32_t n) { return t.rx_burst(pool, o, n); }, t.fd(), 1, 1000,
                   [](const Buffer* r) { return r->length >= 28 && r->data()[9] == 17; });
    bool ok = false;
    if (got.size() == 1) {
      const uint8_t* ip = got[0]->data();
      size_t ulen = (ip[24] << 8) | ip[25];
      ok = csum(ip + 20, ulen, csum(ip + 12, 8) + 17 + ulen) == 0xffff;
    }
    check(ok, "tun rx_burst: UDP from Linux has a valid checksum (csum_fixed " + std::to_string(t.stats().csum_fixed) + ")");
    pool.free_burst(got.data(), got.size());

    // AF_PACKET port on an L3 device: no L2 header either way.
    AfPacketPort port(A, "lcpio-tun0");
    check(port.link().p2p, "af_packet on a tun: LinkInfo.p2p");
    b = to_buf(pool, icmp_echo("10.79.0.2", "10.79.0.9"));
    t.tx_burst(&b, 1);
    pool.free(b);
    got = rx_until(pool, [&](Buffer** o, uint32_t n) { return port.rx().rx_burst(pool, o, n); }, port.rx().fd(), 1, 1000,
                   [](const Buffer* r) { return r->length == 36 && r->data()[0] == 0x45; });
    check(got.size() == 1, "af_packet p2p rx: IP packet without L2 header");
    pool.free_burst(got.data(), got.size());
    auto tx = port.open_tx();
    b = to_buf(pool, icmp_echo("10.79.0.1", "10.79.0.7"));
    uint32_t n = tx->tx_burst(&b, 1);
    tx->flush();
    pool.free(b);
    got = rx_until(pool, [&](Buffer** o, uint32_t k) { return t.rx_burst(pool, o, k); }, t.fd(), 1, 1000,
                   [](const Buffer* r) { return r->length == 36 && r->data()[19] == 7; });
    check(n == 1 && got.size() == 1, "af_packet p2p tx: packet reaches the tun fd");
    pool.free_burst(got.data(), got.size());
  }

  auto owned = Mirror::list_owned(A);
  std::string names;
  for (auto& o : owned) names += o.name + " ";
  check(owned.size() == 2 && names.find("lcpio-tap0") != std::string::npos && names.find("lcpio-tun0") != std::string::npos,
        "list_owned: " + names);
  check(expect_errno([&] { Mirror::delete_owned(A, "lcpio-dum0"); }) == EPERM, "delete_owned refuses a foreign device");
  check(Mirror::delete_owned(A, "lcpio-tun0") && sh(std::string("ip -n ") + A + " link show lcpio-tun0") != 0, "delete_owned removes ours");
  {
    Mirror m(tap);
    m.destroy();
  }
  check(sh(std::string("ip -n ") + A + " link show lcpio-tap0") != 0, "destroy(): the tap is gone");
  check(pool.available() == pool.capacity(), "no buffer leaked");
}

// --bench: one TX thread on a port in A, one AF_PACKET RX port on its peer in B,
// 64 B frames for ~1 s. Small and short: the box is shared.
static void bench(bool xdp) {
  std::unique_ptr<PortIo> tx_port;
  if (xdp) tx_port = std::make_unique<AfXdpPort>(A, "lcpio-p1");
  else tx_port = std::make_unique<AfPacketPort>(A, "lcpio-p0");
  AfPacketPort rx_port(B, xdp ? "lcpio-q1" : "lcpio-q0");
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rxn{0};
  std::thread rx([&] {
    BufferPool pool(512);
    Buffer* b[256];
    while (!stop) {
      pollfd p{rx_port.rx().fd(), POLLIN, 0};
      poll(&p, 1, 5);
      uint32_t n;
      while ((n = rx_port.rx().rx_burst(pool, b, 256))) {
        rxn += n;
        pool.free_burst(b, n);
      }
    }
  });
  BufferPool pool(256);
  Buffer* out[64];
  pool.alloc_burst(out, 64);
  auto f = frame(rx_port.link().mac, tx_port->link().mac, "lcpio-bench");
  for (auto* b : out) { std::memcpy(b->data(), f.data(), f.size()); b->length = f.size(); }
  auto tx = tx_port->open_tx();
  uint64_t sent = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1)) {
    sent += tx->tx_burst(out, 64);
    tx->flush();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  rx.join();
  std::printf("bench %s tx -> af_packet rx: tx %.0f kpps, rx %.0f kpps (64 B)\n", xdp ? "af_xdp" : "af_packet",
              sent / secs / 1e3, rxn / secs / 1e3);
}

int main(int argc, char** argv) {
  setup();
  if (argc > 1 && std::string(argv[1]) == "--bench") {
    try { bench(false); bench(true); } catch (const std::exception& e) { std::printf("bench: %s\n", e.what()); }
    cleanup();
    return 0;
  }
  for (auto [name, fn] : std::initializer_list<std::pair<const char*, void (*)()>>{
           {"netns", test_netns}, {"netlink", test_netlink}, {"af_packet", test_af_packet},
           {"af_xdp", test_af_xdp}, {"mirror", test_mirror}}) {
    std::printf("== %s\n", name);
    try {
      fn();
    } catch (const std::exception& e) {
      check(false, std::string(name) + " threw: " + e.what());
    }
  }
  cleanup();
  check(sh("ip netns list | grep -q lcpio") != 0, "cleanup: no lcpio netns left");
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
