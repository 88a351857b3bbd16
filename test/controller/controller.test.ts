// The one generic controller the agent and the cluster controller are built
// on: keys from a rate-limited queue, reconciled by N workers, each outcome
// counted the way controller-runtime counts it.
import { Controller } from '../../controller/k8s/controller.js';
import type { Outcome } from '../../controller/k8s/work-queue.js';
import type { ReconcileResult } from '../../controller/metrics/hooks.js';

const until = async (cond: () => boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('Controller', () => {
  it('reconciles each enqueued key, retries errors with backoff until they succeed, and counts every result', async () => {
    const seen: string[] = [];
    let failuresLeft = 2;
    const results: ReconcileResult[] = [];
    let active = 0;
    const c = new Controller<string>({
      workers: 2,
      queue: { baseDelayMs: 1, maxDelayMs: 5 },
      metrics: { started: () => (active += 1), finished: (r) => (results.push(r), (active -= 1)) },
      reconcile: async (key): Promise<Outcome> => {
        seen.push(key);
        if (key === 'flaky' && failuresLeft-- > 0) throw new Error('not yet');
        if (key === 'later' && seen.filter((k) => k === 'later').length === 1) return { requeueAfterMs: 1 };
        return { done: true };
      },
    });
    c.enqueue('a');
    c.enqueue('flaky');
    c.enqueue('later');
    c.start();
    await until(() => c.counts.done === 3);
    await c.stop();
    expect(c.counts).toEqual({ done: 3, requeue: 1, error: 2 });
    expect(results.filter((r) => r === 'error')).toHaveLength(2);
    expect(results).toContain('requeue_after');
    expect(active).toBe(0);
    expect(seen.filter((k) => k === 'flaky')).toHaveLength(3);
  });

  it('never hands one key to two workers at once, and stop() waits for the keys in hand', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let finished = 0;
    const c = new Controller<string>({
      workers: 4,
      reconcile: async (): Promise<Outcome> => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 20));
        inFlight -= 1;
        finished += 1;
        return { done: true };
      },
    });
    c.start();
    for (let i = 0; i < 10; i++) c.enqueue('same');
    await until(() => inFlight === 1);
    c.enqueue('same'); // changed while in hand: once more after this one
    await until(() => finished >= 2);
    await c.stop();
    expect(maxInFlight).toBe(1);
    expect(inFlight).toBe(0);
  });
});
