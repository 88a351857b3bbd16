// The TypeScript facade over the embedded dataplane: typed, validated, and
// the only importer of the native addon.
import { addon, type NativeDataplane, type NativePort, type NativePortSpec, type NativeRoute, type NativeWatchOptions } from './native.js';
import type {
  AdjacencyEntry,
  Counters,
  DataplaneOptions,
  FastPathStatus,
  DriftReport,
  FibEntry,
  MirrorSpec,
  MirrorStatus,
  PairInfo,
  PortInfo,
  PortSpec,
  RouteSpec,
  TraceRecord,
  WatchOptions,
} from './types.js';
import { VLAN } from './limits.js';
import { ValidationError, checkCidr, checkIfName, checkIp, checkMac, checkMtu, checkNetns } from './validate.js';

export * from './types.js';
export { ValidationError } from './validate.js';

export interface PortSettings {
  up?: boolean;
  mtu?: number;
  mac?: string;
  table?: number;
}

export interface OpenOptions extends DataplaneOptions {
  /** Marks mirrors this dataplane creates (ifalias "kube-lcp:<tag>"), e.g. the node name. */
  ownerTag?: string;
}

function checkSamples(maxSamples: number): number {
  if (!Number.isInteger(maxSamples) || maxSamples < 0 || maxSamples > 10000)
    throw new ValidationError(`drift: maxSamples must be 0..10000, got ${maxSamples}`);
  return maxSamples;
}

export class Dataplane {
  private constructor(private readonly native: NativeDataplane) {}

  static open(opts: OpenOptions = {}): Dataplane {
    if (opts.ownerTag !== undefined && !/^[A-Za-z0-9_.-]{1,63}$/.test(opts.ownerTag))
      throw new ValidationError(`ownerTag: '${opts.ownerTag}' must be 1-63 of A-Z a-z 0-9 _ . -`);
    checkFastPath('fastPath', opts.fastPath);
    if (opts.rxRing !== undefined && opts.rxRing !== 'auto' && opts.rxRing !== 'v2' && opts.rxRing !== 'v3')
      throw new ValidationError(`rxRing: 'auto', 'v2' or 'v3', got ${JSON.stringify(opts.rxRing)}`);
    return new Dataplane(new addon.NativeDataplane(opts));
  }

  /** Stops the workers and gives the ports back to the kernel. Mirrors persist. */
  close(): void {
    this.native.close();
  }

  addPort(spec: PortSpec): PortInfo {
    return toPortInfo(this.native.addPort(nativePortSpec(spec)));
  }

  /**
   * addPort off the event loop. Opening a port waits for the kernel (an RCU
   * grace period, ~10 ms, as its packet ring is made); adds awaited together
   * overlap those waits. The same netdev added twice at once, or while it is being removed: rejected.
   */
  async addPortAsync(spec: PortSpec): Promise<PortInfo> {
    return toPortInfo(await this.native.addPortAsync(nativePortSpec(spec)));
  }

  /**
   * A sub-port (VLAN) of `parent`: receives what the parent receives with this
   * outer tag, sends through the parent with it, punts to the parent's mirror
   * with the tag intact (for a VLAN device there). Starts up, in the parent's table.
   */
  addSubPort(parent: number, vlan: number, opts: { tpid?: 'dot1q' | 'dot1ad' } = {}): PortInfo {
    if (!Number.isInteger(parent) || parent < 0) throw new ValidationError(`parent: a port index, got ${parent}`);
    if (!Number.isInteger(vlan) || vlan < VLAN.min || vlan > VLAN.max) throw new ValidationError(`vlan: ${VLAN.min}..${VLAN.max}, got ${vlan}`);
    const tpid = opts.tpid ?? 'dot1q';
    if (tpid !== 'dot1q' && tpid !== 'dot1ad') throw new ValidationError(`tpid: 'dot1q' or 'dot1ad', got ${String(tpid)}`);
    return toPortInfo(this.native.addSubPort(parent, vlan, tpid === 'dot1q' ? 0x8100 : 0x88a8));
  }

  removeSubPort(index: number): void {
    this.native.removeSubPort(index);
  }

