// Which LinuxControlPlane settings apply to this node. Pure.
import type { LinuxControlPlane } from '../api/linux-control-plane.js';
import { selectorMatches } from '../api/selectors.js';
import type { NodeIdentity } from './desired.js';

/** The node's control-plane settings, with defaults filled in. */
export interface NodeSettings {
  /** The LinuxControlPlane they came from; undefined = built-in defaults. */
  from?: string;
  defaultNetns: string;
  lcpSync: boolean;
  /** VLAN devices on mirrors make sub-ports (LinuxControlPlane.spec.autoSubinterfaces). */
  autoSubinterfaces?: boolean;
  /** Kernel tables to mirror; undefined = all but local. */
  tables?: number[];
  /** Route protocols to mirror; undefined = all but kernel (connected routes come from addresses). */
  protocols?: number[];
  workers?: number;
  buffersPerWorker?: number;
  rxRingSize?: number;
}

export const defaultSettings: NodeSettings = { defaultNetns: '', lcpSync: false };

export interface SettingsResolution {
  settings: NodeSettings;
  /** Names of the objects that tie at the top priority; empty when there is no conflict. */
  conflict: string[];
  /** Objects that select this node. */
  matched: string[];
}

/**
 * The highest priority wins; a tie at the top is a conflict, reported and
 * not merged: the previous settings stay in force.
 */
export function resolveSettings(lcps: readonly LinuxControlPlane[], node: NodeIdentity, previous: NodeSettings): SettingsResolution {
  const matching = lcps.filter((l) => selectorMatches(l.spec.nodeSelector, node.labels));
  const matched = matching.map((l) => l.metadata.name ?? '').sort();
  if (matching.length === 0) return { settings: defaultSettings, conflict: [], matched };
  const top = Math.max(...matching.map((l) => l.spec.priority ?? 0));
  const winners = matching.filter((l) => (l.spec.priority ?? 0) === top);
  if (winners.length > 1) return { settings: previous, conflict: winners.map((l) => l.metadata.name ?? '').sort(), matched };
  const w = winners[0]!;
  const s = w.spec;
  const nonEmpty = (a: readonly number[] | undefined): number[] | undefined => (a && a.length > 0 ? [...a] : undefined);
  return {
    settings: {
      from: w.metadata.name,
      defaultNetns: s.defaultNetns ?? '',
      lcpSync: s.sync ?? false,
      autoSubinterfaces: s.autoSubinterfaces ?? false,
      tables: nonEmpty(s.routes?.tables),
      protocols: nonEmpty(s.routes?.protocols),
      workers: s.dataplane?.workers,
      buffersPerWorker: s.dataplane?.buffersPerWorker,
      rxRingSize: s.dataplane?.rxRingSize,
    },
    conflict: [],
    matched,
  };
}
