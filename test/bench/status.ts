// The cluster controller's throughput (issue 4): N InterfacePairs (default
// 1,000) for one node whose agent has already reported every pair Ready in its
// NodeDataplane and renews its Lease — written here by the bench, as an agent
// would, so only the controller is measured: the time from its start until
// every InterfacePair says Ready=True at its generation, and the status writes
// it made. Real etcd + kube-apiserver (the e2e harness). Flag: --status-pairs=N.
import { silentLogger } from '../../controller/agent/log.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import { startClusterController, STATUS_WORKERS } from '../../controller/cluster/controller.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { FIELD_MANAGER, startCluster, type TestCluster } from '../e2e/harness.js';
import { bounded } from './pairs-api.js';
import type { BenchSection, SectionResult } from './sections.js';
import { sleep } from './exec.js';

const NODE = 'lcpb-status-node';
const NAMESPACE = 'kube-lcp-bench-status';
const lcpPath = (plural: string, name?: string): string => clusterPath('lcp.kubelcp.io', 'v1alpha1', plural, name);
const secs = (ms: number): number => Math.round(ms / 100) / 10;

export const statusSection: BenchSection = {
  name: 'status',
  async run(opts): Promise<SectionResult> {
    const flag = [...opts.flags].find((f) => f.startsWith('status-pairs='));
    const n = flag ? Number(flag.slice('status-pairs='.length)) : 1000;
    if (!(n >= 1 && n <= 4096)) throw new Error('--status-pairs=N: 1..4096 (NodeDataplane holds at most 4096 entries)');
    let cluster: TestCluster | undefined;
    try {
      opts.log(`status: starting etcd + kube-apiserver, ${n} pairs`);
      cluster = await startCluster();
      const kc = cluster.adminConfig();
      await applyObject(kc, `/api/v1/namespaces/${NAMESPACE}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } }, FIELD_MANAGER, true);
      const micro = new Date().toISOString().replace('Z', '000Z');
      await applyObject(kc, `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/kube-lcp-agent-${NODE}`, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: `kube-lcp-agent-${NODE}`, namespace: NAMESPACE },
        spec: { holderIdentity: NODE, leaseDurationSeconds: 3600, acquireTime: micro, renewTime: micro },
      }, FIELD_MANAGER, true);
      const names = Array.from({ length: n }, (_, i) => `lcpb-status-${i}`);
      await bounded(names.map((name, i) => ({ name, i })), 16, async ({ name, i }) => {
        await applyObject(kc, lcpPath('interfacepairs', name), {
          apiVersion: 'lcp.kubelcp.io/v1alpha1',
          kind: 'InterfacePair',
          metadata: { name },
          spec: { nodeName: NODE, port: { name: `bs${i}` }, mirror: { name: `ms${i}` } },
        }, FIELD_MANAGER, true);
      });
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const ready = [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'port and mirror in place', lastTransitionTime: now, observedGeneration: 1 }];
      await applyObject(kc, lcpPath('nodedataplanes', NODE), { apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'NodeDataplane', metadata: { name: NODE } }, FIELD_MANAGER, true);
      await applyObject(kc, `${lcpPath('nodedataplanes', NODE)}/status`, {
        apiVersion: 'lcp.kubelcp.io/v1alpha1',
        kind: 'NodeDataplane',
        metadata: { name: NODE },
        status: { lastUpdateTime: now, pairs: names.map((name) => ({ name, observedGeneration: 1, conditions: ready })) },
      }, FIELD_MANAGER, true);

      const t0 = performance.now();
      const controller = await startClusterController({ kc, log: silentLogger(), identity: 'bench', namespace: NAMESPACE });
      let done = 0;
      try {
        for (const end = Date.now() + 300_000; Date.now() < end; await sleep(250)) {
          const list = (await rawRequest(kc, 'GET', lcpPath('interfacepairs'))) as { items: InterfacePair[] };
          done = list.items.filter((p) => p.status?.observedGeneration === p.metadata.generation && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
          if (done === n) break;
        }
      } finally {
        await controller.stop();
      }
      const ms = performance.now() - t0;
      const writes = controller.stats.pairs.writes;
      return {
        tables: [{
          title: `Cluster controller: ${n} pairs' status from one node's report (real kube-apiserver, ${STATUS_WORKERS} workers)`,
          header: ['pairs', 'all Ready', 'status writes', 'pairs/s'],
          rows: [[String(n), done === n ? `${secs(ms)} s` : `only ${done} after ${secs(ms)} s`, String(writes), String(Math.round((done / ms) * 1000))]],
          notes: ['from the controller\'s start (informers listing included) until every InterfacePair says Ready=True at its generation'],
        }],
        metrics: { status_pairs: n, status_all_ready_s: done === n ? secs(ms) : null, status_writes: writes, status_pairs_per_s: Math.round((done / ms) * 1000) },
      };
    } finally {
      await cluster?.stop();
    }
  },
};