  removePort(index: number): void {
    this.native.removePort(index);
  }

  /** removePort off the event loop: closing a port waits for the kernel (grace periods, ~50 ms here); removals awaited together overlap. */
  async removePortAsync(index: number): Promise<void> {
    if (!Number.isInteger(index) || index < 0) throw new ValidationError(`port: an index, got ${index}`);
    await this.native.removePortAsync(index);
  }

  setPort(index: number, settings: PortSettings): void {
    if (settings.mtu !== undefined) checkMtu('mtu', settings.mtu);
    if (settings.mac !== undefined) checkMac('mac', settings.mac);
    this.native.setPort(index, settings);
  }

  ports(): PortInfo[] {
    return this.native.ports().map(toPortInfo);
  }

  /** One port by index (undefined: none), without listing them all. */
  port(index: number): PortInfo | undefined {
    if (!Number.isInteger(index) || index < 0) throw new ValidationError(`port: an index, got ${index}`);
    const p = this.native.port(index);
    return p && toPortInfo(p);
  }

  /** The port that took over netdev `name` in `netns` (undefined: none). */
  findPort(name: string, netns?: string): PortInfo | undefined {
    checkIfName('name', name);
    const p = this.native.findPort(name, checkNetns('netns', netns));
    return p && toPortInfo(p);
  }

  /** The pair of port `index` (undefined: no such port, or unpaired). */
  pair(index: number): PairInfo | undefined {
    if (!Number.isInteger(index) || index < 0) throw new ValidationError(`port: an index, got ${index}`);
    const p = this.native.port(index);
    return p && toPairInfo(p);
  }

  /** The XDP fast path as a whole: usable or why not, and how its maps keep up with the FIB. */
  fastPathStatus(): FastPathStatus {
    return this.native.fastPathStatus();
  }

  createPair(port: number, mirror: MirrorSpec): PairInfo {
    checkIfName('mirror.name', mirror.name);
    const netns = checkNetns('mirror.netns', mirror.netns);
    if (mirror.mtu !== undefined) checkMtu('mirror.mtu', mirror.mtu);
    if (mirror.mac !== undefined) checkMac('mirror.mac', mirror.mac);
    const p = this.native.createPair(port, { ...mirror, netns });
    const pair = toPairInfo(p);
    if (!pair) throw new Error(`port ${port}: pair not created`);
    return pair;
  }

  /** Unpairs the port; deleteMirror also removes the kernel device. */
  removePair(port: number, opts: { deleteMirror?: boolean } = {}): void {
    this.native.removePair(port, opts.deleteMirror ?? false);
  }

  pairs(): PairInfo[] {
    return this.native.ports().flatMap((p) => toPairInfo(p) ?? []);
  }

  addTable(id: number): void {
    this.native.tableAdd(id);
  }

  removeTable(id: number): void {
    this.native.tableDel(id);
  }

  tables(): number[] {
    return this.native.tables();
  }

  addRoute(spec: RouteSpec): void {
    this.addRoutes([spec]);
  }

  /** Adds or replaces routes; one call per table, so bulk loads are cheap. */
  addRoutes(specs: RouteSpec[]): void {
    const byTable = new Map<number, NativeRoute[]>();
    specs.forEach((s, i) => {
      const table = s.table ?? 0;
      let list = byTable.get(table);
      if (!list) byTable.set(table, (list = []));
      if ('drop' in s) {
        list.push({ prefix: s.prefix, kind: s.drop });
      } else {
        if (s.paths.length === 0) throw new ValidationError(`routes[${i}] ${s.prefix}: needs at least one path or a drop kind`);
        for (const p of s.paths) if (p.via !== undefined) checkIp(`routes[${i}].via`, p.via);
        list.push({ prefix: s.prefix, kind: 'forward', paths: s.paths });
      }
    });
    for (const [table, routes] of byTable) this.native.routesAdd(table, routes);
  }

  removeRoute(table: number, prefix: string): boolean {
    return this.native.routeDel(table, prefix);
  }

  /** An address of the mirror (Linux) side: receive entry + connected prefix on the port. */
  addAddress(port: number, cidr: string): void {
    checkCidr('address', cidr, true);
    this.native.addressAdd(port, cidr);
  }

