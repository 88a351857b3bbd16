// Forwarding benchmark: the same traffic through kube-lcp's dataplane, Linux
// forwarding and an XDP redirect, each on a fresh gen -> DUT -> sink
// topology, measured back to back in one run.
import type { Family } from '../../dataplane/types.js';
import { DUTS, type Dut, type DutKind } from './duts.js';
import { buildFrame } from './frames.js';
import { XdpGen } from './generator.js';
import { FAMILIES, PLAN, routesLabel } from './plan.js';
import { forwardingTable, forwardingMetrics } from './forwarding-report.js';
import type { BenchOptions, BenchSection, Metric, SectionResult } from './sections.js';
import { DEV, GEN_CPU, NS, Topology } from './topology.js';
import { sleep } from './exec.js';
import { foreignCpuPercent, foreignTicks } from './cpu.js';

/** Reported size -> frame bytes on the wire (no FCS). "1500" = an MTU-sized IP packet. */
export const SIZES: readonly { label: number; bytes: number }[] = [
  { label: 64, bytes: 64 },
  { label: 1500, bytes: 1514 },
];

/** At or above this share of the offered load forwarded, the generator (not the DUT) is the limit. */
export const GENERATOR_BOUND = 0.9;

export interface RunFigure {
  offeredPps: number;
  forwardedPps: number;
  /** CPU used meanwhile by processes that are not the bench, % of one core. */
  foreignCpu: number;
}

/** Above this much foreign CPU (% of a core) during a run, the figure is flagged as disturbed. */
export const BUSY_MACHINE = 10;

export interface CaseResult {
  dut: DutKind;
  family: Family;
  size: number;
  frameBytes: number;
  /** Routes in the FIB of the traffic's family (0: not applicable). */
  routes: number;
  /** Max over the runs of CPU used by other processes, % of one core. */
  foreignCpu: number;
  offeredPps: number;
  forwardedPps: number;
  runs: RunFigure[];
  generatorBound: boolean;
  notes: string[];
}

export interface DutOutcome {
  kind: DutKind;
  error?: string;
  routeLoadSeconds: Partial<Record<string, number>>;
  stats?: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

async function measure(gen: XdpGen, dut: Dut, topo: Topology, family: Family, size: { label: number; bytes: number }, routes: number, opts: BenchOptions): Promise<CaseResult> {
  const p = PLAN[family];
  const frame = buildFrame({ family, length: size.bytes, dstMac: dut.ingressMac, srcMac: topo.macs.gen, src: p.gen, dst: p.dst });
  const send = (seconds: number) => gen.gen({ netns: NS.gen, dev: DEV.gen, frame, seconds, cpu: GEN_CPU });
  const count = () => gen.count(dut.countAt.netns, dut.countAt.dev);
  await send(0.5); // warm-up: caches, page pool, neighbour state
  await sleep(100);
  const runs: RunFigure[] = [];
  const notes: string[] = [];
  for (let i = 0; i < opts.runs; i++) {
    // The VM is shared: wait for a quiet moment, and redo a run that other
    // processes disturbed (a bounded number of times; it stays flagged).
    let fig: RunFigure | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      await waitQuiet(opts);
      const c0 = await count();
      const f0 = foreignTicks();
      const g = await send(opts.seconds);
      const foreign = foreignCpuPercent(f0, foreignTicks(), g.seconds);
      await sleep(100); // let the last frames drain out of the rings
      const c1 = await count();
      const pkts = c1.packets - c0.packets;
      fig = { offeredPps: g.pps, forwardedPps: pkts / g.seconds, foreignCpu: foreign };
      // The sink must see our frames, whole: a DUT that forwards something
      // else (or truncates) must not score.
      const avg = pkts > 0 ? (c1.bytes - c0.bytes) / pkts : 0;
      if (i === 0 && attempt === 0 && pkts > 0 && Math.abs(avg - size.bytes) > 1) notes.push(`sink saw ${avg.toFixed(0)} B frames, sent ${size.bytes} B`);
      if (foreign <= BUSY_MACHINE) break;
      const again = attempt < 2 && patience.ms > 0;
      opts.log(`    run disturbed (others used ${foreign.toFixed(0)}% of a core)${again ? ', again' : ''}`);
      if (!again) break;
      patience.ms -= g.seconds * 1000;
    }
    if (fig) runs.push(fig);
  }
  const forwardedPps = median(runs.map((r) => r.forwardedPps));
  const offeredPps = median(runs.map((r) => r.offeredPps));
  if (forwardedPps === 0) notes.push('nothing forwarded');
  const foreignCpu = Math.max(...runs.map((x) => x.foreignCpu));
  if (foreignCpu > BUSY_MACHINE) notes.push(`DISTURBED: other processes used ${foreignCpu.toFixed(0)}% of a core`);
  const generatorBound = dut.kind !== 'generator' && offeredPps > 0 && forwardedPps >= GENERATOR_BOUND * offeredPps;
  if (generatorBound) notes.push('GENERATOR-BOUND: figure is a lower bound');
  const r: CaseResult = { dut: dut.kind, family, size: size.label, frameBytes: size.bytes, routes, foreignCpu, offeredPps, forwardedPps, runs, generatorBound, notes };
  opts.log(
    `  ${dut.kind} ip${family} ${size.label}B routes=${routes ? routesLabel(routes) : '-'}: offered ${fmt(offeredPps)} forwarded ${fmt(forwardedPps)} pps` +
      ` [${runs.map((x) => fmt(x.forwardedPps)).join(', ')}]${notes.length ? ' ' + notes.join('; ') : ''}`,
  );
  return r;
}

