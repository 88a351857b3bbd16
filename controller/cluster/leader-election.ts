// Leader election on a coordination.k8s.io/v1 Lease, after client-go's
// leaderelection package (client-node 2.x has none). Safe with any number of
// replicas because every write is optimistic: a create that finds the Lease
// there, or an update whose resourceVersion is no longer current, fails with
// 409 and that replica simply is not the leader this round.
//  - A Lease held by another identity is taken only after it went unrenewed
//    for its leaseDurationSeconds, timed by OUR clock from when we saw it
//    change (clock skew between replicas does not matter).
//  - The leader renews every retryPeriod; if it cannot renew for
//    renewDeadline (< leaseDuration) it stops leading before anyone else may
//    start, so two leaders never overlap unless clocks run at different rates.
//  - A graceful stop releases the Lease (holder "", duration 1 s) so that a
//    standby takes over at its next try instead of after a whole duration.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import { microTime } from '../k8s/time.js';
import { ApiError, rawRequest } from '../k8s/raw.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  /** The Lease's name (kube-lcp-controller). */
  name: string;
  /** This replica (the pod name in a Deployment). */
  identity: string;
  log: Logger;
  /** How long a silent leader keeps the Lease (default 15 s, client-go's). */
  leaseDurationMs?: number;
  /** A leader that could not renew for this long steps down (default 2/3 of the duration). */
  renewDeadlineMs?: number;
  /** Between tries, for leader and standby alike (default 1/7 of the duration). */
  retryPeriodMs?: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private leader = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> = Promise.resolve();
  /** The Lease as last seen, and when (our clock) its spec last changed. */
  private observed: { spec: string; at: number } | undefined;
  private lastRenew = 0;
  private readonly durationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  readonly stats = { acquired: 0, lost: 0, conflicts: 0, errors: 0 };

  constructor(private readonly o: LeaderElectionOptions) {
    this.durationMs = Math.max(1000, o.leaseDurationMs ?? 15_000);
    this.renewDeadlineMs = Math.min(o.renewDeadlineMs ?? Math.floor((this.durationMs * 2) / 3), this.durationMs - 1);
    this.retryMs = o.retryPeriodMs ?? Math.max(100, Math.floor(this.durationMs / 7));
  }

  get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.o.namespace)}/leases/${encodeURIComponent(this.o.name)}`;
  }

  isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    this.tick();
  }

  /**
   * Stops trying; a leader stops leading (onStoppedLeading) and releases the
   * Lease, unless `release: false` (then it expires by itself, as when a
   * replica dies: what the tests use to play a crash).
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.attempt;
    if (!this.leader) return;
    this.setLeader(false);
    if (opts.release === false) return;
    await this.release().catch((e: unknown) => this.o.log.warn({ err: String(e) }, 'leader lease not released; it expires by itself'));
  }

  private tick(): void {
    if (this.stopped) return;
    this.attempt = this.tryAcquireOrRenew()
      .then((ok) => {
        if (ok) {
          this.lastRenew = Date.now();
          if (!this.leader) this.setLeader(true);
        } else if (this.leader && Date.now() - this.lastRenew > this.renewDeadlineMs) {
          this.o.log.warn({ lease: this.o.name }, 'leader lease not renewed in time: stepping down');
          this.setLeader(false);
        }
      })
      .finally(() => {
        if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.retryMs);
      });
  }

  private setLeader(v: boolean): void {
    if (this.leader === v) return;
    this.leader = v;
    if (v) {
      this.stats.acquired++;
      this.o.log.info({ lease: this.o.name, identity: this.o.identity }, 'became leader');
      this.o.onStartedLeading();
    } else {
      this.stats.lost++;
      this.o.log.info({ lease: this.o.name, identity: this.o.identity }, 'stopped leading');
      this.o.onStoppedLeading();
    }
  }

  private lease(spec: LeaseSpec, resourceVersion?: string): Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.o.name, namespace: this.o.namespace, ...(resourceVersion ? { resourceVersion } : {}) },
      spec,
    };
  }

  /** One round; true when we hold the Lease afterwards. Never throws. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { kc, identity } = this.o;
    const now = new Date();
    const durationSeconds = Math.ceil(this.durationMs / 1000);
    try {
      let current: Lease;
      try {
        current = (await rawRequest(kc, 'GET', this.path)) as Lease;
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
        const spec: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 };
        await rawRequest(kc, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.o.namespace)}/leases`, { body: this.lease(spec) });
        this.observed = { spec: JSON.stringify(spec), at: Date.now() };
        return true;
      }
      const spec = current.spec ?? {};
      const seen = JSON.stringify(spec);
      if (this.observed?.spec !== seen) this.observed = { spec: seen, at: Date.now() };
      const holder = spec.holderIdentity ?? '';
      const held = holder !== '' && holder !== identity;
      if (held && this.observed.at + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 > Date.now()) {
        if (this.leader) this.setLeader(false); // someone took it from us (we were too slow)
        return false;
      }
      const next: LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: holder === identity && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
      };
      await rawRequest(kc, 'PUT', this.path, { body: this.lease(next, current.metadata?.resourceVersion) });
      this.observed = { spec: JSON.stringify(next), at: Date.now() };
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) this.stats.conflicts++; // another replica won this round
      else {
        this.stats.errors++;
        this.o.log.warn({ err: e instanceof Error ? e.message : String(e), lease: this.o.name }, 'leader election round failed');
      }
      return false;
    }
  }

  /** Gives the Lease up (client-go's ReleaseOnCancel): only if it is still ours. */
  private async release(): Promise<void> {
    const current = (await rawRequest(this.o.kc, 'GET', this.path)) as Lease;
    if (current.spec?.holderIdentity !== this.o.identity) return;
    const now = microTime(new Date());
    const spec: LeaseSpec = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.spec.leaseTransitions ?? 0 };
    await rawRequest(this.o.kc, 'PUT', this.path, { body: this.lease(spec, current.metadata?.resourceVersion) });
    this.o.log.info({ lease: this.o.name }, 'leader lease released');
  }
}
