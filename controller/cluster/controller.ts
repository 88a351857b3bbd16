// The cluster-level controller: the only writer of InterfacePair status.
// Every replica keeps warm caches (supervised informers on InterfacePairs,
// NodeDataplanes, the agents' heartbeat Leases and Nodes); only the one
// holding the Lease kube-lcp-controller works its queue and writes. Keys are
// pair names; what an event means for which pairs is decided here, the status
// itself by pair-sync.ts from the caches (level-triggered).
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import type { InterfacePair } from '../api/interface-pair.js';
import type { NodeDataplane } from '../api/node-dataplane.js';
import { DEFAULT_LEASE_NAMESPACE } from '../api/lease.js';
import { EventRecorder } from '../k8s/events.js';
import { SupervisedInformer, type LogFn } from '../k8s/informer.js';
import { clusterPath } from '../k8s/raw.js';
import { Controller } from '../k8s/controller.js';
import type { QueueMetrics, ReconcileObserver } from '../metrics/hooks.js';
import { LivenessTracker, withReportGrace, type AgentLease } from './agent-liveness.js';
import { LeaderElector } from './leader-election.js';
import { CONTROLLER_FIELD_MANAGER, matchedNodeNames, PairSync, type NodeObject } from './pair-sync.js';

export { CONTROLLER_FIELD_MANAGER };
export const CONTROLLER_LEASE = 'kube-lcp-controller';
/** Concurrent status reconciles (controller-runtime's MaxConcurrentReconciles). */
export const STATUS_WORKERS = 4;

export interface ClusterControllerOptions {
  kc: KubeConfig;
  log: Logger;
  /** This replica's name (the pod name): the Lease holder and the Events' reportingInstance. */
  identity: string;
  /** Where the leader Lease is and the agents' heartbeat Leases are (default kube-lcp). */
  namespace?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** The leader recomputes every pair this often whatever happened (default 60 s). */
  resyncPeriodMs?: number;
  watchdogMs?: number;
  /** How long a NodeDataplane without any heartbeat Lease counts as alive (default 40 s, the agents' lease duration). */
  missingLeaseGraceMs?: number;
  /** Entries in a pair's failingNodes (default 10, the schema's maximum). */
  sampleSize?: number;
  /** Work queue and reconcile metrics (controller-runtime's names); none when absent. */
  metrics?: { queue: QueueMetrics<string>; reconcile: ReconcileObserver };
}

export interface RunningClusterController {
  isLeader(): boolean;
  /** Resolves once every informer has listed once. */
  synced(): Promise<void>;
  /** Every informer has listed once (readiness). */
  readonly hasSynced: boolean;
  readonly stats: { elector: LeaderElector['stats']; pairs: PairSync['stats']; events: EventRecorder['stats'] };
  stop(): Promise<void>;
}

const GROUP = 'lcp.kubelcp.io';
const VERSION = 'v1alpha1';

