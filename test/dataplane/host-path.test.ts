// Port <-> host: ARP and ND cross both ways, host-bound packets are punted to
// the rx port's mirror exactly as received, and whatever Linux sends on the
// mirror leaves by the paired port.
import { describeRoot, eventually, nsTry, nsx } from '../helpers/lab.js';
import { buildRouter, learnNeighbors, teardown, type Router } from '../helpers/router.js';

describeRoot('host path (punt and cross-connect)', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('lets a peer ping an address Linux has on the mirror: ARP both ways, Linux answers, counters agree', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    const ping = await nsTry(p.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', p.gw4]);
    expect(ping.out).toContain('3 received');
    // Linux learned the peer from the punted ARP, the peer learned the mirror's MAC.
    expect(await nsx(r.linux, 'ip', ['neigh', 'show', p.v4])).toContain(p.mac);
    // Linux keeps sending on its own (IPv6 ND, ARP): a packet read from the mirror is counted
    // as injected a moment before it is counted as sent, so read the counters once they settle.
    const port = () => r!.dp.counters().ports.find((x) => x.port === p.port.index);
    await eventually(() => port()?.txPackets === port()?.injects, 2_000, 20);
    const c = r.dp.counters();
    const pc = c.ports.find((x) => x.port === p.port.index);
    expect(c.errors.punt_arp).toBeGreaterThanOrEqual(1);
    expect(c.errors.punt_receive).toBeGreaterThanOrEqual(3);
    // Every echo request was punted and every reply injected back out.
    expect(pc?.punts).toBeGreaterThanOrEqual(4);
    expect(pc?.injects).toBeGreaterThanOrEqual(4);
    expect(pc?.txPackets).toBe(pc?.injects);
    expect(await r.lab.stat(r.linux, p.tap, 'rx_packets')).toBeGreaterThanOrEqual(pc?.punts ?? Infinity);
  });

  it('does the same over IPv6: ND, link-local and global addresses', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    const global = await nsTry(p.ns, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', p.gw6]);
    expect(global.out).toContain('3 received');
    const ll = (await nsx(r.linux, 'ip', ['-6', '-o', 'addr', 'show', 'dev', p.tap, 'scope', 'link'])).match(/fe80::[0-9a-f:]+/)?.[0];
    expect(ll).toBeDefined();
    const linkLocal = await nsTry(p.ns, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', `${ll}%${p.dev}`]);
    expect(linkLocal.out).toContain('2 received');
    const c = r.dp.counters();
    expect(c.errors.punt_multicast).toBeGreaterThanOrEqual(1); // neighbour solicitation
    expect(c.errors.punt_receive).toBeGreaterThanOrEqual(5);
  });

  it('punts TTL=1 transit packets so Linux answers with time-exceeded', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    const res = await nsTry(a.ns, 'ping', ['-c', '1', '-t', '1', '-W', '2', b.v4]);
    expect(res.out).toMatch(/Time to live exceeded/i);
    expect(r.dp.counters().errors.punt_ttl).toBeGreaterThanOrEqual(1);
    const res6 = await nsTry(a.ns, 'ping', ['-6', '-c', '1', '-t', '1', '-W', '2', b.v6]);
    expect(res6.out).toMatch(/Time exceeded|Hop limit/i);
  });

  it('punts unreachable and prohibit routes so Linux answers with the ICMP error (rate-limited by Linux)', async () => {
    r = await buildRouter(1);
    const [a] = r.peers;
    if (!a) throw new Error('no peer');
    await nsx(r.linux, 'ip', ['route', 'add', 'unreachable', '198.20.0.0/16']);
    await nsx(r.linux, 'ip', ['route', 'add', 'prohibit', '198.21.0.0/16']);
    await nsx(r.linux, 'ip', ['-6', 'route', 'add', 'unreachable', '2001:db8:dead::/48']);
    expect(await eventually(() => r!.dp.fib(0, 6).some((e) => e.prefix === '2001:db8:dead::/48' && e.source === 'route'))).toBe(true);
    expect((await nsTry(a.ns, 'ping', ['-c', '1', '-W', '2', '198.20.0.1'])).out).toMatch(/Destination (Host|Net) Unreachable/i);
    expect((await nsTry(a.ns, 'ping', ['-c', '1', '-W', '2', '198.21.0.1'])).out).toMatch(/Packet filtered|Prohibited/i);
    expect((await nsTry(a.ns, 'ping', ['-6', '-c', '1', '-W', '2', '2001:db8:dead::1'])).out).toMatch(/Destination unreachable|No route/i);
    const e = r.dp.counters().errors;
    expect(e.punt_unreachable).toBeGreaterThanOrEqual(2);
    expect(e.punt_prohibit).toBeGreaterThanOrEqual(1);
  });

  it('makes path MTU discovery work: a DF packet larger than the egress MTU gets fragmentation-needed / packet-too-big', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    await nsx(r.linux, 'ip', ['link', 'set', b.tap, 'mtu', '1280']); // the netlink sync gives the port the same MTU
    expect(await eventually(() => r!.dp.port(b.port.index)?.mtu === 1280)).toBe(true);
    const v4 = await nsTry(a.ns, 'ping', ['-c', '1', '-W', '2', '-M', 'do', '-s', '1400', b.v4]);
    expect(v4.out).toMatch(/Frag needed and DF set \(mtu = 1280\)|mtu=1280|message too long/i);
    const v6 = await nsTry(a.ns, 'ping', ['-6', '-c', '1', '-W', '2', '-M', 'do', '-s', '1400', b.v6]);
    expect(v6.out).toMatch(/Packet too big: mtu=1280|mtu=1280|message too long/i);
    expect(r.dp.counters().errors.punt_mtu).toBeGreaterThanOrEqual(2);
  });

  it('punts packets for addresses Linux holds on lo (router-id, loopback) so Linux answers them', async () => {
    r = await buildRouter(1);
    const [a] = r.peers;
    if (!a) throw new Error('no peer');
    await nsx(r.linux, 'ip', ['link', 'set', 'lo', 'up']);
    await nsx(r.linux, 'ip', ['addr', 'add', '192.0.2.250/32', 'dev', 'lo']);
    await nsx(r.linux, 'ip', ['addr', 'add', '2001:db8:250::1/128', 'dev', 'lo']);
    const local = (family: 4 | 6, prefix: string) => r!.dp.fib(0, family).find((e) => e.prefix === prefix && e.kind === 'receive');
    expect(await eventually(() => local(4, '192.0.2.250/32') !== undefined && local(6, '2001:db8:250::1/128') !== undefined)).toBe(true);
    expect(r.dp.fib(0, 4).some((e) => e.prefix.startsWith('127.'))).toBe(false);
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '192.0.2.250'])).out).toContain('2 received');
    expect((await nsTry(a.ns, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', '2001:db8:250::1'])).out).toContain('2 received');
    await nsx(r.linux, 'ip', ['addr', 'del', '192.0.2.250/32', 'dev', 'lo']);
    expect(await eventually(() => local(4, '192.0.2.250/32') === undefined)).toBe(true);
  });

  it("mirrors the port's carrier onto its mirror, both ways of a flap (BGP/BFD check link see it)", async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    const link = () => nsx(r!.linux, 'ip', ['link', 'show', p.tap]);
    expect(await link()).toContain('LOWER_UP');
    await nsx(p.ns, 'ip', ['link', 'set', p.dev, 'down']); // the far end: the port's veth loses carrier
    expect(await eventually(async () => (await link()).includes('NO-CARRIER'))).toBe(true);
    await nsx(p.ns, 'ip', ['link', 'set', p.dev, 'up']);
    expect(await eventually(async () => (await link()).includes('LOWER_UP'))).toBe(true);
    expect((await nsTry(p.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', p.gw4])).out).toContain('2 received');
  });

  it('delivers OSPF hellos (224.0.0.5, protocol 89) to the mirror', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    const before = await r.lab.stat(r.linux, p.tap, 'rx_packets');
    // A raw IP socket in the peer sends a protocol-89 packet to AllSPFRouters.
    const script = [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_RAW, 89)',
      `s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"${p.dev}")`,
      's.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)',
      'for _ in range(3): s.sendto(b"\\x02\\x01\\x00\\x2c" + b"\\x00" * 40, ("224.0.0.5", 0))',
    ].join('\n');
    await nsx(p.ns, 'python3', ['-c', script]);
    expect(await eventually(async () => (await r!.lab.stat(r!.linux, p.tap, 'rx_packets')) >= before + 3)).toBe(true);
    expect(r.dp.counters().errors.punt_multicast).toBeGreaterThanOrEqual(3);
  });

  it('punts traffic to an unresolved next hop so Linux resolves it, then forwards it in the dataplane', async () => {
    r = await buildRouter(2);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    // No neighbours in the dataplane: the first packets glean to Linux, which
    // ARPs through the mirror and port, and forwards them itself.
    const first = await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.v4]);
    expect(first.out).toContain('2 received');
    expect(r.dp.counters().errors.punt_glean).toBeGreaterThanOrEqual(1);
    // Linux now knows the neighbour; once the netlink mirror has copied it
    // into the dataplane the same traffic is rewritten and forwarded natively.
    expect(await nsx(r.linux, 'ip', ['neigh', 'show', b.v4])).toContain(b.mac);
    await learnNeighbors(r);
    const glean = r.dp.counters().errors.punt_glean ?? 0;
    const tx = r.dp.counters().ports.find((x) => x.port === b.port.index)?.txPackets ?? 0;
    const injects = r.dp.counters().ports.find((x) => x.port === b.port.index)?.injects ?? 0;
    const second = await nsTry(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', b.v4]);
    expect(second.out).toContain('3 received');
    const after = r.dp.counters();
    expect(after.errors.punt_glean).toBe(glean);
    const bc = after.ports.find((x) => x.port === b.port.index);
    expect((bc?.txPackets ?? 0) - tx - ((bc?.injects ?? 0) - injects)).toBeGreaterThanOrEqual(3);
  });
});
