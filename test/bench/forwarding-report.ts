// Turns forwarding results into the readable table and the flat JSON metrics.
import type { Family } from '../../dataplane/types.js';
import { DUT_LABEL, type DutKind } from './duts.js';
import type { CaseResult, DutOutcome, ForwardingPlan } from './forwarding.js';
import { BUSY_MACHINE, GENERATOR_BOUND } from './forwarding.js';
import { routesLabel } from './plan.js';
import type { BenchOptions, Metric, Table } from './sections.js';

function find(rs: CaseResult[], dut: DutKind, family: Family, size: number, routes?: number): CaseResult | undefined {
  return rs.find((r) => r.dut === dut && r.family === family && r.size === size && (routes === undefined || r.routes === routes));
}

function ratio(a: CaseResult | undefined, b: CaseResult | undefined): number | null {
  if (!a || !b || b.forwardedPps <= 0) return null;
  return Math.round((a.forwardedPps / b.forwardedPps) * 1000) / 1000;
}

/** The kernel figure a row is compared with: same FIB size if measured, else the 1-route one. */
function kernelPeer(rs: CaseResult[], r: CaseResult): CaseResult | undefined {
  return find(rs, 'kernel', r.family, r.size, r.routes) ?? find(rs, 'kernel', r.family, r.size, 1);
}

function key(r: CaseResult): string {
  return `${r.dut}${r.routes > 1 ? `_${routesLabel(r.routes)}` : ''}_ip${r.family}_${r.size}`;
}

const pps = (x: number): string => Math.round(x).toLocaleString('en-US');
const rat = (x: number | null): string => (x === null ? '-' : x.toFixed(2));

