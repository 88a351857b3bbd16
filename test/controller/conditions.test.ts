// The condition helpers both the agent and the cluster controller write
// status with: metav1.Condition transition-time semantics and bounded messages.
import { failureReason, setCondition, setConditions } from '../../controller/conditions/conditions.js';
import { ConditionType, FailureReason, PairReason } from '../../controller/conditions/reasons.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');

describe('setCondition', () => {
  it('keeps the transition time while the status stays the same', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'PortNotFound', message: 'x' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'NetnsNotFound', message: 'y' }, t1);
    expect(b).toHaveLength(1);
    expect(b[0]).toMatchObject({ reason: 'NetnsNotFound', lastTransitionTime: t0.toISOString() });
  });

  it('moves the transition time when the status changes', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'PortNotFound', message: 'x' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, t1);
    expect(b[0]?.lastTransitionTime).toBe(t1.toISOString());
  });

  it('bounds messages to one line of at most 512 characters', () => {
    const [c] = setCondition([], { type: 'Ready', status: 'False', reason: 'X', message: `a\nb${'z'.repeat(2000)}` }, t0);
    expect(c!.message.length).toBeLessThanOrEqual(512);
    expect(c!.message).not.toContain('\n');
  });
});

describe('failureReason', () => {
  const ready = (status: 'True' | 'False', reason: string) =>
    setConditions([], [{ type: ConditionType.Ready, status, reason, message: 'm' }], t0);
  it('is the reason of a Ready=False that failed', () => {
    expect(failureReason(ready('False', FailureReason.PortNotFound))).toBe('PortNotFound');
  });
  it('is undefined while converging, when Ready, or with no conditions', () => {
    expect(failureReason(ready('False', PairReason.Reconciling))).toBeUndefined();
    expect(failureReason(ready('True', PairReason.Ready))).toBeUndefined();
    expect(failureReason(undefined)).toBeUndefined();
  });
});
