// Netlink mirror series (Linux -> dataplane), per watched netns, read from
// the native watch status at scrape time. Counters are the watcher's own
// cumulative counts; lag and the last resync are gauges.
import { Counter, Gauge, type Registry } from 'prom-client';

import type { MirrorStatus } from '../../dataplane/dataplane.js';
import type { Snapshot } from './snapshot.js';

type Field = keyof MirrorStatus;

const COUNTERS: { name: string; help: string; field: Field }[] = [
  { name: 'kube_lcp_mirror_events_total', help: 'Netlink notifications read from the netns.', field: 'events' },
  { name: 'kube_lcp_mirror_batches_total', help: 'Batches of changes applied to the dataplane.', field: 'batches' },
  { name: 'kube_lcp_mirror_resyncs_total', help: 'Full dumps: the first, then one per loss, pair change or mirror coming up.', field: 'resyncs' },
  { name: 'kube_lcp_mirror_lost_total', help: 'Times the kernel reported lost notifications (ENOBUFS); each caused a resync.', field: 'lost' },
  { name: 'kube_lcp_mirror_dump_restarts_total', help: 'Dumps redone because the kernel flagged them interrupted (NLM_F_DUMP_INTR).', field: 'dumpRestarts' },
  { name: 'kube_lcp_mirror_parse_errors_total', help: 'Netlink messages that failed to parse (skipped).', field: 'parseErrors' },
  { name: 'kube_lcp_mirror_apply_errors_total', help: 'Changes the dataplane refused.', field: 'applyErrors' },
  { name: 'kube_lcp_mirror_routes_applied_total', help: 'Route adds and deletes applied to the FIB.', field: 'routesApplied' },
];

const GAUGES: { name: string; help: string; value: (m: MirrorStatus) => number }[] = [
  { name: 'kube_lcp_mirror_routes_installed', help: 'Routes this netns has in the dataplane now.', value: (m) => m.routesInstalled },
  { name: 'kube_lcp_mirror_routes_known', help: 'Kernel routes in the mirrored tables/protocols, installed or not.', value: (m) => m.routesKnown },
  { name: 'kube_lcp_mirror_neighbors', help: 'Neighbours mirrored into the dataplane.', value: (m) => m.neighbors },
  { name: 'kube_lcp_mirror_addresses', help: 'Addresses mirrored into the dataplane.', value: (m) => m.addresses },
  { name: 'kube_lcp_mirror_pairs', help: 'Pairs whose mirror is in this netns.', value: (m) => m.mirrors },
  { name: 'kube_lcp_mirror_routes_unsupported', help: 'Kernel routes the dataplane cannot forward as Linux would (encap, MPLS via, FDB nexthop): not installed.', value: (m) => m.routesUnsupported },
  { name: 'kube_lcp_mirror_nexthops', help: 'Kernel nexthop objects known in this netns.', value: (m) => m.nexthops },
  { name: 'kube_lcp_mirror_nexthops_installed', help: 'Kernel nexthop objects with a path object in the dataplane FIB.', value: (m) => m.nexthopsInstalled },
  { name: 'kube_lcp_mirror_lag_seconds', help: 'Time from reading the first event of the last batch to having applied it.', value: (m) => m.lagMs / 1000 },
  { name: 'kube_lcp_mirror_max_lag_seconds', help: 'Longest such lag since the watch started.', value: (m) => m.maxLagMs / 1000 },
  { name: 'kube_lcp_mirror_last_resync_timestamp_seconds', help: 'Unix time of the last resync (0: none yet).', value: (m) => m.lastResyncAt / 1000 },
  { name: 'kube_lcp_mirror_last_resync_duration_seconds', help: 'How long the last resync took.', value: (m) => m.lastResyncMs / 1000 },
];

const STATES: readonly MirrorStatus['state'][] = ['starting', 'syncing', 'synced', 'netns-gone', 'stopped'];

export function registerMirrorMetrics(registry: Registry, read: () => Snapshot | undefined): void {
  const registers = [registry];
  for (const c of COUNTERS) {
    new Counter({
      name: c.name,
      help: c.help,
      labelNames: ['netns'],
      registers,
      collect() {
        this.reset();
        for (const m of read()?.mirrors ?? []) this.inc({ netns: m.netns }, Number(m[c.field]));
      },
    });
  }
  for (const g of GAUGES) {
    new Gauge({
      name: g.name,
      help: g.help,
      labelNames: ['netns'],
      registers,
      collect() {
        this.reset();
        for (const m of read()?.mirrors ?? []) this.set({ netns: m.netns }, g.value(m));
      },
    });
  }
  new Gauge({
    name: 'kube_lcp_mirror_state',
    help: 'State of the netns watch: 1 for the current state (starting, syncing, synced, netns-gone, stopped), 0 for the others.',
    labelNames: ['netns', 'state'],
    registers,
    collect() {
      this.reset();
      for (const m of read()?.mirrors ?? []) for (const state of STATES) this.set({ netns: m.netns, state }, m.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'kube_lcp_mirror_drift_routes',
    help: 'Routes that differ between Linux and the dataplane (missing + extra + different) over the synced netns, at the last drift check.',
    registers,
    collect() {
      this.reset();
      const d = read()?.driftRoutes;
      if (d !== undefined) this.set(d);
    },
  });
}
