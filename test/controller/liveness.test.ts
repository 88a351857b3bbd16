// Agent liveness from heartbeat Leases: a timer per lease for the moment it
// expires (the controller's only time-based input), renewals timed by the
// controller's own clock, and condition transitions for Events.
import { LivenessTracker, withReportGrace, type AgentLease } from '../../controller/cluster/agent-liveness.js';
import { conditionTransitions } from '../../controller/k8s/transitions.js';
import type { Condition } from '../../controller/api/kube-schema.js';
import { FakeClock } from './fake-clock.js';

const lease = (node: string, renewMs: number, durationS = 10): AgentLease => ({
  metadata: { name: `kube-lcp-agent-${node}` },
  spec: { holderIdentity: node, leaseDurationSeconds: durationS, renewTime: new Date(renewMs).toISOString() },
});

describe('LivenessTracker', () => {
  const setup = () => {
    const clock = new FakeClock();
    clock.advance(1_000_000);
    const expired: string[] = [];
    const t = new LivenessTracker((n) => expired.push(n), clock, () => clock.now());
    return { clock, expired, t };
  };

  it('a node without a lease is missing; a renewed one is alive', () => {
    const { clock, t } = setup();
    expect(t.liveness('a')).toBe('missing');
    expect(t.observe(lease('a', clock.now()))).toBe(true);
    expect(t.liveness('a')).toBe('alive');
  });

  it('ignores leases that are not agent heartbeats', () => {
    const { t } = setup();
    expect(t.observe({ metadata: { name: 'kube-lcp-controller' }, spec: { holderIdentity: 'x' } })).toBe(false);
  });

  it('calls back when a lease expires without renewal, and not while it is renewed', () => {
    const { clock, expired, t } = setup();
    t.observe(lease('a', clock.now()));
    clock.advance(9_000);
    t.observe(lease('a', clock.now())); // renewed: the expiry moves
    clock.advance(9_000);
    expect(expired).toEqual([]);
    expect(t.liveness('a')).toBe('alive');
    clock.advance(1_100);
    expect(expired).toEqual(['a']);
    expect(t.liveness('a')).toBe('expired');
  });

  it('believes a first-seen lease\'s renewTime, so a long-dead agent is stale at once', () => {
    const { clock, t } = setup();
    t.observe(lease('a', clock.now() - 60_000));
    expect(t.liveness('a')).toBe('expired');
  });

  it('times later renewals by its own clock, not the agent\'s (skew)', () => {
    const { clock, t } = setup();
    t.observe(lease('a', clock.now()));
    clock.advance(5_000);
    t.observe(lease('a', clock.now() - 3_600_000)); // the agent's clock is an hour behind, but it did renew
    clock.advance(9_000);
    expect(t.liveness('a')).toBe('alive');
  });

  it('a deleted lease makes the node missing', () => {
    const { clock, t } = setup();
    t.observe(lease('a', clock.now()));
    expect(t.forget(lease('a', clock.now()))).toBe(true);
    expect(t.liveness('a')).toBe('missing');
  });
});

describe('withReportGrace', () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  it('counts a fresh NodeDataplane as a heartbeat while no Lease has been seen', () => {
    expect(withReportGrace('missing', '2026-01-01T00:00:50Z', now, 40_000)).toBe('alive');
  });
  it('not once the grace is over, nor without a NodeDataplane', () => {
    expect(withReportGrace('missing', '2026-01-01T00:00:10Z', now, 40_000)).toBe('missing');
    expect(withReportGrace('missing', undefined, now, 40_000)).toBe('missing');
  });
  it('never overrides what a Lease says', () => {
    expect(withReportGrace('expired', '2026-01-01T00:00:59Z', now, 40_000)).toBe('expired');
  });
});

describe('conditionTransitions', () => {
  const c = (type: string, status: Condition['status']): Condition => ({ type, status, reason: 'R', message: '', lastTransitionTime: '' });

  it('reports a status change of a watched condition, and nothing for an unchanged one', () => {
    expect(conditionTransitions([c('Ready', 'True')], [c('Ready', 'True')], { Ready: 'Unknown' })).toEqual([]);
    expect(conditionTransitions([c('Ready', 'True')], [c('Ready', 'False')], { Ready: 'Unknown' })).toEqual([
      { type: 'Ready', from: 'True', to: c('Ready', 'False') },
    ]);
  });

  it('counts a new condition as a change from its absent value only', () => {
    expect(conditionTransitions(undefined, [c('Ready', 'True'), c('Degraded', 'False')], { Ready: 'Unknown', Degraded: 'False' }).map((t) => t.type)).toEqual(['Ready']);
  });

  it('ignores conditions it does not watch', () => {
    expect(conditionTransitions([c('Progressing', 'True')], [c('Progressing', 'False')], { Ready: 'Unknown' })).toEqual([]);
  });
});
