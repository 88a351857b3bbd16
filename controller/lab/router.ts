// A router lab (used by `npm start` and the tests): N peer namespaces, each wired by a veth to a port of the
// dataplane (port netdevs in their own "dut" netns), each port paired with a
// TAP in one "linux" netns — the kernel side, where Linux runs the control
// plane. Peer i is 10.<i+1>.0.2/24 and 2001:db8:<i+1>::2/64; the mirror of
// port i is .1 / ::1. Until the netlink mirror lands, what Linux is given is
// also told to the dataplane here, exactly as the mirror will.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Dataplane, type PortInfo } from '../../dataplane/dataplane.js';
import { Lab, nsx, uniq } from './netns.js';

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

export async function buildRouter(n: number, opts: { driver?: 'af_packet' | 'af_xdp'; linuxForwarding?: boolean; workers?: number } = {}): Promise<Router> {
  const lab = new Lab();
  const linux = await lab.netns('lx');
  const dut = await lab.netns('ld');
  const dp = Dataplane.open({ workers: opts.workers ?? 1, ownerTag: 'lab' });
  const peers: Peer[] = [];
  try {
    if (opts.linuxForwarding !== false) {
      await nsx(linux, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    }
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
      dp.addAddress(port.index, `${net4}.1/24`);
      dp.addAddress(port.index, `${net6}:1/64`);
      await nsx(ns, 'ip', ['addr', 'add', `${net4}.2/24`, 'dev', dev]);
      await nsx(ns, 'ip', ['addr', 'add', `${net6}:2/64`, 'dev', dev, 'nodad']);
      await nsx(ns, 'ip', ['route', 'add', 'default', 'via', `${net4}.1`]);
      await nsx(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', `${net6}:1`]);
      peers.push({ ns, dev, mac: await lab.mac(ns, dev), v4: `${net4}.2`, v6: `${net6}:2`, port, tap, gw4: `${net4}.1`, gw6: `${net6}:1` });
    }
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

/** Tell the dataplane about peer neighbours (what the netlink mirror will do). */
export function learnNeighbors(r: Router): void {
  for (const p of r.peers) {
    r.dp.addNeighbor(p.port.index, p.v4, p.mac);
    r.dp.addNeighbor(p.port.index, p.v6, p.mac);
  }
}

// traffic.mjs is plain JS so it runs from the sources and from dist/ alike.
const trafficTool = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'controller', 'lab', 'traffic.mjs');
const trafficToolSrc = join(dirname(fileURLToPath(import.meta.url)), 'traffic.mjs');
function trafficPath(): string {
  return existsSync(trafficToolSrc) ? trafficToolSrc : trafficTool;
}

/** Start `traffic.mjs <mode> ...` in a netns; resolves when it printed "ready" (sinks) or at once. */
export function trafficProcess(ns: string, args: string[]): { ready: Promise<void>; result: Promise<Record<string, unknown>> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, trafficPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (code !== 0 || !line) reject(new Error(`traffic ${args.join(' ')} exited ${code}: ${err}`));
      else resolve(JSON.parse(line) as Record<string, unknown>);
    });
  });
  return { ready, result };
}
