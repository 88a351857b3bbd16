// The small steps that bring one pair to its desired state. Each does one
// thing, is idempotent (it looks before it acts), records what it saw in
// scope.obs, and returns done or requeue-after, or throws (classified into a
// condition reason by the reconciler). Changes in place take the least
// disruptive path: MTU and MAC are set on the live devices; only a change of
// port, mirror name, netns or kind replaces a device.
import type { Logger } from 'pino';

import type { Host } from '../../dataplane/host.js';

import { canonicalCidr } from './addresses.js';
import type { PairScope } from './pair-scope.js';
import { FailureReason } from '../conditions/reasons.js';
import { PhaseError, type PhaseName } from './reasons.js';
import type { PortRecord } from './state-store.js';
import { watchKey, watchOptions } from './watch-options.js';

export type PhaseResult = { done: true } | { requeueAfterMs: number };
export interface Phase {
  name: PhaseName;
  run(scope: PairScope): Promise<PhaseResult>;
}

const done: PhaseResult = { done: true };

/** A read whose failure only means "not known" (the phase that needs it fails on its own). */
function readOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Gives a port back to the kernel; its mirror is deleted only when asked (it is ours). */
export async function releasePort(scope: Pick<PairScope, 'ctx'>, index: number, deleteMirror: boolean): Promise<void> {
  const { dp } = scope.ctx;
  if (!dp.port(index)) return;
  if (dp.pair(index)) dp.removePair(index, { deleteMirror });
  await dp.removePortAsync(index);
}

/**
 * A netdev we took and no longer hold is the kernel's again, also when the
 * agent that took it died holding it: our ingress drop filter removed, its
 * MTU and IPv6 as they were (the MTU first: below 1280 the kernel turns IPv6
 * off on the device, and back on when it grows). The dataplane does this itself when it lets go normally; after a
 * crash the next agent sees the guard as the port's own state, hence the record.
 */
export function restorePort(host: Host, rec: PortRecord, log: Logger): void {
  const link = host.netnsExists(rec.netns) ? host.link(rec.netns, rec.name) : undefined;
  if (link) {
    if (host.removeStaleGuard(rec.netns, rec.name)) log.info({ port: rec.name, netns: rec.netns }, 'leftover port guard removed');
    if (rec.mtu !== undefined && link.mtu !== rec.mtu) {
      host.setMtu(rec.netns, rec.name, rec.mtu);
      log.info({ port: rec.name, netns: rec.netns, mtu: rec.mtu, was: link.mtu }, 'port MTU given back');
    }
    if (rec.addrGenMode && link.addrGenMode && link.addrGenMode !== rec.addrGenMode) host.setAddrGenMode(rec.netns, rec.name, rec.addrGenMode);
    if (rec.disableIpv6 === 0 && host.ipv6Disabled(rec.netns, rec.name) === 1) host.setIpv6Disabled(rec.netns, rec.name, 0);
  }
}

/** The port exists in the dataplane: taken over from the kernel, or already ours. */
export const ensurePort: Phase = {
  name: 'ensurePort',
  async run(scope) {
    const { ctx, desired, log } = scope;
    const want = desired.port;
    // The pair moved to another netdev (or driver): give the old one back first, keep the mirror (re-adopted below).
    const claimed = ctx.claims.get(desired.name);
    // One port at a time, never the whole list: a reconcile per pair must not cost O(ports).
    const held = claimed === undefined ? undefined : ctx.dp.port(claimed);
    const sameDriver = (driver: string) => want.driver === 'auto' || want.driver === driver;
    if (held && (held.name !== want.name || held.netns !== want.netns || !sameDriver(held.driver))) {
      log.info({ port: held.index, from: held.name, to: want.name }, 'port changed: giving the old one back');
      await releasePort(scope, held.index, false);
      ctx.claims.delete(desired.name);
    }
    let port = ctx.dp.findPort(want.name, want.netns || undefined);
    // Held by a pair no longer desired (the reconciler refuses two desired pairs on one port): take it over.
    for (const [other, index] of ctx.claims) if (port && other !== desired.name && index === port.index) ctx.claims.delete(other);
    if (!port) {
      // How to give it back if we die holding it (a record left by an agent that died already says it).
      if (!ctx.state.port(want.netns, want.name)) {
        const link = readOrUndefined(() => ctx.host.link(want.netns, want.name));
        ctx.state.recordPort({ netns: want.netns, name: want.name, disableIpv6: ctx.host.ipv6Disabled(want.netns, want.name), addrGenMode: link?.addrGenMode || undefined, mtu: link?.mtu });
      }
      port = await ctx.dp.addPortAsync({ name: want.name, netns: want.netns || undefined, driver: want.driver });
      log.info({ port: port.index, name: port.name, driver: port.driver }, 'port added');
    }
    ctx.claims.set(desired.name, port.index);
    scope.obs.port = port;
    return done;
  },
};

