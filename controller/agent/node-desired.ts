// The desired state of this node: the pairs that select it, with the node's
// settings filled in, and the pairs that cannot be had because another pair
// already claims the same netdev, as its port or as its mirror. A pair that
// holds its port now keeps it (a newcomer never takes a working pair's port
// away); among the others the first by name wins, so the outcome does not
// depend on the order of the file or of events. Pure.
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

export function nodeDesired(
  snapshot: DesiredSnapshot,
  node: NodeIdentity,
  settings: NodeSettings,
  /** Pairs that hold their port now (the agent's claims). */
  holding: ReadonlySet<string> = new Set(),
): NodeDesired {
  const pairs = new Map<string, DesiredPair>();
  const conflicts: NodeDesired['conflicts'] = new Map();
  // Every netdev claimed, as a port or as a mirror: one device cannot be both, nor twice.
  const claimed = new Map<string, { pair: string; as: 'port' | 'mirror' }>();
  const names = [...snapshot.pairs.keys()].sort((a, b) => Number(holding.has(b)) - Number(holding.has(a)) || (a < b ? -1 : a > b ? 1 : 0));
  const where = (name: string, netns: string): string => `${name}${netns ? `@${netns}` : ''}`;
  for (const name of names) {
    const sp = snapshot.pairs.get(name)!;
    if (!pairSelectsNode(sp.pair, node)) continue;
    const d = desiredPair(name, sp, settings);
    pairs.set(name, d);
    const pk = portKey(d.port.netns, d.port.name);
    const mk = portKey(d.mirror.netns, d.mirror.name);
    const onPort = claimed.get(pk);
    const onMirror = claimed.get(mk);
    if (pk === mk) {
      conflicts.set(name, { reason: FailureReason.NameConflict, message: `port and mirror are the same netdev ${where(d.port.name, d.port.netns)}` });
    } else if (onPort !== undefined) {
      conflicts.set(name, { reason: FailureReason.PortInUse, message: `port ${where(d.port.name, d.port.netns)} is already claimed by pair ${onPort.pair}${onPort.as === 'mirror' ? ' as its mirror' : ''}` });
    } else if (onMirror !== undefined) {
      conflicts.set(name, { reason: FailureReason.NameConflict, message: `mirror ${where(d.mirror.name, d.mirror.netns)} is already claimed by pair ${onMirror.pair}${onMirror.as === 'port' ? ' as its port' : ''}` });
    } else {
      claimed.set(pk, { pair: name, as: 'port' });
      claimed.set(mk, { pair: name, as: 'mirror' });
    }
  }
  return { pairs, conflicts };
}
