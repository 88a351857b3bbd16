// The netlink mirror at Internet-table scale: ~1M IPv4 + ~200k IPv6 routes
// loaded into a mirror's netns with `ip -batch`, followed by the dataplane.
// Measures the kernel's own time (ip -batch wall time), the time until the
// dataplane FIB holds as many routes as the kernel (then a drift check
// confirms they are the same routes), routes/s through the mirror, the
// process's peak RSS, and notifications lost (must be 0).
// Flags: --mirror-routes=N (IPv4 routes, default 1000000; IPv6 = N/5).
import { closeSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Dataplane } from '../../dataplane/dataplane.js';
import { Lab, nsx, sh, uniq } from '../../controller/lab/netns.js';
import { closeSection, deleteNetnsOnExit } from './cleanup.js';
import type { BenchSection, Metric, SectionResult } from './sections.js';

/**
 * The ip -batch file, written in chunks: the 1.2M lines are never all in
 * memory, so the process's RSS is the dataplane's (FIB + mirror), not the
 * generator's.
 */
function batchFile(n4: number, n6: number, gw4: string, gw6: string): string {
  const file = join(tmpdir(), `kube-lcp-mirror-${process.pid}.batch`);
  const fd = openSync(file, 'w');
  try {
    let chunk: string[] = [];
    const flush = (): void => {
      writeSync(fd, chunk.join('\n') + '\n');
      chunk = [];
    };
    // 11.0.0.0/24 .. 26.x: distinct /24s that avoid the lab's 10.0.0.0/24.
    for (let i = 0; i < n4; i++) {
      chunk.push(`route add ${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24 via ${gw4}`);
      if (chunk.length === 16384) flush();
    }
    for (let i = 0; i < n6; i++) {
      chunk.push(`route add 2a00:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/48 via ${gw6}`);
      if (chunk.length === 16384) flush();
    }
    if (chunk.length) flush();
  } finally {
    closeSync(fd);
  }
  return file;
}

const rssMiB = (): number => process.memoryUsage.rss() / (1 << 20);

