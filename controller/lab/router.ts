// A router lab (used by `npm start` and the tests): N peer namespaces, each wired by a veth to a port of the
// dataplane (port netdevs in their own "dut" netns), each port paired with a
// TAP in one "linux" netns — the kernel side, where Linux runs the control
// plane. Peer i is 10.<i+1>.0.2/24 and 2001:db8:<i+1>::2/64; the mirror of
// port i is .1 / ::1. The dataplane watches the "linux" netns (the netlink
// mirror): what Linux is given there reaches the dataplane by itself.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Dataplane, type PortInfo } from '../../dataplane/dataplane.js';
import { Lab, eventually, nsx, uniq } from './netns.js';

export interface Peer {
  ns: string;
  dev: string;
  mac: string;
  v4: string;
  v6: string;
  port: PortInfo;
  tap: string;
  gw4: string;
  gw6: string;
}

export interface Router {
  lab: Lab;
  dp: Dataplane;
  linux: string;
  dut: string;
  peers: Peer[];
}

export async function buildRouter(n: number, opts: { driver?: 'af_packet' | 'af_xdp'; linuxForwarding?: boolean; workers?: number; fastPath?: 'auto' | 'off'; rxRing?: 'auto' | 'v2' | 'v3' } = {}): Promise<Router> {
  const lab = new Lab();
  const linux = await lab.netns('lx');
  const dut = await lab.netns('ld');
  const dp = Dataplane.open({ workers: opts.workers ?? 1, ownerTag: 'lab', ...(opts.fastPath ? { fastPath: opts.fastPath } : {}), ...(opts.rxRing ? { rxRing: opts.rxRing } : {}) });
  const peers: Peer[] = [];
  try {
    if (opts.linuxForwarding !== false) {
      await nsx(linux, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    }
    // Watch first: pairs created later make the mirror resync by itself.
    dp.watchNetns(linux);
    for (let i = 0; i < n; i++) {
      const ns = await lab.netns('lp');
      const [dev, portDev] = await lab.veth(ns, dut, 'e');
      // A wire carries frames no larger than the MTU; a veth would pass 64 KiB
      // TSO/GSO super-frames to the port instead, so segment on the peer.
      await nsx(ns, 'ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off']);
      const port = dp.addPort({ name: portDev, netns: dut, driver: opts.driver ?? 'af_packet' });
      const tap = uniq('tap');
      dp.createPair(port.index, { name: tap, netns: linux });
      dp.setPort(port.index, { up: true });
      const net4 = `10.${i + 1}.0`;
      const net6 = `2001:db8:${i + 1}:`;
      await nsx(linux, 'ip', ['addr', 'add', `${net4}.1/24`, 'dev', tap]);
      await nsx(linux, 'ip', ['addr', 'add', `${net6}:1/64`, 'dev', tap, 'nodad']);
      await nsx(linux, 'ip', ['link', 'set', tap, 'up']);
      await nsx(ns, 'ip', ['addr', 'add', `${net4}.2/24`, 'dev', dev]);
      await nsx(ns, 'ip', ['addr', 'add', `${net6}:2/64`, 'dev', dev, 'nodad']);
      await nsx(ns, 'ip', ['route', 'add', 'default', 'via', `${net4}.1`]);
      await nsx(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', `${net6}:1`]);
      peers.push({ ns, dev, mac: await lab.mac(ns, dev), v4: `${net4}.2`, v6: `${net6}:2`, port, tap, gw4: `${net4}.1`, gw6: `${net6}:1` });
    }
    await waitForMirror(dp, linux, peers.flatMap((p) => [`${p.gw4}/32`, `${p.gw6}/128`]));
  } catch (e) {
    dp.close();
    await lab.cleanup();
    throw e;
  }
  return { lab, dp, linux, dut, peers };
}

export async function teardown(r: Router | undefined): Promise<void> {
  if (!r) return;
  r.dp.close();
  await r.lab.cleanup();
}

/** Wait until the dataplane has receive entries for `hosts` (the mirror copied the addresses). */
export async function waitForMirror(dp: Dataplane, netns: string, hosts: string[], timeoutMs = 10000): Promise<void> {
  const has = (): boolean => {
    const entries = new Set([...dp.fib(0, 4), ...dp.fib(0, 6)].filter((e) => e.kind === 'receive').map((e) => e.prefix));
    return hosts.every((h) => entries.has(h));
  };
  if (!(await eventually(has, timeoutMs))) {
    const st = dp.mirrorStatus().find((s) => s.netns === netns);
    throw new Error(`netlink mirror of ${netns} did not bring ${hosts.join(', ')} into the dataplane: ${JSON.stringify(st)}`);
  }
}

/** Wait until the dataplane holds these (port, ip, mac) neighbours. */
export async function waitForNeighbors(dp: Dataplane, want: { port: number; ip: string; mac: string }[], timeoutMs = 10000): Promise<boolean> {
  return eventually(() => {
    const adj = dp.adjacencies().filter((a) => a.kind === 'rewrite');
    return want.every((w) => adj.some((a) => a.port === w.port && a.nextHop === w.ip && a.rewrite?.startsWith(w.mac.replace(/:/g, ''))));
  }, timeoutMs);
}

/**
 * Make Linux know the peers (permanent neighbours on the mirrors, as an
 * operator or a resolved ARP/ND would) and wait until the netlink mirror has
 * put them into the dataplane.
 */
export async function learnNeighbors(r: Router): Promise<void> {
  for (const p of r.peers) {
    await nsx(r.linux, 'ip', ['neigh', 'replace', p.v4, 'lladdr', p.mac, 'dev', p.tap, 'nud', 'permanent']);
    await nsx(r.linux, 'ip', ['-6', 'neigh', 'replace', p.v6, 'lladdr', p.mac, 'dev', p.tap, 'nud', 'permanent']);
  }
  const want = r.peers.flatMap((p) => [p.v4, p.v6].map((ip) => ({ port: p.port.index, ip, mac: p.mac })));
  if (!(await waitForNeighbors(r.dp, want))) throw new Error(`netlink mirror did not copy the peers' neighbours: ${JSON.stringify(r.dp.mirrorStatus())}`);
}

// traffic.mjs is plain JS so it runs from the sources and from dist/ alike.
const trafficTool = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'controller', 'lab', 'traffic.mjs');
const trafficToolSrc = join(dirname(fileURLToPath(import.meta.url)), 'traffic.mjs');
function trafficPath(): string {
  return existsSync(trafficToolSrc) ? trafficToolSrc : trafficTool;
}

/** Start `traffic.mjs <mode> ...` in a netns; resolves when it printed "ready" (sinks) or at once. */
export function trafficProcess(ns: string, args: string[]): { ready: Promise<void>; result: Promise<Record<string, unknown>> } {
  return nsTool(ns, [process.execPath, trafficPath(), ...args]);
}

/**
 * Run a lab tool in a netns: `ready` resolves when it prints "ready" (or
 * exits), `result` with the last JSON line it printed (rejects on failure).
 */
export function nsTool(ns: string, argv: string[]): { ready: Promise<void>; result: Promise<Record<string, unknown>> } {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) markReady();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.on('close', (code) => {
      markReady();
      const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
      if (code !== 0 || !line) reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
      else resolve(JSON.parse(line) as Record<string, unknown>);
    });
  });
  return { ready, result };
}
