// The InterfacePair status the cluster controller writes, as a pure function
// of the matched nodes, their NodeDataplane entries and agent liveness.
import type { Condition } from '../../controller/api/kube-schema.js';
import type { PairEntry } from '../../controller/api/node-dataplane.js';
import { aggregatePairStatus, nodeState, type MatchedNode } from '../../controller/cluster/pair-aggregate.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const T1 = new Date('2026-01-01T00:01:00.000Z');

const readyCond = (status: Condition['status'], reason: string, gen: number, message = 'm'): Condition => ({
  type: 'Ready', status, reason, message, observedGeneration: gen, lastTransitionTime: T0.toISOString(),
});
const entry = (gen: number, ready: Condition): PairEntry => ({ name: 'p', observedGeneration: gen, conditions: [ready] });
const alive = (name: string, e?: PairEntry): MatchedNode => ({ name, agent: 'alive', reported: true, entry: e });
const okAt = (name: string, gen: number): MatchedNode => alive(name, entry(gen, readyCond('True', 'Ready', gen)));
const cond = (s: ReturnType<typeof aggregatePairStatus>, type: string): Condition | undefined => s.conditions?.find((c) => c.type === type);

describe('nodeState', () => {
  it('is ready only with Ready=True at the current generation', () => {
    expect(nodeState(okAt('a', 3), 3).state).toBe('ready');
    expect(nodeState(okAt('a', 2), 3)).toMatchObject({ state: 'progressing', why: 'at generation 2' });
  });

  it('is progressing with no entry yet, or while the agent is still reconciling', () => {
    expect(nodeState(alive('a'), 1)).toMatchObject({ state: 'progressing', why: 'not reported yet' });
    expect(nodeState(alive('a', entry(1, readyCond('False', 'Reconciling', 1))), 1).state).toBe('progressing');
  });

  it('is failed with the entry\'s reason and message', () => {
    expect(nodeState(alive('a', entry(1, readyCond('False', 'PortNotFound', 1, 'no eth9'))), 1)).toEqual({
      node: 'a', state: 'failed', reason: 'PortNotFound', message: 'no eth9',
    });
  });

  it('is stale when the agent heartbeat expired, whatever the entry says', () => {
    const n: MatchedNode = { ...okAt('a', 1), agent: 'expired' };
    expect(nodeState(n, 1)).toMatchObject({ state: 'stale', reason: 'StaleNodeStatus' });
  });

  it('says NodeAgentMissing when no agent ever reported, StaleNodeStatus when one did', () => {
    expect(nodeState({ name: 'a', agent: 'missing', reported: false }, 1)).toMatchObject({ state: 'stale', reason: 'NodeAgentMissing' });
    expect(nodeState({ name: 'a', agent: 'missing', reported: true }, 1)).toMatchObject({ state: 'stale', reason: 'StaleNodeStatus' });
  });
});

