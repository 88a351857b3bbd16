// `npm run bench`: runs every benchmark section, prints each section's table,
// and ends with ONE JSON line holding every figure (the last line of stdout).
//
// The sections and the hook for adding more live in suite.ts.
// Options: --seconds N (per run, default 3)  --runs N (default 3)
//          --only forwarding,lpm              --no-dataplane / --no-kernel / --no-xdp / --no-generator
//          --no-kernel-1m (skip the kernel full-table cases)  --routes=N (full-table size, default 1000000)
//          --no-full-table  --family=4|6  --size=64|1500  --driver=af_packet|af_xdp (dataplane ports)
//          --rx-ring=v2|v3 (the dataplane ports' AF_PACKET receive ring)
import { runBench } from './suite.js';
import type { BenchOptions } from './sections.js';

function parseArgs(argv: string[]): BenchOptions {
  let seconds = 3;
  let runs = 3;
  let only: string[] = [];
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--seconds') seconds = Number(next());
    else if (a === '--runs') runs = Number(next());
    else if (a === '--only') only = next().split(',');
    else if (a.startsWith('--')) flags.add(a.slice(2));
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(seconds > 0) || !(runs >= 1)) throw new Error('--seconds must be > 0 and --runs >= 1');
  return { seconds, runs: Math.floor(runs), only, flags, log: (msg) => process.stderr.write(`${msg}\n`) };
}

const opts = parseArgs(process.argv.slice(2));
const metrics = await runBench(opts);
// Everything else went to stdout before (tables) or stderr (progress): this stays the last line.
console.log(JSON.stringify(metrics));
