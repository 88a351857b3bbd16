// The control API: typed, validated, errors as exceptions with clear
// messages; FIB/adjacency dumps and the packet tracer tell the truth.
import { execFileSync } from 'node:child_process';

import { Dataplane, ValidationError } from '../../dataplane/dataplane.js';
import { describeRoot, eventually, nsTry, nsx, sh } from '../helpers/lab.js';
import { ipBatch } from '../helpers/veths.js';
import { buildRouter, learnNeighbors, teardown, type Router } from '../helpers/router.js';

describe('dataplane API without ports', () => {
  let dp: Dataplane;
  beforeAll(() => {
    dp = Dataplane.open({ workers: 1, buffersPerWorker: 1024 });
  });
  afterAll(() => dp.close());

  it('refuses bad input with messages that name the field', () => {
    expect(() => dp.addPort({ name: '../etc/passwd' })).toThrow(ValidationError);
    expect(() => dp.addPort({ name: 'eth0', netns: '../../proc/1/ns/net' })).toThrow(/netns/);
    expect(() => dp.addPort({ name: 'a-name-longer-than-15' })).toThrow(/interface name/);
    expect(() => dp.addRoute({ prefix: '10.0.0.1/8', paths: [{ port: 0 }] })).toThrow(/host bits/);
    expect(() => dp.addRoute({ prefix: '10.0.0.0/33', drop: 'blackhole' })).toThrow(/prefix length|length/);
    expect(() => dp.addRoute({ prefix: '10.0.0.0/8', paths: [] })).toThrow(/at least one path/);
    expect(() => dp.addRoute({ prefix: '10.0.0.0/8', paths: [{ port: 7, via: '10.0.0.1' }] })).toThrow(/port 7/);
    expect(() => dp.addNeighbor(0, 'not-an-ip', '02:00:00:00:00:01')).toThrow(/not an IP/);
    expect(() => dp.addNeighbor(0, '10.0.0.1', '01:00:5e:00:00:01')).toThrow(/multicast/);
    expect(() => dp.setPort(3, { up: true })).toThrow(/port 3/);
    expect(() => dp.trace(0)).toThrow(/count/);
  });

  it('reports a missing netdev or netns with the errno and the object named', () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      dp.addPort({ name: 'lcpnosuchdev0' });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.message).toMatch(/lcpnosuchdev0/);
    expect(err?.code).toBe('ENODEV');
    expect(() => dp.addPort({ name: 'lo', netns: 'lcp-no-such-netns' })).toThrow(/lcp-no-such-netns/);
  });

  it('keeps tables apart and installs drop routes of each kind', () => {
    dp.addTable(100);
    dp.addRoutes([
      { table: 100, prefix: '10.0.0.0/8', drop: 'unreachable' },
      { table: 100, prefix: '2001:db8::/32', drop: 'prohibit' },
      { prefix: '10.0.0.0/8', drop: 'blackhole' },
    ]);
    expect(dp.fib(100, 4).map((e) => [e.prefix, e.kind])).toContainEqual(['10.0.0.0/8', 'unreachable']);
    expect(dp.fib(100, 6).map((e) => [e.prefix, e.kind])).toContainEqual(['2001:db8::/32', 'prohibit']);
    expect(dp.fib(0, 4).map((e) => [e.prefix, e.kind])).toContainEqual(['10.0.0.0/8', 'blackhole']);
    expect(dp.removeRoute(100, '10.0.0.0/8')).toBe(true);
    expect(dp.removeRoute(100, '10.0.0.0/8')).toBe(false);
    expect(() => dp.removeTable(0)).toThrow();
    dp.removeTable(100);
    expect(dp.tables()).not.toContain(100);
  });
});

describeRoot('dataplane API with ports', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('dumps connected, receive and neighbour state, and traces packets through the nodes', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    const fib = r.dp.fib(0, 4);
    expect(fib).toContainEqual(expect.objectContaining({ prefix: '10.1.0.1/32', source: 'interface', kind: 'receive' }));
    expect(fib).toContainEqual(expect.objectContaining({ prefix: '10.1.0.0/24', source: 'interface', kind: 'glean' }));
    const adj = r.dp.adjacencies().find((x) => x.kind === 'rewrite' && x.nextHop === b.v4);
    expect(adj?.port).toBe(b.port.index);
    // dst mac = peer b, src mac = port b, IPv4 ethertype
    expect(adj?.rewrite).toBe(b.mac.replace(/:/g, '') + b.port.mac.replace(/:/g, '') + '0800');

    // One port or pair by index or netdev: the same as in the full lists.
    expect(r.dp.port(b.port.index)).toEqual(r.dp.ports().find((p) => p.index === b.port.index));
    expect(r.dp.findPort(b.port.name, r.dut)).toEqual(r.dp.port(b.port.index));
    expect(r.dp.pair(a.port.index)).toEqual(r.dp.pairs().find((p) => p.port === a.port.index));
    expect([r.dp.port(99), r.dp.pair(99), r.dp.findPort(b.port.name), r.dp.findPort('nosuch0', r.dut)]).toEqual([undefined, undefined, undefined, undefined]);
    expect(() => r!.dp.port(-1)).toThrow(ValidationError);

    r.dp.trace(4);
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.v4])).out).toContain('2 received');
    const forwarded = r.dp.traceRecords().find((t) => t.rxPort === a.port.index && t.nodes.includes('ip4-rewrite'));
    expect(forwarded?.nodes).toEqual(['port-input', 'ethernet-input', 'ip4-input', 'ip4-lookup', 'ip4-rewrite', 'port-output']);
  });
});

