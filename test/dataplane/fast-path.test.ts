// The XDP fast path: the plain cases are forwarded by an XDP program built
// from the dataplane's own FIB and adjacencies (BPF maps), everything else
// still crosses the user-space graph, and nothing is redirected to a port
// that cannot take XDP frames.
//
// Peers here send with checksum offload off ("tx off"): a local stack on a
// veth otherwise hands over CHECKSUM_PARTIAL packets, which the fast path
// leaves to the graph (a redirect would lose the note to finish them), as a
// real wire never carries them. GRO on a peer gives its veth NAPI, which a
// veth needs to receive XDP redirects.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { Dataplane, ValidationError } from '../../dataplane/dataplane.js';
import { describeRoot, eventually, nsTry, nsx } from '../helpers/lab.js';
import { buildRouter, learnNeighbors, teardown, trafficProcess, type Peer, type Router } from '../helpers/router.js';

async function udp(from: string, to: string, dst: string, count: number, size: number) {
  const sink = trafficProcess(to, ['udp-sink', dst, '5001', String(count), '6000']);
  await sink.ready;
  await trafficProcess(from, ['udp-send', dst, '5001', String(count), String(size), '1']).result;
  return (await sink.result) as { received: number; intact: number };
}

async function peerSettings(p: Peer, opts: { gro: boolean }) {
  await nsx(p.ns, 'ethtool', ['-K', p.dev, 'tx', 'off', 'gro', opts.gro ? 'on' : 'off']);
}

function fastPathOf(r: Router, port: number): string {
  return r.dp.ports().find((x) => x.index === port)?.fastPath ?? 'missing';
}

function counters(r: Router, port: number) {
  const c = r.dp.counters().ports.find((x) => x.port === port);
  if (!c) throw new Error(`no counters for port ${port}`);
  return { ...c, fpRx: c.fastPathRxPackets ?? 0, fpTx: c.fastPathTxPackets ?? 0 };
}

