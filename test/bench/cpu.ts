// Other people's processes share this VM (builds, tests, other benches) and
// each of them steals cycles from the generator or the DUT. We cannot stop
// them, but we can see them: CPU time used during a measured run by
// user-space processes that are not this bench, summed from /proc.
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux/x86_64

/** pid -> utime+stime ticks of user-space processes other than this bench and its tools. */
export function foreignTicks(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone
    }
    // comm may contain spaces and parentheses: split after the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    const ppid = Number(f[1]);
    if (pid === 2 || ppid === 2) continue; // kernel threads: NAPI/softirq work is ours
    if (ppid === process.pid || comm === 'xdpgen') continue;
    out.set(pid, Number(f[11]) + Number(f[12]));
  }
  return out;
}

/** CPU used by others between two snapshots, in % of one core. */
export function foreignCpuPercent(before: Map<number, number>, after: Map<number, number>, seconds: number): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return (ticks / TICKS_PER_SECOND / seconds) * 100;
}
