// Netlink sync checks without a kernel: messages the kernel really sent
// (test/native/fixtures/*.nl, captured bytes) through the parser and the
// mirror state machine, and what it emits for the dataplane.
//   nl_test FIXTURE_DIR   run the checks; last line "N passed, M failed"
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "linux_nl/messages.h"
#include "linux_nl/state.h"
#include "check.h"

using namespace lcp;
using namespace lcp::linux_nl;

namespace {

using test::check;
using test::g_failed;
using test::g_passed;

// Each message in its own 4-byte-aligned buffer, as recv() hands them over.
std::vector<std::vector<uint32_t>> load(const std::string& path) {
  std::vector<std::vector<uint32_t>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    unsigned type;
    std::string hex;
    f >> type >> hex;
    std::vector<uint32_t> buf((hex.size() / 2 + 3) / 4);
    auto* b = reinterpret_cast<uint8_t*>(buf.data());
    for (size_t i = 0; i + 1 < hex.size(); i += 2) b[i / 2] = uint8_t(std::stoul(hex.substr(i, 2), nullptr, 16));
    out.push_back(std::move(buf));
  }
  return out;
}
const nlmsghdr* hdr(const std::vector<uint32_t>& m) { return reinterpret_cast<const nlmsghdr*>(m.data()); }

// An RTM_NEWLINK for ifindex with the given flags (what a link-down event is).
std::vector<uint32_t> link_msg(int ifindex, uint32_t flags) {
  std::vector<uint32_t> buf((NLMSG_LENGTH(sizeof(ifinfomsg)) + 3) / 4);
  auto* n = reinterpret_cast<nlmsghdr*>(buf.data());
  n->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  n->nlmsg_type = RTM_NEWLINK;
  auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(n));
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = flags;
  return buf;
}

size_t count_ops(const std::vector<MirrorOp>& ops, MirrorOp::Kind k) {
  size_t n = 0;
  for (const MirrorOp& op : ops) n += op.kind == k;
  return n;
}
const MirrorOp* find_op(const std::vector<MirrorOp>& ops, MirrorOp::Kind k, uint64_t nexthop = 0) {
  for (const MirrorOp& op : ops)
    if (op.kind == k && (!nexthop || op.nexthop == nexthop)) return &op;
  return nullptr;
}

