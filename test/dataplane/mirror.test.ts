// The netlink mirror: Linux config on the mirrors (addresses, routes,
// neighbours, link state) reaches the dataplane by itself, and stays equal
// to the kernel's even after lost notifications.
import { writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ValidationError } from '../../dataplane/dataplane.js';
import { describeRoot, eventually, nsx, sh, sleep } from '../helpers/lab.js';
import { buildRouter, learnNeighbors, teardown, udp, type Router } from '../helpers/router.js';

function route(r: Router, prefix: string, table = 0, family: 4 | 6 = 4) {
  return r.dp.fib(table, family).find((e) => e.prefix === prefix && e.source === 'route');
}

describeRoot('netlink mirror', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('copies addresses of the mirrors into receive and connected entries', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    await nsx(r.linux, 'ip', ['addr', 'add', '10.77.0.1/24', 'dev', p.tap]);
    expect(await eventually(() => r!.dp.fib(0, 4).some((e) => e.prefix === '10.77.0.0/24' && e.kind === 'glean'))).toBe(true);
    expect(r.dp.fib(0, 4)).toContainEqual(expect.objectContaining({ prefix: '10.77.0.1/32', kind: 'receive' }));
    await nsx(r.linux, 'ip', ['addr', 'del', '10.77.0.1/24', 'dev', p.tap]);
    expect(await eventually(() => !r!.dp.fib(0, 4).some((e) => e.prefix.startsWith('10.77.0.')))).toBe(true);
  });

  it('follows ip route: add, replace moves the traffic, multipath becomes ECMP, drops, delete withdraws', async () => {
    r = await buildRouter(3);
    await learnNeighbors(r);
    const [a, b, c] = r.peers;
    if (!a || !b || !c) throw new Error('no peers');
    for (const p of [b, c]) await nsx(p.ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
    await nsx(r.linux, 'ip', ['route', 'add', '192.0.2.0/24', 'via', b.v4]);
    expect(await eventually(() => route(r!, '192.0.2.0/24')?.paths[0]?.port === b.port.index)).toBe(true);
    const punts = () => r!.dp.counters().ports.reduce((s, x) => s + x.punts, 0);
    const before = punts();
    expect((await udp(a.ns, b.ns, '192.0.2.1', 100)).received).toBe(100);
    expect(punts() - before).toBeLessThan(10); // forwarded by the dataplane, not by Linux

    await nsx(r.linux, 'ip', ['route', 'replace', '192.0.2.0/24', 'via', c.v4]);
    expect(await eventually(() => route(r!, '192.0.2.0/24')?.paths[0]?.port === c.port.index)).toBe(true);
    expect(r.dp.fib(0, 4).filter((e) => e.prefix === '192.0.2.0/24' && e.source === 'route')).toHaveLength(1);
    expect((await udp(a.ns, c.ns, '192.0.2.1', 100)).received).toBe(100);

    await nsx(r.linux, 'ip', ['route', 'replace', '192.0.2.0/24', 'nexthop', 'via', b.v4, 'weight', '1', 'nexthop', 'via', c.v4, 'weight', '3']);
    expect(await eventually(() => route(r!, '192.0.2.0/24')?.paths.length === 2)).toBe(true);
    expect(route(r, '192.0.2.0/24')?.paths).toEqual(expect.arrayContaining([
      { port: b.port.index, via: b.v4, weight: 1 },
      { port: c.port.index, via: c.v4, weight: 3 },
    ]));

    await nsx(r.linux, 'ip', ['-6', 'route', 'add', '2001:db8:99::/48', 'via', b.v6]);
    await nsx(r.linux, 'ip', ['route', 'add', 'blackhole', '198.18.0.0/15']);
    await nsx(r.linux, 'ip', ['route', 'add', 'unreachable', '198.20.0.0/16']);
    await nsx(r.linux, 'ip', ['route', 'add', 'prohibit', '198.21.0.0/16']);
    expect(await eventually(() => route(r!, '198.21.0.0/16')?.kind === 'prohibit')).toBe(true);
    expect(route(r, '198.18.0.0/15')?.kind).toBe('blackhole');
    expect(route(r, '198.20.0.0/16')?.kind).toBe('unreachable');
    expect(route(r, '2001:db8:99::/48', 0, 6)?.paths).toEqual([{ port: b.port.index, via: b.v6, weight: 1 }]);

    await nsx(r.linux, 'ip', ['route', 'del', '192.0.2.0/24']);
    expect(await eventually(() => route(r!, '192.0.2.0/24') === undefined)).toBe(true);
    expect(r.dp.drift(r.linux)).toMatchObject({ routes: { missing: 0, extra: 0, different: 0 } });
  });

  it('ignores kernel-protocol routes, routes over non-mirrors and the local table; maps other tables', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    await nsx(r.linux, 'ip', ['link', 'add', 'other0', 'type', 'veth', 'peer', 'name', 'other1']);
    await nsx(r.linux, 'ip', ['link', 'set', 'other0', 'up']);
    await nsx(r.linux, 'ip', ['route', 'add', '203.0.113.0/24', 'dev', 'other0']);
    await nsx(r.linux, 'ip', ['route', 'add', '198.51.100.0/24', 'via', p.v4, 'proto', 'kernel']);
    await nsx(r.linux, 'ip', ['route', 'add', '100.64.0.0/10', 'via', p.v4, 'table', '100']);
    await nsx(r.linux, 'ip', ['route', 'add', '100.96.0.0/12', 'via', p.v4]); // a marker: events are in order
    expect(await eventually(() => route(r!, '100.96.0.0/12') !== undefined)).toBe(true);
    expect(route(r, '100.64.0.0/10', 100)?.paths).toEqual([{ port: p.port.index, via: p.v4, weight: 1 }]);
    expect(route(r, '203.0.113.0/24')).toBeUndefined();
    expect(route(r, '198.51.100.0/24')).toBeUndefined();
    expect(r.dp.fib(0, 4).filter((e) => e.source === 'route').map((e) => e.prefix)).toEqual(['100.96.0.0/12']);

    // Remapping a kernel table: unwatch (withdraws), watch again with a map.
    r.dp.unwatchNetns(r.linux);
    expect(route(r, '100.96.0.0/12')).toBeUndefined();
    r.dp.watchNetns(r.linux, { tableMap: { 100: 7 }, tables: [100] });
    expect(await eventually(() => r!.dp.tables().includes(7) && route(r!, '100.64.0.0/10', 7) !== undefined)).toBe(true);
    expect(route(r, '100.96.0.0/12')).toBeUndefined(); // main is not in `tables`
  });

  it('mirrors neighbours: valid entries become rewrites, deleted and failed ones are withdrawn, multicast ignored', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    const rewrite = (ip: string) => r!.dp.adjacencies().find((x) => x.kind === 'rewrite' && x.nextHop === ip);
    await nsx(r.linux, 'ip', ['neigh', 'add', '10.1.0.50', 'lladdr', '02:00:00:00:00:50', 'dev', p.tap, 'nud', 'permanent']);
    await nsx(r.linux, 'ip', ['neigh', 'add', '10.1.0.51', 'lladdr', '02:00:00:00:00:51', 'dev', p.tap, 'nud', 'stale']);
    await nsx(r.linux, 'ip', ['-6', 'neigh', 'add', '2001:db8:1::52', 'lladdr', '02:00:00:00:00:52', 'dev', p.tap, 'nud', 'reachable']);
    await nsx(r.linux, 'ip', ['neigh', 'add', '224.1.1.1', 'lladdr', '01:00:5e:01:01:01', 'dev', p.tap, 'nud', 'permanent']);
    expect(await eventually(() => rewrite('2001:db8:1::52') !== undefined)).toBe(true);
    expect(rewrite('10.1.0.50')?.rewrite).toMatch(/^020000000050/);
    expect(rewrite('10.1.0.51')?.port).toBe(p.port.index);
    expect(r.dp.adjacencies().some((x) => x.nextHop === '224.1.1.1')).toBe(false);
    await nsx(r.linux, 'ip', ['neigh', 'del', '10.1.0.50', 'dev', p.tap]);
    await nsx(r.linux, 'ip', ['neigh', 'change', '10.1.0.51', 'dev', p.tap, 'nud', 'failed']);
    expect(await eventually(() => !rewrite('10.1.0.50') && !rewrite('10.1.0.51'))).toBe(true);
    expect(r.dp.drift(r.linux).neighbors).toMatchObject({ missing: 0, extra: 0, different: 0 });
  });

  it('applies the mirror link state and MTU to the port, and flushes IPv4 routes through a mirror that goes down', async () => {
    r = await buildRouter(3);
    await learnNeighbors(r);
    const [, b, c] = r.peers;
    if (!b || !c) throw new Error('no peers');
    const port = () => r!.dp.ports().find((x) => x.index === b.port.index);
    await nsx(r.linux, 'ip', ['link', 'set', b.tap, 'mtu', '1400']);
    expect(await eventually(() => port()?.mtu === 1400)).toBe(true);
    await nsx(r.linux, 'ip', ['route', 'add', '192.0.2.0/24', 'via', b.v4]);
    await nsx(r.linux, 'ip', ['route', 'add', '198.51.100.0/24', 'nexthop', 'via', b.v4, 'nexthop', 'via', c.v4]);
    expect(await eventually(() => route(r!, '198.51.100.0/24')?.paths.length === 2 && route(r!, '192.0.2.0/24') !== undefined)).toBe(true);

    await nsx(r.linux, 'ip', ['link', 'set', b.tap, 'down']);
    expect(await eventually(() => port()?.adminUp === false)).toBe(true);
    // The kernel deleted the single-path route and killed one path, silently.
    expect(await eventually(() => route(r!, '192.0.2.0/24') === undefined)).toBe(true);
    expect(route(r, '198.51.100.0/24')?.paths).toEqual([{ port: c.port.index, via: c.v4, weight: 1 }]);
    expect(r.dp.drift(r.linux).routes).toMatchObject({ missing: 0, extra: 0, different: 0 });

    await nsx(r.linux, 'ip', ['link', 'set', b.tap, 'up']);
    expect(await eventually(() => port()?.adminUp === true && route(r!, '198.51.100.0/24')?.paths.length === 2)).toBe(true);
  });

  it('resyncs after lost notifications (ENOBUFS) and ends with zero drift', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    r.dp.unwatchNetns(r.linux);
    r.dp.watchNetns(r.linux, { rcvbuf: 4096 });
    expect(await eventually(() => r!.dp.mirrorStatus()[0]?.state === 'synced')).toBe(true);
    const file = join(tmpdir(), `mirror-burst-${process.pid}.txt`);
    const lines: string[] = [];
    for (let i = 0; i < 20000; i++) lines.push(`route add 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 via ${p.v4}`);
    for (let i = 0; i < 5000; i++) lines.push(`route del 10.100.${(i >> 8) & 255}.${i & 255}/32`);
    writeFileSync(file, lines.join('\n') + '\n');
    // Built before the flood starts: the lock must be taken while `ip` is still writing (built
    // after, it took long enough for the watcher to keep up now and then, and nothing was lost).
    const hold = Array.from({ length: 300000 }, (_, i) => ({
      table: 77,
      prefix: `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`,
      paths: [{ port: p.port.index, via: p.v4 }],
    }));
    try {
      // While `ip -batch` floods the tiny socket, hold the dataplane's control
      // lock with a big synchronous API load (into an unmirrored table), so the
      // watcher stalls in its apply step and the kernel must drop notifications.
      const burst = sh('ip', ['-n', r.linux, '-batch', file], { timeoutMs: 120000 });
      await sleep(30);
      r.dp.addTable(77);
      r.dp.addRoutes(hold);
      await burst;
      r.dp.removeTable(77);
    } finally {
      unlinkSync(file);
    }
    // The loss is noticed, a resync runs (mark, dump, sweep) and settles.
    const settled = () => {
      const s = r!.dp.mirrorStatus()[0];
      return (s?.resyncs ?? 0) >= 2 && s?.state === 'synced' && r!.dp.routeCount(0, 4) === 15000;
    };
    expect(await eventually(settled, 60000, 100)).toBe(true);
    const st = r.dp.mirrorStatus()[0];
    expect(st?.lost).toBeGreaterThanOrEqual(1);
    expect(st?.resyncs).toBeGreaterThanOrEqual(2);
    const d = r.dp.drift(r.linux);
    expect(d.routes).toEqual({ kernel: 15000, dataplane: 15000, missing: 0, extra: 0, different: 0 });
  });

  it('reports drift: a route added behind the mirror\'s back shows up as extra', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    r.dp.addRoute({ prefix: '192.0.2.0/24', paths: [{ port: p.port.index, via: p.v4 }] });
    const d = r.dp.drift(r.linux);
    expect(d.routes).toMatchObject({ kernel: 0, dataplane: 1, extra: 1 });
    expect(d.samples).toContain('extra route 0:192.0.2.0/24');
    // The same check off the JS thread says the same.
    expect(await r.dp.driftAsync(r.linux)).toEqual(d);
    await expect(r.dp.driftAsync('lcp-not-watched')).rejects.toThrow(/is not watched/);
  });

  it('checks drift periodically on its own thread and reports the last result in mirrorStatus()', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    r.dp.unwatchNetns(r.linux, { withdraw: false });
    expect(r.dp.mirrorStatus()).toEqual([]);
    r.dp.watchNetns(r.linux, { driftIntervalMs: 100, driftSamples: 3 });
    const drift = () => r!.dp.mirrorStatus()[0]?.drift ?? null;
    expect(await eventually(() => (drift()?.checks ?? 0) >= 1)).toBe(true);
    expect(drift()).toMatchObject({ error: '', routes: { missing: 0, extra: 0, different: 0 } });
    // A route added behind the mirror's back is noticed without anyone asking.
    r.dp.addRoute({ prefix: '192.0.2.0/24', paths: [{ port: p.port.index, via: p.v4 }] });
    expect(await eventually(() => drift()?.routes.extra === 1 && drift()?.settled === true)).toBe(true);
    expect(drift()?.samples).toEqual(['extra route 0:192.0.2.0/24']);
    r.dp.removeRoute(0, '192.0.2.0/24');
    expect(await eventually(() => drift()?.routes.extra === 0)).toBe(true);
    expect(() => r!.dp.watchNetns('x', { driftIntervalMs: -1 })).toThrow(/driftIntervalMs/);
  });

  it('withdraws a deleted mirror\'s state and unpairs it, without a crash', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    await nsx(r.linux, 'ip', ['route', 'add', '192.0.2.0/24', 'via', b.v4]);
    expect(await eventually(() => route(r!, '192.0.2.0/24') !== undefined)).toBe(true);
    await nsx(r.linux, 'ip', ['link', 'del', b.tap]);
    expect(await eventually(() => !r!.dp.pairs().some((x) => x.port === b.port.index))).toBe(true);
    expect(route(r, '192.0.2.0/24')).toBeUndefined();
    const onB = [...r.dp.fib(0, 4), ...r.dp.fib(0, 6)].filter((e) => e.paths.some((x) => x.port === b.port.index));
    expect(onB).toEqual([]);
    expect(r.dp.adjacencies().some((x) => x.kind === 'rewrite' && x.port === b.port.index)).toBe(false);
    // The rest keeps working: a still reaches Linux through its own pair.
    expect((await udp(a.ns, r.linux, a.gw4, 20)).received).toBe(20);
  });

  it('withdraws everything from a netns that is deleted', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    await nsx(r.linux, 'ip', ['route', 'add', '192.0.2.0/24', 'via', p.v4]);
    expect(await eventually(() => route(r!, '192.0.2.0/24') !== undefined)).toBe(true);
    await sh('ip', ['netns', 'del', r.linux]);
    expect(await eventually(() => r!.dp.mirrorStatus()[0]?.state === 'netns-gone')).toBe(true);
    expect(r.dp.fib(0, 4).filter((e) => e.source === 'route' || e.kind === 'receive')).toEqual([]);
  });

  it('lcp-sync pushes port state and MTU set on the dataplane to the mirror, with no loop', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    r.dp.unwatchNetns(r.linux, { withdraw: false });
    r.dp.watchNetns(r.linux, { lcpSync: true });
    const link = async () => JSON.parse(await nsx(r!.linux, 'ip', ['-j', 'link', 'show', p.tap]))[0] as { mtu: number; flags: string[] };
    r.dp.setPort(p.port.index, { mtu: 1300 });
    expect((await link()).mtu).toBe(1300);
    r.dp.setPort(p.port.index, { up: false });
    expect((await link()).flags).not.toContain('UP');
    r.dp.setPort(p.port.index, { up: true });
    expect((await link()).flags).toContain('UP');
    const port = () => r!.dp.ports().find((x) => x.index === p.port.index);
    expect(await eventually(() => port()?.adminUp === true && port()?.mtu === 1300)).toBe(true);
    expect(r.dp.mirrorStatus()[0]?.applyErrors).toBe(0);
  });

  it('refuses bad watch options and a second watch of the same netns, naming the field', async () => {
    r = await buildRouter(1);
    expect(() => r!.dp.watchNetns(r!.linux)).toThrow(/already watched/);
    expect(() => r!.dp.watchNetns('bad/name')).toThrow(ValidationError);
    expect(() => r!.dp.watchNetns('x', { ignoreProtocols: ['nope'] as unknown as number[] })).toThrow(/ignoreProtocols\[0\]/);
    expect(() => r!.dp.watchNetns('x', { rcvbuf: 1 })).toThrow(/rcvbuf/);
    expect(() => r!.dp.watchNetns('no-such-netns-here')).toThrow(/no-such-netns-here.*No such file/);
  });
});
