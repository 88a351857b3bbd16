// The loop: keys from the work queue (a few pairs at once, the node key
// alone), the current desired state
// read afresh (level-triggered; the queue carries names, never events), the
// phases run, the observations turned into a status entry. Two kinds of key:
// "pair/<name>" for one pair, and "node" for what belongs to no desired pair
// (ports, mirrors of ours, watches) — absence is a state too, so a pair
// deleted while the agent was down is still cleaned up.
import { Semaphore } from 'async-mutex';
import type { Logger } from 'pino';

import type { Outcome } from '../k8s/work-queue.js';
import { deleteOwnedLink, ownedLinks } from './owned.js';
import { portKey, type NodeDesired } from './node-desired.js';
import { pairPhases, releasePort, restorePort, type Phase } from './pair-phases.js';
import { newScope, type AgentContext, type PairScope } from './pair-scope.js';
import type { PairEntry } from '../api/node-dataplane.js';
import { pairEntry } from './pair-status.js';
import { classify } from './reasons.js';

export const NODE_KEY = 'node';
export const pairKey = (name: string): string => `pair/${name}`;

export interface ReconcilerDeps {
  ctx: AgentContext;
  log: Logger;
  /** The node's desired state, computed from the current snapshot. */
  desired(): NodeDesired;
  /** Consecutive failures of a key so far (the queue's count). */
  retries(key: string): number;
  /** Something in status may have changed. */
  onStatus(): void;
  now?: () => Date;
  /** How many keys the queue hands out at once (its worker count); default 1. */
  concurrency?: number;
}

async function runPhases(scope: PairScope, phases: Phase[]): Promise<Outcome> {
  for (const phase of phases) {
    try {
      const r = await phase.run(scope);
      if ('requeueAfterMs' in r) return r;
    } catch (error) {
      scope.obs.failure = classify(error, phase.name, scope.desired.port.driver);
      scope.log.warn({ phase: phase.name, reason: scope.obs.failure.reason, error: scope.obs.failure.message }, 'phase failed');
      return { error };
    }
  }
  return { done: true };
}

export class PairReconciler {
  readonly entries = new Map<string, PairEntry>();
  private seq = 0;
  /**
   * Pairs reconcile side by side (each takes one unit; the queue never hands
   * out one key twice, and the desired state gives no two pairs one port or
   * mirror). The node key takes all units: it sweeps what no desired pair
   * names, which a pair reconcile in flight may be creating. FIFO: a waiting
   * node key holds back the pairs queued after it.
   */
  private readonly gate: Semaphore;
  private readonly concurrency: number;

  constructor(private readonly deps: ReconcilerDeps) {
    this.concurrency = Math.max(1, deps.concurrency ?? 1);
    this.gate = new Semaphore(this.concurrency);
  }

  /** The controller's reconcile: a pair takes one unit of the gate, the node key all of them. */
  readonly handle = (key: string): Promise<Outcome> =>
    this.gate.runExclusive(() => this.reconcile(key), key === NODE_KEY ? this.concurrency : 1);

  async reconcile(key: string): Promise<Outcome> {
    this.seq += 1;
    const log = this.deps.log.child({ reconcile: this.seq, key });
    const started = Date.now();
    log.debug('reconciling');
    try {
      if (key === NODE_KEY) return await this.reconcileNode(log);
      return await this.reconcilePair(key.slice('pair/'.length), key, log);
    } catch (error) {
      log.error({ err: error }, 'reconcile failed');
      return { error };
    } finally {
      log.debug({ ms: Date.now() - started }, 'reconciled');
      this.deps.onStatus();
    }
  }

  private async reconcilePair(name: string, key: string, log: Logger): Promise<Outcome> {
    const desired = this.deps.desired();
    const d = desired.pairs.get(name);
    if (!d) {
      await this.releasePair(name, desired, log);
      return { done: true };
    }
    const scope = newScope(d, this.deps.ctx, log);
    const conflict = desired.conflicts.get(name);
    let outcome: Outcome;
    if (conflict) {
      // Nothing the node can retry its way out of: a change of the config requeues it.
      scope.obs.failure = { ...conflict, phase: 'ensurePort' };
      outcome = { done: true };
    } else {
      outcome = await runPhases(scope, pairPhases);
    }
    const retries = this.deps.retries(key) + ('error' in outcome ? 1 : 0);
    this.entries.set(name, pairEntry(name, scope.obs, this.entries.get(name), retries, (this.deps.now ?? (() => new Date()))()));
    return outcome;
  }