export function forwardingTable(rs: CaseResult[], outcomes: DutOutcome[], plan: ForwardingPlan, opts: BenchOptions): Table {
  const rows = rs.map((r) => {
    const k = r.dut === 'kernel' || r.dut === 'generator' ? undefined : kernelPeer(rs, r);
    const x = r.dut === 'xdp' || r.dut === 'generator' ? undefined : find(rs, 'xdp', r.family, r.size);
    const kLabel = k && r.routes > 1 && k.routes !== r.routes ? ' (k:1 route)' : '';
    return [
      DUT_LABEL[r.dut],
      `IPv${r.family}`,
      String(r.size),
      r.routes ? routesLabel(r.routes) : '-',
      pps(r.offeredPps),
      pps(r.forwardedPps),
      r.offeredPps > 0 ? (r.forwardedPps / r.offeredPps).toFixed(2) : '-',
      k ? rat(ratio(r, k)) + kLabel : '-',
      x ? rat(ratio(r, x)) : '-',
      r.notes.join('; '),
    ];
  });
  const notes = [
    `${opts.runs} run(s) x ${opts.seconds} s per case, median shown. Sizes are frame bytes without FCS; 1500 = 1514 B frame (MTU-sized IP packet).`,
    `offered = generator rate (BPF_PROG_TEST_RUN live frames, CPU 0); forwarded = packets counted by the sink's XDP program / generator seconds.`,
    `fwd/offered >= ${GENERATOR_BOUND}: the generator is the bottleneck and the figure is only a lower bound (flagged GENERATOR-BOUND).`,
    `"generator" rows: frames counted and dropped at the DUT port itself, i.e. what the generator can deliver.`,
    `DISTURBED: other processes on the VM used more than ${BUSY_MACHINE}% of a core during a run; such figures are unreliable.`,
    `DUT work (NAPI thread of lcpb-d0, dataplane worker) is pinned to CPU 1; the sink's XDP drop runs in softirq on CPU 1 too.`,
    `dataplane ports: ${plan.driver}. "dataplane" is the product default (fastPath auto: plain IPv4/IPv6 forwarded by the XDP fast path in lcpb-d0's NAPI poll, the rest by the graph); "dataplane (graph only, fastPath off)" is the user-space graph alone.`,
    `Kernel with the full table: ${plan.kernelFullTable && plan.fullTable > 0 ? 'measured' : 'not measured (1-route kernel used for ratios)'}.`,
  ];
  for (const o of outcomes) {
    if (o.error) notes.push(`${o.kind}: FAILED: ${o.error}`);
    for (const n of o.notes ?? []) notes.push(`${o.kind}: ${n}`);
    for (const [fam, s] of Object.entries(o.routeLoadSeconds))
      if (s !== undefined) notes.push(`${o.kind}: ${routesLabel(plan.fullTable)} ${fam} routes loaded in ${s.toFixed(1)} s (${pps(plan.fullTable / s)} routes/s)`);
    if (o.stats) {
      const nz = Object.entries(o.stats).filter(([, v]) => v !== 0);
      if (nz.length) notes.push(`${o.kind} counters at end: ${nz.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
  }
  return {
    title: 'Forwarding, one core (packets/s)',
    header: ['case', 'family', 'size', 'routes', 'offered pps', 'forwarded pps', 'fwd/offered', 'vs kernel', 'vs xdp', 'notes'],
    rows,
    notes,
  };
}

export function forwardingMetrics(rs: CaseResult[], outcomes: DutOutcome[], plan: ForwardingPlan, opts: BenchOptions): Record<string, Metric> {
  const m: Record<string, Metric> = {
    forwarding_seconds_per_run: opts.seconds,
    forwarding_runs: opts.runs,
    forwarding_full_table_routes: plan.fullTable,
    forwarding_kernel_full_table: plan.kernelFullTable,
    forwarding_dataplane_driver: plan.driver,
  };
  for (const r of rs) {
    const k = key(r);
    m[`${k}_pps`] = Math.round(r.forwardedPps);
    m[`${k}_offered_pps`] = Math.round(r.offeredPps);
    if (r.dut !== 'generator') m[`${k}_generator_bound`] = r.generatorBound;
    m[`${k}_foreign_cpu_pct`] = Math.round(r.foreignCpu);
  }
  const full = routesLabel(plan.fullTable);
  const fams = [...new Set(rs.map((r) => r.family))];
  const sizes = [...new Set(rs.map((r) => r.size))];
  for (const f of fams) {
    for (const s of sizes) {
      const t = `ip${f}_${s}`;
      const dp1 = find(rs, 'dataplane', f, s, 1);
      const dpF = find(rs, 'dataplane', f, s, plan.fullTable);
      const k1 = find(rs, 'kernel', f, s, 1);
      const kF = find(rs, 'kernel', f, s, plan.fullTable);
      const x = find(rs, 'xdp', f, s);
      const g1 = find(rs, 'dataplane_graph', f, s, 1);
      const gF = find(rs, 'dataplane_graph', f, s, plan.fullTable);
      const set = (name: string, v: number | null): void => {
        if (v !== null) m[name] = v;
      };
      set(`ratio_dpgraph_vs_kernel_${t}`, ratio(g1, k1));
      set(`ratio_dpgraph_${full}_vs_kernel_${t}`, ratio(gF, k1));
      set(`ratio_dp_vs_dpgraph_${t}`, ratio(dp1, g1));
      set(`ratio_dp_${full}_vs_dpgraph_${full}_${t}`, ratio(dpF, gF));
      set(`ratio_dp_vs_kernel_${t}`, ratio(dp1, k1));
      set(`ratio_dp_vs_xdp_${t}`, ratio(dp1, x));
      set(`ratio_kernel_vs_xdp_${t}`, ratio(k1, x));
      set(`ratio_${full}_vs_1route_${t}`, ratio(dpF, dp1));
      set(`ratio_dp_${full}_vs_kernel_${t}`, ratio(dpF, k1));
      set(`ratio_dp_${full}_vs_kernel_${full}_${t}`, ratio(dpF, kF));
      set(`ratio_kernel_${full}_vs_1route_${t}`, ratio(kF, k1));
    }
  }
  for (const o of outcomes) {
    if (o.error) m[`${o.kind}_error`] = o.error.slice(0, 300);
    for (const [fam, s] of Object.entries(o.routeLoadSeconds)) if (s !== undefined) m[`${o.kind}_fib_load_${full}_${fam}_seconds`] = Math.round(s * 100) / 100;
  }
  return m;
}
