// Cluster mode only: an Event on the InterfacePair when this node's Ready
// condition for it changes status (reportingController kube-lcp-agent,
// reportingInstance the node). It looks at the NodeDataplane as it is about
// to be written, so Events describe what the cluster is told; a status
// written again unchanged (heartbeat, resync) says nothing. A pair seen for
// the first time since the agent started is compared with "ready": a
// restart of a healthy node is no news, a pair that fails is.
import type { Condition } from '../api/kube-schema.js';
import { GROUP_VERSION } from '../api/kube-schema.js';
import type { NodeDataplane } from '../api/node-dataplane.js';
import type { EventInput } from '../k8s/events.js';
import { conditionTransitions } from '../k8s/transitions.js';

export class PairEvents {
  private readonly last = new Map<string, Condition[]>();

  constructor(
    private readonly node: string,
    private readonly record: (e: EventInput) => Promise<void>,
    /** The pair's uid, so that `kubectl describe lip` finds the Event. */
    private readonly uidOf: (pair: string) => string | undefined,
  ) {}

  /** Records an Event per Ready transition since the last call (not awaited: best effort). */
  observe(ndp: NodeDataplane): void {
    const seen = new Set<string>();
    for (const e of ndp.status?.pairs ?? []) {
      seen.add(e.name);
      const conditions = e.conditions ?? [];
      for (const t of conditionTransitions(this.last.get(e.name), conditions, { Ready: 'True' })) {
        const failed = t.to.status === 'False' && t.to.reason !== 'Reconciling';
        void this.record({
          regarding: { apiVersion: GROUP_VERSION, kind: 'InterfacePair', name: e.name, uid: this.uidOf(e.name) },
          type: failed ? 'Warning' : 'Normal',
          reason: t.to.reason,
          action: 'NodeReadyChanged',
          note: `node ${this.node}: Ready ${t.from} -> ${t.to.status}: ${t.to.message}`,
        });
      }
      this.last.set(e.name, conditions);
    }
    for (const name of [...this.last.keys()]) if (!seen.has(name)) this.last.delete(name);
  }
}