/** The mirror exists with the desired name, netns, kind, MTU and MAC, paired with the port. */
export const ensureMirror: Phase = {
  name: 'ensureMirror',
  async run(scope) {
    const { ctx, desired, log, obs } = scope;
    const port = obs.port;
    if (!port) throw new Error('ensureMirror before ensurePort');
    const want = desired.mirror;
    let pair = ctx.dp.pair(port.index);
    if (pair && (pair.mirrorName !== want.name || pair.mirrorNetns !== want.netns || (want.kind && pair.mirrorKind !== want.kind))) {
      // A new name, netns or kind is a new device: the old one is ours, delete it.
      log.info({ from: `${pair.mirrorName}@${pair.mirrorNetns}`, to: `${want.name}@${want.netns}` }, 'mirror changed: replacing it');
      ctx.dp.removePair(port.index, { deleteMirror: true });
      ctx.state.forgetMirror(pair.mirrorNetns, pair.mirrorName);
      pair = undefined;
    }
    if (!pair) {
      const prev = ctx.state.mirror(want.netns, want.name);
      ctx.state.recordMirror({ pair: desired.name, netns: want.netns, name: want.name, addresses: prev?.addresses ?? [] });
      pair = ctx.dp.createPair(port.index, {
        name: want.name,
        netns: want.netns || undefined,
        kind: want.kind,
        mtu: want.mtu,
        mac: want.mac,
      });
      log.info({ mirror: want.name, netns: want.netns, adopted: pair.adopted }, pair.adopted ? 'mirror re-adopted' : 'mirror created');
    }
    obs.pair = pair;
    let link = ctx.host.link(want.netns, want.name);
    if (!link) {
      // Deleted under us (the netlink mirror drops such a pair by itself when it watches the netns): unpair, make it anew.
      if (ctx.dp.pair(port.index)) ctx.dp.removePair(port.index, { deleteMirror: false });
      return { requeueAfterMs: 200 };
    }
    // In place: the live device and the port take the new MTU/MAC, nothing is recreated.
    const current = ctx.dp.port(port.index) ?? port;
    const setMtu = want.mtu !== undefined && link.mtu !== want.mtu;
    const setMac = want.mac !== undefined && link.mac !== want.mac && pair.mirrorKind === 'tap';
    if (setMtu) ctx.host.setMtu(want.netns, want.name, want.mtu!);
    if (want.mtu !== undefined && current.mtu !== want.mtu) ctx.dp.setPort(port.index, { mtu: want.mtu });
    if (setMac) ctx.host.setMac(want.netns, want.name, want.mac!);
    if (want.mac !== undefined && current.mac !== want.mac && pair.mirrorKind === 'tap') ctx.dp.setPort(port.index, { mac: want.mac });
    // Read again only after a change (a thousand pairs, a thousand reads otherwise).
    if (setMtu || setMac) link = ctx.host.link(want.netns, want.name) ?? link;
    obs.link = link;
    obs.wantMtu = want.mtu ?? current.mtu;
    obs.wantMac = pair.mirrorKind === 'tap' ? (want.mac ?? current.mac) : undefined;
    return done;
  },
};

