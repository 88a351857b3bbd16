// Pure setters for the node's own conditions and the assembly of the whole
// NodeDataplane status from observations (pair entries, dataplane dumps,
// mirror status). The agent gathers the inputs; nothing here touches them.
import type { Condition } from '../api/kube-schema.js';
import type { NodeDataplaneStatus, PairEntry } from '../api/node-dataplane.js';
import type { Counters, MirrorStatus, PortInfo } from '../../dataplane/dataplane.js';
import { condition as cond, setConditions, type ConditionInput } from '../conditions/conditions.js';
import { ConditionType as T, NodeReason as R } from '../conditions/reasons.js';
import { failureReason, isReady } from './pair-status.js';

export interface NodeInputs {
  now: Date;
  agentVersion: string;
  startTime: string;
  restartCount: number;
  dataplaneOpen: boolean;
  /** Every key queued at start has been reconciled once. */
  firstSyncDone: boolean;
  /** Sizing asked for by the settings but not in force until the dataplane is reopened. */
  pendingSizing?: string;
  /** Why the desired-state source refused its latest input (the last good one stays in force). */
  configError?: string;
  /** LinuxControlPlanes tied at the top priority for this node. */
  settingsConflict: string[];
  /** Why the LinuxControlPlane in force was refused here (its previous settings stay). */
  settingsRefused?: string;
  /** The LinuxControlPlane in force, if any. */
  settingsFrom?: string;
  pairs: PairEntry[];
  ports: PortInfo[];
  fib: { table: number; family: 4 | 6; routes: number }[];
  neighbors: { ip4: number; ip6: number };
  watches: MirrorStatus[];
  /** Route drift (missing + extra + different) summed over watched netns at the last check. */
  driftRoutes?: number;
  counters: Pick<Counters, 'ports' | 'errors'>;
}

/** What the node's conditions are computed from (cheap to gather: no dumps). */
export type ConditionInputs = Pick<
  NodeInputs,
  | 'now' | 'dataplaneOpen' | 'firstSyncDone' | 'pendingSizing' | 'configError' | 'settingsConflict' | 'settingsRefused' | 'settingsFrom'
  | 'pairs' | 'watches' | 'driftRoutes'
>;

export function dataplaneReadyCondition(i: Pick<NodeInputs, 'dataplaneOpen' | 'pendingSizing'>): ConditionInput {
  if (!i.dataplaneOpen) return cond(T.DataplaneReady, 'False', R.NotRunning, 'the dataplane is not open');
  if (i.pendingSizing) return cond(T.DataplaneReady, 'True', R.RestartPending, `running; ${i.pendingSizing} takes effect when the agent restarts`);
  return cond(T.DataplaneReady, 'True', R.Running, 'the dataplane is running');
}

export function mirrorInSyncCondition(i: Pick<NodeInputs, 'watches' | 'driftRoutes'>): ConditionInput {
  const gone = i.watches.filter((w) => w.state === 'netns-gone' || w.state === 'stopped');
  if (gone.length > 0) return cond(T.MirrorInSync, 'False', R.NetnsGone, `netns ${gone.map((w) => w.netns || '(host)').join(', ')} no longer exists`);
  const syncing = i.watches.filter((w) => w.state !== 'synced');
  if (syncing.length > 0) return cond(T.MirrorInSync, 'False', R.Syncing, `netns ${syncing.map((w) => w.netns || '(host)').join(', ')} still syncing`);
  if ((i.driftRoutes ?? 0) > 0) return cond(T.MirrorInSync, 'False', R.Drift, `${i.driftRoutes} routes differ between Linux and the dataplane`);
  // Routes the drift check cannot compare (an encap, an MPLS via, an FDB nexthop): Linux forwards them, we do not.
  const unsupported = i.watches.filter((w) => w.routesUnsupported > 0);
  if (unsupported.length > 0)
    return cond(T.MirrorInSync, 'False', R.UnsupportedRoutes,
      `${unsupported.map((w) => `${w.routesUnsupported} in netns ${w.netns || '(host)'}`).join(', ')}: kernel routes the dataplane cannot forward as Linux would (encap, MPLS via, FDB nexthop); see kube_lcp_mirror_routes_unsupported`);
  if (i.watches.length === 0) return cond(T.MirrorInSync, 'True', R.NothingToMirror, 'no mirror netns is watched');
  return cond(T.MirrorInSync, 'True', R.Synced, `${i.watches.length} netns in sync`);
}

export function configValidCondition(i: Pick<NodeInputs, 'configError'>): ConditionInput {
  if (i.configError) return cond(T.ConfigValid, 'False', R.Invalid, `${i.configError} (the last good config stays in force)`);
  return cond(T.ConfigValid, 'True', R.Loaded, 'the desired state was accepted');
}

