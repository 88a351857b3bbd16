// The node's own condition setters and the assembled NodeDataplane status.
import {
  configValidCondition,
  dataplaneReadyCondition,
  degradedCondition,
  mirrorInSyncCondition,
  nodeReadyCondition,
  nodeStatus,
  settingsResolvedCondition,
  type NodeInputs,
} from '../../controller/agent/node-status.js';
import { pairEntry } from '../../controller/agent/pair-status.js';
import { parseNodeDataplane } from '../../controller/api/validate.js';
import type { MirrorStatus } from '../../dataplane/dataplane.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const watch = (state: MirrorStatus['state'], extra: Partial<MirrorStatus> = {}): MirrorStatus => ({
  netns: 'linux', state, lastError: '', events: 10, batches: 2, resyncs: 1, lost: 0, dumpRestarts: 0, parseErrors: 0, applyErrors: 0,
  routesApplied: 3, routesInstalled: 3, routesKnown: 3, neighbors: 1, addresses: 2, mirrors: 1, lastResyncAt: t0.getTime(), lastResyncMs: 2,
  lagMs: 0.4, maxLagMs: 1, rcvbuf: 1 << 20, ...extra,
} as MirrorStatus);
const readyPair = pairEntry('a', { generation: 1, hostConfigured: true, watching: true,
  port: { index: 0, name: 'e0', netns: 'd', driver: 'af_packet', ifindex: 2, mac: '02:00:00:00:00:01', mtu: 1500, pointToPoint: false, adminUp: true, table: 0 },
  pair: { port: 0, mirrorName: 'm0', mirrorNetns: 'linux', mirrorKind: 'tap', mirrorIfindex: 5, adopted: false },
  link: { ifindex: 5, name: 'm0', mtu: 1500, mac: '02:00:00:00:00:01', adminUp: true, alias: 'kube-lcp:n', kind: 'tun' } }, undefined, 0, t0);
const failedPair = pairEntry('b', { generation: 1, hostConfigured: false, watching: false, failure: { reason: 'PortNotFound', phase: 'ensurePort', message: 'no eth9' } }, undefined, 2, t0);

const inputs = (over: Partial<NodeInputs> = {}): NodeInputs => ({
  now: t0, agentVersion: '0.1.0', startTime: t0.toISOString(), restartCount: 2, dataplaneOpen: true, firstSyncDone: true,
  settingsConflict: [], pairs: [readyPair], ports: [], fib: [{ table: 0, family: 4, routes: 3 }, { table: 0, family: 6, routes: 1 }],
  neighbors: { ip4: 1, ip6: 0 }, watches: [watch('synced')], driftRoutes: 0,
  counters: { ports: [{ port: 0, rxPackets: 5, rxBytes: 500, txPackets: 4, txBytes: 400, drops: 1, punts: 2, injects: 3 }], errors: {} }, ...over,
});

