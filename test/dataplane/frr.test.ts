// FRR (zebra, staticd, bgpd from Debian's frr package) on the mirrors, as a
// router runs it: zebra installs routes through kernel nexthop objects by
// default, BGP unnumbered gives IPv4 routes IPv6 link-local next hops, and
// the dataplane forwards what FRR learnt.
import { describeRoot, eventually, nsx } from '../helpers/lab.js';
import { frrInstalled, startFrr, type Frr } from '../helpers/frr.js';
import { buildRouter, learnNeighbors, teardown, udp, type Router } from '../helpers/router.js';

const describeFrr = frrInstalled ? describeRoot : describe.skip;
if (!frrInstalled) process.stderr.write('frr.test: skipped, FRR is not installed (scripts/setup.sh installs it)\n');

function route(r: Router, prefix: string) {
  return r.dp.fib(0, 4).find((e) => e.prefix === prefix && e.source === 'route');
}

describeFrr('FRR on the mirrors', () => {
  let r: Router | undefined;
  let daemons: Frr[] = [];
  afterEach(async () => {
    for (const d of daemons) await d.stop();
    daemons = [];
    await teardown(r);
    r = undefined;
  });

  for (const objects of [true, false]) {
    it(`forwards staticd routes zebra installs ${objects ? 'as kernel nexthop objects (its default)' : 'without nexthop objects'}`, async () => {
      r = await buildRouter(3);
      await learnNeighbors(r);
      const [a, b, c] = r.peers;
      if (!a || !b || !c) throw new Error('no peers');
      for (const p of [b, c]) await nsx(p.ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
      await nsx(r.linux, 'ip', ['link', 'set', 'lo', 'up']);
      const frr = await startFrr(r.linux, {
        zebra: objects ? '' : 'no zebra nexthop kernel enable',
        staticd: `ip route 192.0.2.0/24 ${b.v4}\nip route 198.51.100.0/24 ${b.v4}\nip route 198.51.100.0/24 ${c.v4}`,
      });
      daemons.push(frr);
      expect(await eventually(() => route(r!, '198.51.100.0/24')?.paths.length === 2, 10000)).toBe(true);
      const kernel = await nsx(r.linux, 'ip', ['route', 'show', '192.0.2.0/24']);
      expect(kernel.includes('nhid')).toBe(objects);
      expect(route(r, '192.0.2.0/24')?.nexthop !== undefined).toBe(objects);
      expect(route(r, '192.0.2.0/24')?.paths).toEqual([{ port: b.port.index, via: b.v4, weight: 1 }]);
      expect((await udp(a.ns, b.ns, '192.0.2.1', 100)).received).toBe(100);

      // Reconfigured through vtysh: the dataplane follows zebra.
      await frr.vtysh('configure terminal', `ip route 192.0.2.0/24 ${c.v4}`, `no ip route 192.0.2.0/24 ${b.v4}`);
      expect(await eventually(() => route(r!, '192.0.2.0/24')?.paths[0]?.port === c.port.index, 10000)).toBe(true);
      expect((await udp(a.ns, c.ns, '192.0.2.1', 100)).received).toBe(100);
      await frr.vtysh('configure terminal', `no ip route 192.0.2.0/24 ${c.v4}`);
      expect(await eventually(() => route(r!, '192.0.2.0/24') === undefined, 10000)).toBe(true);
      expect(r.dp.drift(r.linux)).toMatchObject({ routes: { missing: 0, extra: 0, different: 0 }, unsupported: 0 });
    });
  }

  it('learns IPv4 over BGP unnumbered (an IPv6 link-local next hop, RFC 8950) and forwards it; a lost session withdraws it', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    await nsx(b.ns, 'ip', ['addr', 'add', '203.0.113.1/32', 'dev', 'lo']);
    await nsx(r.linux, 'ip', ['link', 'set', 'lo', 'up']);
    await nsx(b.ns, 'ip', ['link', 'set', 'lo', 'up']);
    const bgp = (asn: number, id: string, ifname: string, network?: string) => [
      `router bgp ${asn}`,
      ` bgp router-id ${id}`,
      ' no bgp ebgp-requires-policy',
      ` neighbor ${ifname} interface remote-as external`,
      ` neighbor ${ifname} timers connect 1`,
      ' address-family ipv4 unicast',
      ...(network ? [`  network ${network}`] : []),
      ' exit-address-family',
    ].join('\n');
    const mine = await startFrr(r.linux, { bgpd: bgp(65001, '10.255.0.1', b.tap) });
    daemons.push(mine);
    const peer = await startFrr(b.ns, { bgpd: bgp(65002, '10.255.0.2', b.dev, '203.0.113.1/32') });
    daemons.push(peer);
    expect(await eventually(() => route(r!, '203.0.113.1/32') !== undefined, 30000, 200)).toBe(true);
    const learnt = route(r, '203.0.113.1/32');
    expect(learnt?.nexthop).toBeDefined(); // zebra's nexthop object
    expect(learnt?.paths).toHaveLength(1);
    expect(learnt?.paths[0]?.port).toBe(b.port.index);
    expect(learnt?.paths[0]?.via).toMatch(/^fe80::/);
    const punts = () => r!.dp.counters().ports.reduce((s, x) => s + x.punts, 0);
    expect(await eventually(() => r!.dp.adjacencies().some((x) => x.kind === 'rewrite' && x.nextHop === learnt?.paths[0]?.via))).toBe(true);
    const before = punts();
    expect((await udp(a.ns, b.ns, '203.0.113.1', 200)).received).toBe(200);
    expect(punts() - before).toBeLessThan(20); // BGP keepalives may cross; the 200 datagrams do not
    expect(r.dp.drift(r.linux)).toMatchObject({ routes: { missing: 0, extra: 0, different: 0 } });

    await peer.stop();
    daemons = daemons.filter((d) => d !== peer);
    // bgpd notices the peer's TCP session gone (hold timer or reset) and zebra withdraws.
    await mine.vtysh(`clear bgp *`);
    expect(await eventually(() => route(r!, '203.0.113.1/32') === undefined, 30000, 200)).toBe(true);
  });
});
