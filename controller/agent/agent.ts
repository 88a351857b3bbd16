// The node agent: wires a desired-state source (file now, cluster later) to
// the reconciler through the rate-limited work queue, owns the embedded
// dataplane, and assembles the node's NodeDataplane status on demand. It knows
// nothing about where desired state comes from beyond DesiredStateSource.
import { createHash } from 'node:crypto';

import type { Logger } from 'pino';

import { Dataplane } from '../../dataplane/dataplane.js';
import { netlinkHost, type Host } from '../../dataplane/host.js';
import type { Condition } from '../api/kube-schema.js';
import { GROUP_VERSION } from '../api/kube-schema.js';
import type { NodeDataplane } from '../api/node-dataplane.js';
import { Controller, type ReconcileCounts } from '../k8s/controller.js';
import type { Outcome } from '../k8s/work-queue.js';
import type { QueueMetrics, ReconcileObserver } from '../metrics/hooks.js';
import type { DesiredStateSource, NodeIdentity, SourceChange } from './desired.js';
import { nodeDesired, type NodeDesired } from './node-desired.js';
import { nodeConditions, nodeStatus, type ConditionInputs } from './node-status.js';
import { NODE_KEY, PairReconciler, pairKey } from './pair-reconciler.js';
import type { AgentContext } from './pair-scope.js';
import { defaultSettings, resolveSettings, type NodeSettings } from './selection.js';
import { StateStore } from './state-store.js';
import { watchKey } from './watch-options.js';

export const AGENT_VERSION = '0.1.0';
/**
 * Pairs reconciled at once. A pair's reconcile mostly waits (the kernel's
 * grace period as its port's ring is made, `ip`, the mirror's netlink):
 * several in flight overlap those waits (docs/performance.md has the figures).
 */
export const DEFAULT_CONCURRENT_RECONCILES = 4;

export interface AgentOptions {
  source: DesiredStateSource;
  node: NodeIdentity;
  /** Where the restart count and the record of our mirrors live (standalone: /run/kube-lcp). */
  stateDir: string;
  log: Logger;
  /** Every key is reconciled again this often, whatever happened (level-triggered safety net). */
  resyncPeriodMs?: number;
  /** How often the mirror's drift (Linux vs dataplane) is measured. */
  driftPeriodMs?: number;
  /** Retry backoff of a failing pair: first delay and cap. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Pairs reconciled at once (controller-runtime's MaxConcurrentReconciles); default DEFAULT_CONCURRENT_RECONCILES. */
  concurrentReconciles?: number;
  /** Work queue and reconcile metrics (controller/metrics), e.g. an AgentEndpoint's. */
  metrics?: { queue?: QueueMetrics<string>; reconcile?: ReconcileObserver };
  /** Linux beside the dataplane; netlink unless a test passes a fake. */
  host?: Host;
}

/** The ifalias owner tag: the node name, shortened with a hash if it does not fit. */
export function ownerTagFor(node: string): string {
  if (/^[A-Za-z0-9_.-]{1,63}$/.test(node)) return node;
  return `${node.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 54)}-${createHash('sha256').update(node).digest('hex').slice(0, 8)}`;
}

export class Agent {
  readonly dp: Dataplane;
  private readonly controller: Controller<string>;
  private readonly reconciler: PairReconciler;
  private readonly ctx: AgentContext;
  private settings: NodeSettings;
  private settingsConflict: string[] = [];
  /** Why the LinuxControlPlane in force for this node was not applied (its settings cannot work here). */
  private settingsRefused: string | undefined;
  private desiredCache: NodeDesired | undefined;
  private readonly firstPass = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Keys the queue hands out at once. */
  readonly concurrency: number;
  private driftRoutes: number | undefined;
  private measuring = false;
  private conditions: Condition[] = [];
  private openedWith: Sizing;
  private stopped = false;
  private readonly statusListeners: (() => void)[] = [];

  private constructor(
    private readonly opts: AgentOptions,
    readonly state: StateStore,
  ) {
    this.concurrency = opts.concurrentReconciles ?? DEFAULT_CONCURRENT_RECONCILES;
    this.settings = this.resolve(defaultSettings);
    this.openedWith = { workers: this.settings.workers, buffersPerWorker: this.settings.buffersPerWorker, rxRingSize: this.settings.rxRingSize };
    this.dp = Dataplane.open({ ...this.openedWith, ownerTag: ownerTagFor(opts.node.name) });
    this.ctx = {
      dp: this.dp,
      host: opts.host ?? netlinkHost,
      tag: ownerTagFor(opts.node.name),
      state,
      settings: () => this.settings,
      watches: new Map(),
      claims: new Map(),
    };
    this.reconciler = new PairReconciler({
      ctx: this.ctx,
      log: opts.log,
      desired: () => this.desired(),
      retries: (key) => this.controller.queue.numRequeues(key),
      onStatus: () => this.statusChanged(),
      concurrency: this.concurrency,
    });
    this.controller = new Controller<string>({
      workers: this.concurrency,
      reconcile: async (key: string): Promise<Outcome> => {
        const outcome = await this.reconciler.handle(key);
        this.firstPass.delete(key);
        return outcome;
      },
      queue: { baseDelayMs: opts.retryBaseMs ?? 200, maxDelayMs: opts.retryMaxMs ?? 30_000, metrics: opts.metrics?.queue },
      metrics: opts.metrics?.reconcile,
    });
  }

