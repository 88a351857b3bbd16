// controller-runtime's reconcile metrics, same names, labels and buckets
// (sigs.k8s.io/controller-runtime pkg/internal/controller/metrics): counted
// by the reconciler's result switch through ReconcileObserver.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { ReconcileObserver, ReconcileResult } from './hooks.js';

const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5,
  4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

const RESULTS: readonly ReconcileResult[] = ['success', 'error', 'requeue', 'requeue_after'];

/** The reconcile metrics of `controller` in `registry`; `maxConcurrent` is its worker count. */
export function reconcileMetrics(registry: Registry, controller: string, maxConcurrent: number): ReconcileObserver {
  const registers = [registry];
  const total = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'],
    registers,
  });
  const errors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'],
    registers,
  });
  const time = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'],
    buckets: RECONCILE_BUCKETS,
    registers,
  });
  const active = new Gauge({
    name: 'controller_runtime_active_workers',
    help: 'Number of currently used workers per controller',
    labelNames: ['controller'],
    registers,
  });
  const workers = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ['controller'],
    registers,
  });
  // controller-runtime initialises every result to zero, so rate() works from the first error.
  for (const result of RESULTS) total.inc({ controller, result }, 0);
  errors.inc({ controller }, 0);
  time.zero({ controller });
  active.set({ controller }, 0);
  workers.set({ controller }, maxConcurrent);

  return {
    started() {
      active.inc({ controller });
    },
    finished(result, seconds) {
      active.dec({ controller });
      total.inc({ controller, result });
      if (result === 'error') errors.inc({ controller });
      time.observe({ controller }, seconds);
    },
  };
}
