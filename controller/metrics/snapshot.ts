// One reading of the dataplane per scrape. Every collector's collect() runs
// during one registry.metrics() call, which never yields to the event loop
// between them (only to microtasks), so a snapshot dropped by setImmediate
// serves exactly one scrape: the series are consistent with each other, the
// native counters are read once, and nothing polls between scrapes.
import type { Counters, MirrorStatus, PortInfo } from '../../dataplane/dataplane.js';

/** What the collectors read: the agent's dataplane and what only the agent knows (which pair holds a port). */
export interface DataplaneSource {
  ports(): PortInfo[];
  counters(): Counters;
  mirrorStatus(): MirrorStatus[];
  tables(): number[];
  routeCount(table: number, family: 4 | 6): number;
  /** The InterfacePair holding the port, if any. */
  pairOf(port: number): string | undefined;
  /** Routes that differed between Linux and the dataplane at the last drift check (undefined before one). */
  driftRoutes(): number | undefined;
}

export interface Snapshot {
  ports: PortInfo[];
  counters: Counters;
  mirrors: MirrorStatus[];
  fib: { table: number; family: 4 | 6; routes: number }[];
  pairOf: (port: number) => string | undefined;
  driftRoutes: number | undefined;
}

/** Returns a reader of the current snapshot; undefined when there is no dataplane to read (agent not started, or stopped). */
export function snapshotReader(source: () => DataplaneSource | undefined): () => Snapshot | undefined {
  let cached: Snapshot | undefined;
  return () => {
    if (cached) return cached;
    const s = source();
    if (!s) return undefined;
    cached = {
      ports: s.ports(),
      counters: s.counters(),
      mirrors: s.mirrorStatus(),
      fib: s.tables().flatMap((table) => ([4, 6] as const).map((family) => ({ table, family, routes: s.routeCount(table, family) }))),
      pairOf: (p) => s.pairOf(p),
      driftRoutes: s.driftRoutes(),
    };
    setImmediate(() => (cached = undefined));
    return cached;
  };
}
