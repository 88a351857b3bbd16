// Punt and inject through a port's TAP mirror, packets/s.
//
//   netns lcpb-gen        netns lcpb-dut            netns lcpb-linux
//   lcpb-g0 <--veth--> lcpb-d0 [ dataplane ] <--TAP--> lcpb-tap0
//
// punt:   the generator (live XDP frames, CPU 0) sends 64 B UDP to the port's
//         own address (a receive entry): ethernet-input -> ip4-input ->
//         ip4-lookup -> punt -> write() on the TAP. Counted by an XDP
//         drop+count program on the TAP (tun runs XDP on what is written to
//         it), i.e. what reached Linux.
// inject: the same generator runs in lcpb-linux with the TAP as its device:
//         XDP_TX on a tun queues the frame for the TAP's reader, exactly like
//         Linux transmitting on the mirror. The worker read()s it, sends it
//         out of lcpb-d0 (cross-connect), and an XDP program on lcpb-g0
//         counts it.
// The worker and lcpb-d0's NAPI thread share CPU 1, as in the forwarding
// section. A figure >= 0.9 x the generator's rate is flagged GENERATOR-BOUND.
import type { Dataplane as DataplaneT } from '../../dataplane/dataplane.js';
import { onCleanup } from './cleanup.js';
import { foreignCpuPercent, foreignTicks } from './cpu.js';
import { run, runSync, sleep } from './exec.js';
import { buildFrame } from './frames.js';
import { XdpGen } from './generator.js';
import { PLAN } from './plan.js';
import type { BenchOptions, BenchSection, Metric, SectionResult } from './sections.js';
import { DEV, DUT_CPU, GEN_CPU, NS, Topology, ip, pinThreads, threadIds } from './topology.js';

const LINUX_NS = 'lcpb-linux';
const TAP = 'lcpb-tap0';
const GENERATOR_BOUND = 0.9;
const BUSY_MACHINE = 10;

interface Figure {
  offeredPps: number;
  arrivedPps: number;
  foreignCpu: number;
}

interface Direction {
  name: 'punt' | 'inject';
  offeredPps: number;
  arrivedPps: number;
  runs: Figure[];
  foreignCpu: number;
  generatorBound: boolean;
  counters: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

async function measure(
  name: Direction['name'],
  opts: BenchOptions,
  send: (seconds: number) => Promise<{ pps: number; seconds: number }>,
  count: () => Promise<number>,
  counters: () => Record<string, number>,
): Promise<Direction> {
  await send(0.5); // warm-up
  await sleep(100);
  const runs: Figure[] = [];
  const c0 = counters();
  for (let i = 0; i < opts.runs; i++) {
    const n0 = await count();
    const f0 = foreignTicks();
    const g = await send(opts.seconds);
    const foreign = foreignCpuPercent(f0, foreignTicks(), g.seconds);
    await sleep(100);
    const n1 = await count();
    runs.push({ offeredPps: g.pps, arrivedPps: (n1 - n0) / g.seconds, foreignCpu: foreign });
  }
  const c1 = counters();
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(c1)) if (v - (c0[k] ?? 0) !== 0) delta[k] = v - (c0[k] ?? 0);
  const offeredPps = median(runs.map((r) => r.offeredPps));
  const arrivedPps = median(runs.map((r) => r.arrivedPps));
  const foreignCpu = Math.max(...runs.map((r) => r.foreignCpu));
  const d: Direction = { name, offeredPps, arrivedPps, runs, foreignCpu, generatorBound: arrivedPps >= GENERATOR_BOUND * offeredPps, counters: delta };
  opts.log(`  ${name}: offered ${fmt(offeredPps)} arrived ${fmt(arrivedPps)} pps [${runs.map((r) => fmt(r.arrivedPps)).join(', ')}] others ${foreignCpu.toFixed(0)}%`);
  return d;
}

