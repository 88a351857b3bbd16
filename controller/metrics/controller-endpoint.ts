// What the cluster controller exposes over its metrics listener: its own
// registry with the work queue and reconcile series under controller-runtime's
// names (controller "interfacepair-status"), client-go's leader gauge, the
// process metrics, and what /healthz and /readyz mean for a replica. A standby
// replica is ready (its caches are warm, it can lead at once), as with
// controller-runtime managers: readiness is not leadership.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

import type { BindAddress } from './bind-address.js';
import type { QueueMetrics, ReconcileObserver } from './hooks.js';
import { reconcileMetrics } from './reconcile-metrics.js';
import { MetricsServer, type CheckResult } from './server.js';
import { workQueueMetrics } from './workqueue-metrics.js';

/** The controller's name in controller-runtime's labels (controller, and name of its queue). */
export const STATUS_CONTROLLER = 'interfacepair-status';

/** The controller as the endpoint sees it (structural, so this module does not depend on it). */
export interface ServedController {
  isLeader(): boolean;
  /** Every informer listed once. */
  readonly hasSynced: boolean;
}

export class ControllerEndpoint {
  readonly registry = new Registry();
  readonly queue: QueueMetrics<string>;
  readonly reconcile: ReconcileObserver;
  private controller: ServedController | undefined;
  private stopping = false;
  private server: MetricsServer | undefined;

  private constructor(leaseName: string, workers: number) {
    collectDefaultMetrics({ register: this.registry });
    this.queue = workQueueMetrics<string>(this.registry, STATUS_CONTROLLER);
    this.reconcile = reconcileMetrics(this.registry, STATUS_CONTROLLER, workers);
    const self = this;
    new Gauge({
      // client-go's leader election metric (k8s.io/client-go/tools/leaderelection/metrics.go).
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
      labelNames: ['name'],
      registers: [this.registry],
      collect() {
        this.set({ name: leaseName }, self.controller?.isLeader() ? 1 : 0);
      },
    });
  }

  /** Metrics and checks for a controller replica; listens on `bind` unless undefined. */
  static async open(bind: BindAddress | undefined, leaseName: string, workers: number): Promise<ControllerEndpoint> {
    const e = new ControllerEndpoint(leaseName, workers);
    if (bind) e.server = await MetricsServer.listen({ ...bind, registry: e.registry, healthz: () => e.healthz(), readyz: () => e.readyz() });
    return e;
  }

  get url(): string | undefined {
    return this.server?.url;
  }

  attach(c: ServedController): void {
    this.controller = c;
  }

  async close(): Promise<void> {
    this.stopping = true;
    await this.server?.close();
    this.server = undefined;
  }

  healthz(): CheckResult {
    return { ok: true, reason: 'ok' };
  }

  readyz(): CheckResult {
    if (this.stopping) return { ok: false, reason: 'stopping' };
    if (!this.controller) return { ok: false, reason: 'starting' };
    if (!this.controller.hasSynced) return { ok: false, reason: 'first list of the informers not done' };
    return { ok: true, reason: this.controller.isLeader() ? 'ok (leader)' : 'ok (standby)' };
  }
}
