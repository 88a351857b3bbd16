// The supervised informer against a real API server: ready only after its
// first list, events in order, handler errors contained, and it survives the
// API server going away — coming back to a 410 and a relist that reports what
// it missed, deletions included.
import type { KubeConfig } from '@kubernetes/client-node';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import { SupervisedInformer, type EventType } from '../../controller/k8s/informer.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { FIELD_MANAGER, STARTUP_TIMEOUT_MS, startCluster, uniqueSuffix, type TestCluster } from './harness.js';
import { sleep } from './procs.js';

const run = uniqueSuffix();
const path = (name?: string): string => clusterPath('lcp.kubelcp.io', 'v1alpha1', 'interfacepairs', name);
// Each test's pairs carry its own label, so informers see only their own.
const pair = (name: string, test: string, mtu = 1500): InterfacePair => ({
  apiVersion: 'lcp.kubelcp.io/v1alpha1',
  kind: 'InterfacePair',
  metadata: { name: `${name}-${run}`, labels: { 'e2e.kubelcp.io/test': `${test}-${run}` } },
  spec: { nodeName: 'node-a', port: { name: 'eth1' }, mirror: { name: name.slice(0, 15), mtu } },
});

let cluster: TestCluster;
let kc: KubeConfig;
const informers: SupervisedInformer<InterfacePair>[] = [];

function informerFor(test: string, opts: { watchdogMs?: number } = {}): { inf: SupervisedInformer<InterfacePair>; events: string[] } {
  const inf = new SupervisedInformer<InterfacePair>(kc, {
    path: path(),
    labelSelector: `e2e.kubelcp.io/test=${test}-${run}`,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    ...opts,
  });
  const events: string[] = [];
  inf.on((type: EventType, obj) => void events.push(`${type} ${obj.metadata.name?.replace(`-${run}`, '')} ${obj.spec.mirror.mtu}`));
  informers.push(inf);
  return { inf, events };
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const put = (k: KubeConfig, p: InterfacePair): Promise<unknown> => applyObject(k, path(p.metadata.name), p, FIELD_MANAGER, true);
const del = (k: KubeConfig, name: string): Promise<unknown> => rawRequest(k, 'DELETE', path(`${name}-${run}`));

beforeAll(async () => {
  cluster = await startCluster();
  kc = cluster.adminConfig();
}, STARTUP_TIMEOUT_MS);

afterAll(async () => {
  for (const inf of informers) await inf.stop();
  if (!cluster) return;
  try {
    const list = (await rawRequest(kc, 'GET', path(), { query: { labelSelector: 'e2e.kubelcp.io/test' } })) as { items: InterfacePair[] };
    for (const p of list.items) if (p.metadata.name?.endsWith(run)) await rawRequest(kc, 'DELETE', path(p.metadata.name));
  } finally {
    await cluster.stop();
  }
}, 60_000);

describe('SupervisedInformer', () => {
  it('is ready only after its first list, with what existed delivered as adds', async () => {
    await put(kc, pair('pre1', 'ready'));
    await put(kc, pair('pre2', 'ready'));
    const { inf, events } = informerFor('ready');
    expect(inf.hasSynced).toBe(false);
    inf.start();
    await inf.ready();
    expect(inf.hasSynced).toBe(true);
    expect(events.sort()).toEqual(['add pre1 1500', 'add pre2 1500']);
    expect(inf.list()).toHaveLength(2);
  });

  it('delivers adds, updates and deletes in order', async () => {
    const { inf, events } = informerFor('events');
    inf.start();
    await inf.ready();
    await put(kc, pair('a', 'events'));
    await put(kc, pair('a', 'events', 1400));
    await del(kc, 'a');
    await until('three events', () => events.length >= 3);
    expect(events).toEqual(['add a 1500', 'update a 1400', 'delete a 1400']);
    expect(inf.get(`a-${run}`)).toBeUndefined();
  });

  it('keeps going when a handler throws', async () => {
    const { inf, events } = informerFor('throws');
    inf.on(() => {
      throw new Error('handler bug');
    });
    inf.start();
    await inf.ready();
    await put(kc, pair('t1', 'throws'));
    await put(kc, pair('t2', 'throws'));
    await until('two events', () => events.length >= 2);
    expect(inf.stats.handlerErrors).toBe(2);
    expect(events).toEqual(['add t1 1500', 'add t2 1500']);
  });

  it('survives an API server restart, relists on 410 and reports what changed while it was away', async () => {
    if (cluster.external) return; // needs to stop the API server
    await put(kc, pair('keep', 'restart'));
    await put(kc, pair('change', 'restart'));
    await put(kc, pair('gone', 'restart'));
    const { inf, events } = informerFor('restart');
    inf.start();
    await inf.ready();
    events.length = 0;
    await cluster.restartApiServer({
      whileDown: async (other) => {
        await put(other, pair('change', 'restart', 1280));
        await del(other, 'gone');
        await put(other, pair('new', 'restart'));
      },
    });
    await until('the missed changes', () => events.length >= 3, 60_000);
    expect(events.sort()).toEqual(['add new 1500', 'delete gone 1500', 'update change 1280']);
    expect(inf.stats.expired).toBeGreaterThanOrEqual(1);
    expect(inf.stats.errors).toBeGreaterThanOrEqual(1); // connection refused while down
    // ... and it is watching again.
    await put(kc, pair('after', 'restart'));
    await until('an event after the restart', () => events.includes('add after 1500'));
  }, 180_000);

  it('restarts a watch that shows no sign of life (watchdog)', async () => {
    const { inf, events } = informerFor('watchdog', { watchdogMs: 1500 });
    inf.start();
    await inf.ready();
    // A quiet collection: no events, and bookmarks come only about once a minute.
    await until('a watchdog restart', () => inf.stats.stalls >= 1, 10_000);
    await put(kc, pair('w', 'watchdog'));
    await until('an event after the restart', () => events.includes('add w 1500'));
  });
});
