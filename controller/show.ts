// Text views in the spirit of `vppctl show ...`, made from plain data (what
// the control socket returns, or the dataplane's own dumps), so `lcp show`
// and the demo print the same thing.
import type { AdjacencyEntry, Counters, FibEntry, PairInfo, PortInfo, TraceRecord } from '../dataplane/dataplane.js';
import type { NodeDataplane } from './api/node-dataplane.js';
import type { NodeSettings } from './agent/selection.js';

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

const nsName = (ns: string): string => ns || 'host';

export function showPorts(ports: PortInfo[], pairs: PairInfo[]): string {
  const byPort = new Map(pairs.map((p) => [p.port, p]));
  return table(
    ['port', 'name', 'netns', 'driver', 'state', 'mtu', 'mac', 'table', 'mirror', 'fast-path'],
    ports.map((p) => {
      const m = byPort.get(p.index);
      return [p.index, p.name, p.netns || '-', p.driver, p.adminUp ? 'up' : 'down', p.mtu, p.mac, p.table,
        m ? `${m.mirrorKind} ${m.mirrorName}@${nsName(m.mirrorNetns)}${m.adopted ? ' (adopted)' : ''}` : '-',
        p.fastPath ?? '-'];
    }),
  );
}

export function showFib(entries: FibEntry[], tableId: number, family: 4 | 6): string {
  const head = `ipv${family} table ${tableId}: ${entries.length} entries\n`;
  return head + table(
    ['prefix', 'source', 'kind', 'paths'],
    [...entries].sort((x, y) => x.prefix.localeCompare(y.prefix, 'en', { numeric: true })).map((e) => [e.prefix, e.source, e.kind,
      e.paths.map((p) => `port ${p.port}${p.via ? ` via ${p.via}` : ''}${p.weight !== 1 ? ` w${p.weight}` : ''}`).join(', ') || '-']),
  );
}

export function showAdjacencies(adjs: AdjacencyEntry[]): string {
  return table(
    ['adj', 'kind', 'port', 'next-hop', 'rewrite', 'refs'],
    adjs.map((a) => [a.index, a.kind, a.port ?? '-', a.nextHop ?? '-', a.rewrite ?? '-', a.refcount]),
  );
}

/** The destination MAC of a rewrite (its first six bytes). */
function rewriteMac(rewrite: string | undefined): string {
  if (!rewrite || rewrite.length < 12) return '-';
  return rewrite.slice(0, 12).match(/../g)!.join(':');
}

/** Like `show ip neighbors`: resolved next hops (rewrite adjacencies), from the neighbours Linux resolved. */
export function showNeighbors(adjs: AdjacencyEntry[], ports: PortInfo[]): string {
  const names = new Map(ports.map((p) => [p.index, p.name]));
  const rows = adjs
    .filter((a) => a.kind === 'rewrite')
    .sort((x, y) => (x.nextHop ?? '').localeCompare(y.nextHop ?? '', 'en', { numeric: true }))
    .map((a) => [a.nextHop ?? '-', rewriteMac(a.rewrite), a.port === undefined ? '-' : `${names.get(a.port) ?? '?'} (port ${a.port})`, a.index]);
  return table(['ip', 'ethernet', 'interface', 'adj'], rows);
}

export function showCounters(c: Counters): string {
  const ports = table(
    ['port', 'rx-pkts', 'rx-bytes', 'tx-pkts', 'tx-bytes', 'drops', 'punts', 'injects'],
    c.ports.map((p) => [p.port, p.rxPackets, p.rxBytes, p.txPackets, p.txBytes, p.drops, p.punts, p.injects]),
  );
  const errors = table(['reason', 'count'], Object.entries(c.errors).filter(([, v]) => v > 0));
  return `${ports}\n${errors}`;
}

export function showTrace(records: TraceRecord[]): string {
  if (records.length === 0) return 'no packets traced\n';
  return records
    .map((t, i) => `packet ${i} (worker ${t.worker}, rx port ${t.rxPort}): ${t.nodes.join(' -> ')}\n  ${t.head.slice(0, 68)}...`)
    .join('\n') + '\n';
}

/** Like VPP's `show lcp`: the settings, one itf-pair line per pair, then each pair's state and the node's conditions. */
export function showPairs(node: NodeDataplane, settings: NodeSettings & { conflict: string[] }, pairs: PairInfo[]): string {
  const s = node.status ?? {};
  const lines = [
    `lcp node ${node.metadata.name ?? '?'}  agent ${s.agentVersion ?? '?'}  started ${s.startTime ?? '?'}  restarts ${s.restartCount ?? 0}`,
    `lcp default netns ${settings.defaultNetns ? `'${settings.defaultNetns}'` : '<unset>'}`,
    `lcp lcp-sync ${settings.lcpSync ? 'on' : 'off'}`,
    `lcp settings ${settings.conflict.length > 0 ? `CONFLICT between ${settings.conflict.join(', ')} (previous kept)` : settings.from ? `from LinuxControlPlane ${settings.from}` : 'built-in defaults'}`,
  ];
  const ports = new Map((s.ports ?? []).map((p) => [p.index, p]));
  for (const p of pairs) {
    lines.push(`itf-pair: [${p.port}] ${ports.get(p.port)?.name ?? '?'} ${p.mirrorKind} ${p.mirrorName} ${p.mirrorIfindex} netns ${nsName(p.mirrorNetns)}${p.adopted ? ' (adopted)' : ''}`);
  }
  const ready = (e: NonNullable<typeof s.pairs>[number]) => e.conditions?.find((c) => c.type === 'Ready');
  const rows = (s.pairs ?? []).map((e) => {
    const r = ready(e);
    const match = (m: boolean | undefined): string => (m === undefined ? '-' : m ? 'ok' : 'DIFF');
    return [e.name, r?.status ?? '?', r?.reason ?? '-', e.portIndex ?? '-', `${e.portState ?? '-'}/${e.mirrorState ?? '-'}`, match(e.mtuMatch), match(e.macMatch),
      e.observedGeneration ?? '-', e.retries ?? 0, r && r.status !== 'True' ? r.message : ''];
  });
  const body = table(['pair', 'ready', 'reason', 'port', 'port/mirror', 'mtu', 'mac', 'gen', 'retries', 'message'], rows);
  const conds = table(['condition', 'status', 'reason', 'message'], (s.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]));
  const summary = `pairs ${s.pairsReady ?? 0}/${s.pairsTotal ?? 0} ready, routes ${s.routes ?? 0}, neighbours ${s.neighbors?.ip4 ?? 0}+${s.neighbors?.ip6 ?? 0}, mirror resyncs ${s.mirror?.resyncs ?? 0}, lag ${s.mirror?.lagMilliseconds ?? 0} ms, drift ${s.mirror?.driftRoutes ?? '-'}`;
  return `${lines.join('\n')}\n\n${body}\n${summary}\n\n${conds}`;
}
