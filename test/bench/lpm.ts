// The FIB's LPM micro-benchmark, written as a native test binary
// (test/native/lpm_test.cc, built by binding.gyp's lpm_test target). We only
// run it and merge its one JSON line; when it is missing we say so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';
import { REPO_ROOT } from './generator.js';
import type { BenchSection, Metric, SectionResult } from './sections.js';

const BINARY = join(REPO_ROOT, 'native/build/Release/lpm_test');

export const lpmSection: BenchSection = {
  name: 'lpm',
  async run(opts): Promise<SectionResult> {
    if (!existsSync(BINARY)) {
      opts.log(`lpm: ${BINARY} missing (not built yet); skipped`);
      return { tables: [], metrics: { lpm_status: 'missing: native/build/Release/lpm_test not built' } };
    }
    opts.log('lpm: running lpm_test --bench');
    const out = await run(BINARY, ['--bench'], { timeoutMs: 300_000 });
    const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (!line) return { tables: [], metrics: { lpm_status: 'lpm_test --bench printed no JSON line' } };
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return { tables: [], metrics: { lpm_status: 'lpm_test --bench: JSON is not an object' } };
    const metrics: Record<string, Metric> = { lpm_status: 'ok' };
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || v === null) metrics[k] = v; // merged as printed: lpm_test owns its key names
    }
    const rows = Object.entries(metrics)
      .filter(([k]) => k !== 'lpm_status')
      .map(([k, v]) => [k, typeof v === 'number' ? fmtNum(v) : String(v)]);
    return { tables: [{ title: 'FIB LPM micro-benchmark (lpm_test --bench)', header: ['metric', 'value'], rows, notes: [] }], metrics };
  },
};

function fmtNum(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(4);
}
