// Loads the addon. The only module that touches it; everything else goes
// through dataplane.ts.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { DriftReport, FastPathStatus, MirrorStatus, PortCounters, PortInfo } from './types.js';

export interface NativePort extends Omit<PortInfo, 'tpid'> {
  worker: number;
  tpid?: number;
  mirror?: { name: string; netns: string; kind: 'tap' | 'tun' | 'vlan'; ifindex: number; adopted: boolean };
}

export interface NativeRoute {
  prefix: string;
  kind?: 'forward' | 'blackhole' | 'unreachable' | 'prohibit';
  paths?: { port: number; via?: string; weight?: number }[];
}

export interface NativeFibEntry {
  prefix: string;
  source: 'route' | 'interface';
  kind: string;
  paths: { port: number; via?: string; weight: number }[];
}

export interface NativeAdjacency {
  index: number;
  kind: string;
  refcount: number;
  port?: number;
  nextHop?: string;
  rewrite?: string;
  mtu?: number;
}

export interface NativeCounters {
  ports: PortCounters[];
  errors: Record<string, number>;
  loops: number;
  vectors: number;
  /** epoll_ctl calls the workers made to follow port and pair changes (one per source that came or went). */
  pollSetChanges: number;
}

export interface NativeTrace {
  worker: number;
  rxPort: number;
  nodes: string[];
  head: string;
}

export interface NativePortSpec {
  name: string;
  netns?: string;
  driver?: string;
  fastPath?: string;
}

export interface NativeDataplane {
  close(): void;
  addPort(spec: NativePortSpec): NativePort;
  addPortAsync(spec: NativePortSpec): Promise<NativePort>;
  removePortAsync(port: number): Promise<void>;
  removePort(index: number): void;
  addSubPort(parent: number, vlan: number, tpid: number): NativePort;
  removeSubPort(index: number): void;
  setPort(index: number, patch: { up?: boolean; mtu?: number; mac?: string; table?: number }): void;
  ports(): NativePort[];
  port(index: number): NativePort | undefined;
  findPort(name: string, netns: string): NativePort | undefined;
  fastPathStatus(): FastPathStatus;
  createPair(port: number, spec: { name: string; netns?: string; kind?: string; mtu?: number; mac?: string }): NativePort;
  removePair(port: number, destroy: boolean): void;
  tableAdd(id: number): void;
  tableDel(id: number): void;
  tables(): number[];
  routesAdd(table: number, routes: NativeRoute[]): void;
  routeDel(table: number, prefix: string): boolean;
  addressAdd(port: number, address: string): void;
  addressDel(port: number, address: string): boolean;
  neighborAdd(port: number, ip: string, mac: string): void;
  neighborDel(port: number, ip: string): boolean;
  fibDump(table: number, family: 4 | 6): NativeFibEntry[];
  adjacencies(): NativeAdjacency[];
  counters(): NativeCounters;
  traceArm(count: number): void;
  traceRead(): NativeTrace[];
  watchNetns(netns: string, opts: NativeWatchOptions): void;
  unwatchNetns(netns: string, withdraw: boolean): boolean;
  watchStatus(): MirrorStatus[];
  drift(netns: string, maxSamples: number): DriftReport;
  driftAsync(netns: string, maxSamples: number): Promise<DriftReport>;
  routeCount(table: number, family: 4 | 6): number;
}

export interface NativeWatchOptions {
  rcvbuf?: number;
  tables?: number[];
  tableMap?: { kernel: number; dataplane: number }[];
  ignoreProtocols?: number[];
  lcpSync?: boolean;
  autoSubinterfaces?: boolean;
  batchMax?: number;
  budgetUs?: number;
  driftIntervalMs?: number;
  driftSamples?: number;
}

/** A netdev as the addon's host.link reads it in its netns (one netlink request and a procfs read). */
export interface NativeLinkState {
  ifindex: number;
  name: string;
  mtu: number;
  /** "" for a device without one (TUN). */
  mac: string;
  adminUp: boolean;
  alias: string;
  kind: string;
  /** iproute2's name of IFLA_INET6_ADDR_GEN_MODE; "" without IPv6. */
  addrGenMode: string;
  /** -1: no IPv6 on it (or unreadable). */
  disableIpv6: number;
}

/**
 * Host changes over rtnetlink in a named netns ('' = our own), synchronous.
 * Errors carry `code`: ENOENT (no such netns), ENODEV (no such device), or
 * the kernel's errno name.
 */
export interface NativeHost {
  netnsExists(netns: string): boolean;
  links(netns: string): Omit<NativeLinkState, 'addrGenMode' | 'disableIpv6'>[];
  /** undefined when there is no such device. */
  link(netns: string, name: string): NativeLinkState | undefined;
  /** "addr/len", link-scope ones left out. */
  addresses(netns: string, name: string): string[];
  addAddress(netns: string, name: string, cidr: string): void;
  deleteAddress(netns: string, name: string, cidr: string): void;
  setMtu(netns: string, name: string, mtu: number): void;
  setMac(netns: string, name: string, mac: string): void;
  setUp(netns: string, name: string): void;
  deleteLink(netns: string, name: string): void;
  setAddrGenMode(netns: string, name: string, mode: string): void;
  setIpv6Disabled(netns: string, name: string, disabled: boolean): void;
  removeStaleGuard(netns: string, name: string): boolean;
}

interface Addon {
  NativeDataplane: new (opts: { workers?: number; buffersPerWorker?: number; rxRingSize?: number; rxRing?: string; ownerTag?: string }) => NativeDataplane;
  errorNames: string[];
  host: NativeHost;
  /** native/src/core/limits.h, for the test that holds dataplane/limits.ts equal to it. */
  limits: { mtu: { min: number; max: number }; ifNameMax: number; netnsNameMax: number; vlan: { min: number; max: number } };
}

function findAddon(): string {
  // Works from the sources (ts-jest) and from dist/ alike.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'native', 'build', 'Release', 'kube_lcp.node');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  throw new Error('native addon not built: run `npm run build` (native/build/Release/kube_lcp.node missing)');
}

const require = createRequire(import.meta.url);
export const addon = require(findAddon()) as Addon;
