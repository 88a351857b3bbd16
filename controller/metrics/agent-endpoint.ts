// Everything one agent exposes over its metrics listener: its own registry
// (not prom-client's global one, so several agents can live in one process,
// as in the tests), the queue/reconciler hooks bound to it, the dataplane and
// mirror collectors, the process metrics, and what /healthz and /readyz mean
// for an agent. Opened before the agent starts, so liveness answers while
// the source does its first sync (informers' lists can take a while) and
// readiness says why it is not ready yet.
import { collectDefaultMetrics, Registry } from 'prom-client';

import type { Dataplane } from '../../dataplane/dataplane.js';
import type { BindAddress } from './bind-address.js';
import { registerDataplaneMetrics } from './dataplane-metrics.js';
import type { QueueMetrics, ReconcileObserver } from './hooks.js';
import { registerMirrorMetrics } from './mirror-metrics.js';
import { reconcileMetrics } from './reconcile-metrics.js';
import { MetricsServer, type CheckResult } from './server.js';
import { snapshotReader } from './snapshot.js';
import { workQueueMetrics } from './workqueue-metrics.js';

/** The agent as the endpoint sees it (structural, so this module does not depend on the agent). */
export interface ServedAgent {
  /** The dataplane is open (started, not stopped). */
  readonly dataplaneOpen: boolean;
  /** Every key known at start was reconciled once. */
  readonly firstSyncDone: boolean;
  readonly dp: Pick<Dataplane, 'ports' | 'counters' | 'mirrorStatus' | 'tables' | 'routeCount'>;
  /** Pair name -> the port index it holds. */
  portClaims(): ReadonlyMap<string, number>;
  readonly lastDriftRoutes: number | undefined;
}

/** The reconciler's name in controller-runtime's labels (controller, and name of its queue). */
export const AGENT_CONTROLLER = 'nodeagent';

export class AgentEndpoint {
  readonly registry = new Registry();
  readonly queue: QueueMetrics<string>;
  readonly reconcile: ReconcileObserver;
  private agent: ServedAgent | undefined;
  private phase: 'starting' | 'running' | 'stopping' = 'starting';
  private server: MetricsServer | undefined;

  private constructor(
    private readonly sourceKind: string,
    workers: number,
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.queue = workQueueMetrics<string>(this.registry, AGENT_CONTROLLER);
    this.reconcile = reconcileMetrics(this.registry, AGENT_CONTROLLER, workers);
    const read = snapshotReader(() => {
      const a = this.agent;
      if (!a?.dataplaneOpen || this.phase !== 'running') return undefined;
      return {
        ports: () => a.dp.ports(),
        counters: () => a.dp.counters(),
        mirrorStatus: () => a.dp.mirrorStatus(),
        tables: () => a.dp.tables(),
        routeCount: (t, f) => a.dp.routeCount(t, f),
        pairOf: (port) => [...a.portClaims()].find(([, i]) => i === port)?.[0],
        driftRoutes: () => a.lastDriftRoutes,
      };
    });
    registerDataplaneMetrics(this.registry, read);
    registerMirrorMetrics(this.registry, read);
  }

  /** Metrics and checks for an agent fed by a `sourceKind` source; listens on `bind` unless undefined (metrics then only in-process). */
  /** `workers`: the agent's concurrent reconciles (controller_runtime_max_concurrent_reconciles). */
  static async open(bind: BindAddress | undefined, sourceKind: string, workers: number): Promise<AgentEndpoint> {
    const e = new AgentEndpoint(sourceKind, workers);
    if (bind) e.server = await MetricsServer.listen({ ...bind, registry: e.registry, healthz: () => e.healthz(), readyz: () => e.readyz() });
    return e;
  }

  /** "http://host:port" of the listener, if there is one. */
  get url(): string | undefined {
    return this.server?.url;
  }

  /** The agent started: its source did its first sync and the dataplane is open. */
  attach(agent: ServedAgent): void {
    this.agent = agent;
    this.phase = 'running';
  }

  /** Closes the listener; readiness fails from now on for anything still connected. */
  async close(): Promise<void> {
    this.phase = 'stopping';
    await this.server?.close();
    this.server = undefined;
  }

  /** Alive: the event loop answers (or this would not run) and the dataplane's control side answers a call. */
  healthz(): CheckResult {
    const a = this.agent;
    if (this.phase !== 'running' || !a?.dataplaneOpen) return { ok: true, reason: `ok (${this.phase})` };
    a.dp.ports(); // takes the dataplane's control lock: a wedged dataplane hangs this probe, and the kubelet restarts us
    return { ok: true, reason: 'ok' };
  }

  /** Ready: the dataplane is up, the source did its first sync, and every pair was reconciled once. */
  readyz(): CheckResult {
    const a = this.agent;
    if (this.phase === 'starting') return { ok: false, reason: `starting: first sync of the ${this.sourceKind} source not done` };
    if (this.phase === 'stopping') return { ok: false, reason: 'stopping' };
    if (!a?.dataplaneOpen) return { ok: false, reason: 'dataplane not open' };
    a.dp.ports();
    if (!a.firstSyncDone) return { ok: false, reason: 'first reconcile of the desired pairs not done' };
    return { ok: true, reason: 'ok' };
  }
}