  /** Loads the desired state, opens the dataplane (sized by the settings) and starts reconciling. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const state = new StateStore(opts.stateDir, opts.node.name);
    let agent: Agent | undefined;
    // The source's first load tells the sizing the dataplane opens with; the
    // agent reads the snapshot when it is made, so earlier changes are in it.
    try {
      await opts.source.start((c) => agent?.onChange(c));
    } catch (e) {
      state.close();
      throw e;
    }
    try {
      agent = new Agent(opts, state);
    } catch (e) {
      await opts.source.stop(); // e.g. the dataplane would not open: leave no watcher behind
      state.close();
      throw e;
    }
    agent.begin();
    opts.log.info({ node: opts.node.name, restartCount: state.restartCount, source: opts.source.kind }, 'agent started');
    return agent;
  }

  private begin(): void {
    const keys = [NODE_KEY, ...[...this.desired().pairs.keys()].map(pairKey)];
    keys.forEach((k) => this.firstPass.add(k));
    this.controller.start();
    keys.forEach((k) => this.controller.enqueue(k));
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.resyncPeriodMs ?? 30_000, () => {
      // A refused defaultNetns may exist by now.
      if (this.settingsRefused) this.reResolve();
      this.enqueueAll();
    });
    every(this.opts.driftPeriodMs ?? 30_000, () => void this.measureDrift());
  }

  private resolve(previous: NodeSettings): NodeSettings {
    const r = resolveSettings(this.opts.source.snapshot().controlPlanes, this.opts.node, previous);
    if (r.conflict.length > 0 && this.settingsConflict.join() !== r.conflict.join())
      this.opts.log.warn({ linuxControlPlanes: r.conflict }, 'LinuxControlPlanes tie for this node: not merged, previous settings kept');
    this.settingsConflict = r.conflict;
    // An invalid config never tears down a working one: a defaultNetns this node
    // does not have would move every mirror into nothing. Refused, said, kept.
    // At start nothing works yet to protect: pairs then fail with NetnsNotFound, as they would.
    const ns = r.settings.defaultNetns;
    const working = (this.ctx as AgentContext | undefined)?.claims.size ?? 0;
    const refused = working > 0 && ns !== '' && !(this.opts.host ?? netlinkHost).netnsExists(ns)
      ? `LinuxControlPlane ${r.settings.from ?? ''}: defaultNetns '${ns}' does not exist on this node; previous settings kept`
      : undefined;
    if (refused && refused !== this.settingsRefused) this.opts.log.warn({ linuxControlPlane: r.settings.from, defaultNetns: ns }, 'settings refused: defaultNetns does not exist');
    this.settingsRefused = refused;
    return refused ? previous : r.settings;
  }

  private onChange(change: SourceChange): void {
    if (this.stopped) return;
    this.desiredCache = undefined;
    if (change.controlPlanes && this.reResolve()) return this.enqueueAll(); // every pair may have another netns or watch options
    change.pairs.forEach((n) => this.controller.enqueue(pairKey(n)));
    this.controller.enqueue(NODE_KEY);
  }

  /** Resolves the settings again; true when the netns or watch options moved. */
  private reResolve(): boolean {
    const before = this.settings;
    this.settings = this.resolve(before);
    if (this.settings !== before) this.desiredCache = undefined;
    return watchKey(before) !== watchKey(this.settings) || before.defaultNetns !== this.settings.defaultNetns;
  }

  private enqueueAll(): void {
    this.controller.enqueue(NODE_KEY);
    for (const n of new Set([...this.desired().pairs.keys(), ...this.reconciler.entries.keys(), ...this.ctx.claims.keys()])) this.controller.enqueue(pairKey(n));
  }

  private desired(): NodeDesired {
    this.desiredCache ??= nodeDesired(this.opts.source.snapshot(), this.opts.node, this.settings, new Set(this.ctx.claims.keys()));
    return this.desiredCache;
  }

