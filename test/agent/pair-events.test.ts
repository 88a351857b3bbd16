// The agent's Events (cluster mode): one per change of a pair's Ready status
// on this node, none for a status written again unchanged.
import type { Condition } from '../../controller/api/kube-schema.js';
import type { NodeDataplane } from '../../controller/api/node-dataplane.js';
import { PairEvents } from '../../controller/agent/pair-events.js';
import type { EventInput } from '../../controller/k8s/events.js';

const ready = (status: Condition['status'], reason: string): Condition => ({ type: 'Ready', status, reason, message: `msg ${reason}`, lastTransitionTime: '2026-01-01T00:00:00Z' });
const ndp = (pairs: Record<string, Condition>): NodeDataplane => ({
  apiVersion: 'lcp.kubelcp.io/v1alpha1',
  kind: 'NodeDataplane',
  metadata: { name: 'n1' },
  status: { pairs: Object.entries(pairs).map(([name, c]) => ({ name, conditions: [c] })) },
});

describe('PairEvents', () => {
  const setup = () => {
    const sent: EventInput[] = [];
    const ev = new PairEvents('n1', async (e) => void sent.push(e), (name) => `uid-${name}`);
    return { sent, ev };
  };

  it('says nothing about a pair first seen ready (a restart of a healthy node is no news)', () => {
    const { sent, ev } = setup();
    ev.observe(ndp({ p: ready('True', 'Ready') }));
    expect(sent).toEqual([]);
  });

  it('records a Warning when a pair fails and a Normal when it recovers, about the pair, as this node', () => {
    const { sent, ev } = setup();
    ev.observe(ndp({ p: ready('True', 'Ready') }));
    ev.observe(ndp({ p: ready('False', 'PortNotFound') }));
    ev.observe(ndp({ p: ready('True', 'Ready') }));
    expect(sent.map((e) => `${e.type} ${e.reason}`)).toEqual(['Warning PortNotFound', 'Normal Ready']);
    expect(sent[0]).toMatchObject({ regarding: { kind: 'InterfacePair', name: 'p', uid: 'uid-p' }, action: 'NodeReadyChanged' });
    expect(sent[0]?.note).toContain('node n1: Ready True -> False: msg PortNotFound');
  });

  it('records nothing while the status holds, whatever is rewritten', () => {
    const { sent, ev } = setup();
    for (let i = 0; i < 5; i++) ev.observe(ndp({ p: ready('False', 'NetnsNotFound') }));
    expect(sent).toHaveLength(1);
  });

  it('treats Reconciling as Normal, and forgets a pair that is gone', () => {
    const { sent, ev } = setup();
    ev.observe(ndp({ p: ready('False', 'Reconciling') }));
    ev.observe(ndp({}));
    ev.observe(ndp({ p: ready('False', 'Reconciling') }));
    expect(sent.map((e) => `${e.type} ${e.reason}`)).toEqual(['Normal Reconciling', 'Normal Reconciling']);
  });
});
