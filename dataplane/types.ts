// The typed surface of the embedded dataplane, as the rest of the project
// sees it. dataplane/dataplane.ts implements it over the native addon; it is
// the only module that imports the addon.

export type PortDriver = 'af_packet' | 'af_xdp' | 'auto';
export type MirrorKind = 'tap' | 'tun';
export type DropKind = 'blackhole' | 'unreachable' | 'prohibit';
export type Family = 4 | 6;
/** 'auto': forward the plain cases in an XDP program where the kernel allows; 'off': the user-space graph only. */
export type FastPathMode = 'auto' | 'off';
/**
 * AF_PACKET receive ring layout. 'v2': a slot per frame, handed over at once, no timer: an idle
 * port costs no CPU, but the kernel wakes the worker per frame (the graph forwards about half as
 * many 64 B packets). 'v3': frames packed into blocks handed over when full or after 1 ms: large
 * batches, but the kernel runs that timer per port forever, so hundreds of idle ports keep a CPU
 * busy. 'auto' (the default): v2 on ports whose receive the XDP fast path takes (the ring then
 * carries only what it passes up: punts, glean, exceptions), v3 where the graph forwards.
 */
export type RxRingMode = 'auto' | 'v2' | 'v3';
export type RxRingKind = 'v2' | 'v3';

export interface DataplaneOptions {
  /** Worker threads polling ports and mirrors (default 1). */
  workers?: number;
  /** Packet buffers per worker (default 4096). */
  buffersPerWorker?: number;
  /** AF_PACKET receive ring per port, in 2 KiB frames: a power of two, 256..16384 (default 2048 = 4 MiB). */
  rxRingSize?: number;
  /** AF_PACKET receive ring layout of the ports (default 'auto', see RxRingMode). */
  rxRing?: RxRingMode;
  /** The XDP fast path for the whole dataplane (default 'auto'); 'off' also skips its FIB maps. */
  fastPath?: FastPathMode;
}

export interface PortSpec {
  /** Kernel netdev to take over, e.g. "eth1". */
  name: string;
  /** Netns the netdev lives in (a name under /run/netns); default: the agent's. */
  netns?: string;
  driver?: PortDriver;
  /** The XDP fast path on this port (default 'auto'); 'off': it neither receives nor is sent to by XDP. */
  fastPath?: FastPathMode;
}

export interface PortInfo {
  index: number;
  name: string;
  netns: string;
  /** A sub-port (VLAN) reports its parent's driver and ifindex 0 (no netdev of its own). */
  driver: 'af_packet' | 'af_xdp';
  ifindex: number;
  mac: string;
  mtu: number;
  pointToPoint: boolean;
  adminUp: boolean;
  table: number;
  /**
   * The XDP fast path on this port: 'active' (its program forwards what it
   * receives and it takes redirects), 'rx-only: <why>' (it does not take XDP
   * frames, e.g. a veth whose peer has neither an XDP program nor GRO), or
   * 'inactive: <why>'. Always set by the dataplane.
   */
  fastPath?: string;
  /** Memory of the port's receive ring (AF_PACKET), in bytes. */
  rxRingBytes?: number;
  /** Layout of that ring (AF_PACKET). */
  rxRing?: RxRingKind;
  /** Sub-ports only: the parent port and the outer tag. */
  parent?: number;
  vlan?: number;
  tpid?: 'dot1q' | 'dot1ad';
}

/** The XDP fast path of the whole dataplane (per-port state is PortInfo.fastPath). */
export interface FastPathStatus {
  /** fastPath 'auto' for the dataplane. */
  enabled: boolean;
  /** Its maps exist and the kernel took the program; otherwise `reason` says why. */
  usable: boolean;
  reason?: string;
  /** FIB changes written to the BPF maps, in how many batch calls, with how many errors. */
  mapUpdates: number;
  batches: number;
  mapErrors: number;
  lastError?: string;
  /** FIB changes queued for the maps right now, and the most ever queued. */
  pending: number;
  maxQueue: number;
  /** tbl8 groups (one per /24 holding prefixes longer than /24) in use in its IPv4 tables, and the limit per table. */
  ip4Groups: number;
  ip4GroupLimit: number;
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
  /** 'vlan': a sub-port paired with a Linux VLAN device on its parent's mirror (auto sub-interfaces). */
  mirrorKind: MirrorKind | 'vlan';
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
  /** The part of rxPackets / txPackets the XDP fast path forwarded (never seen by a worker). */
  fastPathRxPackets?: number;
  fastPathTxPackets?: number;
}

export interface Counters {
  ports: PortCounters[];
  /** Node-wide error/drop counters by reason, e.g. ip4_bad_checksum. */
  errors: Record<string, number>;
  /** epoll_ctl calls the workers made to follow port and pair changes: one per source that came or went. */
  pollSetChanges: number;
}