describe('dataplane sizing', () => {
  it('refuses an rxRingSize that is not a power of two in 256..16384', () => {
    expect(() => Dataplane.open({ rxRingSize: 300 })).toThrow(/rxRingSize/);
    expect(() => Dataplane.open({ rxRingSize: 128 })).toThrow(/rxRingSize/);
    expect(() => Dataplane.open({ rxRingSize: 32768 })).toThrow(/rxRingSize/);
  });

  it('refuses an rxRing other than auto, v2 or v3', () => {
    expect(() => Dataplane.open({ rxRing: 'v1' as never })).toThrow(/rxRing/);
    expect(() => Dataplane.open({ rxRing: 'V3' as never })).toThrow(ValidationError);
  });
});

describeRoot('dataplane sizing with ports', () => {
  const ns = `lcpring${process.pid % 100000}`;
  beforeAll(async () => {
    await sh('ip', ['netns', 'add', ns]);
    await sh('ip', ['-n', ns, 'link', 'add', 'name', 'rg0', 'type', 'veth', 'peer', 'name', 'rg1']);
  });
  afterAll(async () => {
    await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  it('sizes each port\'s AF_PACKET receive ring from rxRingSize (default 2048 frames, 4 MiB)', () => {
    for (const [rxRingSize, bytes] of [[undefined, 4 << 20], [256, 512 << 10], [16384, 32 << 20]] as const) {
      const dp = Dataplane.open({ workers: 1, fastPath: 'off', ...(rxRingSize ? { rxRingSize } : {}) });
      try {
        const port = dp.addPort({ name: 'rg0', netns: ns, driver: 'af_packet' });
        expect({ rxRingSize, bytes: dp.ports().find((p) => p.index === port.index)?.rxRingBytes }).toEqual({ rxRingSize, bytes });
      } finally {
        dp.close();
      }
    }
  });

  it('picks the receive ring layout: v2 under the XDP fast path, v3 for the graph, or as rxRing says (same memory)', () => {
    const cases = [
      [undefined, 'auto', 'auto', 'v2'], // the fast path takes the port's receive (if usable here)
      [undefined, 'off', 'auto', 'v3'], // the graph forwards: large batches
      [undefined, 'auto', 'off', 'v3'], // fast path off for this port
      ['v2', 'off', 'auto', 'v2'],
      ['v3', 'auto', 'auto', 'v3'],
    ] as const;
    for (const [rxRing, fastPath, portFastPath, want] of cases) {
      const dp = Dataplane.open({ workers: 1, fastPath, rxRingSize: 256, ...(rxRing ? { rxRing } : {}) });
      try {
        const expected = rxRing === undefined && fastPath === 'auto' && portFastPath === 'auto' && !dp.fastPathStatus().usable ? 'v3' : want;
        const port = dp.addPort({ name: 'rg0', netns: ns, driver: 'af_packet', fastPath: portFastPath });
        expect({ rxRing, fastPath, portFastPath, got: port.rxRing, bytes: port.rxRingBytes }).toEqual({ rxRing, fastPath, portFastPath, got: expected, bytes: 512 << 10 });
      } finally {
        dp.close();
      }
    }
  });
});

describeRoot('adding ports off the event loop (addPortAsync)', () => {
  const ns = `lcpasync${process.pid % 100000}`;
  const names = Array.from({ length: 8 }, (_, i) => `as${i}`);
  beforeAll(async () => {
    await sh('ip', ['netns', 'add', ns]);
    await ipBatch(ns, names.flatMap((n) => [`link add ${n} type veth peer name ${n}p`, `link set ${n} up`, `link set ${n}p up`]));
  });
  afterAll(async () => {
    await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
  });
  /** Our tc filters on a netdev, read at once (no await between a close() and this). */
  const guardFilters = (dev: string): string =>
    ['ingress', 'egress'].map((dir) => execFileSync('ip', ['netns', 'exec', ns, 'tc', 'filter', 'show', 'dev', dev, dir]).toString().trim()).join('');

  it('adds ports awaited together, each once, as addPort would', async () => {
    const dp = Dataplane.open({ workers: 1, rxRingSize: 256 });
    try {
      const ports = await Promise.all(names.map((name) => dp.addPortAsync({ name, netns: ns, driver: 'af_packet' })));
      expect(new Set(ports.map((p) => p.index)).size).toBe(names.length);
      expect(dp.ports().map((p) => p.name).sort()).toEqual([...names].sort());
      expect(ports[0]).toEqual(dp.port(ports[0]!.index));
      expect(guardFilters('as0')).not.toBe(''); // taken over: the kernel guard is on
    } finally {
      dp.close();
    }
  });

  it('gives ports back awaited together (removePortAsync); a netdev is never re-added while its old guard comes off', async () => {
    const dp = Dataplane.open({ workers: 1, rxRingSize: 256 });
    try {
      const ports = await Promise.all(names.map((name) => dp.addPortAsync({ name, netns: ns, driver: 'af_packet' })));
      await Promise.all(ports.map((p) => dp.removePortAsync(p.index)));
      expect(dp.ports()).toEqual([]);
      expect(names.filter((n) => guardFilters(n) !== '')).toEqual([]);
      await expect(dp.removePortAsync(ports[0]!.index)).rejects.toThrow(/no such port/);
      // Remove and add the same netdev at once, whatever order the threads take them in:
      // in the end it is a port with the kernel guard on, or not a port and clean.
      for (let round = 0; round < 5; round++) {
        const p = await dp.addPortAsync({ name: 'as2', netns: ns, driver: 'af_packet' });
        const [, added] = await Promise.allSettled([dp.removePortAsync(p.index), dp.addPortAsync({ name: 'as2', netns: ns, driver: 'af_packet' })]);
        const held = dp.findPort('as2', ns) !== undefined;
        expect({ round, added: added.status, held, guarded: guardFilters('as2') !== '' }).toEqual({ round, added: added.status, held, guarded: held });
        const again = dp.findPort('as2', ns);
        if (again) await dp.removePortAsync(again.index);
      }
    } finally {
      dp.close();
    }
  });

  it('refuses the same netdev added twice at once, and rejects with the errno and the field', async () => {
    const dp = Dataplane.open({ workers: 1, rxRingSize: 256 });
    try {
      const both = await Promise.allSettled([0, 1].map(() => dp.addPortAsync({ name: 'as1', netns: ns, driver: 'af_packet' })));
      expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = both.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(String(refused?.reason)).toMatch(/as1.*(being added or removed|already a port)/);
      expect(dp.ports()).toHaveLength(1);
      await expect(dp.addPortAsync({ name: 'lcpnosuchdev0', netns: ns })).rejects.toMatchObject({ code: 'ENODEV', message: expect.stringMatching(/lcpnosuchdev0/) });
      await expect(dp.addPortAsync({ name: '../etc/passwd' })).rejects.toThrow(ValidationError);
    } finally {
      dp.close();
    }
  });

  it('close() waits for adds in flight: when it returns, every netdev is the kernel\'s again', async () => {
    const dp = Dataplane.open({ workers: 1, rxRingSize: 256 });
    const pending = names.map((name) => dp.addPortAsync({ name, netns: ns, driver: 'af_packet' }));
    dp.close();
    const left = names.filter((n) => guardFilters(n) !== '');
    await Promise.allSettled(pending);
    expect(left).toEqual([]);
    expect(() => dp.ports()).toThrow(/closed/);
  });
});

describeRoot('receive ring layouts', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('forwards through the graph over a TPACKET_V2 ring (rxRing v2)', async () => {
    r = await buildRouter(2, { fastPath: 'off', rxRing: 'v2' });
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    expect(r.dp.ports().map((p) => p.rxRing)).toEqual(['v2', 'v2']);
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.v4])).out).toContain('2 received');
  });

  it('reopens a V2 ring whose slots are too small once the MTU grows, so jumbo frames still arrive', async () => {
    r = await buildRouter(1, { fastPath: 'off', rxRing: 'v2' });
    const [a] = r.peers;
    expect(a?.port.rxRing).toBe('v2');
    if (!a) throw new Error('no peer');
    await nsx(a.ns, 'ip', ['link', 'set', a.dev, 'mtu', '9000']);
    r.dp.setPort(a.port.index, { mtu: 9000 });
    const rx = () => r!.dp.counters().ports.find((c) => c.port === a.port.index)?.rxBytes ?? 0;
    const before = rx();
    // An 8000 B echo request to the mirror's address: a slot sized for 1500 would truncate it.
    await nsTry(a.ns, 'ping', ['-c', '1', '-W', '1', '-s', '8000', '-M', 'do', a.gw4]);
    expect(await eventually(() => rx() - before >= 8000)).toBe(true);
  });
});