export function settingsResolvedCondition(i: Pick<NodeInputs, 'settingsConflict' | 'settingsFrom' | 'settingsRefused'>): ConditionInput {
  if (i.settingsConflict.length > 0)
    return cond(T.SettingsResolved, 'False', R.Conflict,
      `LinuxControlPlanes ${i.settingsConflict.join(', ')} select this node with the same priority; not merged, previous settings kept`);
  if (i.settingsRefused) return cond(T.SettingsResolved, 'False', R.DefaultNetnsNotFound, i.settingsRefused);
  if (i.settingsFrom) return cond(T.SettingsResolved, 'True', R.Resolved, `settings from LinuxControlPlane ${i.settingsFrom}`);
  return cond(T.SettingsResolved, 'True', R.Defaults, 'no LinuxControlPlane selects this node: defaults');
}

export function nodeReadyCondition(i: Pick<NodeInputs, 'dataplaneOpen' | 'firstSyncDone' | 'pairs'>): ConditionInput {
  if (!i.dataplaneOpen) return cond(T.Ready, 'False', R.DataplaneNotReady, 'the dataplane is not open');
  if (!i.firstSyncDone) return cond(T.Ready, 'False', R.Starting, 'the first reconcile of every pair has not finished');
  const notReady = i.pairs.filter((p) => !isReady(p));
  if (notReady.length > 0)
    return cond(T.Ready, 'False', R.PairsNotReady, `${notReady.length} of ${i.pairs.length} pairs not ready: ${notReady.slice(0, 5).map((p) => p.name).join(', ')}`);
  if (i.pairs.length === 0) return cond(T.Ready, 'True', R.NoPairs, 'no pair selects this node');
  return cond(T.Ready, 'True', R.AllPairsReady, `${i.pairs.length} pairs ready`);
}

export function degradedCondition(i: Pick<NodeInputs, 'pairs' | 'configError' | 'settingsConflict' | 'settingsRefused' | 'watches'>): ConditionInput {
  const failed = i.pairs.flatMap((p) => {
    const r = failureReason(p);
    return r ? [`${p.name}: ${r}`] : [];
  });
  if (i.configError) return cond(T.Degraded, 'True', R.ConfigInvalid, i.configError);
  if (i.settingsConflict.length > 0) return cond(T.Degraded, 'True', R.SettingsConflict, `tie between ${i.settingsConflict.join(', ')}`);
  if (i.settingsRefused) return cond(T.Degraded, 'True', R.SettingsRefused, i.settingsRefused);
  if (failed.length > 0) return cond(T.Degraded, 'True', R.PairsFailed, failed.slice(0, 5).join('; '));
  if (i.watches.some((w) => w.state === 'netns-gone')) return cond(T.Degraded, 'True', R.NetnsGone, 'a watched netns disappeared');
  return cond(T.Degraded, 'False', R.AsExpected, 'nothing failed');
}

export function nodeConditions(i: ConditionInputs, prev: readonly Condition[]): Condition[] {
  const conditions = [
    dataplaneReadyCondition(i),
    mirrorInSyncCondition(i),
    configValidCondition(i),
    settingsResolvedCondition(i),
    nodeReadyCondition(i),
    degradedCondition(i),
  ];
  return setConditions(prev, conditions, i.now);
}

function mirrorSummary(i: NodeInputs): NonNullable<NodeDataplaneStatus['mirror']> {
  const out: NonNullable<NodeDataplaneStatus['mirror']> = {
    lagMilliseconds: Math.round(Math.max(0, ...i.watches.map((w) => w.lagMs))),
    resyncs: i.watches.reduce((n, w) => n + w.resyncs, 0),
  };
  const last = Math.max(0, ...i.watches.map((w) => w.lastResyncAt));
  if (last > 0) out.lastResyncTime = new Date(last).toISOString();
  if (i.driftRoutes !== undefined) out.driftRoutes = i.driftRoutes;
  return out;
}

export function nodeStatus(i: NodeInputs, prevConditions: readonly Condition[]): NodeDataplaneStatus {
  const sum = (f: (p: Counters['ports'][number]) => number): number => i.counters.ports.reduce((n, p) => n + f(p), 0);
  return {
    agentVersion: i.agentVersion,
    startTime: i.startTime,
    restartCount: i.restartCount,
    lastUpdateTime: i.now.toISOString(),
    pairsTotal: i.pairs.length,
    pairsReady: i.pairs.filter(isReady).length,
    routes: i.fib.reduce((n, f) => n + f.routes, 0),
    ports: i.ports.map((p) => ({
      index: p.index,
      name: p.name,
      netns: p.netns,
      driver: p.driver,
      mac: p.mac,
      mtu: p.mtu,
      up: p.adminUp,
      pointToPoint: p.pointToPoint,
      table: p.table,
      ...(p.fastPath !== undefined ? { fastPath: p.fastPath.slice(0, 512) } : {}),
    })),
    pairs: [...i.pairs].sort((a, b) => a.name.localeCompare(b.name)),
    fib: i.fib,
    neighbors: i.neighbors,
    mirror: mirrorSummary(i),
    counters: {
      rxPackets: sum((p) => p.rxPackets),
      txPackets: sum((p) => p.txPackets),
      drops: sum((p) => p.drops),
      punts: sum((p) => p.punts),
      injects: sum((p) => p.injects),
    },
    conditions: nodeConditions(i, prevConditions),
  };
}
