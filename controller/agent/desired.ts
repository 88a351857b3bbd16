// The desired state of a node and where it comes from. Two sources share one
// reconciler: the cluster (informers) and a standalone file of the
// same kinds. A source only says what objects exist now and that something
// changed; the reconciler reads the current snapshot (level-triggered), so a
// source never has to deliver every event in order.
import type { InterfacePair } from '../api/interface-pair.js';
import type { LinuxControlPlane } from '../api/linux-control-plane.js';

/** This node as the selectors see it: its name and labels. */
export interface NodeIdentity {
  name: string;
  labels: Record<string, string>;
}

/** A pair as the source holds it, with the generation its spec is at. */
export interface SourcedPair {
  pair: InterfacePair;
  /** metadata.generation from the API server; counted by the file source. */
  generation: number;
}

export interface DesiredSnapshot {
  pairs: ReadonlyMap<string, SourcedPair>;
  controlPlanes: readonly LinuxControlPlane[];
}

/** What changed since the last snapshot: pair names (added, changed or gone) and whether settings did. */
export interface SourceChange {
  pairs: string[];
  controlPlanes: boolean;
}

export interface DesiredStateSource {
  /** 'file' or 'cluster', for logs and status. */
  readonly kind: string;
  /** Loads once, then follows changes; resolves after the first load attempt, good or bad. */
  start(onChange: (change: SourceChange) => void): Promise<void>;
  stop(): Promise<void>;
  /** The last good snapshot (empty before the first good load). */
  snapshot(): DesiredSnapshot;
  /** Why the latest input was refused (the last good snapshot stays in force), or undefined. */
  error(): string | undefined;
}

export const emptySnapshot: DesiredSnapshot = { pairs: new Map(), controlPlanes: [] };

/** Pair names that differ between two snapshots (added, removed, or with another spec or generation). */
export function changedPairs(before: DesiredSnapshot, after: DesiredSnapshot): string[] {
  const names = new Set([...before.pairs.keys(), ...after.pairs.keys()]);
  return [...names].filter((n) => {
    const a = before.pairs.get(n);
    const b = after.pairs.get(n);
    // The same parsed object is the same pair (the cluster source reuses parses): no need to serialize it.
    return !a || !b || a.generation !== b.generation || (a.pair !== b.pair && JSON.stringify(a.pair) !== JSON.stringify(b.pair));
  });
}