  removeAddress(port: number, cidr: string): boolean {
    checkCidr('address', cidr, true);
    return this.native.addressDel(port, cidr);
  }

  addNeighbor(port: number, ip: string, mac: string): void {
    checkIp('neighbor.ip', ip);
    this.native.neighborAdd(port, ip, checkMac('neighbor.mac', mac));
  }

  removeNeighbor(port: number, ip: string): boolean {
    checkIp('neighbor.ip', ip);
    return this.native.neighborDel(port, ip);
  }

  fib(table = 0, family: 4 | 6 = 4): FibEntry[] {
    return this.native.fibDump(table, family) as FibEntry[];
  }

  adjacencies(): AdjacencyEntry[] {
    return this.native.adjacencies() as AdjacencyEntry[];
  }

  counters(): Counters {
    const c = this.native.counters();
    return { ports: c.ports, errors: c.errors, pollSetChanges: c.pollSetChanges };
  }

  /** Trace the next `count` packets received (per worker). */
  trace(count: number): void {
    if (!Number.isInteger(count) || count < 1 || count > 1024)
      throw new ValidationError(`trace: count must be 1..1024, got ${count}`);
    this.native.traceArm(count);
  }

  traceRecords(): TraceRecord[] {
    return this.native.traceRead();
  }

  /**
   * The netlink mirror: follow Linux config in `netns` (the netns of mirrors)
   * and keep the dataplane equal to it — links of mirrors -> ports, addresses,
   * routes of the mirrored tables, neighbours. Returns at once; the first
   * dump runs in the background (mirrorStatus().state becomes 'synced').
   */
  watchNetns(netns: string, opts: WatchOptions = {}): void {
    this.native.watchNetns(checkNetns('netns', netns), toNativeWatch(opts));
  }

  /** Stop following `netns`; withdraw (default true) removes what it installed. */
  unwatchNetns(netns: string, opts: { withdraw?: boolean } = {}): boolean {
    return this.native.unwatchNetns(checkNetns('netns', netns), opts.withdraw ?? true);
  }

  mirrorStatus(): MirrorStatus[] {
    return this.native.watchStatus();
  }

  /** Compare the kernel's routes and neighbours on the mirrors of `netns` with the dataplane's (fresh dump). */
  drift(netns: string, maxSamples = 20): DriftReport {
    return this.native.drift(checkNetns('netns', netns), checkSamples(maxSamples));
  }

  /**
   * The same check off the JS thread (a libuv pool thread): with a full table
   * it takes seconds, and the event loop (metrics, probes) must not wait.
   */
  async driftAsync(netns: string, maxSamples = 20): Promise<DriftReport> {
    return this.native.driftAsync(checkNetns('netns', netns), checkSamples(maxSamples));
  }

  /** Number of routes (not interface entries) in a table, cheap. */
  routeCount(table = 0, family: 4 | 6 = 4): number {
    return this.native.routeCount(table, family);
  }

  static errorNames(): string[] {
    return [...addon.errorNames];
  }
}

function checkFastPath(field: string, v: unknown): void {
  if (v !== undefined && v !== 'auto' && v !== 'off') throw new ValidationError(`${field}: 'auto' or 'off', got ${JSON.stringify(v)}`);
}

/** A port spec checked and completed as the addon takes it (addPort, addPortAsync). */
function nativePortSpec(spec: PortSpec): NativePortSpec {
  checkIfName('port.name', spec.name);
  const netns = checkNetns('port.netns', spec.netns);
  checkFastPath('port.fastPath', spec.fastPath);
  return { name: spec.name, netns, driver: spec.driver ?? 'auto', fastPath: spec.fastPath ?? 'auto' };
}

