// Routed forwarding in the dataplane: FIB lookup, rewrite, ECMP. Traffic
// between peer namespaces must arrive intact and must not touch Linux.
import { describeRoot, nsx } from '../helpers/lab.js';
import { buildRouter, learnNeighbors, teardown, trafficProcess, type Router } from '../helpers/router.js';

async function udp(from: string, to: string, bind: string, count: number, size: number, timeoutMs = 8000) {
  const sink = trafficProcess(to, ['udp-sink', bind, '5001', String(count), String(timeoutMs)]);
  await sink.ready;
  const dst = bind;
  await trafficProcess(from, ['udp-send', dst, '5001', String(count), String(size), '1']).result;
  return (await sink.result) as { received: number; intact: number; flows: number };
}

async function tcp(from: string, to: string, bind: string, bytes: number) {
  const sink = trafficProcess(to, ['tcp-sink', bind, '5002', '20000']);
  await sink.ready;
  const sent = (await trafficProcess(from, ['tcp-send', bind, '5002', String(bytes)]).result) as { sha256: string };
  const got = (await sink.result) as { bytes: number; sha256: string };
  return { sent, got };
}

describeRoot('routed forwarding', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('forwards IPv4 and IPv6 UDP and TCP between two peers intact, in the dataplane', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    const punted = () => r!.dp.counters().ports.reduce((s, p) => s + p.punts, 0);
    const u4 = await udp(a.ns, b.ns, b.v4, 500, 1200);
    expect(u4).toMatchObject({ received: 500, intact: 500 });
    const u6 = await udp(a.ns, b.ns, b.v6, 500, 1200);
    expect(u6).toMatchObject({ received: 500, intact: 500 });
    const puntsBeforeTcp = punted();
    const t4 = await tcp(a.ns, b.ns, b.v4, 4 << 20);
    expect(t4.got.bytes).toBe(4 << 20);
    expect(t4.got.sha256).toBe(t4.sent.sha256);
    const t6 = await tcp(a.ns, b.ns, b.v6, 4 << 20);
    expect(t6.got.sha256).toBe(t6.sent.sha256);
    // Transit went through the dataplane, not through Linux on the mirrors.
    expect(punted() - puntsBeforeTcp).toBeLessThan(10);
    const bc = r.dp.counters().ports.find((x) => x.port === b.port.index);
    expect(bc?.txPackets).toBeGreaterThan(1000);
  });

  it('follows routes set through the API: a route change moves the traffic, a blackhole drops it', async () => {
    r = await buildRouter(3);
    await learnNeighbors(r);
    const [a, b, c] = r.peers;
    if (!a || !b || !c) throw new Error('no peers');
    // 192.0.2.1 lives on both b and c; the FIB decides who gets the traffic.
    for (const p of [b, c]) await nsx(p.ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
    r.dp.addRoute({ prefix: '192.0.2.0/24', paths: [{ port: b.port.index, via: b.v4 }] });
    expect((await udp(a.ns, b.ns, '192.0.2.1', 100, 100)).received).toBe(100);
    r.dp.addRoute({ prefix: '192.0.2.0/24', paths: [{ port: c.port.index, via: c.v4 }] }); // replace
    expect(r.dp.fib(0, 4).filter((e) => e.prefix === '192.0.2.0/24')).toHaveLength(1);
    expect((await udp(a.ns, c.ns, '192.0.2.1', 100, 100)).received).toBe(100);
    r.dp.addRoute({ prefix: '192.0.2.0/24', drop: 'blackhole' });
    const before = r.dp.counters().errors.blackhole ?? 0;
    expect((await udp(a.ns, c.ns, '192.0.2.1', 50, 100, 1500)).received).toBe(0);
    expect((r.dp.counters().errors.blackhole ?? 0) - before).toBe(50);
  });

  it('spreads flows over two next hops with ECMP', async () => {
    r = await buildRouter(3);
    await learnNeighbors(r);
    const [a, b, c] = r.peers;
    if (!a || !b || !c) throw new Error('no peers');
    for (const p of [b, c]) await nsx(p.ns, 'ip', ['addr', 'add', '198.51.100.1/32', 'dev', 'lo']);
    r.dp.addRoute({ prefix: '198.51.100.0/24', paths: [{ port: b.port.index, via: b.v4 }, { port: c.port.index, via: c.v4 }] });
    const sinkB = trafficProcess(b.ns, ['udp-sink', '198.51.100.1', '5001', '400', '3000']);
    const sinkC = trafficProcess(c.ns, ['udp-sink', '198.51.100.1', '5001', '400', '3000']);
    await Promise.all([sinkB.ready, sinkC.ready]);
    await trafficProcess(a.ns, ['udp-send', '198.51.100.1', '5001', '400', '100', '40']).result;
    const [gb, gc] = (await Promise.all([sinkB.result, sinkC.result])) as { received: number; flows: number }[];
    expect((gb?.received ?? 0) + (gc?.received ?? 0)).toBe(400);
    // 40 flows over 2 paths: both get a fair share, each flow sticks to one path.
    expect(gb?.flows).toBeGreaterThanOrEqual(8);
    expect(gc?.flows).toBeGreaterThanOrEqual(8);
    expect((gb?.flows ?? 0) + (gc?.flows ?? 0)).toBe(40);
  });

  it.each<[string, { driver?: 'af_xdp'; workers?: number }]>([
    ['AF_XDP ports', { driver: 'af_xdp' }],
    ['two workers (each port on its own worker)', { workers: 2 }],
  ])('forwards IPv4 and IPv6 intact through %s', async (_name, opts) => {
    r = await buildRouter(2, opts);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    if (opts.workers) expect(new Set(r.dp.ports().map((p) => p.index)).size).toBe(2);
    expect(await udp(a.ns, b.ns, b.v4, 300, 1000)).toMatchObject({ received: 300, intact: 300 });
    expect(await udp(a.ns, b.ns, b.v6, 300, 1000)).toMatchObject({ received: 300, intact: 300 });
    const t = await tcp(a.ns, b.ns, b.v4, 1 << 20);
    expect(t.got.sha256).toBe(t.sent.sha256);
    expect(r.dp.ports().every((p) => p.driver === (opts.driver ?? 'af_packet'))).toBe(true);
  });
});