/** Which of `peers` the fast path sent `host`'s echo requests to ('lost': no answer). */
async function fastPathEgress(r: Router, from: Peer, peers: Record<string, Peer>, host: string): Promise<string> {
  await nsTry(from.ns, 'ping', ['-c', '1', '-W', '2', host]); // the peers' own neighbour discovery first
  const fpTx = () => Object.entries(peers).map(([name, p]) => [name, counters(r, p.port.index).fpTx] as const);
  const before = fpTx();
  const got = (await nsTry(from.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', host])).out;
  if (!got.includes('2 received')) return 'lost';
  const sent = fpTx().map(([name, n], i) => [name, n - before[i]![1]] as const);
  const took = sent.filter(([, n]) => n > 0);
  return took.length === 1 && took[0]![1] >= 2 ? took[0]![0] : JSON.stringify(sent);
}

/** A router whose peers can all take redirects; resolves once every port says 'active'. */
async function fastRouter(n: number, driver: 'af_packet' | 'af_xdp' = 'af_packet'): Promise<Router> {
  const r = await buildRouter(n, { driver });
  try {
    await learnNeighbors(r);
    for (const p of r.peers) await peerSettings(p, { gro: true });
    const active = await eventually(() => r.peers.every((p) => fastPathOf(r, p.port.index) === 'active'), 5000);
    if (!active) throw new Error(`fast path not active: ${JSON.stringify(r.dp.ports().map((p) => p.fastPath))}`);
  } catch (e) {
    await teardown(r);
    throw e;
  }
  return r;
}

describeRoot('XDP fast path', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('forwards plain IPv4 and IPv6 in XDP: its counters, not the workers, account for it, and port counters stay true', async () => {
    r = await fastRouter(2);
    const [a, b] = r.peers as [Peer, Peer];
    const a0 = counters(r, a.port.index);
    const b0 = counters(r, b.port.index);
    expect(await udp(a.ns, b.ns, b.v4, 400, 1200)).toMatchObject({ received: 400, intact: 400 });
    expect(await udp(a.ns, b.ns, b.v6, 400, 1200)).toMatchObject({ received: 400, intact: 400 });
    const a1 = counters(r, a.port.index);
    const b1 = counters(r, b.port.index);
    // All but a stray packet (a UDP checksum that happens to equal its
    // pseudo-header sum looks like CHECKSUM_PARTIAL and goes to the graph).
    expect(a1.fpRx - a0.fpRx).toBeGreaterThanOrEqual(780);
    expect(b1.fpTx - b0.fpTx).toBeGreaterThanOrEqual(780);
    // Port counters include the fast path's share; the workers saw only the
    // odd ARP/ND packet.
    expect(a1.rxPackets - a0.rxPackets).toBeGreaterThanOrEqual(800);
    expect(b1.txPackets - b0.txPackets).toBeGreaterThanOrEqual(800);
    expect(a1.rxPackets - a0.rxPackets - (a1.fpRx - a0.fpRx)).toBeLessThan(50);
    expect(a1.rxBytes - a0.rxBytes).toBeGreaterThanOrEqual(800 * 1200);
  });

  it('hands TTL=1, local destinations and unresolved next hops to the graph', async () => {
    r = await fastRouter(2);
    const [a, b] = r.peers as [Peer, Peer];
    // 203.0.113.0/24 via a next hop nobody has answered for yet: a glean.
    r.dp.addRoute({ prefix: '203.0.113.0/24', paths: [{ port: b.port.index, via: '10.2.0.99' }] });
    const before = counters(r, a.port.index);
    const e0 = r.dp.counters().errors;
    expect((await nsTry(a.ns, 'ping', ['-c', '1', '-t', '1', '-W', '2', b.v4])).out).toMatch(/Time to live exceeded/i);
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', a.gw4])).out).toContain('2 received');
    await nsTry(a.ns, 'ping', ['-c', '1', '-W', '1', '203.0.113.1']);
    const e1 = r.dp.counters().errors;
    expect((e1.punt_ttl ?? 0) - (e0.punt_ttl ?? 0)).toBeGreaterThanOrEqual(1);
    expect((e1.punt_receive ?? 0) - (e0.punt_receive ?? 0)).toBeGreaterThanOrEqual(2);
    expect((e1.punt_glean ?? 0) - (e0.punt_glean ?? 0)).toBeGreaterThanOrEqual(1);
    expect(counters(r, a.port.index).fpRx - before.fpRx).toBe(0);
  });

  it('applies route changes and deletions to its maps', async () => {
    r = await fastRouter(3);
    const [a, b, c] = r.peers as [Peer, Peer, Peer];
    for (const p of [b, c]) await nsx(p.ns, 'ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
    const ping = async () => (await nsTry(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '192.0.2.1'])).out;

    r.dp.addRoute({ prefix: '192.0.2.0/24', paths: [{ port: b.port.index, via: b.v4 }] });
    let b0 = counters(r, b.port.index).fpTx;
    expect(await ping()).toContain('3 received');
    expect(counters(r, b.port.index).fpTx - b0).toBeGreaterThanOrEqual(3);

    r.dp.addRoute({ prefix: '192.0.2.0/24', paths: [{ port: c.port.index, via: c.v4 }] }); // replace
    b0 = counters(r, b.port.index).fpTx;
    const c0 = counters(r, c.port.index).fpTx;
    expect(await ping()).toContain('3 received');
    expect(counters(r, c.port.index).fpTx - c0).toBeGreaterThanOrEqual(3);
    expect(counters(r, b.port.index).fpTx - b0).toBe(0);

    const noRoute0 = r.dp.counters().errors.no_route ?? 0;
    r.dp.removeRoute(0, '192.0.2.0/24');
    expect(await ping()).toContain('0 received');
    expect((r.dp.counters().errors.no_route ?? 0) - noRoute0).toBeGreaterThanOrEqual(3);
  });

  it('finds the longest IPv4 match in its own DIR-24-8: prefixes longer than /24 get a group, withdrawn ones fall back to their cover', async () => {
    r = await fastRouter(3);
    const [a, b, c] = r.peers as [Peer, Peer, Peer];
    const hosts = ['198.51.100.1', '198.51.100.77', '198.51.100.129'];
    for (const p of [b, c]) for (const h of hosts) await nsx(p.ns, 'ip', ['addr', 'add', `${h}/32`, 'dev', 'lo']);
    const via = (host: string) => fastPathEgress(r!, a, { b, c }, host);
    const groups = () => r!.dp.fastPathStatus().ip4Groups;
    const g0 = groups();
    expect(r.dp.fastPathStatus().ip4GroupLimit).toBe(32768);

    r.dp.addRoute({ prefix: '198.51.0.0/16', paths: [{ port: b.port.index, via: b.v4 }] });
    r.dp.addRoute({ prefix: '198.51.100.128/25', paths: [{ port: c.port.index, via: c.v4 }] });
    r.dp.addRoute({ prefix: '198.51.100.77/32', paths: [{ port: c.port.index, via: c.v4 }] });
    expect(groups() - g0).toBe(1); // one /24 holds longer prefixes
    for (const [host, peer] of [[hosts[0], 'b'], [hosts[1], 'c'], [hosts[2], 'c']] as const) expect([host, await via(host!)]).toEqual([host, peer]);

    // A /24 written over a /24 that has a group: only the words it beats change.
    r.dp.addRoute({ prefix: '198.51.100.0/24', paths: [{ port: c.port.index, via: c.v4 }] });
    expect(await via('198.51.100.1')).toBe('c');
    r.dp.removeRoute(0, '198.51.100.0/24');
    expect(await via('198.51.100.1')).toBe('b');

    // Withdrawn: the /16 covers again, still in XDP; the emptied group is folded back.
    r.dp.removeRoute(0, '198.51.100.128/25');
    expect(await via('198.51.100.129')).toBe('b');
    r.dp.removeRoute(0, '198.51.100.77/32');
    expect(await via('198.51.100.77')).toBe('b');
    expect(groups()).toBe(g0);
    expect(r.dp.fastPathStatus()).toMatchObject({ mapErrors: 0, pending: 0 });
  });

  it('finds the longest IPv6 match by probing only the lengths that exist near the address; a drop entry stops the search', async () => {
    r = await fastRouter(3);
    const [a, b, c] = r.peers as [Peer, Peer, Peer];
    const hosts = ['3fff:100::1', '3fff:100:0:8000::1', '3fff:100::77', '3fff:2ff::1', '3fff:100:0:4000::1'];
    for (const p of [b, c]) for (const h of hosts) await nsx(p.ns, 'ip', ['-6', 'addr', 'add', `${h}/128`, 'dev', 'lo']);
    const via = (host: string) => fastPathEgress(r!, a, { b, c }, host);
    const to = (port: Peer) => ({ paths: [{ port: port.port.index, via: port.v6 }] });
    r.dp.addRoute({ prefix: '3fff:100::/32', ...to(b) });
    r.dp.addRoute({ prefix: '3fff:100:0:8000::/49', ...to(c) });
    r.dp.addRoute({ prefix: '3fff:100::77/128', ...to(c) });
    r.dp.addRoute({ prefix: '3fff:200::/24', ...to(b) }); // shorter than /32: the table's own length bits
    r.dp.addRoute({ prefix: '3fff:100:0:4000::/50', drop: 'blackhole' });
    const expected = { '3fff:100::1': 'b', '3fff:100:0:8000::1': 'c', '3fff:100::77': 'c', '3fff:2ff::1': 'b', '3fff:100:0:4000::1': 'lost' };
    for (const [host, peer] of Object.entries(expected)) expect([host, await via(host)]).toEqual([host, peer]);

    // Replaced in place, then withdrawn: the /32 covers again, still in XDP.
    r.dp.addRoute({ prefix: '3fff:100:0:8000::/49', ...to(b) });
    expect(await via('3fff:100:0:8000::1')).toBe('b');
    r.dp.removeRoute(0, '3fff:100:0:8000::/49');
    expect(await via('3fff:100:0:8000::1')).toBe('b');
    r.dp.removeRoute(0, '3fff:100::77/128');
    expect(await via('3fff:100::77')).toBe('b');
    r.dp.removeRoute(0, '3fff:100:0:4000::/50');
    expect(await via('3fff:100:0:4000::1')).toBe('b');
    expect(r.dp.fastPathStatus()).toMatchObject({ mapErrors: 0, pending: 0 });
  });

  it('loads while signals keep arriving (a profiler\'s SIGPROF every 100 µs): the verifier is not interrupted into giving up', async () => {
    const plain = Dataplane.open({ workers: 1, fastPath: 'auto' });
    const usableHere = plain.fastPathStatus().usable;
    plain.close();
    if (!usableHere) return; // the kernel refuses it even without signals: nothing to show
    const dir = mkdtempSync(join(tmpdir(), 'lcp-prof-'));
    try {
      // The built facade (dist/), in a process of its own that V8's profiler interrupts.
      const script = `const { Dataplane } = await import(${JSON.stringify(pathToFileURL(join(process.cwd(), 'dist', 'dataplane', 'dataplane.js')).href)});
        const dp = Dataplane.open({ workers: 1, rxRingSize: 256 });
        process.stdout.write(JSON.stringify(dp.fastPathStatus()));
        dp.close();`;
      const out = execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, '--input-type=module', '-e', script]).toString();
      expect(JSON.parse(out)).toMatchObject({ usable: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('costs nothing at rest: with no port to watch, its monitor thread sleeps until there is one', async () => {
    const monitors = (): Map<string, number> => {
      const out = new Map<string, number>();
      for (const t of readdirSync('/proc/self/task')) {
        try {
          if (readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() !== 'lcp-fp-monitor') continue;
          const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${t}/status`, 'utf8'));
          out.set(t, Number(m?.[1] ?? NaN));
        } catch {
          // the thread ended meanwhile
        }
      }
      return out;
    };
    const before = new Set(monitors().keys());
    const dp = Dataplane.open({ workers: 1, fastPath: 'auto' });
    try {
      const mine = [...monitors().keys()].filter((t) => !before.has(t));
      expect(mine).toHaveLength(1);
      const wakeups = () => monitors().get(mine[0]!)!;
      const w0 = wakeups();
      await new Promise((res) => setTimeout(res, 1000)); // ten ticks of its 100 ms timer, were it running
      expect(wakeups() - w0).toBeLessThanOrEqual(1);
    } finally {
      dp.close();
    }
  });

  it('steps aside while a trace is armed, so traced packets cross the graph', async () => {
    r = await fastRouter(2);
    const [a, b] = r.peers as [Peer, Peer];
    r.dp.trace(4);
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.v4])).out).toContain('2 received');
    const forwarded = r.dp.traceRecords().find((t) => t.rxPort === a.port.index && t.nodes.includes('ip4-rewrite'));
    expect(forwarded?.nodes).toEqual(['port-input', 'ethernet-input', 'ip4-input', 'ip4-lookup', 'ip4-rewrite', 'port-output']);
    // Once the trace has its packets, the fast path takes over again.
    const fp0 = counters(r, a.port.index).fpRx;
    expect(await eventually(async () => {
      await nsTry(a.ns, 'ping', ['-c', '1', '-W', '1', b.v4]);
      return counters(r!, a.port.index).fpRx > fp0;
    }, 5000, 200)).toBe(true);
  });

  it('with fastPath off, attaches nothing and the graph forwards everything', async () => {
    r = await buildRouter(2, { fastPath: 'off' });
    await learnNeighbors(r);
    const [a, b] = r.peers as [Peer, Peer];
    for (const p of r.peers) await peerSettings(p, { gro: true });
    expect(() => r!.dp.addPort({ name: 'nope0', fastPath: 'fast' as never })).toThrow(ValidationError);
    for (const p of r.peers) {
      expect(fastPathOf(r, p.port.index)).toMatch(/^inactive: fastPath off/);
      expect(await nsx(r.dut, 'ip', ['link', 'show', p.port.name])).not.toMatch(/xdp/);
    }
    expect(await udp(a.ns, b.ns, b.v4, 300, 200)).toMatchObject({ received: 300, intact: 300 });
    expect(counters(r, a.port.index).fpRx).toBe(0);
    expect(counters(r, b.port.index).txPackets).toBeGreaterThanOrEqual(300);
  });

  it('never redirects to a port whose peer cannot take XDP frames: rx-only, and traffic still arrives', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers as [Peer, Peer];
    await peerSettings(a, { gro: false });
    await peerSettings(b, { gro: false });
    expect(await eventually(() => fastPathOf(r!, b.port.index).startsWith('rx-only:'), 3000)).toBe(true);
    expect(await udp(a.ns, b.ns, b.v4, 300, 200)).toMatchObject({ received: 300, intact: 300 });
    expect(counters(r, b.port.index).fpTx).toBe(0);

    await peerSettings(b, { gro: true }); // the peer gets NAPI: redirects work now
    expect(await eventually(() => fastPathOf(r!, b.port.index) === 'active', 3000)).toBe(true);
    expect(await udp(a.ns, b.ns, b.v4, 300, 200)).toMatchObject({ received: 300, intact: 300 });
    const fp = counters(r, b.port.index).fpTx;
    expect(fp).toBeGreaterThanOrEqual(300);

    await peerSettings(b, { gro: false }); // and loses it again
    expect(await eventually(() => fastPathOf(r!, b.port.index).startsWith('rx-only:'), 3000)).toBe(true);
    expect(await udp(a.ns, b.ns, b.v4, 300, 200)).toMatchObject({ received: 300, intact: 300 });
    expect(counters(r, b.port.index).fpTx).toBe(fp);
  });

  it('shares one program per interface with an AF_XDP port: fast path first, the rest to its socket', async () => {
    r = await fastRouter(2, 'af_xdp');
    const [a, b] = r.peers as [Peer, Peer];
    const fp0 = counters(r, a.port.index).fpRx;
    expect(await udp(a.ns, b.ns, b.v4, 300, 600)).toMatchObject({ received: 300, intact: 300 });
    expect(counters(r, a.port.index).fpRx - fp0).toBeGreaterThanOrEqual(290);
    // Host-bound packets still reach the AF_XDP socket, and Linux answers.
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', a.gw4])).out).toContain('2 received');
  });

  it('detaches its program when the port is given back', async () => {
    r = await fastRouter(2);
    const [a] = r.peers as [Peer, Peer];
    expect(await nsx(r.dut, 'ip', ['link', 'show', a.port.name])).toMatch(/prog\/xdp .*name lcp_fastpath/);
    r.dp.removePort(a.port.index);
    expect(await nsx(r.dut, 'ip', ['link', 'show', a.port.name])).not.toMatch(/xdp/);
  });

  it('picks the same ECMP next hop as the graph for every flow', async () => {
    r = await fastRouter(3);
    const [a, b, c] = r.peers as [Peer, Peer, Peer];
    for (const p of [b, c]) await nsx(p.ns, 'ip', ['addr', 'add', '198.51.100.1/32', 'dev', 'lo']);
    r.dp.addRoute({ prefix: '198.51.100.0/24', paths: [{ port: b.port.index, via: b.v4 }, { port: c.port.index, via: c.v4 }] });
    const fp0 = counters(r, a.port.index).fpRx;
    const sinkB = trafficProcess(b.ns, ['udp-sink', '198.51.100.1', '5001', '4000', '8000']);
    const sinkC = trafficProcess(c.ns, ['udp-sink', '198.51.100.1', '5001', '4000', '8000']);
    await Promise.all([sinkB.ready, sinkC.ready]);
    // The first packets cross the graph (a trace holds the fast path back),
    // the rest go through XDP: a flow seen at both sinks would mean the two
    // paths hash it differently.
    r.dp.trace(100);
    await trafficProcess(a.ns, ['udp-send', '198.51.100.1', '5001', '4000', '100', '40']).result;
    const [gb, gc] = (await Promise.all([sinkB.result, sinkC.result])) as { received: number; flows: number }[];
    expect((gb?.received ?? 0) + (gc?.received ?? 0)).toBe(4000);
    const viaXdp = counters(r, a.port.index).fpRx - fp0;
    expect(viaXdp).toBeGreaterThan(0);
    expect(viaXdp).toBeLessThan(4000);
    expect(gb?.flows).toBeGreaterThanOrEqual(8);
    expect(gc?.flows).toBeGreaterThanOrEqual(8);
    expect((gb?.flows ?? 0) + (gc?.flows ?? 0)).toBe(40);
  });
});
