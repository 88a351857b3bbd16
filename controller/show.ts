// Text views of the dataplane, in the spirit of `vppctl show ...`. Used by the
// demo now and by `lcp show` once the agent's control socket exists.
import type { Dataplane } from '../dataplane/dataplane.js';

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

export function showPorts(dp: Dataplane): string {
  const pairs = new Map(dp.pairs().map((p) => [p.port, p]));
  return table(
    ['port', 'name', 'netns', 'driver', 'state', 'mtu', 'mac', 'mirror'],
    dp.ports().map((p) => {
      const m = pairs.get(p.index);
      return [p.index, p.name, p.netns || '-', p.driver, p.adminUp ? 'up' : 'down', p.mtu, p.mac,
        m ? `${m.mirrorKind} ${m.mirrorName}@${m.mirrorNetns || 'host'}${m.adopted ? ' (adopted)' : ''}` : '-'];
    }),
  );
}

export function showFib(dp: Dataplane, tableId: number, family: 4 | 6): string {
  return table(
    ['prefix', 'source', 'kind', 'paths'],
    dp.fib(tableId, family).sort((x, y) => x.prefix.localeCompare(y.prefix, 'en', { numeric: true })).map((e) => [e.prefix, e.source, e.kind,
      e.paths.map((p) => `port ${p.port}${p.via ? ` via ${p.via}` : ''}${p.weight !== 1 ? ` w${p.weight}` : ''}`).join(', ') || '-']),
  );
}

export function showAdjacencies(dp: Dataplane): string {
  return table(
    ['adj', 'kind', 'port', 'next-hop', 'rewrite', 'refs'],
    dp.adjacencies().map((a) => [a.index, a.kind, a.port ?? '-', a.nextHop ?? '-', a.rewrite ?? '-', a.refcount]),
  );
}

export function showCounters(dp: Dataplane): string {
  const c = dp.counters();
  const ports = table(
    ['port', 'rx-pkts', 'rx-bytes', 'tx-pkts', 'tx-bytes', 'drops', 'punts', 'injects'],
    c.ports.map((p) => [p.port, p.rxPackets, p.rxBytes, p.txPackets, p.txBytes, p.drops, p.punts, p.injects]),
  );
  const errors = table(['reason', 'count'], Object.entries(c.errors).filter(([, v]) => v > 0));
  return `${ports}\n${errors}`;
}

export function showTrace(dp: Dataplane): string {
  return dp.traceRecords()
    .map((t, i) => `packet ${i} (worker ${t.worker}, rx port ${t.rxPort}): ${t.nodes.join(' -> ')}\n  ${t.head.slice(0, 68)}...`)
    .join('\n') + '\n';
}
