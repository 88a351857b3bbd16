// Kernel nexthop objects (what FRR's zebra installs by default) and RFC 8950
// next hops reach the dataplane: routes over an object share it in the FIB,
// so changing the object moves them all; the kernel's silent deletions (a
// device going down, an object deleted) are followed; what cannot be
// forwarded as Linux would is counted, never passed off as in sync.
import { describeRoot, eventually, nsx } from '../helpers/lab.js';
import { buildRouter, learnNeighbors, teardown, udp, type Peer, type Router } from '../helpers/router.js';

function route(r: Router, prefix: string, family: 4 | 6 = 4) {
  return r.dp.fib(0, family).find((e) => e.prefix === prefix && e.source === 'route');
}

const ip = (r: Router, args: string[]) => nsx(r.linux, 'ip', args);
const inSync = { routes: { missing: 0, extra: 0, different: 0 } };
const status = (r: Router) => r.dp.mirrorStatus().find((s) => s.netns === r.linux);

function three(r: Router): [Peer, Peer, Peer] {
  const [a, b, c] = r.peers;
  if (!a || !b || !c) throw new Error('no peers');
  return [a, b, c];
}

async function linkLocal(ns: string, dev: string): Promise<string> {
  const out = await nsx(ns, 'ip', ['-6', '-o', 'addr', 'show', 'dev', dev, 'scope', 'link']);
  const m = /inet6 (fe80::[0-9a-f:]+)\//.exec(out);
  if (!m?.[1]) throw new Error(`no link-local address on ${dev}: ${out}`);
  return m[1];
}

