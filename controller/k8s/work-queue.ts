// A rate-limited work queue of keys, after client-go's workqueue: a key is
// queued at most once however many events name it; a key being processed is
// never handed to a second worker, and if it changes meanwhile it is queued
// again when the first is done; failures are retried with per-key
// exponential backoff under an overall rate limit. Level-triggered: the queue
// carries names, never events, and the reconciler reads the current state.
import type { QueueMetrics } from '../metrics/hooks.js';
import { exponentialDelay, realClock, TokenBucket, type Clock } from './backoff.js';

export interface QueueOptions<K = string> {
  /** First retry delay after a failure (client-go: 5 ms). */
  baseDelayMs?: number;
  /** Longest retry delay (client-go: 1000 s; shorter here, a node should heal within minutes). */
  maxDelayMs?: number;
  /** Overall retry rate and burst (client-go: 10/s, 100). */
  qps?: number;
  burst?: number;
  clock?: Clock;
  /** Depth, adds, latencies, retries (client-go's workqueue metrics); none when absent. */
  metrics?: QueueMetrics<K>;
}

/** What a handler returns; a thrown error counts as `{ error }`. */
export type Outcome = { done: true } | { requeueAfterMs: number } | { error: unknown };

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  /** Keys added again while being processed. */
  private readonly dirty = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, { at: number; handle: unknown }>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private readonly bucket: TokenBucket;
  private readonly clock: Clock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly metrics: QueueMetrics<K> | undefined;
  private shuttingDown = false;

  constructor(opts: QueueOptions<K> = {}) {
    this.metrics = opts.metrics;
    this.clock = opts.clock ?? realClock;
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 300_000;
    this.bucket = new TokenBucket(opts.qps ?? 10, opts.burst ?? 100, this.clock);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Queues key now, unless it is already queued (or, if being processed, once that is done). */
  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      if (!this.dirty.has(key)) this.metrics?.add(key);
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.metrics?.add(key);
    this.enqueue(key);
  }

  /** Hands key to a waiting worker, or queues it (already counted as added). */
  private enqueue(key: K): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      this.metrics?.get(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
  }

  /** Queues key after ms; an earlier pending time for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    this.metrics?.retry(); // client-go counts every delayed add, whatever the delay
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.handle);
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, handle });
  }

  /** Queues key after its backoff: per-key exponential, and no faster than the overall rate. */
  addRateLimited(key: K): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, Math.max(exponentialDelay(n, this.baseDelayMs, this.maxDelayMs), this.bucket.reserve()));
  }

  /** Clears key's failure count (it succeeded, or was deleted). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, waiting for one; undefined once shut down. Call done(key) after. */
  get(): Promise<K | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      this.metrics?.get(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    this.processing.delete(key);
    this.metrics?.done(key);
    if (this.dirty.delete(key) && !this.shuttingDown) this.enqueue(key);
  }

  /** Runs handler on key and files the outcome: done → forget, requeue-after → timer, error → backoff. */
  async process(key: K, handler: (key: K) => Promise<Outcome>): Promise<Outcome> {
    let outcome: Outcome;
    try {
      outcome = await handler(key);
    } catch (error) {
      outcome = { error };
    }
    if ('error' in outcome) this.addRateLimited(key);
    else if ('requeueAfterMs' in outcome) {
      this.forget(key);
      this.addAfter(key, outcome.requeueAfterMs);
    } else this.forget(key);
    this.done(key);
    return outcome;
  }

  /** `workers` loops of get → process until shutDown. Resolves when they have all stopped. */
  async run(workers: number, handler: (key: K) => Promise<Outcome>): Promise<void> {
    const loop = async (): Promise<void> => {
      for (let key = await this.get(); key !== undefined; key = await this.get()) await this.process(key, handler);
    };
    await Promise.all(Array.from({ length: workers }, loop));
  }

  /** Stops handing out keys (workers finish what they hold); pending timers are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { handle } of this.timers.values()) this.clock.clearTimeout(handle);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