  /**
   * Route drift over the watched netns that are in sync: a fresh dump each, so
   * at a bounded rate, and off the JS thread (a full table takes seconds to
   * compare; /metrics and the probes must not wait for it). One at a time.
   */
  async measureDrift(): Promise<void> {
    if (this.stopped || this.measuring) return;
    this.measuring = true;
    let total = 0;
    try {
      for (const w of this.dp.mirrorStatus()) {
        if (w.state !== 'synced') continue;
        const d = await this.dp.driftAsync(w.netns, 0);
        total += d.routes.missing + d.routes.extra + d.routes.different;
      }
    } catch (e) {
      // A netns that went away meanwhile: its watch reports it; the next round measures again.
      this.opts.log.debug({ err: e }, 'drift check failed');
      return;
    } finally {
      this.measuring = false;
    }
    if (this.stopped || total === this.driftRoutes) return;
    this.driftRoutes = total;
    this.statusChanged();
  }

  /**
   * The node's conditions move only here, when what they are computed from
   * changed (a reconcile ended, the drift moved): their transition times are
   * state, and reading the status must not change it.
   */
  private statusChanged(): void {
    this.conditions = nodeConditions(this.conditionInputs(new Date()), this.conditions);
    this.statusListeners.forEach((f) => f());
  }

  private conditionInputs(now: Date): ConditionInputs {
    const desired = this.desired();
    return {
      now,
      dataplaneOpen: !this.stopped,
      firstSyncDone: this.firstSyncDone,
      pendingSizing: pendingSizing(this.openedWith, this.settings),
      configError: this.opts.source.error(),
      settingsConflict: this.settingsConflict,
      settingsRefused: this.settingsRefused,
      settingsFrom: this.settings.from,
      pairs: [...this.reconciler.entries.values()].filter((e) => desired.pairs.has(e.name)),
      watches: this.dp.mirrorStatus(),
      driftRoutes: this.driftRoutes,
    };
  }

  /** Called after every reconcile (for status writers and tests). */
  onStatus(fn: () => void): void {
    this.statusListeners.push(fn);
  }

  get firstSyncDone(): boolean {
    return this.firstPass.size === 0;
  }

  /** The dataplane is open (started, not stopped). */
  get dataplaneOpen(): boolean {
    return !this.stopped;
  }

  /** Pair name -> the port index it holds (for metrics labels). */
  portClaims(): ReadonlyMap<string, number> {
    return this.ctx.claims;
  }

  /** Routes that differed at the last drift measurement, undefined before the first. */
  get lastDriftRoutes(): number | undefined {
    return this.driftRoutes;
  }

  get nodeSettings(): NodeSettings & { conflict: string[] } {
    return { ...this.settings, conflict: [...this.settingsConflict] };
  }

  get metrics(): ReconcileCounts {
    return this.controller.counts;
  }

  /** The node's NodeDataplane, as the cluster mode will server-side-apply it and `lcp show pairs` prints it. A pure read. */
  nodeDataplane(now = new Date()): NodeDataplane {
    const dp = this.dp;
    const fib = dp.tables().flatMap((table) => ([4, 6] as const).map((family) => ({ table, family, routes: dp.routeCount(table, family) })));
    const rewrites = dp.adjacencies().filter((a) => a.kind === 'rewrite' && a.nextHop);
    const status = nodeStatus(
      {
        ...this.conditionInputs(now),
        agentVersion: AGENT_VERSION,
        startTime: this.state.startTime,
        restartCount: this.state.restartCount,
        ports: dp.ports(),
        fib,
        neighbors: {
          ip4: rewrites.filter((a) => !a.nextHop!.includes(':')).length,
          ip6: rewrites.filter((a) => a.nextHop!.includes(':')).length,
        },
        counters: dp.counters(),
      },
      this.conditions,
    );
    return { apiVersion: GROUP_VERSION, kind: 'NodeDataplane', metadata: { name: this.opts.node.name }, status };
  }

  /** Stops reconciling (the keys in hand finish), closes the dataplane; mirrors persist for the next start. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.forEach((t) => clearInterval(t));
    await this.opts.source.stop();
    await this.controller.stop();
    this.dp.close();
    this.state.close();
    this.opts.log.info({ node: this.opts.node.name }, 'agent stopped');
  }
}

/** The dataplane sizing a LinuxControlPlane gives; applied when the dataplane (re)opens. */
type Sizing = Pick<NodeSettings, 'workers' | 'buffersPerWorker' | 'rxRingSize'>;

function pendingSizing(opened: Sizing, s: NodeSettings): string | undefined {
  const diff: string[] = [];
  if (s.workers !== undefined && s.workers !== opened.workers) diff.push(`workers=${s.workers}`);
  if (s.buffersPerWorker !== undefined && s.buffersPerWorker !== opened.buffersPerWorker) diff.push(`buffersPerWorker=${s.buffersPerWorker}`);
  if (s.rxRingSize !== undefined && s.rxRingSize !== opened.rxRingSize) diff.push(`rxRingSize=${s.rxRingSize}`);
  return diff.length > 0 ? diff.join(', ') : undefined;
}
