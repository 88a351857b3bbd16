// Port-scale probe: what adding N AF_PACKET ports to one dataplane costs, and
// what they cost at rest. Creates N veth pairs in a fresh netns (ip -batch),
// opens Dataplane({workers: 1, ownerTag: 'zz', fastPath}), adds every "a" end
// with driver af_packet (ms per add, per quarter), idles 5 s and prints the
// CPU split from /proc/stat and this process's threads (lcp-fp-monitor is the
// XDP fast path's), counts the distinct XDP programs attached, then closes and
// deletes the netns. Root; uses the built dist (npm run build).
//   [IN_FLIGHT=4] [RX_RING_SIZE=256] node scripts/port-scale.mjs [N=200] [auto|off] [rxRing: auto|v2|v3]
// ROOT=<checkout> runs another checkout's dist and addon (A/B).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.ROOT ?? resolve(fileURLToPath(import.meta.url), '../..');
const { Dataplane } = await import(join(root, 'dist/dataplane/dataplane.js'));
const N = Number(process.argv[2] ?? 200);
const fastPath = process.argv[3] === 'off' ? 'off' : 'auto';
const rxRing = process.argv[4] ?? 'auto';
const step = Math.max(1, Math.floor(N / 4));
const inFlight = Math.max(1, Number(process.env.IN_FLIGHT ?? 1));
const ns = `lcpscale${process.pid}`;

const dir = mkdtempSync(join(tmpdir(), 'lcp-scale-'));
let batch = '';
for (let i = 0; i < N; i++) batch += `link add sa${i} type veth peer name sb${i}\nlink set sa${i} up\nlink set sb${i} up\n`;
writeFileSync(join(dir, 'batch'), batch);
execFileSync('ip', ['netns', 'add', ns]);

const cpu = () => readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
const threads = () => {
  const m = {};
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      m[name] = (m[name] ?? 0) + Number(f[11]) + Number(f[12]); // utime + stime, clock ticks
    } catch {
      // thread gone
    }
  }
  return m;
};

let dp;
try {
  execFileSync('ip', ['-n', ns, '-batch', join(dir, 'batch')]);
  dp = Dataplane.open({ workers: 1, ownerTag: 'zz', fastPath, rxRing, ...(process.env.RX_RING_SIZE ? { rxRingSize: Number(process.env.RX_RING_SIZE) } : {}) });
  const t00 = performance.now();
  let t0 = t00;
  let next = 0;
  let added = 0;
  // IN_FLIGHT > 1: that many addPortAsync calls at once (their kernel grace periods overlap).
  const lane = async () => {
    while (next < N) {
      const i = next++;
      if (inFlight > 1) await dp.addPortAsync({ name: `sa${i}`, netns: ns, driver: 'af_packet' });
      else dp.addPort({ name: `sa${i}`, netns: ns, driver: 'af_packet' });
      if (++added % step === 0) {
        const t = performance.now();
        console.log(`ports ${added + 1 - step}-${added}: ${((t - t0) / step).toFixed(1)} ms/add`);
        t0 = t;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const rings = [...new Set(dp.ports().map((p) => p.rxRing))].join(',');
  console.log(`total ${((performance.now() - t00) / 1000).toFixed(2)} s for ${N} adds, ${inFlight} in flight (fastPath ${fastPath}, rxRing ${rxRing}: ${rings})`);
  const ta = threads();
  const a = cpu();
  await new Promise((r) => setTimeout(r, 5000));
  const b = cpu();
  const tb = threads();
  const d = b.map((x, i) => x - a[i]);
  const tot = d.reduce((s, x) => s + x, 0);
  const pct = (x) => ((100 * x) / tot).toFixed(1);
  console.log(`idle 5 s, all CPUs: user ${pct(d[0] + d[1])}% sys ${pct(d[2])}% softirq ${pct(d[6])}% idle ${pct(d[3] + d[4])}%`);
  const per = Object.entries(tb).map(([k, v]) => [k, v - (ta[k] ?? 0)]).filter(([, v]) => v > 0);
  console.log(`this process's threads over the 5 s, % of one CPU: ${per.map(([k, v]) => `${k}=${v / 5}%`).join(' ') || 'none'}`);
  const ids = new Set(execFileSync('ip', ['-n', ns, '-d', 'link', 'show']).toString().match(/xdp id \d+/g) ?? []);
  console.log(`XDP programs attached in the netns: ${ids.size} distinct`);
} finally {
  dp?.close();
  execFileSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}