void test_nexthop_fixture(const std::string& dir) {
  const auto msgs = load(dir + "/nexthop.nl");
  check(msgs.size() == 9, "fixture: nine messages", std::to_string(msgs.size()));
  if (msgs.size() != 9) return;
  std::vector<NlMsg> parsed(msgs.size());
  bool all = true;
  for (size_t i = 0; i < msgs.size(); ++i) all = all && parse_message(hdr(msgs[i]), parsed[i]);
  check(all, "parse: every captured message parses");
  const NlNexthop& v4 = parsed[0].nexthop;
  check(parsed[0].kind == MsgKind::NewNexthop && v4.id == 1 && v4.ifindex == 3 && v4.has_gw &&
            fib::format_addr(v4.gw) == "10.9.0.2",
        "parse: a single IPv4 object (id, device, gateway)");
  check(parsed[1].nexthop.id == 2 && fib::format_addr(parsed[1].nexthop.gw) == "fe80::2", "parse: an IPv6 link-local object");
  check(parsed[2].nexthop.blackhole && parsed[2].nexthop.id == 3, "parse: a blackhole object");
  const NlNexthop& g = parsed[3].nexthop;
  check(g.is_group && g.id == 10 && g.group.size() == 2 && g.group[0].id == 1 && g.group[0].weight == 1 &&
            g.group[1].id == 2 && g.group[1].weight == 200 && !g.resilient,
        "parse: a group with weights (kept as the kernel's weight - 1 + 1)");
  check(parsed[4].nexthop.is_group && parsed[4].nexthop.resilient, "parse: a resilient group");
  const NlRoute& over = parsed[5].route;
  check(parsed[5].kind == MsgKind::NewRoute && over.nh_id == 10 && over.nhs.empty(),
        "parse: a route over an object, its compat-mode expansion ignored (nothing counted twice)");
  const NlRoute& via6 = parsed[6].route;
  check(via6.nhs.size() == 1 && via6.nhs[0].has_gw && fib::format_addr(via6.nhs[0].gw) == "fe80::3" && !via6.unsupported_nh,
        "parse: RTA_VIA inet6 on an IPv4 route is its gateway (RFC 8950)");
  check(parsed[7].route.unsupported_nh, "parse: an encap route is marked unsupported");
  check(parsed[8].kind == MsgKind::DelNexthop && parsed[8].nexthop.id == 10, "parse: an object deleted");

  MirrorOptions opts;
  opts.nexthop_space = 5;
  MirrorState st(opts);
  st.set_ports({MirrorPort{7, 3, "va", false}});
  const uint64_t space = uint64_t(5) << 32;
  for (size_t i = 0; i < 5; ++i) st.handle(parsed[i]);
  check(count_ops(st.ops(), MirrorOp::Kind::NexthopSet) == 5 && st.nexthops_installed() == 5,
        "state: objects on a mirror are set in the FIB, in the netns's id space");
  const MirrorOp* grp = find_op(st.ops(), MirrorOp::Kind::NexthopSet, space | 10);
  check(grp && grp->route.paths.size() == 2 && grp->route.paths[0].port == 7 && grp->route.paths[1].weight == 200,
        "state: a group becomes one object with the members' paths and weights");
  const MirrorOp* bh = find_op(st.ops(), MirrorOp::Kind::NexthopSet, space | 3);
  check(bh && bh->route.kind == fib::RouteKind::Blackhole, "state: a blackhole object");
  st.ops().clear();

  for (size_t i = 5; i < 8; ++i) st.handle(parsed[i]);
  const MirrorOp* add = find_op(st.ops(), MirrorOp::Kind::RouteAdd);
  check(count_ops(st.ops(), MirrorOp::Kind::RouteAdd) == 2 && add && add->route.nexthop == (space | 10) &&
            add->route.paths.empty(),
        "state: a route over an object names it (no paths of its own)");
  const MirrorOp& second = st.ops().back();
  check(second.kind == MirrorOp::Kind::RouteAdd && second.route.nexthop == 0 && second.route.paths.size() == 1 &&
            fib::format_addr(second.route.paths[0].via) == "fe80::3",
        "state: an IPv4 route via an IPv6 next hop keeps it");
  check(st.routes_unsupported() == 1 && st.routes_installed() == 2, "state: the encap route is counted, not installed");
  st.ops().clear();

  st.handle(parsed[8]);
  check(st.ops().empty() && st.nexthops_installed() == 4, "state: an object named by routes is taken out at once, its deletion deferred");
  st.settle();  // as the watcher does before applying a batch
  check(st.ops().size() == 2 && st.ops()[0].kind == MirrorOp::Kind::RouteDel &&
            fib::format_prefix(st.ops()[0].route.prefix) == "192.0.2.0/24" &&
            st.ops()[1].kind == MirrorOp::Kind::NexthopDel && st.ops()[1].nexthop == (space | 10),
        "state: an object deleted takes its routes first (the kernel says nothing of them), then itself");
  st.ops().clear();

  NlMsg down;
  const auto msg = link_msg(3, IFF_UP);  // up, but no carrier (no IFF_LOWER_UP)
  check(parse_message(hdr(msg), down) && down.kind == MsgKind::NewLink, "parse: a link event");
  st.handle(down);
  check(count_ops(st.ops(), MirrorOp::Kind::NexthopDel) == 3 && st.nexthops() == 1 && st.nexthops_installed() == 1,
        "state: losing carrier deletes the device's objects and the group left empty; the blackhole stays");
  st.ops().clear();

  // A resync: the same objects again change nothing; objects the dump no longer shows are swept.
  MirrorState rs(opts);
  rs.set_ports({MirrorPort{7, 3, "va", false}});
  for (size_t i = 0; i < 5; ++i) rs.handle(parsed[i]);
  rs.ops().clear();
  rs.begin_resync();
  for (size_t i = 0; i < 5; ++i) rs.handle(parsed[i]);
  rs.sweep();
  check(rs.ops().empty(), "resync: the same objects again emit nothing");
  rs.begin_resync();
  rs.handle(parsed[0]);
  rs.handle(parsed[2]);
  rs.sweep();
  check(count_ops(rs.ops(), MirrorOp::Kind::NexthopDel) == 3 && rs.ops().size() == 3 && rs.nexthops() == 2,
        "resync: objects missing from the dump are swept (and the groups over them)");
}

std::vector<uint32_t> aligned(const std::vector<uint8_t>& bytes) {
  std::vector<uint32_t> buf((bytes.size() + 3) / 4);
  std::memcpy(buf.data(), bytes.data(), bytes.size());
  return buf;
}

void test_malformed() {
  NlMsg m;
  // A group attribute whose length is not a whole number of entries.
  const auto short_group = aligned({
      0x20, 0, 0, 0, 104, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // nlmsghdr
      0, 0, 0, 0, 0, 0, 0, 0,                              // nhmsg
      8, 0, 1, 0, 10, 0, 0, 0,                             // NHA_ID 10
      4, 0, 2, 0,                                          // NHA_GROUP, empty
  });
  check(!parse_message(hdr(short_group), m), "malformed: a group without a whole entry is refused (counted, never applied)");
  const auto no_id = aligned({
      0x20, 0, 0, 0, 104, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0,
      8, 0, 1, 0, 0, 0, 0, 0,                              // NHA_ID 0
      4, 0, 4, 0,                                          // NHA_BLACKHOLE
  });
  check(!parse_message(hdr(no_id), m), "malformed: an object with id 0 is refused");
  const auto overrun = aligned({
      0x20, 0, 0, 0, 104, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0,
      8, 0, 1, 0, 9, 0, 0, 0,
      40, 0, 2, 0,                                         // NHA_GROUP claiming past the message
  });
  check(!parse_message(hdr(overrun), m), "malformed: an attribute longer than its message is refused");
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string dir = argc > 1 ? argv[1] : "test/native/fixtures";
  test_nexthop_fixture(dir);
  test_malformed();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
