// Sub-ports (VLANs): a port with a parent and an outer tag. Tagged frames from
// the wire are the sub-port's (its table, its counters); routes over it leave
// through the parent with the tag; its host-bound packets are punted to the
// parent's mirror with the tag intact, for a VLAN device there. This kernel
// has no 8021q VLAN devices, so the peer speaks VLAN through a packet socket.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describeRoot, eventually, nsx } from '../helpers/lab.js';
import { buildRouter, learnNeighbors, nsTool, teardown, trafficProcess, type Router } from '../helpers/router.js';

const frames = join(dirname(fileURLToPath(import.meta.url)), 'vlan_frames.py');

/** `python3 vlan_frames.py ARGS` in a netns; resolves `ready` when it printed "ready", `result` with its JSON. */
function framesTool(ns: string, args: string[]): { ready: Promise<void>; result: Promise<Record<string, number>> } {
  const t = nsTool(ns, ['python3', frames, ...args]);
  return { ready: t.ready, result: t.result as Promise<Record<string, number>> };
}

async function udpSink(ns: string, dst: string, count: number, timeoutMs = 4000) {
  const sink = trafficProcess(ns, ['udp-sink', dst, '5001', String(count), String(timeoutMs)]);
  await sink.ready;
  return sink.result as Promise<{ received: number }>;
}

describeRoot('sub-ports (VLAN)', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  const ctr = (i: number) => r!.dp.counters().ports.find((x) => x.port === i)!;

  it('takes tagged frames as the sub-port\'s and routes them natively; unknown tags still go to Linux', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    await nsx(b.ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
    await nsx(r.linux, 'ip', ['route', 'add', '192.0.2.0/24', 'via', b.v4]);
    expect(await eventually(() => r!.dp.fib(0, 4).some((e) => e.prefix === '192.0.2.0/24' && e.source === 'route'))).toBe(true);
    const q = r.dp.addSubPort(a.port.index, 300);
    const ad = r.dp.addSubPort(a.port.index, 400, { tpid: 'dot1ad' });
    expect(q).toMatchObject({ parent: a.port.index, vlan: 300, tpid: 'dot1q', mac: a.port.mac, adminUp: true });

    const send = (tpid: string, vlan: number, n: number) =>
      framesTool(a.ns, ['send', a.dev, a.port.mac, a.mac, tpid, String(vlan), a.v4, '192.0.2.1', '5001', String(n)]).result;
    const sink = udpSink(b.ns, '192.0.2.1', 80);
    await send('8100', 300, 50);
    await send('88a8', 400, 30);
    expect((await sink).received).toBe(80);
    expect(ctr(b.port.index).txPackets).toBeGreaterThanOrEqual(80);

    // A tag that is no sub-port is Linux's business: punted, not routed.
    const punts = ctr(a.port.index).punts;
    const none = udpSink(b.ns, '192.0.2.1', 20, 1500);
    await send('8100', 301, 20);
    expect((await none).received).toBe(0);
    expect(ctr(a.port.index).punts - punts).toBeGreaterThanOrEqual(20);

    // A sub-port that is down drops its traffic; removed, its tag is unknown again.
    r.dp.setPort(q.index, { up: false });
    const down = udpSink(b.ns, '192.0.2.1', 10, 1500);
    await send('8100', 300, 10);
    expect((await down).received).toBe(0);
    r.dp.removeSubPort(ad.index);
    expect(r.dp.ports().some((x) => x.index === ad.index)).toBe(false);
  });

  it('sends routes over the sub-port tagged out of the parent, and punts its host traffic to the parent\'s mirror with the tag', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    const s = r.dp.addSubPort(a.port.index, 300);
    r.dp.addAddress(s.index, '10.30.0.1/24');
    r.dp.addNeighbor(s.index, '10.30.0.2', a.mac);
    r.dp.addRoute({ prefix: '198.51.100.0/24', paths: [{ port: s.index, via: '10.30.0.2' }] });
    // dst MAC, src MAC, 8100 012c (vlan 300), 0800
    expect(r.dp.adjacencies()).toContainEqual(expect.objectContaining({
      kind: 'rewrite', port: s.index, nextHop: '10.30.0.2', rewrite: `${a.mac}${a.port.mac}8100012c0800`.replace(/:/g, ''),
    }));

    const wire = framesTool(a.ns, ['recv', a.dev, '8100', '300', '5001', '50', '5000']);
    await wire.ready;
    const tx = ctr(s.index).txPackets;
    await trafficProcess(b.ns, ['udp-send', '198.51.100.1', '5001', '50', '200', '1']).result;
    expect(await wire.result).toEqual({ matched: 50, other: 0 });
    expect(ctr(s.index).txPackets - tx).toBeGreaterThanOrEqual(50); // counted on the sub-port

    // To the sub-port's own address: punted to a's TAP, tag intact.
    const tap = framesTool(r.linux, ['recv', a.tap, '8100', '300', '5002', '20', '5000']);
    await tap.ready;
    const punts = ctr(s.index).punts;
    await framesTool(a.ns, ['send', a.dev, a.port.mac, a.mac, '8100', '300', '10.30.0.2', '10.30.0.1', '5002', '20']).result;
    expect(await tap.result).toEqual({ matched: 20, other: 0 });
    expect(ctr(s.index).punts - punts).toBe(20);
  });

  it('refuses bad tags, duplicates, nesting and a mirror of its own; goes with its parent', async () => {
    r = await buildRouter(1);
    const [a] = r.peers;
    if (!a) throw new Error('no peer');
    const s = r.dp.addSubPort(a.port.index, 10, { tpid: 'dot1ad' });
    expect(() => r!.dp.addSubPort(a.port.index, 10, { tpid: 'dot1ad' })).toThrow(/already has sub-port/);
    expect(() => r!.dp.addSubPort(a.port.index, 0)).toThrow(/vlan/);
    expect(() => r!.dp.addSubPort(a.port.index, 4095)).toThrow(/vlan/);
    expect(() => r!.dp.addSubPort(s.index, 11)).toThrow(/sub-port/);
    expect(() => r!.dp.createPair(s.index, { name: 'x', netns: r!.linux })).toThrow(/sub-port/);
    expect(() => r!.dp.removeSubPort(a.port.index)).toThrow(/not a sub-port/);
    const t = r.dp.addSubPort(a.port.index, 11);
    r.dp.removeSubPort(s.index);
    expect(r.dp.ports().some((x) => x.index === s.index)).toBe(false);
    r.dp.removePort(a.port.index);
    expect(r.dp.ports().some((x) => x.index === t.index)).toBe(false);
  });
});