describe('aggregatePairStatus', () => {
  it('is Ready=True AllNodesReady with counts and observedGeneration when every node is ready', () => {
    const s = aggregatePairStatus({ generation: 4, nodes: [okAt('b', 4), okAt('a', 4)], now: T0 });
    expect(s).toMatchObject({ observedGeneration: 4, matchedNodes: 2, readyNodes: 2, progressingNodes: 0, failedNodes: 0, staleNodes: 0 });
    expect(s.failingNodes).toBeUndefined();
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'AllNodesReady', observedGeneration: 4, message: '2 of 2 nodes ready at generation 4' });
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'Converged' });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'False', reason: 'NoFailures' });
  });

  it('matching no node is not an error', () => {
    const s = aggregatePairStatus({ generation: 1, nodes: [], now: T0 });
    expect(s).toMatchObject({ matchedNodes: 0, readyNodes: 0 });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'NoMatchingNodes' });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'False' });
  });

  it('is not Ready while a node is at an older generation, and says it is progressing', () => {
    const s = aggregatePairStatus({ generation: 2, nodes: [okAt('a', 2), okAt('b', 1)], now: T0 });
    expect(s).toMatchObject({ readyNodes: 1, progressingNodes: 1 });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'PartiallyReady' });
    expect(cond(s, 'Ready')?.message).toContain('progressing: b');
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'NodesProgressing' });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'False' });
  });

  it('names a failed node in Ready, Degraded (SomeNodesFailed) and the failing sample', () => {
    const bad = alive('node-b', entry(1, readyCond('False', 'PortNotFound', 1, 'netdev eth9 not found')));
    const s = aggregatePairStatus({ generation: 1, nodes: [okAt('node-a', 1), bad], now: T0 });
    expect(s).toMatchObject({ matchedNodes: 2, readyNodes: 1, failedNodes: 1 });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'PartiallyReady' });
    expect(cond(s, 'Ready')?.message).toContain('node-b (PortNotFound)');
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'SomeNodesFailed' });
    expect(cond(s, 'Degraded')?.message).toContain('node-b (PortNotFound: netdev eth9 not found)');
    expect(s.failingNodes).toEqual([{ node: 'node-b', reason: 'PortNotFound', message: 'netdev eth9 not found' }]);
  });

  it('counts a node with an expired heartbeat as stale, not ready, and says StaleNodeStatus', () => {
    const s = aggregatePairStatus({ generation: 1, nodes: [okAt('a', 1), { ...okAt('b', 1), agent: 'expired' }], now: T0 });
    expect(s).toMatchObject({ matchedNodes: 2, readyNodes: 1, staleNodes: 1, failedNodes: 0 });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'PartiallyReady' });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'StaleNodeStatus' });
    expect(s.failingNodes).toEqual([expect.objectContaining({ node: 'b', reason: 'StaleNodeStatus' })]);
  });

  it('reports a node with no agent as NodeAgentMissing; failures outrank it in Degraded', () => {
    const missing: MatchedNode = { name: 'm', agent: 'missing', reported: false };
    expect(cond(aggregatePairStatus({ generation: 1, nodes: [missing], now: T0 }), 'Degraded')).toMatchObject({ reason: 'NodeAgentMissing' });
    const bad = alive('f', entry(1, readyCond('False', 'NetnsNotFound', 1)));
    const s = aggregatePairStatus({ generation: 1, nodes: [missing, bad], now: T0 });
    expect(cond(s, 'Degraded')).toMatchObject({ reason: 'SomeNodesFailed' });
    expect(s.failingNodes?.map((f) => f.node)).toEqual(['f', 'm']); // failures first
  });

  it('bounds the failing sample and the names in messages', () => {
    const nodes = Array.from({ length: 25 }, (_, i) => alive(`n${String(i).padStart(2, '0')}`, entry(1, readyCond('False', 'PortNotFound', 1))));
    const s = aggregatePairStatus({ generation: 1, nodes, now: T0 });
    expect(s.failedNodes).toBe(25);
    expect(s.failingNodes).toHaveLength(10);
    expect(s.failingNodes?.[0]?.node).toBe('n00');
    expect(cond(s, 'Degraded')?.message).toContain('and 20 more');
    expect(aggregatePairStatus({ generation: 1, nodes, now: T0, sampleSize: 3 }).failingNodes).toHaveLength(3);
  });

  it('keeps a condition\'s transition time while its status holds, and moves it when it changes', () => {
    const s0 = aggregatePairStatus({ generation: 1, nodes: [okAt('a', 1)], now: T0 });
    const same = aggregatePairStatus({ generation: 1, nodes: [okAt('a', 1)], prev: s0, now: T1 });
    expect(same).toEqual(s0);
    const bad = aggregatePairStatus({ generation: 1, nodes: [alive('a', entry(1, readyCond('False', 'PortNotFound', 1)))], prev: s0, now: T1 });
    expect(cond(bad, 'Ready')?.lastTransitionTime).toBe(T1.toISOString());
    expect(cond(bad, 'Progressing')?.lastTransitionTime).toBe(T0.toISOString()); // still False
  });
});
