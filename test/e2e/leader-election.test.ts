// Leader election on a real Lease: several replicas, one leader at a time;
// a graceful stop hands over at once, a crash only once the Lease expired.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KubeConfig } from '@kubernetes/client-node';

import { silentLogger } from '../../controller/agent/log.js';
import { LeaderElector } from '../../controller/cluster/leader-election.js';
import { rawRequest } from '../../controller/k8s/raw.js';
import { eventually, sleep } from '../helpers/lab.js';
import { STARTUP_TIMEOUT_MS, repoRoot, startCluster, uniqueSuffix, type TestCluster } from './harness.js';
import { freePort, Proc } from './procs.js';

const run = uniqueSuffix();
const namespace = `lcp-le-${run}`;
const DURATION_MS = 3000;

interface LeaseObject {
  spec?: { holderIdentity?: string; leaseTransitions?: number };
}

describe('leader election (coordination.k8s.io Lease)', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  const electors: LeaderElector[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    kc = cluster.adminConfig();
    await rawRequest(kc, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  }, STARTUP_TIMEOUT_MS);

  afterAll(async () => {
    for (const e of electors) await e.stop().catch(() => undefined);
    await rawRequest(kc, 'DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await cluster?.stop();
  }, 120_000);

  const start = (lease: string, identity: string, counts: Map<string, number>): LeaderElector => {
    const e = new LeaderElector({
      kc, namespace, name: lease, identity, log: silentLogger(), leaseDurationMs: DURATION_MS, retryPeriodMs: 100,
      onStartedLeading: () => counts.set(identity, (counts.get(identity) ?? 0) + 1),
      onStoppedLeading: () => undefined,
    });
    electors.push(e);
    e.start();
    return e;
  };
  const holder = async (lease: string): Promise<LeaseObject['spec']> =>
    ((await rawRequest(kc, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${lease}`)) as LeaseObject).spec;

  it('three replicas racing for one Lease: exactly one leads, and never two at a time', async () => {
    const counts = new Map<string, number>();
    const es = ['r1', 'r2', 'r3'].map((id) => start('race', id, counts));
    expect(await eventually(() => es.some((e) => e.isLeader()), 10_000, 50)).toBe(true);
    let most = 0;
    for (let i = 0; i < 40; i++) {
      most = Math.max(most, es.filter((e) => e.isLeader()).length);
      await sleep(50);
    }
    expect(most).toBe(1);
    const leader = ['r1', 'r2', 'r3'][es.findIndex((e) => e.isLeader())];
    expect((await holder('race'))?.holderIdentity).toBe(leader);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(1); // nobody else ever started leading
  }, 30_000);

  it('a graceful stop releases the Lease: a standby takes over well before it would have expired', async () => {
    const counts = new Map<string, number>();
    const a = start('graceful', 'a', counts);
    expect(await eventually(() => a.isLeader(), 10_000, 50)).toBe(true);
    const b = start('graceful', 'b', counts);
    await sleep(300);
    expect(b.isLeader()).toBe(false);
    await a.stop();
    expect(a.isLeader()).toBe(false);
    // Released: b may take it at its next try, no need to wait out the 3 s.
    expect(await eventually(() => b.isLeader(), DURATION_MS / 2, 50)).toBe(true);
    expect(await holder('graceful')).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  }, 30_000);

  it('a crashed leader (no release) is replaced only once its Lease expired', async () => {
    const counts = new Map<string, number>();
    const a = start('crash', 'a', counts);
    expect(await eventually(() => a.isLeader(), 10_000, 50)).toBe(true);
    const b = start('crash', 'b', counts);
    await a.stop({ release: false });
    const stoppedAt = Date.now();
    // The Lease still says "a" for its duration: b must not take it meanwhile.
    await sleep(DURATION_MS / 2);
    expect(b.isLeader()).toBe(false);
    expect((await holder('crash'))?.holderIdentity).toBe('a');
    expect(await eventually(() => b.isLeader(), DURATION_MS * 3, 50)).toBe(true);
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(DURATION_MS - 500); // not early (a release would take ~100 ms)
    expect((await holder('crash'))?.holderIdentity).toBe('b');
  }, 30_000);

  it('`lcp controller` (the built CLI) takes the controller Lease under its --id and releases it on SIGTERM', async () => {
    if (cluster.external) return; // needs the admin kubeconfig file of our own cluster
    const root = repoRoot();
    const cli = join(root, 'dist', 'controller', 'cli.js');
    expect(existsSync(cli)).toBe(true); // npm run build:ts
    const node = existsSync(join(root, 'node_modules', '.bin', 'node')) ? join(root, 'node_modules', '.bin', 'node') : process.execPath;
    const dir = mkdtempSync(join(tmpdir(), 'lcp-controller-cli-'));
    const metrics = `127.0.0.1:${await freePort()}`;
    const proc = new Proc('lcp-controller', node, [cli, 'controller', '--kubeconfig', cluster.kubeconfigPath, '--namespace', namespace, '--id', `cli-${run}`, '--metrics-bind-address', metrics], join(dir, 'log'));
    try {
      const held = await eventually(async () => (await holder('kube-lcp-controller').catch(() => undefined))?.holderIdentity === `cli-${run}`, 20_000, 100);
      if (!held) throw new Error(`no leadership; log:\n${proc.tail()}`);
      // Its metrics/health endpoint: live, ready as the leader, and the leader gauge says so.
      expect((await fetch(`http://${metrics}/healthz`)).status).toBe(200);
      const ready = await eventually(async () => (await (await fetch(`http://${metrics}/readyz`)).text()).trim() === 'ok (leader)', 10_000, 100);
      expect(ready).toBe(true);
      const text = await (await fetch(`http://${metrics}/metrics`)).text();
      expect(text).toMatch(/^leader_election_master_status\{name="kube-lcp-controller"\} 1$/m);
      expect(text).toMatch(/^workqueue_depth\{name="interfacepair-status"/m);
      expect(text).toMatch(/^controller_runtime_max_concurrent_reconciles\{controller="interfacepair-status"\} 4$/m);
      await proc.stop();
      expect(proc.running).toBe(false);
      expect((await holder('kube-lcp-controller'))?.holderIdentity).toBe('');
    } finally {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