  /** The pair is no longer desired: its port goes back to the kernel and its mirror (ours) is deleted. */
  private async releasePair(name: string, desired: NodeDesired, log: Logger): Promise<void> {
    const { ctx } = this.deps;
    const wantedMirrors = new Set([...desired.pairs.values()].map((p) => portKey(p.mirror.netns, p.mirror.name)));
    const wantedPorts = new Set([...desired.pairs.values()].map((p) => portKey(p.port.netns, p.port.name)));
    const index = ctx.claims.get(name);
    if (index !== undefined) {
      ctx.claims.delete(name);
      const port = ctx.dp.port(index);
      const pair = ctx.dp.pair(index);
      const keepMirror = pair !== undefined && wantedMirrors.has(portKey(pair.mirrorNetns, pair.mirrorName));
      if (port && !wantedPorts.has(portKey(port.netns, port.name))) {
        await releasePort(this.deps, index, !keepMirror);
        log.info({ port: port.name, mirror: pair?.mirrorName }, 'pair removed: port given back');
      } else if (pair && !keepMirror) {
        ctx.dp.removePair(index, { deleteMirror: true });
      }
      if (pair && !keepMirror) ctx.state.forgetMirror(pair.mirrorNetns, pair.mirrorName);
    }
    for (const rec of ctx.state.mirrors()) {
      if (rec.pair !== name || wantedMirrors.has(portKey(rec.netns, rec.name))) continue;
      if (ctx.host.netnsExists(rec.netns)) deleteOwnedLink(ctx.host, rec.netns, rec.name, ctx.tag);
      ctx.state.forgetMirror(rec.netns, rec.name);
    }
    this.entries.delete(name);
  }

  /** Whatever is ours and no desired pair names: ports, mirrors (in any netns we ever used), watches. */
  private async reconcileNode(log: Logger): Promise<Outcome> {
    const { ctx } = this.deps;
    const desired = this.deps.desired();
    const wanted = [...desired.pairs.values()];
    const wantedMirrors = new Set(wanted.map((p) => portKey(p.mirror.netns, p.mirror.name)));
    const wantedPorts = new Set(wanted.map((p) => portKey(p.port.netns, p.port.name)));
    const holders = new Map<number, string>(); // port index -> the first pair claiming it
    for (const [pair, index] of ctx.claims) if (!holders.has(index)) holders.set(index, pair);
    const orphans = ctx.dp.ports().filter((port) => {
      const holder = holders.get(port.index);
      return !((holder !== undefined && desired.pairs.has(holder)) || wantedPorts.has(portKey(port.netns, port.name)));
    });
    // A port costs ~50 ms to give back (kernel RCU grace periods as its sockets close), waited
    // for off the event loop: a few at a time, their waits overlap.
    for (let i = 0; i < orphans.length; i += this.concurrency) {
      await Promise.all(
        orphans.slice(i, i + this.concurrency).map(async (port) => {
          const holder = holders.get(port.index);
          const pair = ctx.dp.pair(port.index);
          const deleteMirror = pair !== undefined && !wantedMirrors.has(portKey(pair.mirrorNetns, pair.mirrorName));
          await releasePort(this.deps, port.index, deleteMirror);
          if (holder !== undefined) ctx.claims.delete(holder);
          if (pair && deleteMirror) ctx.state.forgetMirror(pair.mirrorNetns, pair.mirrorName);
          log.info({ port: port.name }, 'orphan port given back');
        }),
      );
    }
    // Ports we took and hold no more (a desired pair's port is re-taken by its own reconcile).
    const held = new Set(ctx.dp.ports().map((p) => portKey(p.netns, p.name)));
    for (const rec of ctx.state.ports()) {
      const key = portKey(rec.netns, rec.name);
      if (held.has(key) || wantedPorts.has(key)) continue;
      restorePort(ctx.host, rec, log);
      ctx.state.forgetPort(rec.netns, rec.name);
    }
    const netnsList = new Set<string>(['', ctx.settings().defaultNetns, ...ctx.state.mirrors().map((r) => r.netns), ...wanted.map((p) => p.mirror.netns)]);
    for (const ns of netnsList) {
      if (!ctx.host.netnsExists(ns)) {
        for (const r of ctx.state.mirrors()) if (r.netns === ns && !wantedMirrors.has(portKey(ns, r.name))) ctx.state.forgetMirror(ns, r.name);
        continue;
      }
      const owned = ownedLinks(ctx.host, ns, ctx.tag);
      for (const link of owned) {
        if (wantedMirrors.has(portKey(ns, link.name))) continue;
        if (deleteOwnedLink(ctx.host, ns, link.name, ctx.tag)) log.info({ mirror: link.name, netns: ns }, 'orphan mirror deleted');
        ctx.state.forgetMirror(ns, link.name);
      }
      const present = new Set(owned.map((l) => l.name));
      for (const r of ctx.state.mirrors()) if (r.netns === ns && !present.has(r.name) && !wantedMirrors.has(portKey(ns, r.name))) ctx.state.forgetMirror(ns, r.name);
    }
    const watchedNetns = new Set(wanted.map((p) => p.mirror.netns));
    for (const ns of [...ctx.watches.keys()]) {
      if (watchedNetns.has(ns)) continue;
      ctx.dp.unwatchNetns(ns, { withdraw: true });
      ctx.watches.delete(ns);
      log.info({ netns: ns }, 'netns no longer watched');
    }
    return { done: true };
  }
}

