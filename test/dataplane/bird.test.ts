// A real routing daemon on the mirror: Debian's BIRD in the "linux" netns
// peers eBGP with BIRD in a peer netns. The session itself crosses the
// dataplane (punt to the TAP, cross-connect back out of the port); the routes
// it learns go into the kernel (proto bird), the netlink mirror copies them
// into the FIB, and the dataplane forwards transit traffic by them.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describeRoot, eventually, nsx } from '../helpers/lab.js';
import { buildRouter, teardown, udp, waitForNeighbors, type Router } from '../helpers/router.js';

const birdBin = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const birdcBin = ['/usr/sbin/birdc', '/usr/bin/birdc'].find((p) => existsSync(p));
const describeBird = birdBin && birdcBin ? describeRoot : describe.skip;

/** Prefixes the peer originates (static blackholes in its BIRD) plus one it can receive. */
const ORIGINATED = 300;
const originated = Array.from({ length: ORIGINATED }, (_, i) => `100.${64 + (i >> 8)}.${i & 255}.0/24`);
const LOOPBACK_NET = '198.51.100.0/24';
const LOOPBACK = '198.51.100.1';

interface Bird {
  child: ChildProcess;
  dir: string;
  sock: string;
  exited: Promise<void>;
}

function startBird(ns: string, config: string): Bird {
  const dir = mkdtempSync(join(tmpdir(), 'kube-lcp-bird-'));
  const conf = join(dir, 'bird.conf');
  const sock = join(dir, 'bird.ctl');
  writeFileSync(conf, config);
  // `ip netns exec` execs bird, so the child is bird itself (foreground, -f).
  const child = spawn('ip', ['netns', 'exec', ns, birdBin!, '-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.on('error', () => undefined);
  child.on('close', (code, signal) => {
    if (code && !signal) process.stderr.write(`bird in ${ns} exited ${code}: ${err}\n`);
  });
  return { child, dir, sock, exited };
}

async function stopBird(b: Bird | undefined): Promise<void> {
  if (!b) return;
  if (b.child.exitCode === null && b.child.signalCode === null) {
    b.child.kill('SIGTERM');
    const killer = setTimeout(() => b.child.kill('SIGKILL'), 3000);
    await b.exited;
    clearTimeout(killer);
  }
  rmSync(b.dir, { recursive: true, force: true });
}

function birdc(ns: string, b: Bird, ...cmd: string[]): Promise<string> {
  if (b.child.exitCode !== null) throw new Error(`bird in ${ns} exited ${b.child.exitCode}`);
  return nsx(ns, birdcBin!, ['-s', b.sock, ...cmd]);
}

const timers = `
    hold time 9; keepalive time 3;
    connect delay time 1; connect retry time 2; error wait time 1, 4;`;

function linuxConfig(peer: string): string {
  return `
router id 10.2.0.1;
protocol device { scan time 2; }
protocol kernel k4 {
  ipv4 { export all; import none; };
}
protocol bgp to_peer {
  local as 65001;
  neighbor ${peer} as 65002;${timers}
  ipv4 { import all; export none; };
}
`;
}

function peerConfig(linux: string): string {
  return `
router id 10.2.0.2;
protocol device { scan time 2; }
protocol static prefixes {
  ipv4;
${originated.map((p) => `  route ${p} blackhole;`).join('\n')}
  route ${LOOPBACK_NET} blackhole;
}
protocol bgp to_linux {
  local as 65002;
  neighbor ${linux} as 65001;${timers}
  ipv4 { import none; export where proto = "prefixes"; };
}
`;
}

async function kernelBirdRoutes(ns: string): Promise<Set<string>> {
  const out = await nsx(ns, 'ip', ['-4', 'route', 'show', 'proto', 'bird']);
  return new Set(out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((p) => p !== ''));
}

describeBird('BIRD on the mirror', () => {
  let r: Router | undefined;
  let linuxBird: Bird | undefined;
  let peerBird: Bird | undefined;
  afterEach(async () => {
    await stopBird(linuxBird);
    await stopBird(peerBird);
    linuxBird = peerBird = undefined;
    await teardown(r);
    r = undefined;
  });

  it('learns BGP routes over the dataplane, the mirror installs them, transit is forwarded natively, withdrawal withdraws', async () => {
    r = await buildRouter(2);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    const fibRoutes = () => new Map(r!.dp.fib(0, 4).filter((e) => e.source === 'route').map((e) => [e.prefix, e]));
    await nsx(b.ns, 'ip', ['addr', 'add', `${LOOPBACK}/32`, 'dev', 'lo']);

    const port = (i: number) => r!.dp.counters().ports.find((p) => p.port === i)!;
    const session0 = { punts: port(b.port.index).punts, injects: port(b.port.index).injects };
    peerBird = startBird(b.ns, peerConfig(b.gw4));
    linuxBird = startBird(r.linux, linuxConfig(b.v4));

    // The session is TCP between the mirror's address and the peer: punted to
    // the TAP on the way in, cross-connected out of the port on the way back.
    const established = async () => {
      if (linuxBird!.child.exitCode !== null || peerBird!.child.exitCode !== null) throw new Error('bird exited');
      const out = await birdc(r!.linux, linuxBird!, 'show', 'protocols', 'to_peer').catch(() => ''); // socket not there yet
      return /Established/.test(out);
    };
    expect(await eventually(established, 40000, 250)).toBe(true);
    expect(port(b.port.index).punts).toBeGreaterThan(session0.punts);     // the peer's segments, to the TAP
    expect(port(b.port.index).injects).toBeGreaterThan(session0.injects); // Linux's, out of the port
    const want = [...originated, LOOPBACK_NET];
    expect(await eventually(async () => (await kernelBirdRoutes(r!.linux)).size === want.length, 30000, 200)).toBe(true);
    expect(await eventually(() => {
      const fib = fibRoutes();
      return want.every((p) => fib.get(p)?.paths[0]?.port === b.port.index);
    }, 15000)).toBe(true);
    expect(fibRoutes().get(LOOPBACK_NET)?.paths).toEqual([{ port: b.port.index, via: b.v4, weight: 1 }]);
    const st = r.dp.mirrorStatus().find((s) => s.netns === r!.linux);
    expect(st?.routesInstalled).toBeGreaterThanOrEqual(want.length);

    // The session resolved the peer through the punt path (Linux's ARP), and
    // the mirror made it a rewrite adjacency: transit needs nothing else.
    expect(await waitForNeighbors(r.dp, [{ port: b.port.index, ip: b.v4, mac: b.mac }])).toBe(true);
    const before = { tx: port(b.port.index).txPackets, punts: port(a.port.index).punts, glean: r.dp.counters().errors.punt_glean ?? 0 };
    expect((await udp(a.ns, b.ns, LOOPBACK, 200)).intact).toBe(200);
    expect(port(b.port.index).txPackets - before.tx).toBeGreaterThanOrEqual(200);
    expect(port(a.port.index).punts - before.punts).toBeLessThan(10); // a's ARP at most, not the traffic
    expect((r.dp.counters().errors.punt_glean ?? 0) - before.glean).toBe(0);

    // Withdraw at the source: the peer stops originating, BGP withdraws, BIRD
    // removes the kernel routes, the mirror removes them from the FIB.
    await birdc(b.ns, peerBird, 'disable', 'prefixes');
    expect(await eventually(async () => (await kernelBirdRoutes(r!.linux)).size === 0, 20000, 200)).toBe(true);
    expect(await eventually(() => want.every((p) => !fibRoutes().has(p)), 15000)).toBe(true);
    const txBefore = port(b.port.index).txPackets;
    expect((await udp(a.ns, b.ns, LOOPBACK, 50, 1500)).received).toBe(0);
    expect(port(b.port.index).txPackets - txBefore).toBeLessThan(5); // keepalives only
    expect(r.dp.drift(r.linux)).toMatchObject({ routes: { missing: 0, extra: 0 } });

    // And back: re-enabling brings the forwarding back by the same path.
    await birdc(b.ns, peerBird, 'enable', 'prefixes');
    expect(await eventually(() => fibRoutes().get(LOOPBACK_NET)?.paths[0]?.port === b.port.index, 30000, 200)).toBe(true);
    expect((await udp(a.ns, b.ns, LOOPBACK, 100)).intact).toBe(100);
  });
});