describe('node conditions', () => {
  it('DataplaneReady says when a sizing change waits for a restart', () => {
    expect(dataplaneReadyCondition({ dataplaneOpen: true })).toMatchObject({ status: 'True', reason: 'Running' });
    expect(dataplaneReadyCondition({ dataplaneOpen: true, pendingSizing: 'workers=2' })).toMatchObject({ status: 'True', reason: 'RestartPending' });
    expect(dataplaneReadyCondition({ dataplaneOpen: false })).toMatchObject({ status: 'False', reason: 'NotRunning' });
  });
  it('MirrorInSync is False while syncing, when a netns is gone, or on drift', () => {
    expect(mirrorInSyncCondition({ watches: [watch('synced')], driftRoutes: 0 })).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(mirrorInSyncCondition({ watches: [watch('syncing')] })).toMatchObject({ status: 'False', reason: 'Syncing' });
    expect(mirrorInSyncCondition({ watches: [watch('netns-gone')] })).toMatchObject({ status: 'False', reason: 'NetnsGone' });
    expect(mirrorInSyncCondition({ watches: [watch('synced')], driftRoutes: 4 })).toMatchObject({ status: 'False', reason: 'Drift', message: '4 routes differ between Linux and the dataplane' });
  });
  it('MirrorInSync is False when Linux has routes the dataplane cannot forward, though none differ', () => {
    const c = mirrorInSyncCondition({ watches: [watch('synced', { routesUnsupported: 2 })], driftRoutes: 0 });
    expect(c).toMatchObject({ status: 'False', reason: 'UnsupportedRoutes' });
    expect(c.message).toMatch(/^2 in netns linux: kernel routes the dataplane cannot forward/);
  });
  it('ConfigValid reports a refused config and that the last good one stays', () => {
    expect(configValidCondition({})).toMatchObject({ status: 'True', reason: 'Loaded' });
    const c = configValidCondition({ configError: 'document 2: bad' });
    expect(c).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(c.message).toContain('last good config stays in force');
  });
  it('SettingsResolved reports a tie of LinuxControlPlanes by name', () => {
    expect(settingsResolvedCondition({ settingsConflict: ['x', 'y'] })).toMatchObject({ status: 'False', reason: 'Conflict' });
    expect(settingsResolvedCondition({ settingsConflict: ['x', 'y'] }).message).toContain('x, y');
    expect(settingsResolvedCondition({ settingsConflict: [], settingsFrom: 'x' })).toMatchObject({ status: 'True', reason: 'Resolved' });
    expect(settingsResolvedCondition({ settingsConflict: [], settingsFrom: 'x', settingsRefused: "defaultNetns 'n' does not exist" })).toMatchObject({ status: 'False', reason: 'DefaultNetnsNotFound' });
    expect(settingsResolvedCondition({ settingsConflict: [] })).toMatchObject({ status: 'True', reason: 'Defaults' });
  });
  it('Ready needs the first sync and every pair ready; no pairs is fine', () => {
    expect(nodeReadyCondition({ dataplaneOpen: true, firstSyncDone: false, pairs: [] })).toMatchObject({ status: 'False', reason: 'Starting' });
    expect(nodeReadyCondition({ dataplaneOpen: true, firstSyncDone: true, pairs: [] })).toMatchObject({ status: 'True', reason: 'NoPairs' });
    expect(nodeReadyCondition({ dataplaneOpen: true, firstSyncDone: true, pairs: [readyPair] })).toMatchObject({ status: 'True', reason: 'AllPairsReady' });
    expect(nodeReadyCondition({ dataplaneOpen: true, firstSyncDone: true, pairs: [readyPair, failedPair] })).toMatchObject({ status: 'False', reason: 'PairsNotReady' });
  });
  it('Degraded names failed pairs with their reasons', () => {
    expect(degradedCondition({ pairs: [readyPair], settingsConflict: [], watches: [] })).toMatchObject({ status: 'False' });
    expect(degradedCondition({ pairs: [readyPair, failedPair], settingsConflict: [], watches: [] })).toMatchObject({ status: 'True', reason: 'PairsFailed', message: 'b: PortNotFound' });
    expect(degradedCondition({ pairs: [], settingsConflict: ['x', 'y'], watches: [] })).toMatchObject({ status: 'True', reason: 'SettingsConflict' });
    expect(degradedCondition({ pairs: [], configError: 'bad', settingsConflict: [], watches: [] })).toMatchObject({ status: 'True', reason: 'ConfigInvalid' });
  });
});

describe('nodeStatus', () => {
  it('is a valid NodeDataplane status with sums, FIB sizes and mirror summary', () => {
    const s = nodeStatus(inputs({ pairs: [readyPair, failedPair] }), []);
    expect(s).toMatchObject({ restartCount: 2, pairsTotal: 2, pairsReady: 1, routes: 4, counters: { rxPackets: 5, drops: 1, punts: 2, injects: 3 } });
    expect(s.mirror).toMatchObject({ lagMilliseconds: 0, resyncs: 1, driftRoutes: 0, lastResyncTime: t0.toISOString() });
    expect(() => parseNodeDataplane({ apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'NodeDataplane', metadata: { name: 'n1' }, status: s })).not.toThrow();
  });
  it('keeps transition times of node conditions from the previous status', () => {
    const first = nodeStatus(inputs(), []);
    const second = nodeStatus(inputs({ now: new Date(t0.getTime() + 60_000) }), first.conditions ?? []);
    expect(second.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(t0.toISOString());
  });
});