export interface FibEntry {
  prefix: string;
  source: 'route' | 'interface';
  kind: 'forward' | DropKind | 'receive' | 'glean';
  /** For an IPv4 route via an IPv6 next hop (RFC 8950), `via` is the IPv6 address. */
  paths: { port: number; via?: string; weight: number }[];
  /** The kernel nexthop object (its id in the mirrored netns) the route forwards through; its paths are the object's now. */
  nexthop?: number;
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

/** Route protocols by name (as in /etc/iproute2/rt_protos), or a number 0..255. */
export type RouteProtocol = 'kernel' | 'boot' | 'static' | 'ra' | 'dhcp' | 'zebra' | 'bird' | 'bgp' | 'ospf' | 'isis' | number;

export interface WatchOptions {
  /** Notification socket buffer in bytes (SO_RCVBUFFORCE); default 256 MiB, enough for a full table burst. */
  rcvbuf?: number;
  /** Kernel table ids to mirror; default every table except local (255). */
  tables?: number[];
  /** Kernel table id -> dataplane table id. main (254) and default (253) map to 0 unless given. */
  tableMap?: Record<number, number>;
  /** Route protocols to ignore; default ['kernel'] (connected routes come from addresses). */
  ignoreProtocols?: RouteProtocol[];
  /** lcp-sync: push port admin state and MTU set through setPort() to the mirror. */
  lcpSync?: boolean;
  /**
   * A VLAN device (802.1Q or 802.1ad) made on a mirror in Linux makes the
   * port's sub-port for that tag and pairs the two; deleting it removes the
   * sub-port (as lcpng's auto-subint).
   */
  autoSubinterfaces?: boolean;
  /** At most this many changes per batch (default 8192). */
  batchMax?: number;
  /** Batch window and longest hold of the dataplane's control lock, in microseconds (default 5000). */
  budgetUs?: number;
  /**
   * Run the drift check every this many ms on a native thread of its own (not
   * the JS thread, not the watcher's); the last result is in mirrorStatus().drift.
   * Default 0 = off (drift() still works on demand).
   */
  driftIntervalMs?: number;
  /** Samples kept in the periodic drift result (default 10). */
  driftSamples?: number;
}

export interface MirrorStatus {
  netns: string;
  state: 'starting' | 'syncing' | 'synced' | 'netns-gone' | 'stopped';
  lastError: string;
  /** Netlink notifications read. */
  events: number;
  /** Batches applied to the dataplane. */
  batches: number;
  /** Full dumps (the first one, then one per loss, pair change or mirror coming up). */
  resyncs: number;
  /** Times the kernel reported lost notifications (ENOBUFS); each one caused a resync. */
  lost: number;
  /** Dumps redone because the kernel flagged them interrupted (NLM_F_DUMP_INTR). */
  dumpRestarts: number;
  parseErrors: number;
  applyErrors: number;
  /** Route adds/deletes applied to the FIB since the watch started. */
  routesApplied: number;
  /** Routes this netns has in the dataplane now. */
  routesInstalled: number;
  /** Kernel routes known (mirrored tables/protocols), installed or not. */
  routesKnown: number;
  neighbors: number;
  addresses: number;
  /** Pairs whose mirror is in this netns. */
  mirrors: number;
  /** Kernel nexthop objects known in this netns, and how many are in the FIB (every path on a mirror). */
  nexthops: number;
  nexthopsInstalled: number;
  /** Kernel routes whose best entry the dataplane cannot forward as Linux would (an encap, an MPLS via, an unsupported nexthop object). */
  routesUnsupported: number;
  /** Unix time (ms) of the last resync, 0 if none. */
  lastResyncAt: number;
  lastResyncMs: number;
  /** Time from reading the first event of the last batch to having applied it. */
  lagMs: number;
  maxLagMs: number;
  /** Receive buffer the kernel granted. */
  rcvbuf: number;
  /** The last periodic drift check (WatchOptions.driftIntervalMs), null before the first one or when off. */
  drift: PeriodicDrift | null;
}

export interface PeriodicDrift extends DriftReport {
  /** Checks run so far. */
  checks: number;
  /** Unix time (ms) the last one finished. */
  at: number;
  tookMs: number;
  /** No netlink notification arrived while it ran: a difference is real, not a change in flight. */
  settled: boolean;
  /** Why the check itself failed ('' if it ran). */
  error: string;
}

export interface DriftCounts {
  kernel: number;
  dataplane: number;
  /** In the kernel, not in the dataplane. */
  missing: number;
  /** In the dataplane (on this netns's mirrors), not in the kernel. */
  extra: number;
  different: number;
}

export interface DriftReport {
  routes: DriftCounts;
  neighbors: DriftCounts;
  /** Kernel routes the dataplane cannot forward as Linux would: never in the dataplane, so not silently equal. */
  unsupported: number;
  /** A bounded sample, e.g. "missing route 0:10.9.0.0/24". */
  samples: string[];
}