export const mirrorSection: BenchSection = {
  name: 'mirror',
  async run(opts): Promise<SectionResult> {
    const flag = [...opts.flags].find((f) => f.startsWith('mirror-routes='));
    const n4 = flag ? Number(flag.slice('mirror-routes='.length)) : 1_000_000;
    const n6 = Math.floor(n4 / 5);
    // --mirror-fast-path=off: the FIB without its XDP maps, to see what the map updates cost.
    const fastPath = [...opts.flags].includes('mirror-fast-path=off') ? 'off' as const : 'auto' as const;
    const lab = new Lab();
    const undoLab = deleteNetnsOnExit(() => [linux, dut, peer]);
    let linux = '';
    let dut = '';
    let peer = '';
    let dp: Dataplane | undefined;
    let file = '';
    try {
      linux = await lab.netns('bml');
      dut = await lab.netns('bmd');
      peer = await lab.netns('bmp');
      const [peerDev, portDev] = await lab.veth(peer, dut, 'm');
      dp = Dataplane.open({ workers: 1, ownerTag: 'bench', fastPath });
      const port = dp.addPort({ name: portDev, netns: dut });
      const tap = uniq('btap');
      dp.createPair(port.index, { name: tap, netns: linux });
      dp.setPort(port.index, { up: true });
      await nsx(linux, 'ip', ['addr', 'add', '10.0.0.1/24', 'dev', tap]);
      await nsx(linux, 'ip', ['addr', 'add', '2001:db8::1/64', 'dev', tap, 'nodad']);
      await nsx(linux, 'ip', ['neigh', 'replace', '10.0.0.2', 'lladdr', await lab.mac(peer, peerDev), 'dev', tap, 'nud', 'permanent']);
      dp.watchNetns(linux);
      opts.log(`mirror: writing ${n4} IPv4 + ${n6} IPv6 routes for ip -batch`);
      file = batchFile(n4, n6, '10.0.0.2', '2001:db8::2');
      const want = n4 + n6;
      const count = (): number => dp!.routeCount(0, 4) + dp!.routeCount(0, 6);
      const rssBefore = process.resourceUsage().maxRSS / 1024;
      const rssLoadStart = rssMiB();

      opts.log('mirror: loading the kernel with ip -batch');
      const t0 = performance.now();
      let kernelDone = 0;
      const load = sh('ip', ['-n', linux, '-batch', file], { timeoutMs: 600_000 }).then(() => {
        kernelDone = performance.now();
      });
      let equalAt = 0;
      let failed: unknown;
      load.catch((e: unknown) => (failed = e));
      while (!equalAt && !failed && performance.now() - t0 < 600_000) {
        await new Promise((r) => setTimeout(r, 10));
        if (count() === want) equalAt = performance.now();
      }
      await load;
      if (!equalAt) throw new Error(`dataplane holds ${count()} of ${want} routes after 600 s`);
      const st = dp.mirrorStatus()[0];
      const rssSynced = rssMiB();
      const peakBeforeDrift = process.resourceUsage().maxRSS / 1024;
      const drift = dp.drift(linux, 5);
      const peakAfterDrift = process.resourceUsage().maxRSS / 1024;
      // Mirror-bound rate: a cold start (withdraw, watch again) on the full
      // table is paced by the mirror's dump + FIB, not by the kernel's inserts.
      dp.unwatchNetns(linux);
      const c0 = performance.now();
      dp.watchNetns(linux);
      while (count() !== want && performance.now() - c0 < 300_000) await new Promise((r) => setTimeout(r, 5));
      const coldS = (performance.now() - c0) / 1000;
      // The XDP fast path's maps follow the FIB through a writer thread: how
      // long until they hold the full table too.
      while (dp.fastPathStatus().pending > 0 && performance.now() - c0 < 600_000) await new Promise((r) => setTimeout(r, 5));
      const coldMapsS = (performance.now() - c0) / 1000;
      const fp = dp.fastPathStatus();
      const kernelS = (kernelDone - t0) / 1000;
      const equalS = (equalAt - t0) / 1000;
      const afterKernelMs = Math.max(0, equalAt - kernelDone);
      const rssPeak = process.resourceUsage().maxRSS / 1024;
      const zeroDrift = drift.routes.missing + drift.routes.extra + drift.routes.different === 0;
      const metrics: Record<string, Metric> = {
        mirror_fast_path: fastPath,
        mirror_routes_ipv4: n4,
        mirror_routes_ipv6: n6,
        mirror_kernel_seconds: round(kernelS, 2),
        mirror_equal_seconds: round(equalS, 2),
        mirror_equal_after_kernel_ms: Math.round(afterKernelMs),
        mirror_routes_per_second: Math.round(want / equalS),
        mirror_cold_sync_seconds: round(coldS, 2),
        mirror_cold_sync_routes_per_second: Math.round(want / coldS),
        mirror_cold_sync_fast_path_maps_seconds: fastPath === 'auto' ? round(coldMapsS, 2) : null,
        mirror_fast_path_map_updates: fp.mapUpdates,
        mirror_fast_path_map_batches: fp.batches,
        mirror_fast_path_map_errors: fp.mapErrors,
        mirror_fast_path_max_queue: fp.maxQueue,
        mirror_peak_rss_mib: Math.round(rssPeak),
        mirror_rss_before_mib: Math.round(rssBefore),
        // The dataplane's own share: RSS growth from an empty FIB to the full
        // table held in the FIB and the mirror's shadow (the batch file is
        // streamed to disk, ip -batch is another process).
        mirror_rss_growth_full_table_mib: Math.round(rssSynced - rssLoadStart),
        mirror_peak_rss_before_drift_mib: Math.round(peakBeforeDrift),
        mirror_peak_rss_after_drift_mib: Math.round(peakAfterDrift),
        mirror_events: st?.events ?? null,
        mirror_events_lost: st?.lost ?? null,
        mirror_resyncs: st?.resyncs ?? null,
        mirror_max_lag_ms: st ? round(st.maxLagMs, 1) : null,
        mirror_zero_drift: zeroDrift,
        mirror_target_equal_within_1s: afterKernelMs <= 1000,
        mirror_target_500k_routes_per_s: want / coldS >= 500_000,
        mirror_target_rss_1gib: rssPeak <= 1024,
      };
      const rows = Object.entries(metrics).map(([k, v]) => [k, String(v)]);
      return {
        tables: [{
          title: `Netlink mirror: ${n4.toLocaleString('en-US')} IPv4 + ${n6.toLocaleString('en-US')} IPv6 routes via ip -batch`,
          header: ['metric', 'value'],
          rows,
          notes: [
            'routes/s is routes / time-until-equal while ip -batch loads: paced by the kernel; cold sync (a fresh watch of the full table) is paced by the mirror',
            'peak RSS is the whole bench process (node + dataplane + FIB + mirror shadow)',
            ...(zeroDrift ? [] : drift.samples),
          ],
        }],
        metrics,
      };
    } finally {
      await closeSection({ file, dp, lab, undo: undoLab });
    }
  },
};

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
