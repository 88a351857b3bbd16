// Which node agents are alive, from their heartbeat Leases
// (kube-lcp-agent-<node>), and a timer per lease for the moment it expires,
// so that a silent agent turns its pairs stale without any event from the
// API server (time-based, level-triggered: the callback only names the node,
// the pairs are recomputed from the caches).
//
// Clock skew: like the node lifecycle controller, a renewal counts from when
// *we* saw renewTime change, not from the agent's clock. The one exception is
// a lease seen for the first time (controller start, new agent): then its own
// renewTime is believed, capped at now, so an agent dead for an hour is stale
// at once instead of getting a fresh grace period from every new leader.
import { AGENT_LEASE_PREFIX } from '../api/lease.js';
import type { Clock } from '../k8s/backoff.js';
import { realClock } from '../k8s/backoff.js';
import type { AgentLiveness } from './pair-aggregate.js';

export interface AgentLease {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

interface Seen {
  renewTime: string;
  /** Local time (ms) the lease counts as renewed at. */
  at: number;
  durationMs: number;
  timer?: unknown;
}

/** Margin past the expiry before the timer looks (timers may fire early by a millisecond). */
const MARGIN_MS = 50;

export class LivenessTracker {
  private readonly seen = new Map<string, Seen>();

  constructor(
    /** Called when a node's liveness may have changed by the passing of time. */
    private readonly onExpire: (node: string) => void,
    private readonly clock: Clock = realClock,
    /** Wall-clock ms, to read a lease's renewTime against (tests pass the fake clock's). */
    private readonly wall: () => number = Date.now,
  ) {}

  /** The node a lease is the heartbeat of, or undefined for another lease. */
  static nodeOf(lease: AgentLease): string | undefined {
    const name = lease.metadata?.name ?? '';
    if (!name.startsWith(AGENT_LEASE_PREFIX)) return undefined;
    return lease.spec?.holderIdentity || name.slice(AGENT_LEASE_PREFIX.length);
  }

  /** A lease was added or updated. Returns true if the node's liveness changed. */
  observe(lease: AgentLease): boolean {
    const node = LivenessTracker.nodeOf(lease);
    if (!node) return false;
    const before = this.liveness(node);
    const renewTime = lease.spec?.renewTime ?? '';
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 40) * 1000;
    const prev = this.seen.get(node);
    const now = this.clock.now();
    let at: number;
    if (!prev) {
      const t = Date.parse(renewTime);
      at = Number.isFinite(t) ? Math.min(t - (this.wall() - now), now) : now - durationMs - 1;
    } else at = prev.renewTime === renewTime ? prev.at : now;
    if (prev?.timer !== undefined) this.clock.clearTimeout(prev.timer);
    const entry: Seen = { renewTime, at, durationMs };
    const left = at + durationMs - now;
    if (left >= 0) entry.timer = this.clock.setTimeout(() => this.expired(node), left + MARGIN_MS);
    this.seen.set(node, entry);
    return before !== this.liveness(node);
  }

  /** A lease was deleted. Returns true if the node's liveness changed. */
  forget(lease: AgentLease): boolean {
    const node = LivenessTracker.nodeOf(lease);
    if (!node) return false;
    const prev = this.seen.get(node);
    if (!prev) return false;
    const before = this.liveness(node);
    if (prev.timer !== undefined) this.clock.clearTimeout(prev.timer);
    this.seen.delete(node);
    return before !== this.liveness(node);
  }

  liveness(node: string): AgentLiveness {
    const s = this.seen.get(node);
    if (!s) return 'missing';
    return this.clock.now() <= s.at + s.durationMs ? 'alive' : 'expired';
  }

  stop(): void {
    for (const s of this.seen.values()) if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
    this.seen.clear();
  }

  private expired(node: string): void {
    const s = this.seen.get(node);
    if (s) s.timer = undefined;
    this.onExpire(node);
  }
}

/**
 * A node with a NodeDataplane but no heartbeat Lease seen yet: an agent
 * writes its NodeDataplane before its first Lease, and the two arrive on
 * separate watches in any order, so a just-started agent would flash
 * "stale" (and a Degraded Event). A NodeDataplane written within `graceMs`
 * counts as a heartbeat until a Lease shows up; past that, the node is
 * missing its agent.
 */
export function withReportGrace(lease: AgentLiveness, ndpLastUpdate: string | undefined, nowMs: number, graceMs: number): AgentLiveness {
  if (lease !== 'missing' || ndpLastUpdate === undefined) return lease;
  const t = Date.parse(ndpLastUpdate);
  return Number.isFinite(t) && nowMs - t < graceMs ? 'alive' : 'missing';
}