/** The netlink mirror follows the mirror's netns with the node's options. */
export const ensureWatch: Phase = {
  name: 'ensureWatch',
  async run(scope) {
    const { ctx, desired, log, obs } = scope;
    const netns = desired.mirror.netns;
    const settings = ctx.settings();
    const key = watchKey(settings);
    const status = ctx.dp.mirrorStatus().find((s) => s.netns === netns);
    const live = status !== undefined && (status.state === 'starting' || status.state === 'syncing' || status.state === 'synced');
    if (!(live && ctx.watches.get(netns) === key)) {
      // New options (or a watch that ended) restart it: withdraw what it installed, dump afresh.
      if (status) ctx.dp.unwatchNetns(netns, { withdraw: true });
      ctx.dp.watchNetns(netns, watchOptions(settings));
      ctx.watches.set(netns, key);
      log.info({ netns, lcpSync: settings.lcpSync }, 'watching netns');
    }
    obs.watching = true;
    return done;
  },
};

/** The pair's declared addresses are on the mirror; ones we put there and no longer declared are removed. */
export const applyHostConfig: Phase = {
  name: 'applyHostConfig',
  async run(scope) {
    const { ctx, desired, log, obs } = scope;
    const { netns, name } = desired.mirror;
    const want = desired.addresses.map(canonicalCidr);
    const have = new Set(ctx.host.addresses(netns, name).map(canonicalCidr));
    const recorded = ctx.state.mirror(netns, name)?.addresses ?? [];
    // Write-ahead: an address is recorded as ours before it goes on the mirror, so an agent
    // killed in between still takes it back once it is no longer declared.
    const adding = want.filter((a) => !have.has(a) && !recorded.includes(a));
    if (adding.length > 0) ctx.state.recordMirror({ pair: desired.name, netns, name, addresses: [...recorded, ...adding] });
    for (const a of recorded) {
      if (!want.includes(a) && have.has(a)) {
        ctx.host.removeAddress(netns, name, a);
        log.info({ mirror: name, address: a }, 'address removed');
      }
    }
    let added = false;
    for (const a of want) {
      if (!have.has(a)) {
        ctx.host.addAddress(netns, name, a);
        added = true;
        log.info({ mirror: name, address: a }, 'address applied');
      }
    }
    ctx.state.recordMirror({ pair: desired.name, netns, name, addresses: want });
    // The kernel may take an address and keep another: one prefix length per
    // IPv6 address (the second replaces the first), none for some it refuses
    // quietly. What is not there after adding is a failure, not Ready.
    if (added) {
      const now = new Set(ctx.host.addresses(netns, name).map(canonicalCidr));
      const absent = want.filter((a) => !now.has(a));
      if (absent.length > 0)
        throw new PhaseError(FailureReason.HostConfigFailed, `declared addresses not on mirror ${name} after adding them: ${absent.join(', ')} (an IPv6 address takes one prefix length at a time)`);
    }
    obs.hostConfigured = true;
    return done;
  },
};

/**
 * The port is up when its mirror is. Linux owns the mirror's admin state (the
 * netlink mirror copies it to the port), so a mirror someone set down stays down.
 */
export const setUp: Phase = {
  name: 'setUp',
  async run(scope) {
    const { ctx, obs } = scope;
    const port = obs.port;
    if (!port || !obs.link) throw new Error('setUp before ensureMirror');
    const current = ctx.dp.port(port.index);
    if (obs.link.adminUp && current && !current.adminUp) ctx.dp.setPort(port.index, { up: true });
    obs.port = ctx.dp.port(port.index) ?? port;
    return done;
  },
};

export const pairPhases: Phase[] = [ensurePort, ensureMirror, ensureWatch, applyHostConfig, setUp];