export async function startClusterController(o: ClusterControllerOptions): Promise<RunningClusterController> {
  const log = o.log.child({ component: 'cluster-controller', identity: o.identity });
  const namespace = o.namespace ?? DEFAULT_LEASE_NAMESPACE;
  const logFn: LogFn = (level, msg, fields) => log[level](fields ?? {}, msg);
  const common = { log: logFn, watchdogMs: o.watchdogMs };
  const pairs = new SupervisedInformer<InterfacePair>(o.kc, { ...common, path: clusterPath(GROUP, VERSION, 'interfacepairs') });
  const ndps = new SupervisedInformer<NodeDataplane>(o.kc, { ...common, path: clusterPath(GROUP, VERSION, 'nodedataplanes') });
  const nodes = new SupervisedInformer<NodeObject>(o.kc, { ...common, path: clusterPath('', 'v1', 'nodes') });
  const leases = new SupervisedInformer<AgentLease>(o.kc, {
    ...common,
    path: `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
  });
  const informers = [pairs, ndps, nodes, leases];

  // Keys taken while not leading are dropped: the next leader recomputes everything.
  // Keys are pairs and a key is never worked on twice at once, so workers only overlap the
  // status writes' round trips (1000 pairs: 13.7 s with one worker, the API server idle).
  const controller = new Controller<string>({
    workers: STATUS_WORKERS,
    reconcile: (key) => (leading ? sync.sync(key) : Promise.resolve({ done: true })),
    queue: { baseDelayMs: 100, maxDelayMs: 60_000, metrics: o.metrics?.queue },
    metrics: o.metrics?.reconcile,
  });
  let leading = false;
  const enqueueAll = (): void => {
    if (leading) for (const p of pairs.list()) controller.enqueue(p.metadata.name ?? '');
  };
  /** The pairs that select a node (a standby queues nothing: it recomputes all when it leads). */
  const enqueueNode = (node: string): void => {
    if (!leading) return;
    const all = nodes.list();
    for (const p of pairs.list()) if (matchedNodeNames(p, all).includes(node)) controller.enqueue(p.metadata.name ?? '');
  };
  const liveness = new LivenessTracker(enqueueNode);

  const events = new EventRecorder({ kc: o.kc, controller: CONTROLLER_FIELD_MANAGER, instance: o.identity, log });
  const sync = new PairSync({
    kc: o.kc,
    log,
    events,
    pair: (name) => pairs.get(name),
    nodes: () => nodes.list(),
    nodeDataplane: (node) => ndps.get(node),
    liveness: (node) => withReportGrace(liveness.liveness(node), ndps.get(node)?.status?.lastUpdateTime, Date.now(), o.missingLeaseGraceMs ?? 40_000),
    leading: () => leading && elector.isLeader(),
    sampleSize: o.sampleSize,
  });

  pairs.on((_type, obj) => {
    if (leading) controller.enqueue(obj.metadata.name ?? '');
  });
  // A NodeDataplane is rewritten on every heartbeat: only pairs whose entry moved matter.
  ndps.on((type, obj, old) => {
    if (!leading) return;
    const node = obj.metadata.name ?? '';
    const before = new Map((old?.status?.pairs ?? []).map((e) => [e.name, JSON.stringify(e)]));
    const after = new Map((obj.status?.pairs ?? []).map((e) => [e.name, JSON.stringify(e)]));
    if (type !== 'update') return enqueueNode(node); // appeared or gone: "reported" changed for its pairs
    for (const name of new Set([...before.keys(), ...after.keys()])) if (before.get(name) !== after.get(name)) controller.enqueue(name);
  });
  // Renewals of a live agent change nothing; only a flip of liveness requeues its pairs.
  leases.on((type, obj) => {
    const flipped = type === 'delete' ? liveness.forget(obj) : liveness.observe(obj);
    const node = LivenessTracker.nodeOf(obj);
    if (flipped && node) enqueueNode(node);
  });
  // Only labels matter (selectors); a real Node's status changes every few seconds.
  nodes.on((type, obj, old) => {
    if (type === 'update' && JSON.stringify(obj.metadata?.labels ?? {}) === JSON.stringify(old?.metadata?.labels ?? {})) return;
    if (!leading) return;
    const all = nodes.list();
    // A relist that finds a Node gone hands over the cached object as `obj` and no `old`.
    const oldLabels = (type === 'delete' ? (old ?? obj) : old)?.metadata?.labels ?? {};
    const name = obj.metadata?.name ?? '';
    // Pairs it matched before the change too: they lose a node.
    for (const p of pairs.list()) {
      const now = type !== 'delete' && matchedNodeNames(p, all).includes(name);
      const before = type !== 'add' && matchedNodeNames(p, [{ metadata: { name, labels: oldLabels } }]).includes(name);
      if (now || before) controller.enqueue(p.metadata.name ?? '');
    }
  });

  for (const i of informers) i.start();
  const synced = Promise.all(informers.map((i) => i.ready())).then(() => undefined);

  const elector: LeaderElector = new LeaderElector({
    kc: o.kc,
    namespace,
    name: CONTROLLER_LEASE,
    identity: o.identity,
    log,
    leaseDurationMs: o.leaseDurationMs,
    renewDeadlineMs: o.renewDeadlineMs,
    retryPeriodMs: o.retryPeriodMs,
    onStartedLeading: () => {
      // Whatever another leader wrote meanwhile is in the caches, not in our memory.
      sync.forgetWritten();
      void synced.then(() => {
        if (!elector.isLeader()) return;
        leading = true;
        enqueueAll();
      });
    },
    onStoppedLeading: () => {
      leading = false;
    },
  });

  controller.start();
  const resync = setInterval(enqueueAll, o.resyncPeriodMs ?? 60_000);
  resync.unref();
  elector.start();
  log.info({ namespace, lease: CONTROLLER_LEASE }, 'cluster controller started');

  let stopping: Promise<void> | undefined;
  return {
    isLeader: () => leading && elector.isLeader(),
    synced: () => synced,
    get hasSynced() {
      return informers.every((i) => i.hasSynced);
    },
    stats: { elector: elector.stats, pairs: sync.stats, events: events.stats },
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(resync);
        // Stop writing first, then hand the Lease over, then the rest.
        leading = false;
        await controller.stop();
        await elector.stop();
        liveness.stop();
        await Promise.all(informers.map((i) => i.stop()));
        log.info('cluster controller stopped');
      })()),
  };
}
