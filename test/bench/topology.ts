// The bench topology, one per device under test:
//
//   netns lcpb-gen            netns lcpb-dut                 netns lcpb-sink
//   lcpb-g0 <--veth--> lcpb-d0 [ DUT ] lcpb-d1 <--veth--> lcpb-s0
//
// CPU plan on the 2-core VM: the generator owns CPU 0; everything the DUT
// does owns CPU 1 (its ingress NAPI thread, and for the dataplane its
// worker). The sink is an XDP drop+count program on lcpb-s0 running in
// softirq on whichever CPU transmits to it, i.e. the DUT's (see README.md).
import { readFileSync, readdirSync } from 'node:fs';
import { onCleanup } from './cleanup.js';
import { run, runSync, sleep } from './exec.js';

export const NS = { gen: 'lcpb-gen', dut: 'lcpb-dut', sink: 'lcpb-sink' } as const;
export const DEV = { gen: 'lcpb-g0', dutIn: 'lcpb-d0', dutOut: 'lcpb-d1', sink: 'lcpb-s0' } as const;

export const GEN_CPU = 0;
export const DUT_CPU = 1;

export interface Macs {
  gen: string;
  dutIn: string;
  dutOut: string;
  sink: string;
}

export function ip(args: readonly string[]): Promise<string> {
  return run('ip', args);
}

/** Runs a command inside a netns (needed for sysfs/ethtool/sysctl, which are per netns). */
export function inNs(ns: string, cmd: string, args: readonly string[], input?: string): Promise<string> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], input === undefined ? {} : { input });
}

async function macOf(ns: string, dev: string): Promise<string> {
  const j: unknown = JSON.parse(await ip(['-n', ns, '-j', 'link', 'show', 'dev', dev]));
  const addr = Array.isArray(j) ? (j[0] as { address?: unknown } | undefined)?.address : undefined;
  if (typeof addr !== 'string') throw new Error(`no MAC for ${ns}/${dev}`);
  return addr;
}

/** Removes our namespaces (and with them our veths); safe to call when absent. */
export function destroySync(): void {
  for (const ns of Object.values(NS)) runSync('ip', ['netns', 'del', ns]);
}

export class Topology {
  /** Threads doing DUT work on DUT_CPU (NAPI kthreads we pinned), for CPU accounting. */
  readonly dutThreads: number[] = [];

  private constructor(
    readonly macs: Macs,
    private readonly release: () => void,
  ) {}

