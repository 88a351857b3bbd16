// What the work queue and a reconciler report, as small interfaces they
// accept (optional), so neither depends on prom-client nor on a global
// registry: an agent (or the cluster controller) passes the implementation
// bound to its own registry (workqueue-metrics.ts, reconcile-metrics.ts).
// The calls are client-go's workqueue.MetricsProvider events and
// controller-runtime's reconcile bookkeeping.

export interface QueueMetrics<K = string> {
  /** A key entered the queue (client-go counts an add only when the key was not already waiting). */
  add(key: K): void;
  /** A worker took the key. */
  get(key: K): void;
  /** The worker finished the key. */
  done(key: K): void;
  /** A delayed add (requeue-after or rate-limited retry). */
  retry(): void;
}

/** controller-runtime's reconcile result label values. */
export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

export interface ReconcileObserver {
  /** A reconcile began (one more active worker). */
  started(): void;
  /** It ended with this result after `seconds`. */
  finished(result: ReconcileResult, seconds: number): void;
}
