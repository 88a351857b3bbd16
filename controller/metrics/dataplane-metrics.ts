// Dataplane series, read from the native counters at scrape time (collect()),
// never polled: per port (labels port = netdev, netns, pair = the
// InterfacePair holding it or ""), per error/punt reason, FIB sizes.
// Counters are cumulative in the dataplane, so each scrape sets the value it
// reads (reset, then inc by the native total).
import { Counter, Gauge, type Registry } from 'prom-client';

import type { PortCounters } from '../../dataplane/dataplane.js';
import type { Snapshot } from './snapshot.js';

const PORT_LABELS = ['port', 'netns', 'pair'] as const;

const PORT_COUNTERS: { name: string; help: string; field: keyof Omit<PortCounters, 'port'> }[] = [
  { name: 'kube_lcp_port_rx_packets_total', help: 'Packets received on the port by the dataplane.', field: 'rxPackets' },
  { name: 'kube_lcp_port_rx_bytes_total', help: 'Bytes received on the port by the dataplane.', field: 'rxBytes' },
  { name: 'kube_lcp_port_tx_packets_total', help: 'Packets sent out of the port (routed and injected from the mirror).', field: 'txPackets' },
  { name: 'kube_lcp_port_tx_bytes_total', help: 'Bytes sent out of the port.', field: 'txBytes' },
  { name: 'kube_lcp_port_drops_total', help: 'Packets received on the port and dropped (reasons: kube_lcp_errors_total).', field: 'drops' },
  { name: 'kube_lcp_port_punts_total', help: 'Packets received on the port and punted to its mirror (Linux).', field: 'punts' },
  { name: 'kube_lcp_port_injects_total', help: 'Packets Linux sent on the mirror that left by the port (cross-connect).', field: 'injects' },
  { name: 'kube_lcp_port_fast_path_rx_packets_total', help: 'The part of rx packets the XDP fast path forwarded (never seen by a worker).', field: 'fastPathRxPackets' },
  { name: 'kube_lcp_port_fast_path_tx_packets_total', help: 'The part of tx packets the XDP fast path sent (redirected into this port).', field: 'fastPathTxPackets' },
];

export function registerDataplaneMetrics(registry: Registry, read: () => Snapshot | undefined): void {
  const registers = [registry];
  const portLabels = (s: Snapshot, index: number): Record<(typeof PORT_LABELS)[number], string> | undefined => {
    const p = s.ports.find((x) => x.index === index);
    return p ? { port: p.name, netns: p.netns, pair: s.pairOf(index) ?? '' } : undefined;
  };

  for (const c of PORT_COUNTERS) {
    new Counter({
      name: c.name,
      help: c.help,
      labelNames: PORT_LABELS,
      registers,
      collect() {
        this.reset();
        const s = read();
        if (!s) return;
        for (const pc of s.counters.ports) {
          const labels = portLabels(s, pc.port);
          if (labels) this.inc(labels, pc[c.field] ?? 0);
        }
      },
    });
  }
  new Gauge({
    name: 'kube_lcp_port_up',
    help: 'Admin state of the port in the dataplane (1 up, 0 down).',
    labelNames: PORT_LABELS,
    registers,
    collect() {
      this.reset();
      const s = read();
      if (!s) return;
      for (const p of s.ports) this.set(portLabels(s, p.index) ?? { port: p.name, netns: p.netns, pair: '' }, p.adminUp ? 1 : 0);
    },
  });
  new Counter({
    name: 'kube_lcp_errors_total',
    help: 'Dataplane packets by error or punt reason, node-wide (as VPP "show errors"): drops such as no_route or ip4_bad_checksum, punts as punt_* (punt_receive, punt_arp, punt_glean, ...).',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      const s = read();
      if (!s) return;
      for (const [reason, n] of Object.entries(s.counters.errors)) if (reason !== 'none') this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'kube_lcp_fib_routes',
    help: 'Routes in a dataplane FIB table.',
    labelNames: ['table', 'family'],
    registers,
    collect() {
      this.reset();
      const s = read();
      if (!s) return;
      for (const f of s.fib) this.set({ table: String(f.table), family: `ipv${f.family}` }, f.routes);
    },
  });
  new Gauge({
    name: 'kube_lcp_dataplane_up',
    help: '1 while the dataplane is open (the agent started it and has not stopped).',
    registers,
    collect() {
      this.set(read() ? 1 : 0);
    },
  });
}
