// The hook for benchmark sections. `npm run bench` runs every entry of
// SECTIONS in order and merges their metrics into the one JSON line it
// prints last. To add a section (punt/inject through a mirror, netlink
// mirror load, reconcile rate...), write a module exporting a BenchSection
// and append it to SECTIONS in suite.ts; keep its metric
// keys prefixed with the section's name.
export type Metric = number | boolean | string | null;

export interface BenchOptions {
  /** Seconds per measured run of one case. */
  seconds: number;
  /** Measured runs per case; the median is reported. */
  runs: number;
  /** Only these sections (by name); all when empty. */
  only: readonly string[];
  /** Free-form flags for sections (e.g. "kernel-1m", "no-dataplane"). */
  flags: ReadonlySet<string>;
  /** Progress output (stderr, so that stdout ends with the JSON line). */
  log(msg: string): void;
}

export interface Table {
  title: string;
  header: string[];
  rows: string[][];
  /** Lines printed under the table. */
  notes: string[];
}

export interface SectionResult {
  tables: Table[];
  metrics: Record<string, Metric>;
}

export interface BenchSection {
  name: string;
  run(opts: BenchOptions): Promise<SectionResult>;
}
