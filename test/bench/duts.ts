// The three devices under test (plus the generator calibration), each set up
// on a fresh Topology with the same addressing plan and CPU plan.
import { readFileSync } from 'node:fs';

import type { Dataplane as DataplaneT, PortInfo } from '../../dataplane/dataplane.js';
import type { Family } from '../../dataplane/types.js';
import { onCleanup } from './cleanup.js';
import { run } from './exec.js';
import type { XdpGen } from './generator.js';
import { FAMILIES, PLAN } from './plan.js';
import { prefixes } from './routes.js';
import { DEV, DUT_CPU, NS, type Topology, inNs, ip, pinThreads, threadIds } from './topology.js';

function threadName(tid: number): string {
  try {
    return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

export type DutKind = 'generator' | 'kernel' | 'xdp' | 'dataplane' | 'dataplane_graph';

/** How a DUT is named in the report's table. */
export const DUT_LABEL: Record<DutKind, string> = {
  generator: 'generator',
  kernel: 'kernel',
  xdp: 'xdp',
  dataplane: 'dataplane',
  dataplane_graph: 'dataplane (graph only, fastPath off)',
};

export interface Dut {
  readonly kind: DutKind;
  /** MAC the generator addresses frames to. */
  readonly ingressMac: string;
  /** Where forwarded packets are counted. */
  readonly countAt: { netns: string; dev: string };
  /** Threads (tids) whose CPU time is the DUT's work, besides the topology's NAPI threads. */
  readonly threads?: readonly number[];
  /** Replaces the FIB's extra routes with `n` synthetic ones of `family` (plus the traffic's); seconds taken. */
  loadRoutes?(family: Family, n: number): Promise<number>;
  /** Extra figures for the report (e.g. dataplane drop counters). */
  stats?(): Promise<Record<string, number>>;
  /** Lines for the report's notes (e.g. the fast path's state per port). */
  readonly notes?: readonly string[];
  close(): Promise<void>;
}

export interface DutContext {
  topo: Topology;
  gen: XdpGen;
  /** Port driver for the dataplane DUT. */
  driver: 'af_packet' | 'af_xdp';
  /** AF_PACKET receive ring layout (default: the dataplane's). */
  rxRing?: 'v2' | 'v3';
}

/** The sink: XDP drop+count on lcpb-s0 (gives it NAPI, so XDP redirects into it work too). */
async function attachSink(ctx: DutContext): Promise<void> {
  await ctx.gen.attachSink(NS.sink, DEV.sink);
}

/** NAPI for the generator's XDP frames on the DUT port, run by a kthread pinned to the DUT's core. */
async function napiOnDutCore(ctx: DutContext, viaGro: boolean): Promise<void> {
  if (viaGro) await ctx.topo.enableGro(NS.dut, DEV.dutIn);
  await ctx.topo.threadNapi(NS.dut, DEV.dutIn, DUT_CPU);
}

/** The generator alone: frames are counted and dropped right at the DUT port (calibration). */
export async function generatorOnly(ctx: DutContext): Promise<Dut> {
  await ctx.gen.attachSink(NS.dut, DEV.dutIn);
  await napiOnDutCore(ctx, false);
  return { kind: 'generator', ingressMac: ctx.topo.macs.dutIn, countAt: { netns: NS.dut, dev: DEV.dutIn }, close: async () => undefined };
}

/** Linux forwarding in the DUT netns: addresses, permanent neighbours, static routes. */
export async function kernel(ctx: DutContext): Promise<Dut> {
  await attachSink(ctx);
  await inNs(NS.dut, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  for (const f of FAMILIES) {
    const p = PLAN[f];
    await ip(['-n', NS.dut, 'addr', 'add', p.dutIn, 'dev', DEV.dutIn, ...(f === 6 ? ['nodad'] : [])]);
    await ip(['-n', NS.dut, 'addr', 'add', p.dutOut, 'dev', DEV.dutOut, ...(f === 6 ? ['nodad'] : [])]);
    await ip(['-n', NS.dut, 'neigh', 'replace', p.sink, 'lladdr', ctx.topo.macs.sink, 'dev', DEV.dutOut, 'nud', 'permanent']);
    await ip(['-n', NS.dut, 'route', 'add', p.route, 'via', p.sink, 'dev', DEV.dutOut]);
  }
  await napiOnDutCore(ctx, true);
  return {
    kind: 'kernel',
    ingressMac: ctx.topo.macs.dutIn,
    countAt: { netns: NS.sink, dev: DEV.sink },
    async loadRoutes(family, n) {
      // One `ip -batch` over stdin: one process, one netlink socket.
      const p = PLAN[family];
      const lines = prefixes(family, n - 1).map((q) => `route add ${q} via ${p.sink} dev ${DEV.dutOut}`);
      const t0 = performance.now();
      await run('ip', ['-n', NS.dut, '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 900_000 });
      return (performance.now() - t0) / 1000;
    },
    close: async () => undefined,
  };
}

/** bpf_redirect from the DUT port to the egress port (MACs rewritten): the machine's upper bound. */
export async function xdp(ctx: DutContext): Promise<Dut> {
  await attachSink(ctx);
  await ctx.gen.attachRedirect(NS.dut, DEV.dutIn, DEV.dutOut, { dstMac: ctx.topo.macs.sink, srcMac: ctx.topo.macs.dutOut });
  await napiOnDutCore(ctx, false); // the XDP program itself gives the port NAPI
  return { kind: 'xdp', ingressMac: ctx.topo.macs.dutIn, countAt: { netns: NS.sink, dev: DEV.sink }, close: async () => undefined };
}

type DataplaneModule = typeof import('../../dataplane/dataplane.js');

/**
 * kube-lcp: both DUT ports taken over (AF_PACKET), one worker pinned to the
 * DUT core together with the port's NAPI thread. The product default
 * (fastPath 'auto': the XDP fast path forwards the plain case in lcpb-d0's
 * NAPI poll, on the DUT core too), or the user-space graph alone
 * (fastPath 'off'). The facade is imported lazily: it loads the native addon
 * at import time, and the kernel and XDP cases must still run when the addon
 * is not built.
 */
async function dataplaneDut(ctx: DutContext, fastPath: 'auto' | 'off'): Promise<Dut> {
  const mod: DataplaneModule = await import('../../dataplane/dataplane.js');
  await attachSink(ctx);
  const before = threadIds();
  const dp: DataplaneT = mod.Dataplane.open({ workers: 1, fastPath, ...(ctx.rxRing ? { rxRing: ctx.rxRing } : {}) });
  let closed = false;
  const closeDp = (): void => {
    if (!closed) dp.close();
    closed = true;
  };
  const release = onCleanup(closeDp);
  try {
    const p0: PortInfo = dp.addPort({ name: DEV.dutIn, netns: NS.dut, driver: ctx.driver });
    const p1: PortInfo = dp.addPort({ name: DEV.dutOut, netns: NS.dut, driver: ctx.driver });
    dp.setPort(p0.index, { up: true });
    dp.setPort(p1.index, { up: true });
    const baseRoutes = FAMILIES.map((f) => ({ prefix: PLAN[f].route, paths: [{ port: p1.index, via: PLAN[f].sink }] }));
    for (const f of FAMILIES) {
      dp.addAddress(p0.index, PLAN[f].dutIn);
      dp.addAddress(p1.index, PLAN[f].dutOut);
      dp.addNeighbor(p1.index, PLAN[f].sink, ctx.topo.macs.sink);
    }
    dp.addRoutes(baseRoutes);
    // An XDP program on the port (the fast path's, or AF_XDP's own) gives it
    // NAPI; a bare AF_PACKET port needs GRO for it.
    const hasXdp = (i: number): boolean => /^(active|rx-only)/.test(dp.ports().find((p) => p.index === i)?.fastPath ?? '');
    await napiOnDutCore(ctx, ctx.driver === 'af_packet' && !hasXdp(p0.index));
    // The sink's XDP program gives lcpb-d1's peer NAPI: the fast path may redirect there.
    if (fastPath === 'auto') {
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && dp.ports().find((p) => p.index === p1.index)?.fastPath !== 'active') await new Promise((r) => setTimeout(r, 50));
    }
    const fastPathState = dp.ports().map((p) => `port${p.index}=${p.fastPath ?? '?'}`).join(', ');
    // The fast path's map writer and monitor (lcp-fp-*) are control-side
    // threads: not DUT work, and not to be starved on the DUT core while a
    // full table is loaded.
    const mine = [...threadIds()].filter((t) => !before.has(t) && !threadName(t).startsWith('lcp-fp'));
    await pinThreads(mine, DUT_CPU);
    return {
      kind: fastPath === 'auto' ? 'dataplane' : 'dataplane_graph',
      ingressMac: p0.mac,
      notes: [`fast path: ${fastPathState}`],
      threads: mine,
      countAt: { netns: NS.sink, dev: DEV.sink },
      async loadRoutes(family, n) {
        const p = PLAN[family];
        const all = prefixes(family, n - 1);
        const t0 = performance.now();
        // Batches of 100k: the facade takes arrays, and a 1M-element array of
        // objects would double the bench's peak heap for nothing.
        for (let i = 0; i < all.length; i += 100_000)
          dp.addRoutes(all.slice(i, i + 100_000).map((prefix) => ({ prefix, paths: [{ port: p1.index, via: p.sink }] })));
        return (performance.now() - t0) / 1000;
      },
      async stats() {
        const c = dp.counters();
        const out: Record<string, number> = {};
        // What the port's NAPI thread received vs what the worker got: the
        // difference was dropped at the full RX ring (work done for nothing).
        const link = await ctx.topo.linkStats(NS.dut, DEV.dutIn);
        out.napi_rx_packets = link.rxPackets;
        out.napi_rx_dropped = link.rxDropped;
        for (const port of c.ports) {
          out[`port${port.port}_rx`] = port.rxPackets;
          out[`port${port.port}_tx`] = port.txPackets;
          out[`port${port.port}_drops`] = port.drops;
          out[`port${port.port}_punts`] = port.punts;
          out[`port${port.port}_fast_path_rx`] = port.fastPathRxPackets ?? 0;
          out[`port${port.port}_fast_path_tx`] = port.fastPathTxPackets ?? 0;
        }
        for (const [k, v] of Object.entries(c.errors)) out[`error_${k}`] = v;
        return out;
      },
      async close() {
        closeDp();
        release();
      },
    };
  } catch (e) {
    closeDp();
    release();
    throw e;
  }
}

export const dataplane = (ctx: DutContext): Promise<Dut> => dataplaneDut(ctx, 'auto');
export const dataplaneGraph = (ctx: DutContext): Promise<Dut> => dataplaneDut(ctx, 'off');

export const DUTS: Record<DutKind, (ctx: DutContext) => Promise<Dut>> = { generator: generatorOnly, kernel, xdp, dataplane, dataplane_graph: dataplaneGraph };