function toPortInfo(p: NativePort): PortInfo {
  return {
    index: p.index,
    name: p.name,
    netns: p.netns,
    driver: p.driver,
    ifindex: p.ifindex,
    mac: p.mac,
    mtu: p.mtu,
    pointToPoint: p.pointToPoint,
    adminUp: p.adminUp,
    table: p.table,
    ...(p.fastPath !== undefined ? { fastPath: p.fastPath } : {}),
    ...(p.rxRingBytes !== undefined ? { rxRingBytes: p.rxRingBytes } : {}),
    ...(p.rxRing !== undefined ? { rxRing: p.rxRing } : {}),
    ...(p.parent !== undefined ? { parent: p.parent, vlan: p.vlan, tpid: p.tpid === 0x88a8 ? 'dot1ad' as const : 'dot1q' as const } : {}),
  };
}

function toPairInfo(p: NativePort): PairInfo | undefined {
  if (!p.mirror) return undefined;
  return {
    port: p.index,
    mirrorName: p.mirror.name,
    mirrorNetns: p.mirror.netns,
    mirrorKind: p.mirror.kind,
    mirrorIfindex: p.mirror.ifindex,
    adopted: p.mirror.adopted,
  };
}

const PROTOCOLS: Record<string, number> = {
  kernel: 2, boot: 3, static: 4, ra: 9, dhcp: 16, zebra: 11, bird: 12, bgp: 186, isis: 187, ospf: 188,
};

function checkTableId(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new ValidationError(`${field}: table ids are integers 0..4294967295, got ${String(v)}`);
  return v;
}

function toNativeWatch(o: WatchOptions): NativeWatchOptions {
  const out: NativeWatchOptions = {};
  if (o.rcvbuf !== undefined) {
    if (!Number.isInteger(o.rcvbuf) || o.rcvbuf < 4096 || o.rcvbuf > 2047 * 2 ** 20)
      throw new ValidationError(`rcvbuf: bytes 4096..${2047 * 2 ** 20}, got ${o.rcvbuf}`);
    out.rcvbuf = o.rcvbuf;
  }
  if (o.tables !== undefined) out.tables = o.tables.map((t, i) => checkTableId(`tables[${i}]`, t));
  if (o.tableMap !== undefined)
    out.tableMap = Object.entries(o.tableMap).map(([k, d]) => ({
      kernel: checkTableId(`tableMap key ${k}`, Number(k)),
      dataplane: checkTableId(`tableMap[${k}]`, d),
    }));
  if (o.ignoreProtocols !== undefined)
    out.ignoreProtocols = o.ignoreProtocols.map((p, i) => {
      const n = typeof p === 'number' ? p : PROTOCOLS[p];
      if (n === undefined || !Number.isInteger(n) || n < 0 || n > 255)
        throw new ValidationError(`ignoreProtocols[${i}]: '${String(p)}' is not a protocol name (${Object.keys(PROTOCOLS).join(', ')}) or 0..255`);
      return n;
    });
  if (o.lcpSync !== undefined) out.lcpSync = o.lcpSync;
  if (o.autoSubinterfaces !== undefined) out.autoSubinterfaces = o.autoSubinterfaces;
  if (o.batchMax !== undefined) {
    if (!Number.isInteger(o.batchMax) || o.batchMax < 1 || o.batchMax > 2 ** 20) throw new ValidationError(`batchMax: 1..${2 ** 20}, got ${o.batchMax}`);
    out.batchMax = o.batchMax;
  }
  if (o.budgetUs !== undefined) {
    if (!Number.isInteger(o.budgetUs) || o.budgetUs < 100 || o.budgetUs > 1_000_000) throw new ValidationError(`budgetUs: 100..1000000, got ${o.budgetUs}`);
    out.budgetUs = o.budgetUs;
  }
  if (o.driftIntervalMs !== undefined) {
    if (!Number.isInteger(o.driftIntervalMs) || o.driftIntervalMs < 0 || o.driftIntervalMs > 86_400_000)
      throw new ValidationError(`driftIntervalMs: 0 (off)..86400000, got ${o.driftIntervalMs}`);
    out.driftIntervalMs = o.driftIntervalMs;
  }
  if (o.driftSamples !== undefined) {
    if (!Number.isInteger(o.driftSamples) || o.driftSamples < 0 || o.driftSamples > 1000)
      throw new ValidationError(`driftSamples: 0..1000, got ${o.driftSamples}`);
    out.driftSamples = o.driftSamples;
  }
  return out;
}
