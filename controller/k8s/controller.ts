// One generic controller, after controller-runtime's controller.go: a
// rate-limited work queue of keys, N workers taking keys from it, a
// reconcile function per key, and the reconcile bookkeeping (counts by
// result, time, active workers). The agent (pairs and the node) and the
// cluster controller (InterfacePair status) are both one of these; what
// differs is only their reconcile function and what enqueues keys.
import type { ReconcileObserver } from '../metrics/hooks.js';
import { WorkQueue, type Outcome, type QueueOptions } from './work-queue.js';

export interface ControllerOptions<K> {
  /** Keys reconciled at once (controller-runtime's MaxConcurrentReconciles). */
  workers: number;
  reconcile(key: K): Promise<Outcome>;
  queue?: QueueOptions<K>;
  /** controller-runtime's reconcile metrics; none when absent. */
  metrics?: ReconcileObserver;
}

/** How reconciles ended since start (the same split as controller_runtime_reconcile_total). */
export interface ReconcileCounts {
  done: number;
  requeue: number;
  error: number;
}

export class Controller<K = string> {
  readonly queue: WorkQueue<K>;
  readonly counts: ReconcileCounts = { done: 0, requeue: 0, error: 0 };
  private running: Promise<void> | undefined;

  constructor(private readonly o: ControllerOptions<K>) {
    this.queue = new WorkQueue<K>(o.queue);
  }

  /** Starts the workers; keys may be enqueued before or after. */
  start(): void {
    this.running ??= this.queue.run(Math.max(1, this.o.workers), (key) => this.handle(key));
  }

  enqueue(key: K): void {
    this.queue.add(key);
  }

  /** No new keys; the keys in hand finish. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await this.running;
  }

  private async handle(key: K): Promise<Outcome> {
    // Back to the event loop between keys: a reconcile whose calls all answer at once (a
    // resync of objects already in place) awaits nothing real, so hundreds in a row would
    // run as one microtask chain and starve sockets, probes and status writes.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const observer = this.o.metrics;
    observer?.started();
    const started = performance.now();
    let outcome: Outcome;
    try {
      outcome = await this.o.reconcile(key);
    } catch (error) {
      outcome = { error };
    }
    const seconds = (performance.now() - started) / 1000;
    if ('error' in outcome) {
      this.counts.error += 1; // the queue retries with per-key backoff
      observer?.finished('error', seconds);
    } else if ('requeueAfterMs' in outcome) {
      this.counts.requeue += 1; // the queue sets a timer (0: at once, controller-runtime's plain requeue)
      observer?.finished(outcome.requeueAfterMs > 0 ? 'requeue_after' : 'requeue', seconds);
    } else {
      this.counts.done += 1; // the queue forgets the key's failures
      observer?.finished('success', seconds);
    }
    return outcome;
  }
}