/**
 * Time the whole section may spend waiting for a quiet machine or redoing
 * disturbed runs, so a busy VM cannot stretch the bench past ~10 minutes;
 * once spent, runs go ahead and are only flagged.
 */
const patience = { ms: 120_000 };

/** Waits (at most ~10 s, within the budget) until other processes use under BUSY_MACHINE % of a core. */
async function waitQuiet(opts: BenchOptions): Promise<void> {
  for (let i = 0; i < 33 && patience.ms > 0; i++) {
    const t0 = foreignTicks();
    await sleep(300);
    const pct = foreignCpuPercent(t0, foreignTicks(), 0.3);
    if (pct <= BUSY_MACHINE) return;
    patience.ms -= 300;
    if (i === 0) opts.log(`    waiting for a quiet machine (others use ${pct.toFixed(0)}% of a core)`);
  }
}

function fmt(pps: number): string {
  return pps >= 1e6 ? `${(pps / 1e6).toFixed(2)}M` : `${(pps / 1e3).toFixed(0)}k`;
}

export interface ForwardingPlan {
  duts: DutKind[];
  /** Full-table size for the "1M" cases. */
  fullTable: number;
  /** Also measure the kernel with the full table (costs ~1 min of `ip -batch` per family). */
  kernelFullTable: boolean;
}

export function planFrom(opts: BenchOptions): ForwardingPlan {
  const f = opts.flags;
  const duts: DutKind[] = (['generator', 'kernel', 'xdp', 'dataplane'] as const).filter((k) => !f.has(`no-${k}`));
  const full = [...f].find((x) => x.startsWith('routes='));
  return { duts, fullTable: full ? Number(full.slice('routes='.length)) : 1_000_000, kernelFullTable: !f.has('no-kernel-1m') };
}

async function runDut(kind: DutKind, gen: XdpGen, plan: ForwardingPlan, opts: BenchOptions, results: CaseResult[]): Promise<DutOutcome> {
  const outcome: DutOutcome = { kind, routeLoadSeconds: {} };
  opts.log(`forwarding: ${kind}`);
  const topo = await Topology.create();
  try {
    const dut = await DUTS[kind]({ topo, gen });
    try {
      const withRoutes = kind === 'dataplane' || kind === 'kernel';
      for (const f of FAMILIES) for (const s of SIZES) results.push(await measure(gen, dut, topo, f, s, withRoutes ? 1 : 0, opts));
      const full = dut.loadRoutes && (kind === 'dataplane' || plan.kernelFullTable) ? dut.loadRoutes.bind(dut) : undefined;
      if (full) {
        for (const f of FAMILIES) {
          opts.log(`  loading ${routesLabel(plan.fullTable)} IPv${f} routes into ${kind}`);
          const secs = await full(f, plan.fullTable);
          outcome.routeLoadSeconds[`ip${f}`] = secs;
          opts.log(`  loaded in ${secs.toFixed(1)} s`);
          for (const s of SIZES) results.push(await measure(gen, dut, topo, f, s, plan.fullTable, opts));
        }
      }
      if (dut.stats) outcome.stats = dut.stats();
    } finally {
      await dut.close();
    }
  } catch (e) {
    outcome.error = e instanceof Error ? e.message : String(e);
    opts.log(`forwarding: ${kind} failed: ${outcome.error}`);
  } finally {
    topo.destroy();
  }
  return outcome;
}

export const forwardingSection: BenchSection = {
  name: 'forwarding',
  async run(opts): Promise<SectionResult> {
    const plan = planFrom(opts);
    patience.ms = 120_000;
    const gen = await XdpGen.build();
    const results: CaseResult[] = [];
    const outcomes: DutOutcome[] = [];
    for (const kind of plan.duts) outcomes.push(await runDut(kind, gen, plan, opts, results));
    const metrics: Record<string, Metric> = forwardingMetrics(results, outcomes, plan, opts);
    return { tables: [forwardingTable(results, outcomes, plan, opts)], metrics };
  },
};
