// The per-pair condition setters, one by one: they are where reasons and
// messages get their wording.
import type { PairObservation } from '../../controller/agent/pair-scope.js';
import {
  hostConfigCondition,
  mirrorReadyCondition,
  mirrorState,
  pairEntry,
  portAttachedCondition,
  portState,
  readyCondition,
} from '../../controller/agent/pair-status.js';
import type { PairInfo, PortInfo } from '../../dataplane/dataplane.js';
import type { HostLink } from '../../dataplane/host.js';

const port: PortInfo = { index: 3, name: 'eth1', netns: 'dut', driver: 'af_packet', ifindex: 7, mac: '02:00:00:00:00:01', mtu: 1500, pointToPoint: false, adminUp: true, table: 0 };
const pair: PairInfo = { port: 3, mirrorName: 'e1', mirrorNetns: 'linux', mirrorKind: 'tap', mirrorIfindex: 12, adopted: false };
const link: HostLink = { ifindex: 12, name: 'e1', mtu: 1500, mac: '02:00:00:00:00:01', adminUp: true, alias: 'kube-lcp:n1', kind: 'tun' };
const ready: PairObservation = { generation: 4, port, pair, link, wantMtu: 1500, wantMac: '02:00:00:00:00:01', hostConfigured: true, watching: true };
const failed = (reason: 'PortNotFound' | 'NameConflict' | 'HostConfigFailed', phase: 'ensurePort' | 'ensureMirror' | 'applyHostConfig'): PairObservation => ({
  generation: 4,
  hostConfigured: false,
  watching: false,
  failure: { reason, phase, message: `${reason} happened` },
});
const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');

describe('portAttachedCondition', () => {
  it('is True naming the netdev, index and driver', () => {
    expect(portAttachedCondition(ready)).toMatchObject({ status: 'True', reason: 'Attached', observedGeneration: 4 });
    expect(portAttachedCondition(ready).message).toContain('eth1 is dataplane port 3 (af_packet)');
  });
  it('is False with the reason when the port phase failed', () => {
    expect(portAttachedCondition(failed('PortNotFound', 'ensurePort'))).toMatchObject({ status: 'False', reason: 'PortNotFound', message: 'PortNotFound happened' });
  });
});

describe('mirrorReadyCondition', () => {
  it('says Created or Adopted', () => {
    expect(mirrorReadyCondition(ready).reason).toBe('Created');
    expect(mirrorReadyCondition({ ...ready, pair: { ...pair, adopted: true } }).reason).toBe('Adopted');
  });
  it('is False with NameConflict when the mirror phase failed', () => {
    expect(mirrorReadyCondition(failed('NameConflict', 'ensureMirror'))).toMatchObject({ status: 'False', reason: 'NameConflict' });
  });
  it('waits for the port when an earlier phase failed', () => {
    expect(mirrorReadyCondition(failed('PortNotFound', 'ensurePort'))).toMatchObject({ status: 'Unknown', reason: 'WaitingForPort' });
  });
});

describe('hostConfigCondition', () => {
  it('is True once applied and False with the reason when applying failed', () => {
    expect(hostConfigCondition(ready)).toMatchObject({ status: 'True', reason: 'Applied' });
    expect(hostConfigCondition(failed('HostConfigFailed', 'applyHostConfig'))).toMatchObject({ status: 'False', reason: 'HostConfigFailed' });
  });
});

describe('readyCondition', () => {
  it('is True when every phase ran', () => {
    expect(readyCondition(ready)).toMatchObject({ status: 'True', reason: 'Ready' });
  });
  it('carries the failure reason and message', () => {
    expect(readyCondition(failed('PortNotFound', 'ensurePort'))).toMatchObject({ status: 'False', reason: 'PortNotFound', message: 'PortNotFound happened' });
  });
  it('is Reconciling (not a failure) while phases are still to run', () => {
    expect(readyCondition({ generation: 1, hostConfigured: false, watching: false })).toMatchObject({ status: 'False', reason: 'Reconciling' });
  });
});

describe('link states', () => {
  it('are Up, Down or Absent', () => {
    expect(portState(ready)).toBe('Up');
    expect(portState({ ...ready, port: { ...port, adminUp: false } })).toBe('Down');
    expect(portState(failed('PortNotFound', 'ensurePort'))).toBe('Absent');
    expect(mirrorState(ready)).toBe('Up');
    expect(mirrorState({ ...ready, link: undefined })).toBe('Absent');
  });
});

describe('pairEntry', () => {
  it('reports indexes, MTU/MAC match, generation and no retries when ready', () => {
    const e = pairEntry('p', ready, undefined, 0, t0);
    expect(e).toMatchObject({ name: 'p', observedGeneration: 4, portIndex: 3, mirrorIfindex: 12, mtuMatch: true, macMatch: true, retries: 0 });
    expect(e.conditions?.map((c) => c.type)).toEqual(['PortAttached', 'MirrorReady', 'HostConfigApplied', 'Ready']);
  });
  it('flags an MTU that differs from what is wanted', () => {
    expect(pairEntry('p', { ...ready, link: { ...link, mtu: 9000 } }, undefined, 0, t0).mtuMatch).toBe(false);
  });
  it('counts retries and keeps the last error after recovery', () => {
    const bad = pairEntry('p', failed('PortNotFound', 'ensurePort'), undefined, 3, t0);
    expect(bad).toMatchObject({ retries: 3, lastError: 'PortNotFound happened', portState: 'Absent' });
    const good = pairEntry('p', ready, bad, 0, t1);
    expect(good).toMatchObject({ retries: 0, lastError: 'PortNotFound happened' });
    expect(good.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(t1.toISOString());
  });
});