describeRoot('kernel nexthop objects', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  for (const compat of [0, 1]) {
    it(`forwards routes over single and group objects, and follows their changes (nexthop_compat_mode=${compat})`, async () => {
      r = await buildRouter(3);
      await learnNeighbors(r);
      const [a, b, c] = three(r);
      await nsx(r.linux, 'sysctl', ['-q', '-w', `net.ipv4.nexthop_compat_mode=${compat}`]);
      await ip(r, ['link', 'set', 'lo', 'up']); // blackhole objects live on lo
      for (const p of [b, c]) await nsx(p.ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);

      await ip(r, ['nexthop', 'add', 'id', '1', 'via', b.v4, 'dev', b.tap]);
      await ip(r, ['route', 'add', '192.0.2.0/24', 'nhid', '1']);
      expect(await eventually(() => route(r!, '192.0.2.0/24')?.paths[0]?.port === b.port.index)).toBe(true);
      expect(route(r, '192.0.2.0/24')).toMatchObject({ nexthop: 1, paths: [{ port: b.port.index, via: b.v4, weight: 1 }] });
      const punts = () => r!.dp.counters().ports.reduce((s, x) => s + x.punts, 0);
      const before = punts();
      expect((await udp(a.ns, b.ns, '192.0.2.1', 100)).received).toBe(100);
      expect(punts() - before).toBeLessThan(10); // forwarded by the dataplane, not by Linux

      // The object changes, the route is not touched: its traffic moves.
      await ip(r, ['nexthop', 'replace', 'id', '1', 'via', c.v4, 'dev', c.tap]);
      expect(await eventually(() => route(r!, '192.0.2.0/24')?.paths[0]?.port === c.port.index)).toBe(true);
      expect((await udp(a.ns, c.ns, '192.0.2.1', 100)).received).toBe(100);

      // A weighted group, an IPv6 route over an IPv6 object, a blackhole object.
      await ip(r, ['nexthop', 'add', 'id', '2', 'via', b.v4, 'dev', b.tap]);
      await ip(r, ['nexthop', 'add', 'id', '10', 'group', '1/2,3']);
      await ip(r, ['route', 'add', '198.51.100.0/24', 'nhid', '10']);
      await ip(r, ['-6', 'nexthop', 'add', 'id', '3', 'via', b.v6, 'dev', b.tap]);
      await ip(r, ['-6', 'route', 'add', '2001:db8:99::/48', 'nhid', '3']);
      await ip(r, ['nexthop', 'add', 'id', '4', 'blackhole']);
      await ip(r, ['route', 'add', '198.18.0.0/15', 'nhid', '4']);
      expect(await eventually(() => route(r!, '198.18.0.0/15')?.kind === 'blackhole')).toBe(true);
      expect(route(r, '198.51.100.0/24')?.paths).toEqual(expect.arrayContaining([
        { port: c.port.index, via: c.v4, weight: 1 },
        { port: b.port.index, via: b.v4, weight: 3 },
      ]));
      expect(route(r, '2001:db8:99::/48', 6)).toMatchObject({ nexthop: 3, paths: [{ port: b.port.index, via: b.v6, weight: 1 }] });
      expect(status(r)).toMatchObject({ nexthops: 5, nexthopsInstalled: 5 });
      expect(r.dp.drift(r.linux)).toMatchObject(inSync);

      // A member deleted: the group shrinks (the kernel says nothing of the routes over it).
      await ip(r, ['nexthop', 'del', 'id', '2']);
      expect(await eventually(() => route(r!, '198.51.100.0/24')?.paths.length === 1)).toBe(true);
      expect(route(r, '198.51.100.0/24')?.paths).toEqual([{ port: c.port.index, via: c.v4, weight: 1 }]);
      // The last member deleted: the group and every route over either go, silently in the kernel.
      await ip(r, ['nexthop', 'del', 'id', '1']);
      expect(await eventually(() => route(r!, '198.51.100.0/24') === undefined && route(r!, '192.0.2.0/24') === undefined)).toBe(true);
      expect(await ip(r, ['route', 'show', '198.51.100.0/24'])).toBe('');
      expect(status(r)).toMatchObject({ nexthops: 2 });
      expect(r.dp.drift(r.linux)).toMatchObject(inSync);
    });
  }

  it('drops the objects of a mirror that goes down, and their routes, as the kernel does without a message', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    await ip(r, ['nexthop', 'add', 'id', '1', 'via', a.v4, 'dev', a.tap]);
    await ip(r, ['nexthop', 'add', 'id', '2', 'via', b.v4, 'dev', b.tap]);
    await ip(r, ['nexthop', 'add', 'id', '10', 'group', '1/2']);
    await ip(r, ['route', 'add', '192.0.2.0/24', 'nhid', '10']);
    await ip(r, ['route', 'add', '192.0.3.0/24', 'nhid', '2']);
    expect(await eventually(() => route(r!, '192.0.3.0/24') !== undefined && route(r!, '192.0.2.0/24')?.paths.length === 2)).toBe(true);
    await ip(r, ['link', 'set', b.tap, 'down']);
    expect(await eventually(() => route(r!, '192.0.3.0/24') === undefined)).toBe(true);
    expect(route(r, '192.0.2.0/24')?.paths).toEqual([{ port: a.port.index, via: a.v4, weight: 1 }]);
    expect(r.dp.drift(r.linux)).toMatchObject(inSync);
  });

  it('resyncs objects and routes over them by mark-and-sweep after a watch restarts', async () => {
    r = await buildRouter(1);
    await learnNeighbors(r);
    const [a] = r.peers;
    if (!a) throw new Error('no peer');
    await ip(r, ['nexthop', 'add', 'id', '7', 'via', a.v4, 'dev', a.tap]);
    await ip(r, ['route', 'add', '192.0.2.0/24', 'nhid', '7']);
    expect(await eventually(() => route(r!, '192.0.2.0/24') !== undefined)).toBe(true);
    r.dp.unwatchNetns(r.linux);
    expect(route(r, '192.0.2.0/24')).toBeUndefined();
    await ip(r, ['route', 'add', '192.0.4.0/24', 'nhid', '7']);
    r.dp.watchNetns(r.linux);
    expect(await eventually(() => route(r!, '192.0.4.0/24')?.nexthop === 7 && route(r!, '192.0.2.0/24')?.nexthop === 7)).toBe(true);
    expect(r.dp.drift(r.linux)).toMatchObject(inSync);
  });
});

