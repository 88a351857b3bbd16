// The bench suite: the list of sections (the hook other benchmarks plug
// into) and the loop that runs them and merges their metrics.
import { forwardingSection } from './forwarding.js';
import { lpmSection } from './lpm.js';
import { mirrorSection } from './mirror.js';
import { nexthopSection } from './nexthop.js';
import { mirrorIoSection } from './mirror-io.js';
import { pairsSection } from './pairs.js';
import { statusSection } from './status.js';
import type { BenchOptions, BenchSection, Metric, Table } from './sections.js';

/**
 * The hook: append further sections here (punt/inject through a mirror,
 * netlink mirror, reconcile...). Each owns a key prefix in the final JSON.
 */
export const SECTIONS: BenchSection[] = [forwardingSection, lpmSection, mirrorSection, nexthopSection, mirrorIoSection, pairsSection, statusSection];

export function printTable(t: Table): void {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  console.log(`\n${t.title}`);
  console.log(line(t.header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of t.rows) console.log(line(r));
  for (const n of t.notes) console.log(`  ${n}`);
}

export async function runBench(opts: BenchOptions, sections: readonly BenchSection[] = SECTIONS): Promise<Record<string, Metric>> {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (network namespaces, XDP, BPF)');
  const all: Record<string, Metric> = {};
  const t0 = performance.now();
  for (const s of sections) {
    if (opts.only.length && !opts.only.includes(s.name)) continue;
    try {
      const r = await s.run(opts);
      for (const t of r.tables) printTable(t);
      Object.assign(all, r.metrics);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      opts.log(`section ${s.name} failed: ${msg}`);
      all[`${s.name}_error`] = msg.slice(0, 300);
    }
  }
  all.bench_total_seconds = Math.round((performance.now() - t0) / 100) / 10;
  return all;
}
