// The desired state of this node: the pairs that select it, with the node's
// settings filled in, and the pairs that cannot be had because another pair
// already claims the same port or mirror name (first by name wins, so the
// outcome does not depend on the order of the file or of events). Pure.
import type { DesiredSnapshot, NodeIdentity } from './desired.js';
import { desiredPair, type DesiredPair } from './pair-scope.js';
import { FailureReason } from '../conditions/reasons.js';
import { pairSelectsNode } from '../api/selectors.js';
import type { NodeSettings } from './selection.js';

export interface NodeDesired {
  pairs: Map<string, DesiredPair>;
  /** Pair name -> why it cannot be reconciled as specified. */
  conflicts: Map<string, { reason: FailureReason; message: string }>;
}

export const portKey = (netns: string, name: string): string => `${netns}/${name}`;

export function nodeDesired(snapshot: DesiredSnapshot, node: NodeIdentity, settings: NodeSettings): NodeDesired {
  const pairs = new Map<string, DesiredPair>();
  const conflicts: NodeDesired['conflicts'] = new Map();
  const ports = new Map<string, string>();
  const mirrors = new Map<string, string>();
  const names = [...snapshot.pairs.keys()].sort();
  for (const name of names) {
    const sp = snapshot.pairs.get(name)!;
    if (!pairSelectsNode(sp.pair, node)) continue;
    const d = desiredPair(name, sp, settings);
    pairs.set(name, d);
    const pk = portKey(d.port.netns, d.port.name);
    const mk = portKey(d.mirror.netns, d.mirror.name);
    const portOwner = ports.get(pk);
    const mirrorOwner = mirrors.get(mk);
    if (portOwner !== undefined) {
      conflicts.set(name, { reason: FailureReason.PortInUse, message: `port ${d.port.name}${d.port.netns ? `@${d.port.netns}` : ''} is already claimed by pair ${portOwner}` });
    } else if (mirrorOwner !== undefined) {
      conflicts.set(name, { reason: FailureReason.NameConflict, message: `mirror ${d.mirror.name}${d.mirror.netns ? `@${d.mirror.netns}` : ''} is already claimed by pair ${mirrorOwner}` });
    } else {
      ports.set(pk, name);
      mirrors.set(mk, name);
    }
  }
  return { pairs, conflicts };
}
