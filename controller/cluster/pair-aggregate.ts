// The InterfacePair status as a pure function of what the cluster says: the
// pair, the nodes it matches, each node's entry for it in that node's
// NodeDataplane, and whether the node's agent is alive (its heartbeat Lease).
// Nothing here calls the API; the wording of reasons and messages is the
// user-facing contract, so it is unit-tested here.
import type { InterfacePairStatus } from '../api/interface-pair.js';
import type { PairEntry } from '../api/node-dataplane.js';
import { bounded, condition as cond, failureReason, findCondition, setConditions, type ConditionInput } from '../conditions/conditions.js';
import { ClusterReason as R, ConditionType as T, type StaleReason } from '../conditions/reasons.js';

/** Whether a node's agent is alive, from its heartbeat Lease. */
export type AgentLiveness = 'alive' | 'expired' | 'missing';

export interface MatchedNode {
  name: string;
  agent: AgentLiveness;
  /** The node has a NodeDataplane (some agent reported there once). */
  reported: boolean;
  /** The node's entry for this pair, if it has one. */
  entry?: PairEntry;
}

export type NodeState =
  | { node: string; state: 'ready' }
  | { node: string; state: 'progressing'; why: string }
  | { node: string; state: 'failed'; reason: string; message: string }
  | { node: string; state: 'stale'; reason: StaleReason; message: string };

export interface AggregateInput {
  generation: number;
  nodes: readonly MatchedNode[];
  /** The status now stored (transition times are kept while a condition holds). */
  prev?: InterfacePairStatus;
  now: Date;
  /** At most this many entries in failingNodes (the schema allows 10). */
  sampleSize?: number;
}

export const DEFAULT_SAMPLE = 10;
/** Nodes named in a condition message before "and N more". */
const NAMED_IN_MESSAGE = 5;

/** One node's state for one pair. A node whose agent is not alive is stale, whatever it last wrote. */
export function nodeState(n: MatchedNode, generation: number): NodeState {
  const node = n.name;
  if (n.agent !== 'alive') {
    // "Missing" is an agent that never reported; one that did and went quiet is stale.
    return n.agent === 'missing' && !n.reported
      ? { node, state: 'stale', reason: R.NodeAgentMissing, message: 'no kube-lcp agent has reported from this node' }
      : { node, state: 'stale', reason: R.StaleNodeStatus, message: "the node's agent heartbeat expired: its last report is not trusted" };
  }
  const e = n.entry;
  if (!e) return { node, state: 'progressing', why: 'not reported yet' };
  if ((e.observedGeneration ?? 0) !== generation) return { node, state: 'progressing', why: `at generation ${e.observedGeneration ?? 0}` };
  const ready = findCondition(e.conditions, T.Ready);
  if (ready?.status === 'True' && (ready.observedGeneration ?? generation) === generation) return { node, state: 'ready' };
  const failed = failureReason(e.conditions);
  if (failed) return { node, state: 'failed', reason: failed, message: bounded(ready?.message ?? e.lastError ?? failed) };
  return { node, state: 'progressing', why: ready?.reason ?? 'reconciling' };
}

const names = (xs: readonly NodeState[], detail: (s: NodeState) => string = (s) => s.node): string => {
  const shown = xs.slice(0, NAMED_IN_MESSAGE).map(detail).join(', ');
  return xs.length > NAMED_IN_MESSAGE ? `${shown} and ${xs.length - NAMED_IN_MESSAGE} more` : shown;
};

const withReason = (s: NodeState): string => (s.state === 'failed' || s.state === 'stale' ? `${s.node} (${s.reason})` : s.node);

export function aggregatePairStatus(i: AggregateInput): InterfacePairStatus {
  const g = i.generation;
  const states = [...i.nodes].sort((a, b) => a.name.localeCompare(b.name)).map((n) => nodeState(n, g));
  const of = <S extends NodeState['state']>(s: S) => states.filter((x): x is Extract<NodeState, { state: S }> => x.state === s);
  const ready = of('ready');
  const progressing = of('progressing');
  const failed = of('failed');
  const stale = of('stale');
  const matched = states.length;

  // Why not ready, worst first: failures, then silent agents, then nodes still converging.
  const notReady: string[] = [];
  if (failed.length) notReady.push(`failing: ${names(failed, withReason)}`);
  if (stale.length) notReady.push(`stale: ${names(stale, withReason)}`);
  if (progressing.length) notReady.push(`progressing: ${names(progressing)}`);

  let readyCond: ConditionInput;
  if (matched === 0) readyCond = cond(T.Ready, 'True', R.NoMatchingNodes, 'the pair selects no node (not an error)', g);
  else if (ready.length === matched) readyCond = cond(T.Ready, 'True', R.AllNodesReady, `${matched} of ${matched} nodes ready at generation ${g}`, g);
  else
    readyCond = cond(T.Ready, 'False', R.PartiallyReady, `${ready.length} of ${matched} nodes ready at generation ${g}; ${notReady.join('; ')}`, g);

  const progressingCond =
    progressing.length > 0
      ? cond(T.Progressing, 'True', R.NodesProgressing, `${progressing.length} of ${matched} nodes converging on generation ${g}: ${names(progressing)}`, g)
      : cond(T.Progressing, 'False', R.Converged, matched === 0 ? 'no node to converge' : `no node is still converging on generation ${g}`, g);

  const missing = stale.filter((s) => s.reason === R.NodeAgentMissing);
  const expired = stale.filter((s) => s.reason === R.StaleNodeStatus);
  let degradedCond: ConditionInput;
  if (failed.length) degradedCond = cond(T.Degraded, 'True', R.SomeNodesFailed, `${failed.length} of ${matched} nodes failed: ${names(failed, (s) => `${s.node} (${s.state === 'failed' ? `${s.reason}: ${s.message}` : ''})`)}`, g);
  else if (missing.length) degradedCond = cond(T.Degraded, 'True', R.NodeAgentMissing, `no agent on ${missing.length} of ${matched} nodes: ${names(missing)}`, g);
  else if (expired.length) degradedCond = cond(T.Degraded, 'True', R.StaleNodeStatus, `agent heartbeat expired on ${expired.length} of ${matched} nodes: ${names(expired)}`, g);
  else degradedCond = cond(T.Degraded, 'False', R.NoFailures, 'no selected node reports a failure', g);

  const conditions = setConditions(i.prev?.conditions, [readyCond, progressingCond, degradedCond], i.now);

  // The sample: failures first (what to fix), then silent agents; by node name within each.
  const failingNodes = [...failed, ...stale].slice(0, i.sampleSize ?? DEFAULT_SAMPLE).map((s) => ({
    node: s.node,
    reason: s.state === 'failed' || s.state === 'stale' ? s.reason : '',
    message: s.state === 'failed' || s.state === 'stale' ? s.message : '',
  }));

  return {
    observedGeneration: g,
    matchedNodes: matched,
    readyNodes: ready.length,
    progressingNodes: progressing.length,
    failedNodes: failed.length,
    staleNodes: stale.length,
    ...(failingNodes.length ? { failingNodes } : {}),
    conditions,
  };
}