  static async create(): Promise<Topology> {
    destroySync(); // leftovers of an interrupted run (our names only)
    // netns teardown is asynchronous: let the old devices' NAPI threads go.
    for (let i = 0; i < 100 && napiThreads('napi/lcpb-').length > 0; i++) await sleep(50);
    const release = onCleanup(destroySync);
    try {
      for (const ns of Object.values(NS)) await ip(['netns', 'add', ns]);
      await ip(['link', 'add', DEV.gen, 'netns', NS.gen, 'type', 'veth', 'peer', 'name', DEV.dutIn, 'netns', NS.dut]);
      await ip(['link', 'add', DEV.dutOut, 'netns', NS.dut, 'type', 'veth', 'peer', 'name', DEV.sink, 'netns', NS.sink]);
      // The generator and sink ends carry no IP: keep the kernel from sending
      // RS/MLD/DAD on them. The DUT ends keep IPv6 (kernel forwarding needs
      // it) but skip DAD so addresses are usable at once.
      await inNs(NS.gen, 'sysctl', ['-qw', `net.ipv6.conf.${DEV.gen}.disable_ipv6=1`]);
      await inNs(NS.sink, 'sysctl', ['-qw', `net.ipv6.conf.${DEV.sink}.disable_ipv6=1`]);
      await inNs(NS.dut, 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      for (const d of [DEV.dutIn, DEV.dutOut]) await inNs(NS.dut, 'sysctl', ['-qw', `net.ipv6.conf.${d}.accept_dad=0`]);
      for (const [ns, dev] of [[NS.gen, DEV.gen], [NS.dut, DEV.dutIn], [NS.dut, DEV.dutOut], [NS.sink, DEV.sink]] as const)
        await ip(['-n', ns, 'link', 'set', 'dev', dev, 'up']);
      const macs: Macs = {
        gen: await macOf(NS.gen, DEV.gen),
        dutIn: await macOf(NS.dut, DEV.dutIn),
        dutOut: await macOf(NS.dut, DEV.dutOut),
        sink: await macOf(NS.sink, DEV.sink),
      };
      return new Topology(macs, release);
    } catch (e) {
      destroySync();
      release();
      throw e;
    }
  }

  destroy(): void {
    destroySync();
    this.release();
  }

  /**
   * veth only accepts XDP frames (what the generator sends) on a peer with
   * NAPI, which it gets from an XDP program or from GRO; without either the
   * frames are dropped silently at the sender. GRO adds no coalescing here
   * (plain UDP, no UDP GRO forwarding) and leaves the port free of XDP.
   */
  async enableGro(ns: string, dev: string): Promise<void> {
    await inNs(ns, 'ethtool', ['-K', dev, 'gro', 'on']);
  }

  /**
   * Moves a veth's NAPI poll into its own kthread and pins it. Without this
   * the receive work (and for the kernel DUT all of the forwarding) runs in
   * softirq on the CPU that transmitted, i.e. inside the generator's
   * syscall: the generator and the DUT would share one core.
   */
  async threadNapi(ns: string, dev: string, cpu: number): Promise<void> {
    // The kthread is named napi/<dev>-<napi id> (comm is cut at 15 chars);
    // only a thread that appears now is ours (a previous topology's may
    // still be on its way out).
    const prefix = `napi/${dev}-`.slice(0, 15);
    const before = new Set(napiThreads(prefix));
    await inNs(ns, 'tee', [`/sys/class/net/${dev}/threaded`], '1\n');
    for (let tries = 0; tries < 50; tries++) {
      const pids = napiThreads(prefix).filter((p) => !before.has(p));
      if (pids.length > 0) {
        for (const pid of pids) await run('taskset', ['-p', '-c', String(cpu), String(pid)]);
        this.dutThreads.push(...pids);
        return;
      }
      await sleep(20);
    }
    throw new Error(`no NAPI thread for ${ns}/${dev} after enabling threaded NAPI`);
  }

  async linkStats(ns: string, dev: string): Promise<{ rxPackets: number; rxDropped: number; txPackets: number; txDropped: number }> {
    const j: unknown = JSON.parse(await ip(['-n', ns, '-s', '-j', 'link', 'show', 'dev', dev]));
    type Stats = { rx?: { packets?: number; dropped?: number }; tx?: { packets?: number; dropped?: number } };
    const s = Array.isArray(j) ? (j[0] as { stats64?: Stats } | undefined)?.stats64 : undefined;
    return {
      rxPackets: s?.rx?.packets ?? 0,
      rxDropped: s?.rx?.dropped ?? 0,
      txPackets: s?.tx?.packets ?? 0,
      txDropped: s?.tx?.dropped ?? 0,
    };
  }
}

function napiThreads(prefix: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim().startsWith(prefix)) out.push(Number(name));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

/** Pins threads of this process created by native code (the dataplane's workers). */
export function threadIds(): Set<number> {
  return new Set(readdirSync('/proc/self/task').map(Number));
}

export async function pinThreads(tids: Iterable<number>, cpu: number): Promise<void> {
  for (const tid of tids) await run('taskset', ['-p', '-c', String(cpu), String(tid)]);
}

/** ksoftirqd of a CPU: softirq work it defers (e.g. under load) is DUT work too. */
export function ksoftirqd(cpu: number): number[] {
  return napiThreads(`ksoftirqd/${cpu}`).filter((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === `ksoftirqd/${cpu}`);
}

/** utime+stime of a thread (any process), in seconds; 0 once it is gone. */
export function threadCpuSeconds(tid: number): number {
  try {
    const stat = readFileSync(`/proc/${tid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ
  } catch {
    return 0;
  }
}

