// The dataplane's worker thread: it polls port rings in memory, but a
// mirror (TAP/TUN) costs a read() syscall to look at, so it reads a mirror
// only when epoll says it is readable. A node with hundreds of pairs would
// otherwise pay a read per mirror per loop on every wakeup.
import { readdirSync, readFileSync } from 'node:fs';

import { describeRoot, eventually, nsTry } from '../helpers/lab.js';
import { buildRouter, teardown, type Router } from '../helpers/router.js';

/** The thread of this process named `name`. */
function threadNamed(name: string): string | undefined {
  return readdirSync('/proc/self/task').find((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

/** read()-family syscalls the thread has made. */
function readCalls(tid: string): number {
  return Number(/^syscr:\s+(\d+)/m.exec(readFileSync(`/proc/self/task/${tid}/io`, 'utf8'))?.[1] ?? NaN);
}

describeRoot('dataplane worker', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('reads no idle mirror: eight pairs at rest cost it almost no read() calls', async () => {
    r = await buildRouter(8);
    const tid = threadNamed('lcp-worker-0');
    expect(tid).toBeDefined();
    await new Promise((res) => setTimeout(res, 500)); // new mirrors' own chatter (ND, MLD) settles
    const before = readCalls(tid!);
    await new Promise((res) => setTimeout(res, 1000));
    // It wakes every 10 ms and spins 64 loops before sleeping again: reading
    // every mirror each loop was 8 x 64 x 100 = ~51,000 reads in this second.
    expect(readCalls(tid!) - before).toBeLessThan(2000);
  });

  it('follows a pair change with an epoll_ctl per source that came or went, not one per source, and reads the new mirror', async () => {
    r = await buildRouter(8);
    const p = r.peers[7]!;
    const changes = (): number => r!.dp.counters().pollSetChanges;
    await new Promise((res) => setTimeout(res, 300)); // the worker has taken the last plan
    const before = changes();
    r.dp.removePair(p.port.index, { deleteMirror: false });
    r.dp.createPair(p.port.index, { name: p.tap, netns: r.linux }); // re-adopted: a new mirror fd
    expect(await eventually(() => changes() > before, 2000, 20)).toBe(true);
    await new Promise((res) => setTimeout(res, 300));
    // The old mirror left its set and the new one joined (once per plan the worker saw):
    // rebuilding the sets cost 2 + 16 + 2 = 20 calls per plan with 8 pairs.
    expect(changes() - before).toBeLessThanOrEqual(4);
    // Linux's ping leaves through the new mirror (read by the worker) and its answer is punted back.
    expect((await nsTry(r.linux, 'ping', ['-c', '1', '-W', '2', p.v4])).code).toBe(0);
  });
});