describeRoot('RFC 8950 next hops', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('forwards IPv4 via an IPv6 link-local next hop (route and object), resolved by the IPv6 neighbour', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    const ll = await linkLocal(b.ns, b.dev);
    await ip(r, ['-6', 'neigh', 'replace', ll, 'lladdr', b.mac, 'dev', b.tap, 'nud', 'permanent']);
    await nsx(b.ns, 'ip', ['addr', 'add', '203.0.113.1/32', 'dev', 'lo']);
    await nsx(b.ns, 'ip', ['addr', 'add', '203.0.114.1/32', 'dev', 'lo']);
    await ip(r, ['route', 'add', '203.0.113.0/24', 'via', 'inet6', ll, 'dev', b.tap]);
    await ip(r, ['-6', 'nexthop', 'add', 'id', '20', 'via', ll, 'dev', b.tap]);
    await ip(r, ['route', 'add', '203.0.114.0/24', 'nhid', '20']);
    expect(await eventually(() => route(r!, '203.0.114.0/24') !== undefined && route(r!, '203.0.113.0/24') !== undefined)).toBe(true);
    expect(route(r, '203.0.113.0/24')?.paths).toEqual([{ port: b.port.index, via: ll, weight: 1 }]);
    expect(route(r, '203.0.114.0/24')).toMatchObject({ nexthop: 20, paths: [{ port: b.port.index, via: ll, weight: 1 }] });
    const punts = () => r!.dp.counters().ports.reduce((s, x) => s + x.punts, 0);
    const before = punts();
    expect((await udp(a.ns, b.ns, '203.0.113.1', 100)).received).toBe(100);
    expect((await udp(a.ns, b.ns, '203.0.114.1', 100)).received).toBe(100);
    expect(punts() - before).toBeLessThan(10);
    expect(r.dp.drift(r.linux)).toMatchObject(inSync);
  });

  it('forwards over onlink next hops (a gateway outside every connected subnet), as a route and as an object', async () => {
    r = await buildRouter(2);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    // The gateway: an address of b's that no subnet of the mirror covers; b answers ARP for it.
    await nsx(b.ns, 'ip', ['addr', 'add', '198.51.100.77/32', 'dev', b.dev]);
    for (const d of ['203.0.120.1/32', '203.0.121.1/32']) await nsx(b.ns, 'ip', ['addr', 'add', d, 'dev', 'lo']);
    await ip(r, ['route', 'add', '203.0.120.0/24', 'via', '198.51.100.77', 'dev', b.tap, 'onlink']);
    await ip(r, ['nexthop', 'add', 'id', '9', 'via', '198.51.100.77', 'dev', b.tap, 'onlink']);
    await ip(r, ['route', 'add', '203.0.121.0/24', 'nhid', '9']);
    expect(await eventually(() => route(r!, '203.0.120.0/24') !== undefined && route(r!, '203.0.121.0/24') !== undefined)).toBe(true);
    expect(route(r, '203.0.120.0/24')?.paths).toEqual([{ port: b.port.index, via: '198.51.100.77', weight: 1 }]);
    expect(route(r, '203.0.121.0/24')).toMatchObject({ nexthop: 9, paths: [{ port: b.port.index, via: '198.51.100.77', weight: 1 }] });
    // The first packets glean (Linux resolves the gateway on the mirror), the rest are forwarded.
    expect((await udp(a.ns, b.ns, '203.0.120.1', 50)).received).toBeGreaterThanOrEqual(45);
    expect((await udp(a.ns, b.ns, '203.0.121.1', 50)).received).toBe(50);
    expect(r.dp.drift(r.linux)).toMatchObject(inSync);
  });

  it('counts routes it cannot forward as Linux would (an encap) instead of reporting them in sync', async () => {
    r = await buildRouter(1);
    const [a] = r.peers;
    if (!a) throw new Error('no peer');
    await ip(r, ['route', 'add', '10.202.0.0/16', 'encap', 'ip', 'id', '5', 'dst', a.v4, 'dev', a.tap]);
    expect(await eventually(() => status(r!)?.routesUnsupported === 1)).toBe(true);
    expect(route(r, '10.202.0.0/16')).toBeUndefined();
    const drift = r.dp.drift(r.linux);
    expect(drift.unsupported).toBe(1);
    expect(drift.samples.join('\n')).toMatch(/1 unsupported route/);
    await ip(r, ['route', 'del', '10.202.0.0/16']);
    expect(await eventually(() => status(r!)?.routesUnsupported === 0)).toBe(true);
  });
});
