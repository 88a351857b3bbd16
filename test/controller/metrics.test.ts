// The work queue's and the reconciler's metrics under controller-runtime's
// names, counted the way client-go counts them, on a registry of their own;
// and the metrics bind address.
import { Registry } from 'prom-client';

import { WorkQueue } from '../../controller/k8s/work-queue.js';
import { parseBindAddress } from '../../controller/metrics/bind-address.js';
import { reconcileMetrics } from '../../controller/metrics/reconcile-metrics.js';
import { workQueueMetrics } from '../../controller/metrics/workqueue-metrics.js';
import { parseExposition, sample } from '../helpers/prom.js';
import { FakeClock } from './fake-clock.js';

const q = { name: 'test', controller: 'test' };

async function read(registry: Registry) {
  return parseExposition(await registry.metrics());
}

describe('work queue metrics', () => {
  it('count a key once however many times it is added while waiting, and track depth', async () => {
    const registry = new Registry();
    const queue = new WorkQueue<string>({ metrics: workQueueMetrics(registry, 'test') });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    let m = await read(registry);
    expect(sample(m, 'workqueue_adds_total', q)).toBe(2);
    expect(sample(m, 'workqueue_depth', { ...q, priority: '' })).toBe(2);
    const key = await queue.get();
    m = await read(registry);
    expect(sample(m, 'workqueue_depth', { ...q, priority: '' })).toBe(1);
    expect(sample(m, 'workqueue_queue_duration_seconds_count', q)).toBe(1);
    expect(sample(m, 'workqueue_work_duration_seconds_count', q)).toBe(0);
    queue.done(key!);
    m = await read(registry);
    expect(sample(m, 'workqueue_work_duration_seconds_count', q)).toBe(1);
    expect(sample(m, 'workqueue_unfinished_work_seconds', q)).toBe(0);
  });

  it('count a key added while it is processed once more, and hand it out again after done', async () => {
    const registry = new Registry();
    const queue = new WorkQueue<string>({ metrics: workQueueMetrics(registry, 'test') });
    queue.add('a');
    const key = await queue.get();
    queue.add('a');
    queue.add('a');
    let m = await read(registry);
    expect(sample(m, 'workqueue_adds_total', q)).toBe(2);
    expect(sample(m, 'workqueue_depth', { ...q, priority: '' })).toBe(1);
    expect(m.samples.some((s) => s.name === 'workqueue_longest_running_processor_seconds' && s.value >= 0)).toBe(true);
    queue.done(key!);
    expect(queue.length).toBe(1);
    await queue.get();
    m = await read(registry);
    expect(sample(m, 'workqueue_depth', { ...q, priority: '' })).toBe(0);
    expect(sample(m, 'workqueue_adds_total', q)).toBe(2);
  });

  it('count every delayed add as a retry, as client-go does', async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ clock, metrics: workQueueMetrics(registry, 'test') });
    queue.addRateLimited('a');
    queue.addAfter('b', 100);
    expect(sample(await read(registry), 'workqueue_retries_total', q)).toBe(2);
    expect(sample(await read(registry), 'workqueue_adds_total', q)).toBe(0);
    clock.advance(1000);
    expect(sample(await read(registry), 'workqueue_adds_total', q)).toBe(2);
  });
});

describe('reconcile metrics', () => {
  it('start every result at zero, count by result, errors twice over, and track active workers', async () => {
    const registry = new Registry();
    const r = reconcileMetrics(registry, 'test', 3);
    const c = { controller: 'test' };
    let m = await read(registry);
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) expect(sample(m, 'controller_runtime_reconcile_total', { ...c, result })).toBe(0);
    expect(sample(m, 'controller_runtime_max_concurrent_reconciles', c)).toBe(3);
    r.started();
    expect(sample(await read(registry), 'controller_runtime_active_workers', c)).toBe(1);
    r.finished('error', 0.2);
    r.started();
    r.finished('requeue_after', 0.01);
    m = await read(registry);
    expect(sample(m, 'controller_runtime_active_workers', c)).toBe(0);
    expect(sample(m, 'controller_runtime_reconcile_total', { ...c, result: 'error' })).toBe(1);
    expect(sample(m, 'controller_runtime_reconcile_total', { ...c, result: 'requeue_after' })).toBe(1);
    expect(sample(m, 'controller_runtime_reconcile_errors_total', c)).toBe(1);
    expect(sample(m, 'controller_runtime_reconcile_time_seconds_count', c)).toBe(2);
    expect(sample(m, 'controller_runtime_reconcile_time_seconds_bucket', { ...c, le: '0.25' })).toBe(2);
    expect(sample(m, 'controller_runtime_reconcile_time_seconds_bucket', { ...c, le: '0.01' })).toBe(1);
  });
});

describe('--metrics-bind-address', () => {
  it('takes HOST:PORT, [IPv6]:PORT, a bare IPv6 with its port last, and 0 for none', () => {
    expect(parseBindAddress('127.0.0.1:9741')).toEqual({ host: '127.0.0.1', port: 9741 });
    expect(parseBindAddress('[::1]:9741')).toEqual({ host: '::1', port: 9741 });
    expect(parseBindAddress('fd00::1:9741')).toEqual({ host: 'fd00::1', port: 9741 });
    expect(parseBindAddress(':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseBindAddress('0')).toBeUndefined();
  });

  it('refuses what is not an address and a port', () => {
    for (const bad of ['9741', 'node1:9741', '127.0.0.1:', '127.0.0.1:70000', '127.0.0.1:x']) expect(() => parseBindAddress(bad)).toThrow(/metrics bind address/);
  });
});