export const mirrorIoSection: BenchSection = {
  name: 'mirror_io',
  async run(opts): Promise<SectionResult> {
    const mod = await import('../../dataplane/dataplane.js');
    const gen = await XdpGen.build();
    opts.log('mirror_io: punt/inject through a TAP');
    const topo = await Topology.create();
    const dropLinux = (): void => void runSync('ip', ['netns', 'del', LINUX_NS]);
    dropLinux();
    const releaseNs = onCleanup(dropLinux);
    let dp: DataplaneT | undefined;
    const closeDp = (): void => {
      dp?.close();
      dp = undefined;
    };
    const releaseDp = onCleanup(closeDp);
    try {
      await ip(['netns', 'add', LINUX_NS]);
      const before = threadIds();
      dp = mod.Dataplane.open({ workers: 1 });
      const p0 = dp.addPort({ name: DEV.dutIn, netns: NS.dut, driver: 'af_packet' });
      dp.setPort(p0.index, { up: true });
      dp.createPair(p0.index, { name: TAP, netns: LINUX_NS });
      const p = PLAN[4];
      dp.addAddress(p0.index, p.dutIn);
      // The port's MAC after pairing (it may follow the mirror's).
      const portMac = dp.ports().find((x) => x.index === p0.index)?.mac ?? p0.mac;
      await topo.enableGro(NS.dut, DEV.dutIn);
      await topo.threadNapi(NS.dut, DEV.dutIn, DUT_CPU);
      await pinThreads([...threadIds()].filter((t) => !before.has(t)), DUT_CPU);
      const d = dp;
      const counters = (): Record<string, number> => {
        const c = d.counters();
        const port = c.ports.find((x) => x.port === p0.index);
        return {
          rx: port?.rxPackets ?? 0,
          punts: port?.punts ?? 0,
          injects: port?.injects ?? 0,
          tx: port?.txPackets ?? 0,
          drops: port?.drops ?? 0,
          ...Object.fromEntries(Object.entries(c.errors).filter(([k]) => k.startsWith('punt') || k.endsWith('full'))),
        };
      };

      // punt: generator -> lcpb-d0 -> dataplane -> TAP (XDP count on the TAP).
      await gen.attachSink(LINUX_NS, TAP);
      const puntFrame = buildFrame({ family: 4, length: 64, dstMac: portMac, srcMac: topo.macs.gen, src: p.gen, dst: p.dutIn.split('/')[0] ?? '' });
      const punt = await measure(
        'punt',
        opts,
        (s) => gen.gen({ netns: NS.gen, dev: DEV.gen, frame: puntFrame, seconds: s, cpu: GEN_CPU }),
        async () => (await gen.count(LINUX_NS, TAP)).packets,
        counters,
      );
      await gen.detach(LINUX_NS, TAP);

      // inject: "Linux" (the generator on the TAP) -> worker -> lcpb-d0 -> lcpb-g0 (XDP count).
      await gen.attachSink(NS.gen, DEV.gen);
      const tapMac = JSON.parse(await run('ip', ['-n', LINUX_NS, '-j', 'link', 'show', 'dev', TAP])) as { address: string }[];
      const injectFrame = buildFrame({ family: 4, length: 64, dstMac: topo.macs.gen, srcMac: tapMac[0]?.address ?? portMac, src: p.dutIn.split('/')[0] ?? '', dst: p.gen });
      const inject = await measure(
        'inject',
        opts,
        (s) => gen.gen({ netns: LINUX_NS, dev: TAP, frame: injectFrame, seconds: s, cpu: GEN_CPU }),
        async () => (await gen.count(NS.gen, DEV.gen)).packets,
        counters,
      );
      return report([punt, inject], opts);
    } finally {
      closeDp();
      releaseDp();
      dropLinux();
      releaseNs();
      topo.destroy();
    }
  },
};

function report(ds: Direction[], opts: BenchOptions): SectionResult {
  const metrics: Record<string, Metric> = {};
  const rows = ds.map((d) => {
    const notes: string[] = [];
    if (d.generatorBound) notes.push('GENERATOR-BOUND: figure is a lower bound');
    if (d.foreignCpu > BUSY_MACHINE) notes.push(`DISTURBED: other processes used ${d.foreignCpu.toFixed(0)}% of a core`);
    metrics[`mirror_io_${d.name}_pps`] = Math.round(d.arrivedPps);
    metrics[`mirror_io_${d.name}_offered_pps`] = Math.round(d.offeredPps);
    metrics[`mirror_io_${d.name}_generator_bound`] = d.generatorBound;
    metrics[`mirror_io_${d.name}_foreign_cpu_pct`] = Math.round(d.foreignCpu);
    return [d.name, fmt(d.offeredPps), fmt(d.arrivedPps), d.offeredPps > 0 ? (d.arrivedPps / d.offeredPps).toFixed(2) : '-', notes.join('; ')];
  });
  return {
    tables: [
      {
        title: 'Punt / inject through a TAP mirror, 64 B IPv4 (packets/s)',
        header: ['path', 'offered pps', 'arrived pps', 'arrived/offered', 'notes'],
        rows,
        notes: [
          `${opts.runs} run(s) x ${opts.seconds} s, median. punt: generator -> port -> receive entry -> write() on the TAP, counted by XDP on the TAP (what Linux got).`,
          `inject: generator on the TAP (XDP_TX = a frame Linux transmits) -> worker read() -> port -> peer, counted by XDP on the peer.`,
          `Worker and the port's NAPI thread on CPU 1, generator on CPU 0. arrived/offered >= ${GENERATOR_BOUND}: generator-bound.`,
          ...ds.map((d) => `${d.name} dataplane counters over the runs: ${Object.entries(d.counters).map(([k, v]) => `${k}=${v}`).join(' ')}`),
        ],
      },
    ],
    metrics,
  };
}
