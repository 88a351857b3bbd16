// A full table installed the way FRR's zebra installs it: every route over a
// kernel nexthop object, ~64 groups shared by the whole table (a router with
// a few peers). Measures: the dataplane FIB equal to the kernel after the
// load; prefix-independent convergence when one next hop goes away (a peer
// lost: `ip nexthop del`, the kernel takes it out of every group) — the time
// until no adjacency to it is left in the FIB, and until the XDP maps follow;
// the withdraw of the whole table (`ip nexthop flush`: the kernel deletes the
// routes without a message); RSS and CPU per route.
// Flags: --nexthop-routes=N (IPv4 routes, default 1000000; IPv6 = N/5).
import { closeSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';


import { Dataplane } from '../../dataplane/dataplane.js';
import { Lab, nsx, sh, uniq } from '../../controller/lab/netns.js';
import { closeSection, deleteNetnsOnExit } from './cleanup.js';
import { round } from './mirror.js';
import type { BenchSection, Metric, SectionResult } from './sections.js';

const GATEWAYS = 8;
const GROUPS = 64;
const gw4 = (i: number): string => `10.0.0.${2 + i}`;
const gw6 = (i: number): string => `2001:db8::${(2 + i).toString(16)}`;
// Groups of two or three gateways, all combinations in turn: each gateway is in ~20 of them.
const members = (g: number): number[] => {
  const a = g % GATEWAYS, b = (a + 1 + (g >> 3) % (GATEWAYS - 1)) % GATEWAYS;
  return g % 3 === 0 ? [a, b, (b + 1) % GATEWAYS === a ? (b + 2) % GATEWAYS : (b + 1) % GATEWAYS] : [a, b];
};

function batchFile(n4: number, n6: number): string {
  const file = join(tmpdir(), `kube-lcp-nexthop-${process.pid}.batch`);
  const fd = openSync(file, 'w');
  try {
    let chunk: string[] = [];
    const push = (line: string): void => {
      chunk.push(line);
      if (chunk.length === 16384) writeSync(fd, chunk.splice(0).join('\n') + '\n');
    };
    for (let i = 0; i < n4; i++) push(`route add ${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24 nhid ${1000 + (i % GROUPS)}`);
    for (let i = 0; i < n6; i++) push(`route add 2a00:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/48 nhid ${2000 + (i % GROUPS)}`);
    if (chunk.length) writeSync(fd, chunk.join('\n') + '\n');
  } finally {
    closeSync(fd);
  }
  return file;
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const rssMiB = (): number => process.memoryUsage.rss() / (1 << 20);
const cpuUs = (): number => { const c = process.cpuUsage(); return c.user + c.system; };

export const nexthopSection: BenchSection = {
  name: 'nexthop',
  async run(opts): Promise<SectionResult> {
    const flag = [...opts.flags].find((f) => f.startsWith('nexthop-routes='));
    const n4 = flag ? Number(flag.slice('nexthop-routes='.length)) : 1_000_000;
    const n6 = Math.floor(n4 / 5);
    const lab = new Lab();
    let linux = '';
    let dut = '';
    let peer = '';
    const undoLab = deleteNetnsOnExit(() => [linux, dut, peer]);
    let dp: Dataplane | undefined;
    let file = '';
    try {
      linux = await lab.netns('bnl');
      dut = await lab.netns('bnd');
      peer = await lab.netns('bnp');
      const [, portDev] = await lab.veth(peer, dut, 'n');
      dp = Dataplane.open({ workers: 1, ownerTag: 'bench' });
      const port = dp.addPort({ name: portDev, netns: dut });
      const tap = uniq('ntap');
      dp.createPair(port.index, { name: tap, netns: linux });
      dp.setPort(port.index, { up: true });
      await nsx(linux, 'ip', ['addr', 'add', '10.0.0.1/24', 'dev', tap]);
      await nsx(linux, 'ip', ['addr', 'add', '2001:db8::1/64', 'dev', tap, 'nodad']);
      // The gateways: resolved neighbours (made-up MACs), one object each per family, then the groups.
      const setup: string[] = [];
      for (let i = 0; i < GATEWAYS; i++) {
        const mac = `02:00:00:00:01:${(0x10 + i).toString(16)}`;
        setup.push(`neigh replace ${gw4(i)} lladdr ${mac} dev ${tap} nud permanent`);
        setup.push(`-6 neigh replace ${gw6(i)} lladdr ${mac} dev ${tap} nud permanent`);
        setup.push(`nexthop add id ${1 + i} via ${gw4(i)} dev ${tap}`);
        setup.push(`-6 nexthop add id ${101 + i} via ${gw6(i)} dev ${tap}`);
      }
      for (let g = 0; g < GROUPS; g++) {
        setup.push(`nexthop add id ${1000 + g} group ${members(g).map((m) => String(1 + m)).join('/')}`);
        setup.push(`nexthop add id ${2000 + g} group ${members(g).map((m) => String(101 + m)).join('/')}`);
      }
      for (const line of setup) await nsx(linux, 'ip', line.split(' '));
      dp.watchNetns(linux);
      while (dp.mirrorStatus()[0]?.state !== 'synced') await wait(10);
      // Adjacencies to a gateway are also held by its neighbour's host entry:
      // what the groups add on top is what the repair must take away.
      const refs = (ip: string): number => dp!.adjacencies().find((a) => a.nextHop === ip)?.refcount ?? 0;
      const lost = gw4(0), lost6 = gw6(0);
      const base = refs(lost) + refs(lost6);
      file = batchFile(n4, n6);
      const want = n4 + n6;
      const count = (): number => dp!.routeCount(0, 4) + dp!.routeCount(0, 6);
      const rss0 = rssMiB();
      const cpu0 = cpuUs();

      opts.log(`nexthop: loading ${n4} IPv4 + ${n6} IPv6 routes over ${GROUPS * 2} groups with ip -batch`);
      const t0 = performance.now();
      let kernelDone = 0;
      let failed: unknown;
      const load = sh('ip', ['-n', linux, '-batch', file], { timeoutMs: 600_000 }).then(() => { kernelDone = performance.now(); });
      load.catch((e: unknown) => (failed = e));
      let equalAt = 0;
      while (!equalAt && !failed && performance.now() - t0 < 600_000) {
        await wait(10);
        if (count() === want) equalAt = performance.now();
      }
      await load;
      if (!equalAt) throw new Error(`dataplane holds ${count()} of ${want} routes after 600 s`);
      const cpuLoad = cpuUs() - cpu0;
      const rssLoaded = rssMiB();
      // The drift check of a full table, as the agent ran it (on the JS thread:
      // the event loop waits the whole time) and as it runs it now (driftAsync,
      // a pool thread): the event loop's longest wait while each ran.
      const stall = async (check: () => unknown): Promise<{ ms: number; maxDelayMs: number }> => {
        const h = monitorEventLoopDelay({ resolution: 5 });
        h.enable();
        await wait(50); // its first interval only sets the baseline
        const c0 = performance.now();
        await check();
        const ms = performance.now() - c0;
        await wait(20); // the delay of a blocked loop is recorded when it runs again
        h.disable();
        return { ms, maxDelayMs: h.max / 1e6 };
      };
      let drift!: ReturnType<Dataplane['drift']>;
      const syncCheck = await stall(() => (drift = dp!.drift(linux, 5)));
      const asyncCheck = await stall(() => dp!.driftAsync(linux, 5));
      const st = dp.mirrorStatus()[0];

      // A peer lost: its objects go, the kernel takes them out of every group.
      const held = (): boolean => refs(lost) + refs(lost6) > base;
      if (!held()) throw new Error(`no adjacency to ${lost} before the repair`);
      const pendingBefore = dp.fastPathStatus().pending;
      const r0 = performance.now();
      await nsx(linux, 'ip', ['nexthop', 'del', 'id', '1']);
      await nsx(linux, 'ip', ['nexthop', 'del', 'id', '101']);
      const cmdMs = performance.now() - r0;
      while (held() && performance.now() - r0 < 60_000) await wait(1);
      const repairMs = performance.now() - r0;
      while (dp.fastPathStatus().pending > pendingBefore && performance.now() - r0 < 60_000) await wait(1);
      const repairMapsMs = performance.now() - r0;
      const routesAfterRepair = count();
      const driftRepair = dp.drift(linux, 5);

      // The whole table withdrawn.
      const w0 = performance.now();
      await sh('ip', ['-n', linux, 'nexthop', 'flush']);
      const flushKernelMs = performance.now() - w0;
      while (count() > 0 && performance.now() - w0 < 120_000) await wait(5);
      const withdrawMs = performance.now() - w0;

      const afterKernelMs = Math.max(0, equalAt - kernelDone);
      const zero = (d: typeof drift): boolean => d.routes.missing + d.routes.extra + d.routes.different === 0;
      const metrics: Record<string, Metric> = {
        nexthop_routes_ipv4: n4,
        nexthop_routes_ipv6: n6,
        nexthop_groups: GROUPS * 2,
        nexthop_kernel_seconds: round((kernelDone - t0) / 1000, 2),
        nexthop_equal_seconds: round((equalAt - t0) / 1000, 2),
        nexthop_equal_after_kernel_ms: Math.round(afterKernelMs),
        nexthop_zero_drift: zero(drift),
        nexthop_drift_check_ms: Math.round(syncCheck.ms),
        nexthop_drift_sync_event_loop_max_delay_ms: Math.round(syncCheck.maxDelayMs),
        nexthop_drift_async_event_loop_max_delay_ms: Math.round(asyncCheck.maxDelayMs),
        nexthop_objects_installed: st?.nexthopsInstalled ?? null,
        nexthop_events_lost: st?.lost ?? null,
        nexthop_cpu_us_per_route: round(cpuLoad / want, 2),
        nexthop_rss_growth_mib: Math.round(rssLoaded - rss0),
        nexthop_rss_bytes_per_route: Math.round(((rssLoaded - rss0) * (1 << 20)) / want),
        nexthop_repair_ip_commands_ms: round(cmdMs, 1),
        nexthop_repair_fib_ms: round(repairMs, 1),
        nexthop_repair_fast_path_maps_ms: round(repairMapsMs, 1),
        nexthop_repair_routes_kept: routesAfterRepair === want,
        nexthop_repair_zero_drift: zero(driftRepair),
        nexthop_withdraw_kernel_ms: Math.round(flushKernelMs),
        nexthop_withdraw_fib_ms: Math.round(withdrawMs),
        nexthop_target_equal_within_1s: afterKernelMs <= 1000,
        nexthop_target_repair_100ms: repairMs <= 100,
        nexthop_target_withdraw_1s: withdrawMs - flushKernelMs <= 1000,
      };
      return {
        tables: [{
          title: `Nexthop objects: ${n4.toLocaleString('en-US')} IPv4 + ${n6.toLocaleString('en-US')} IPv6 routes over ${GROUPS * 2} groups of ${GATEWAYS} gateways`,
          header: ['metric', 'value'],
          rows: Object.entries(metrics).map(([k, v]) => [k, String(v)]),
          notes: [
            'repair: `ip nexthop del` of one gateway (both families); the FIB is repaired when no adjacency to it is left, i.e. every group load-balance was republished in place (no route touched)',
            'the repair times include the two `ip` processes (repair_ip_commands_ms)',
            'CPU and RSS: the whole bench process while the table loads (the kernel and ip -batch are other processes)',
            'drift_*_event_loop_max_delay_ms: the longest the JS event loop waited while a full drift check ran with drift() (on it) and driftAsync() (a pool thread; the agent\'s way)',
            ...(zero(drift) ? [] : drift.samples),
            ...(zero(driftRepair) ? [] : driftRepair.samples),
          ],
        }],
        metrics,
      };
    } finally {
      await closeSection({ file, dp, lab, undo: undoLab });
    }
  },
};
