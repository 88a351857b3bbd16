// One pair's status, end to end: the nodes it matches (the agent's own
// selection rule), their NodeDataplane entries and agent liveness, the pure
// aggregate, then a server-side apply of /status (field manager
// kube-lcp-controller) only when the result differs from what is stored, and
// an Event for each Ready/Degraded transition it makes.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import type { InterfacePair, InterfacePairStatus } from '../api/interface-pair.js';
import { GROUP_VERSION } from '../api/kube-schema.js';
import type { NodeDataplane } from '../api/node-dataplane.js';
import { pairSelectsNode } from '../api/selectors.js';
import type { EventRecorder } from '../k8s/events.js';
import { ApiError, applyObject, clusterPath } from '../k8s/raw.js';
import { conditionTransitions } from '../k8s/transitions.js';
import type { Outcome } from '../k8s/work-queue.js';
import { aggregatePairStatus, type AgentLiveness, type MatchedNode } from './pair-aggregate.js';

export const CONTROLLER_FIELD_MANAGER = 'kube-lcp-controller';

/** The part of a core/v1 Node the controller reads. */
export interface NodeObject {
  metadata?: { name?: string; labels?: Record<string, string>; resourceVersion?: string };
}

export interface PairSyncDeps {
  kc: KubeConfig;
  log: Logger;
  events: EventRecorder;
  pair(name: string): InterfacePair | undefined;
  nodes(): NodeObject[];
  nodeDataplane(node: string): NodeDataplane | undefined;
  liveness(node: string): AgentLiveness;
  /** Still allowed to write (the leader); checked right before each write. */
  leading(): boolean;
  sampleSize?: number;
  now?: () => Date;
}

/** The nodes a pair selects, by the agent's rule; a nodeName counts even before its Node object exists. */
export function matchedNodeNames(pair: InterfacePair, nodes: readonly NodeObject[]): string[] {
  if (pair.spec.nodeName !== undefined) return [pair.spec.nodeName];
  return nodes
    .map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} }))
    .filter((n) => n.name !== '' && pairSelectsNode(pair, n))
    .map((n) => n.name);
}

/** JSON with sorted keys: the API server does not keep our key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}

export class PairSync {
  /**
   * The status this leader last wrote per pair (with the pair's uid), until
   * the informer echoes it back: in between, a second pass must neither write
   * again nor announce the same transition twice. Cleared when leadership is
   * (re)gained: another leader may have written since.
   */
  private readonly written = new Map<string, { uid: string; status: InterfacePairStatus }>();
  readonly stats = { writes: 0, unchanged: 0, errors: 0 };

  constructor(private readonly d: PairSyncDeps) {}

  forgetWritten(): void {
    this.written.clear();
  }

  async sync(name: string): Promise<Outcome> {
    const pair = this.d.pair(name);
    if (!pair || pair.metadata.deletionTimestamp) {
      this.written.delete(name);
      return { done: true };
    }
    const uid = pair.metadata.uid ?? '';
    const nodes: MatchedNode[] = matchedNodeNames(pair, this.d.nodes()).map((node) => {
      const ndp = this.d.nodeDataplane(node);
      return { name: node, agent: this.d.liveness(node), reported: ndp !== undefined, entry: ndp?.status?.pairs?.find((e) => e.name === name) };
    });
    this.d.log.debug({ pair: name, nodes: nodes.map((n) => ({ node: n.name, agent: n.agent, reported: n.reported, entry: n.entry !== undefined })) }, 'aggregating');
    let mine = this.written.get(name);
    // Echoed back (or the pair was made anew): from here on the cache is the truth, also
    // about anyone else's later change to the status.
    if (mine && (mine.uid !== uid || (pair.status && canonical(pair.status) === canonical(mine.status)))) {
      this.written.delete(name);
      mine = undefined;
    }
    const prev = mine ? mine.status : pair.status;
    const status = aggregatePairStatus({
      generation: pair.metadata.generation ?? 1,
      nodes,
      prev,
      now: (this.d.now ?? (() => new Date()))(),
      sampleSize: this.d.sampleSize,
    });
    if (prev && canonical(prev) === canonical(status)) {
      this.stats.unchanged++;
      return { done: true };
    }
    if (!this.d.leading()) return { done: true };
    try {
      await applyObject(
        this.d.kc,
        clusterPath('lcp.kubelcp.io', 'v1alpha1', 'interfacepairs', name, 'status'),
        { apiVersion: GROUP_VERSION, kind: 'InterfacePair', metadata: { name }, status },
        CONTROLLER_FIELD_MANAGER,
        true,
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return { done: true }; // deleted meanwhile: its informer event follows
      this.stats.errors++;
      return { error };
    }
    this.stats.writes++;
    this.written.set(name, { uid, status });
    const degraded = status.conditions?.find((c) => c.type === 'Degraded')?.status === 'True';
    for (const t of conditionTransitions(prev?.conditions, status.conditions, { Ready: 'Unknown', Degraded: 'False' })) {
      this.d.log.info({ pair: name, condition: t.type, from: t.from, to: t.to.status, reason: t.to.reason }, 'pair condition changed');
      await this.d.events.record({
        regarding: { apiVersion: GROUP_VERSION, kind: 'InterfacePair', name, uid },
        type: (t.type === 'Degraded' && t.to.status === 'True') || (t.type === 'Ready' && t.to.status !== 'True' && degraded) ? 'Warning' : 'Normal',
        reason: t.to.reason,
        action: `${t.type}Changed`,
        note: `${t.type} ${t.from} -> ${t.to.status}: ${t.to.message}`,
      });
    }
    return { done: true };
  }
}
