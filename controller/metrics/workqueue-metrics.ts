// client-go workqueue metrics under controller-runtime's names and labels
// (sigs.k8s.io/controller-runtime pkg/metrics/workqueue.go): the same series a
// Go controller exposes, so existing dashboards and alerts work unchanged.
// Time-in-queue and time-in-work are measured here, per key, as client-go's
// defaultQueueMetrics does; the two "in progress" gauges are computed at
// scrape time rather than by client-go's 500 ms update loop.
import { Counter, Gauge, Histogram, exponentialBuckets, type Registry } from 'prom-client';

import type { QueueMetrics } from './hooks.js';

/** controller-runtime: ExponentialBuckets(10e-9, 10, 12), i.e. 10 ns .. 1000 s. */
const DURATION_BUCKETS = exponentialBuckets(10e-9, 10, 12);

/** The queue's metrics in `registry`; `name` is both the queue and the controller label (controller-runtime names a controller's queue after it). */
export function workQueueMetrics<K = string>(registry: Registry, name: string): QueueMetrics<K> {
  const labels = { name, controller: name };
  const addTimes = new Map<K, number>();
  const workStarts = new Map<K, number>();
  const now = (): number => performance.now() / 1000;
  const registers = [registry];

  const depth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue by workqueue and priority',
    labelNames: ['name', 'controller', 'priority'],
    registers,
  });
  const adds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name', 'controller'], registers });
  const latency = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: ['name', 'controller'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const work = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes.',
    labelNames: ['name', 'controller'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
    labelNames: ['name', 'controller'],
    registers,
    collect() {
      const t = now();
      let sum = 0;
      for (const s of workStarts.values()) sum += t - s;
      this.set(labels, sum);
    },
  });
  new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running.',
    labelNames: ['name', 'controller'],
    registers,
    collect() {
      const t = now();
      let longest = 0;
      for (const s of workStarts.values()) longest = Math.max(longest, t - s);
      this.set(labels, longest);
    },
  });
  const retries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name', 'controller'], registers });

  // Series exist from the start (zero), as client-go creates them with the queue.
  depth.set({ ...labels, priority: '' }, 0);
  adds.inc(labels, 0);
  retries.inc(labels, 0);
  latency.zero(labels);
  work.zero(labels);

  return {
    add(key) {
      adds.inc(labels);
      depth.inc({ ...labels, priority: '' });
      if (!addTimes.has(key)) addTimes.set(key, now());
    },
    get(key) {
      depth.dec({ ...labels, priority: '' });
      const t = now();
      const added = addTimes.get(key);
      if (added !== undefined) latency.observe(labels, t - added);
      addTimes.delete(key);
      workStarts.set(key, t);
    },
    done(key) {
      const started = workStarts.get(key);
      if (started !== undefined) work.observe(labels, now() - started);
      workStarts.delete(key);
    },
    retry() {
      retries.inc(labels);
    },
  };
}
