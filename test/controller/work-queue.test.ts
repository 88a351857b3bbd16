// The agent's work queue: one entry per key, never two workers on a key,
// per-key exponential backoff under an overall rate limit.
import { exponentialDelay, jittered, TokenBucket } from '../../controller/k8s/backoff.js';
import { WorkQueue } from '../../controller/k8s/work-queue.js';
import { FakeClock } from './fake-clock.js';

const drain = async (q: WorkQueue): Promise<string[]> => {
  const out: string[] = [];
  while (q.length > 0) {
    const k = (await q.get())!;
    out.push(k);
    q.done(k);
  }
  return out;
};

describe('WorkQueue', () => {
  it('queues a key once however many times it is added', async () => {
    const q = new WorkQueue();
    for (const k of ['a', 'b', 'a', 'a', 'b', 'c']) q.add(k);
    expect(await drain(q)).toEqual(['a', 'b', 'c']);
  });

  it('never hands a key being processed to a second worker, and queues it again when done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a'); // changed while a worker holds it
    expect(q.length).toBe(0);
    q.done(first!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  it('retries a failing key with exponentially growing delays, and forget resets them', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 10, maxDelayMs: 1000, qps: 1000, burst: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      q.addRateLimited('k');
      let waited = 0;
      while (q.length === 0 && waited < 5000) {
        clock.advance(1);
        waited++;
      }
      delays.push(waited);
      q.done((await q.get())!);
    }
    expect(delays).toEqual([10, 20, 40, 80, 160, 320, 640, 1000]);
    expect(q.numRequeues('k')).toBe(8);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
  });

  it('keeps the earlier of two delayed adds of one key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 500);
    q.addAfter('k', 100);
    q.addAfter('k', 900);
    clock.advance(100);
    expect(q.length).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('limits the overall retry rate across keys', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 1, qps: 10, burst: 2 });
    for (const k of ['a', 'b', 'c', 'd']) q.addRateLimited(k);
    clock.advance(1);
    expect(q.length).toBe(2); // the burst
    clock.advance(100);
    expect(q.length).toBe(3);
    clock.advance(100);
    expect(q.length).toBe(4);
  });

  it('files handler outcomes: done forgets, requeue-after waits, an error or a throw backs off', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 50, qps: 1000, burst: 1000 });
    q.add('ok');
    q.add('later');
    q.add('fails');
    q.add('throws');
    const outcomes = {
      ok: { done: true as const },
      later: { requeueAfterMs: 30_000 },
      fails: { error: new Error('PortNotFound') },
    };
    for (let i = 0; i < 4; i++) {
      const k = (await q.get())!;
      await q.process(k, async (key) => {
        if (key === 'throws') throw new Error('boom');
        return outcomes[key as keyof typeof outcomes];
      });
    }
    expect([q.numRequeues('ok'), q.numRequeues('later'), q.numRequeues('fails'), q.numRequeues('throws')]).toEqual([0, 0, 1, 1]);
    clock.advance(50);
    expect(await drain(q)).toEqual(['fails', 'throws']);
    clock.advance(30_000);
    expect(await drain(q)).toEqual(['later']);
  });

  it('runs workers until shut down, each key by one worker at a time', async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    let overlap = false;
    const seen: string[] = [];
    const running = q.run(3, async (k) => {
      if (active.has(k)) overlap = true;
      active.add(k);
      await new Promise((r) => setTimeout(r, 5));
      active.delete(k);
      seen.push(k);
      return { done: true };
    });
    for (let i = 0; i < 20; i++) q.add(`k${i % 4}`);
    await new Promise((r) => setTimeout(r, 50));
    q.shutDown();
    await running;
    expect(overlap).toBe(false);
    expect(new Set(seen)).toEqual(new Set(['k0', 'k1', 'k2', 'k3']));
  });
});

describe('backoff', () => {
  it('caps the exponential delay, also for huge failure counts', () => {
    expect(exponentialDelay(0, 5, 1000)).toBe(5);
    expect(exponentialDelay(3, 5, 1000)).toBe(40);
    expect(exponentialDelay(5000, 5, 1000)).toBe(1000);
  });

  it('jitters between half and all of the delay', () => {
    expect(jittered(2, 100, 10_000, () => 0)).toBe(200);
    expect(jittered(2, 100, 10_000, () => 0.999)).toBeCloseTo(399.8);
  });

  it('gives a token bucket its burst, then its rate', () => {
    const clock = new FakeClock();
    const b = new TokenBucket(10, 3, clock);
    expect([b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 0]);
    expect(b.reserve()).toBeCloseTo(100);
    clock.advance(1000);
    expect(b.reserve()).toBe(0);
  });
});
