// The typed surface of the embedded dataplane, as the rest of the project
// sees it. dataplane/dataplane.ts implements it over the native addon; it is
// the only module that imports the addon.

export type PortDriver = 'af_packet' | 'af_xdp' | 'auto';
export type MirrorKind = 'tap' | 'tun';
export type DropKind = 'blackhole' | 'unreachable' | 'prohibit';
export type Family = 4 | 6;

export interface DataplaneOptions {
  /** Worker threads polling ports and mirrors (default 1). */
  workers?: number;
  /** Packet buffers per worker (default 4096). */
  buffersPerWorker?: number;
}

export interface PortSpec {
  /** Kernel netdev to take over, e.g. "eth1". */
  name: string;
  /** Netns the netdev lives in (a name under /run/netns); default: the agent's. */
  netns?: string;
  driver?: PortDriver;
}

export interface PortInfo {
  index: number;
  name: string;
  netns: string;
  driver: 'af_packet' | 'af_xdp';
  ifindex: number;
  mac: string;
  mtu: number;
  pointToPoint: boolean;
  adminUp: boolean;
  table: number;
}

export interface MirrorSpec {
  /** Interface name in Linux, at most 15 characters. */
  name: string;
  /** Netns to create it in (a name under /run/netns); default: the agent's. */
  netns?: string;
  /** tap for a multi-point port, tun for a point-to-point one (default: from the port). */
  kind?: MirrorKind;
  /** Defaults to the port's. */
  mtu?: number;
  /** Defaults to the port's (tap only). */
  mac?: string;
}

export interface PairInfo {
  port: number;
  mirrorName: string;
  mirrorNetns: string;
  mirrorKind: MirrorKind;
  mirrorIfindex: number;
  /** True when an existing mirror of ours was re-adopted instead of created. */
  adopted: boolean;
}

export interface PathSpec {
  port: number;
  /** Next-hop address; omitted for an attached (on-link) route. */
  via?: string;
  weight?: number;
}

export type RouteSpec =
  | { table?: number; prefix: string; paths: PathSpec[] }
  | { table?: number; prefix: string; drop: DropKind };

export interface PortCounters {
  port: number;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: number;
  punts: number;
  /** Host -> port packets that came from the mirror (cross-connect). */
  injects: number;
}

export interface Counters {
  ports: PortCounters[];
  /** Node-wide error/drop counters by reason, e.g. ip4_bad_checksum. */
  errors: Record<string, number>;
}

export interface FibEntry {
  prefix: string;
  source: 'route' | 'interface';
  kind: 'forward' | DropKind | 'receive' | 'glean';
  paths: { port: number; via?: string; weight: number }[];
}

export interface AdjacencyEntry {
  index: number;
  kind: 'drop' | 'receive' | 'glean' | 'rewrite' | DropKind;
  port?: number;
  nextHop?: string;
  rewrite?: string;
  refcount: number;
}

export interface TraceRecord {
  worker: number;
  /** Nodes crossed, in order, e.g. ["port-input","ethernet-input","ip4-input","ip4-lookup","ip4-rewrite","port-output"]. */
  nodes: string[];
  /** First bytes of the packet as received, hex. */
  head: string;
  rxPort: number;
}
